// Fuzzes what a DTLS node reads from the gateway: a CoAP response whose
// payload is split into seal receipts (node_receipts.h). Never a crash or
// an out-of-bounds read; a payload found lies inside the message; no
// receipt checks under a key the input does not know, so none counts.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/seal/boringssl_seal_crypto.h"
#include "targets/node/dtls/node_receipts.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec;
  const std::span<const uint8_t> message(data, size);
  const auto payload = node::FindCoapPayload(message);
  if (!payload) return 0;
  if (!payload->empty() &&
      (payload->data() < data || payload->data() + payload->size() !=
                                     data + size)) {
    std::abort();
  }
  static const uint8_t kKey[16] = {1, 2, 3, 4, 5, 6, 7, 8,
                                   9, 10, 11, 12, 13, 14, 15, 16};
  seal::SealKey<seal::BoringSslSealCrypto> key;
  if (key.Load(kKey) != seal::SealReason::kNone) std::abort();
  node::NodeReceiptTracker<seal::BoringSslSealCrypto> tracker(3);
  tracker.OnAcknowledged(0, 0);
  tracker.OnAnswer(key, 0, *payload);
  if (tracker.counters().receipted != 0 &&
      tracker.counters().highest_receipted < 0) {
    std::abort();
  }
  return 0;
}
