// ReceiptBox: the gateway's bounded, in-memory store of seal receipts
// (docs/SEALED_READINGS.md, "Receipts") between the uplink, which hears
// them in the verifier's answers, and the DTLS transport, which passes a
// device's pending receipts back in the 2.04 to its next sealed reading.
// The gateway cannot check or make receipts; it only carries them.
//
// Bounds: at most `per_device` receipts per device (a new one drops the
// device's oldest) and `max_devices` devices (a new device drops the one
// whose receipts have waited longest). Nothing survives a restart: a lost
// receipt makes the node count that reading "unreceipted", which is the
// safe direction (never a false receipt).
//
//   auto box = std::make_shared<ReceiptBox>();
//   uplink_options.on_receipt = [box](auto device, Bytes r) { box->Put(device, r); };
//   dtls_options.take_receipts = [box](auto device, size_t n) { return box->Take(device, n); };
#ifndef CXSEC_TARGETS_GATEWAY_RECEIPT_BOX_H_
#define CXSEC_TARGETS_GATEWAY_RECEIPT_BOX_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/bytes.h"

namespace cxsec::gateway {

struct ReceiptBoxLimits {
  size_t per_device = 8;
  size_t max_devices = 10000;
};

// ReceiptBoxCounters: for the gateway's exit line and tests.
struct ReceiptBoxCounters {
  uint64_t put = 0;
  uint64_t taken = 0;
  uint64_t dropped = 0;    // pushed out by a bound before they were taken
  uint64_t malformed = 0;  // not kReceiptSize bytes: never stored
  size_t devices = 0;
  size_t pending = 0;
};

class ReceiptBox {
 public:
  explicit ReceiptBox(ReceiptBoxLimits limits = {});
  ReceiptBox(const ReceiptBox&) = delete;
  ReceiptBox& operator=(const ReceiptBox&) = delete;

  // Put keeps `receipt` (seal::kReceiptSize bytes, else counted and
  // dropped) for `device_id`, within the bounds above. Thread-safe.
  void Put(absl::string_view device_id, Bytes receipt);

  // Take removes and returns the device's oldest receipts, as many whole
  // ones as fit in `max_bytes`, concatenated (empty: none). Thread-safe.
  Bytes Take(absl::string_view device_id, size_t max_bytes);

  ReceiptBoxCounters Counters() const;

 private:
  struct Pending {
    std::deque<Bytes> receipts;
    uint64_t since = 0;  // Put number when it began (or last overflowed)
  };
  const ReceiptBoxLimits limits_;
  mutable absl::Mutex mutex_;
  absl::flat_hash_map<std::string, Pending> devices_ ABSL_GUARDED_BY(mutex_);
  ReceiptBoxCounters counters_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace cxsec::gateway

#endif  // CXSEC_TARGETS_GATEWAY_RECEIPT_BOX_H_
