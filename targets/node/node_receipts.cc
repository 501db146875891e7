#include "targets/node/node_receipts.h"

#include "absl/strings/str_cat.h"
#include "core/crypto/primitives.h"
#include "core/seal/sealed_reading.h"

namespace cxsec::node {
namespace {
// Bounds on what the tracker remembers: far more than a window's worth.
constexpr size_t kMaxAwaiting = 1024;
constexpr size_t kMaxRemembered = 1024;
}  // namespace

SealReceiptTracker::SealReceiptTracker(Checker check, Expecter expect,
                                       int window, Logger log)
    : check_(std::move(check)),
      expect_(std::move(expect)),
      window_(window < 1 ? 1 : window),
      log_(std::move(log)) {}

std::vector<std::pair<std::string, int64_t>>
SealReceiptTracker::NextReadingFields() {
  const uint64_t now = readings_++;
  for (auto it = awaiting_.begin(); it != awaiting_.end();) {
    const uint64_t age = now - it->second.reading;
    if (age <= static_cast<uint64_t>(window_)) {
      ++it;
      continue;
    }
    ++counters_.unreceipted;
    if (unreceipted_.size() >= kMaxRemembered) {
      unreceipted_.erase(unreceipted_.begin());
    }
    unreceipted_[it->first] = std::move(it->second.expected);
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

bool SealReceiptTracker::CheckOne(ByteView bytes, uint32_t& sequence) const {
  // A tracked reading's receipt must be one of the two made for it, with
  // the key of the epoch it was sealed in (which may be gone by now).
  const uint32_t claimed = (uint32_t{bytes[5]} << 24) |
                           (uint32_t{bytes[6]} << 16) |
                           (uint32_t{bytes[7]} << 8) | uint32_t{bytes[8]};
  const std::optional<ExpectedSealReceipts>* expected = nullptr;
  if (auto it = awaiting_.find(claimed); it != awaiting_.end()) {
    expected = &it->second.expected;
  } else if (auto late = unreceipted_.find(claimed);
             late != unreceipted_.end()) {
    expected = &late->second;
  }
  if (expected != nullptr && expected->has_value()) {
    if (bytes[0] >= (*expected)->by_verdict.size()) return false;
    const auto& want = (*expected)->by_verdict[bytes[0]];
    if (!ConstantTimeEquals(ByteView(want.data(), want.size()), bytes)) {
      return false;
    }
    sequence = claimed;
    return true;
  }
  // Anything else: a receipt of the current epoch for a reading no longer
  // (or never) tracked, checked with the current key.
  seal::SealReceipt receipt;
  if (check_(bytes, receipt) != seal::SealReason::kNone) return false;
  sequence = receipt.sequence;
  return true;
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
    // Its reading is the one NextReadingFields prepared last, sealed with
    // the keys the node holds now: its receipts are made before the next
    // reading may move the node to a later epoch.
    Awaiting& entry = awaiting_[parsed.sequence];
    entry.reading = readings_ == 0 ? 0 : readings_ - 1;
    entry.expected =
        expect_ ? expect_(envelope) : std::optional<ExpectedSealReceipts>();
  }
  size_t offset = 0;
  for (; offset + seal::kReceiptSize <= answer.size();
       offset += seal::kReceiptSize) {
    uint32_t sequence = 0;
    if (!CheckOne(answer.subspan(offset, seal::kReceiptSize), sequence)) {
      ++counters_.bad_receipts;
      continue;
    }
    Receipted(sequence);
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
      [sealer](ByteView envelope) {
        return sealer->ExpectedReceipts(envelope);
      },
      window, std::move(log));
}

}  // namespace cxsec::node
