#include "targets/node/node_receipts.h"

#include "absl/strings/str_cat.h"
#include "core/seal/sealed_reading.h"

namespace cxsec::node {
namespace {
// Bounds on what the tracker remembers: far more than a window's worth.
constexpr size_t kMaxAwaiting = 1024;
constexpr size_t kMaxRemembered = 1024;
}  // namespace

SealReceiptTracker::SealReceiptTracker(Checker check, int window, Logger log)
    : check_(std::move(check)),
      window_(window < 1 ? 1 : window),
      log_(std::move(log)) {}

std::vector<std::pair<std::string, int64_t>>
SealReceiptTracker::NextReadingFields() {
  const uint64_t now = readings_++;
  for (auto it = awaiting_.begin(); it != awaiting_.end();) {
    const uint64_t age = now - it->second;
    if (age <= static_cast<uint64_t>(window_)) {
      ++it;
      continue;
    }
    ++counters_.unreceipted;
    if (unreceipted_.size() >= kMaxRemembered) {
      unreceipted_.erase(unreceipted_.begin());
    }
    unreceipted_.insert(it->first);
    if (log_) {
      log_(absl::StrCat("sealed reading ", it->first,
                        " was acknowledged by the gateway ", age,
                        " readings ago but no receipt came back: "
                        "unreceipted (",
                        counters_.unreceipted, " so far)"));
    }
    it = awaiting_.erase(it);
  }
  return {{"ur", static_cast<int64_t>(counters_.unreceipted)},
          {"rs", counters_.highest_receipted}};
}

void SealReceiptTracker::Receipted(uint32_t sequence) {
  if (awaiting_.erase(sequence) > 0) {
    ++counters_.receipted;
  } else if (unreceipted_.erase(sequence) > 0) {
    // A slow uplink: the receipt came after its window. Not dropped.
    ++counters_.receipted;
    --counters_.unreceipted;
    if (log_) {
      log_(absl::StrCat("sealed reading ", sequence,
                        " got its receipt late: no longer unreceipted (",
                        counters_.unreceipted, ")"));
    }
  }
  if (static_cast<int64_t>(sequence) > counters_.highest_receipted) {
    counters_.highest_receipted = sequence;
  }
}

void SealReceiptTracker::OnAcknowledged(ByteView envelope, ByteView answer) {
  seal::SealedEnvelope parsed;
  if (seal::ParseSealedEnvelope(
          seal::Transport::kDtlsCoap,
          std::span<const uint8_t>(envelope.data(), envelope.size()),
          parsed) == seal::SealReason::kNone) {
    ++counters_.acknowledged;
    if (awaiting_.size() >= kMaxAwaiting) awaiting_.erase(awaiting_.begin());
    // Its reading is the one NextReadingFields prepared last.
    awaiting_[parsed.sequence] = readings_ == 0 ? 0 : readings_ - 1;
  }
  size_t offset = 0;
  for (; offset + seal::kReceiptSize <= answer.size();
       offset += seal::kReceiptSize) {
    seal::SealReceipt receipt;
    if (check_(answer.subspan(offset, seal::kReceiptSize), receipt) !=
        seal::SealReason::kNone) {
      ++counters_.bad_receipts;
      continue;
    }
    Receipted(receipt.sequence);
  }
  if (offset != answer.size()) ++counters_.bad_receipts;  // a partial one
}

std::shared_ptr<SealReceiptTracker> NewSealReceiptTracker(
    std::shared_ptr<const NodeSealer> sealer, int window,
    SealReceiptTracker::Logger log) {
  return std::make_shared<SealReceiptTracker>(
      [sealer](ByteView bytes, seal::SealReceipt& out) {
        return sealer->CheckReceipt(bytes, out);
      },
      window, std::move(log));
}

}  // namespace cxsec::node
