#include "targets/gateway/receipt_box.h"

#include <utility>

#include "core/seal/seal_receipt.h"

namespace cxsec::gateway {

ReceiptBox::ReceiptBox(ReceiptBoxLimits limits) : limits_(limits) {}

void ReceiptBox::Put(absl::string_view device_id, Bytes receipt) {
  absl::MutexLock lock(&mutex_);
  if (receipt.size() != seal::kReceiptSize) {
    ++counters_.malformed;
    return;
  }
  if (limits_.per_device == 0 || limits_.max_devices == 0) {
    ++counters_.dropped;
    return;
  }
  auto it = devices_.find(device_id);
  if (it == devices_.end()) {
    if (devices_.size() >= limits_.max_devices) {
      // Full: the device whose receipts have waited longest goes. A scan,
      // but only when full, and only over max_devices entries.
      auto oldest = devices_.begin();
      for (auto d = devices_.begin(); d != devices_.end(); ++d) {
        if (d->second.since < oldest->second.since) oldest = d;
      }
      counters_.dropped += oldest->second.receipts.size();
      counters_.pending -= oldest->second.receipts.size();
      devices_.erase(oldest);
    }
    it = devices_.emplace(std::string(device_id), Pending{}).first;
    it->second.since = counters_.put;
  }
  Pending& pending = it->second;
  if (pending.receipts.size() >= limits_.per_device) {
    pending.receipts.pop_front();
    ++counters_.dropped;
    --counters_.pending;
    pending.since = counters_.put;
  }
  pending.receipts.push_back(std::move(receipt));
  ++counters_.put;
  ++counters_.pending;
}

Bytes ReceiptBox::Take(absl::string_view device_id, size_t max_bytes) {
  absl::MutexLock lock(&mutex_);
  Bytes out;
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return out;
  std::deque<Bytes>& receipts = it->second.receipts;
  while (!receipts.empty() &&
         out.size() + receipts.front().size() <= max_bytes) {
    out.insert(out.end(), receipts.front().begin(), receipts.front().end());
    receipts.pop_front();
    ++counters_.taken;
    --counters_.pending;
  }
  if (receipts.empty()) devices_.erase(it);
  return out;
}

ReceiptBoxCounters ReceiptBox::Counters() const {
  absl::MutexLock lock(&mutex_);
  ReceiptBoxCounters c = counters_;
  c.devices = devices_.size();
  return c;
}

}  // namespace cxsec::gateway
