// MiotyNetworkKey: the host's Mioty network key, the device-side
// NetworkKey of core/mioty/frame_codec.h composed with BoringSSL, plus an
// absl::StatusOr factory. The key schedule, CMAC subkeys and wiping are
// the device-side code; this header only adapts its errors. Keys are
// expanded once, never allocate and are safe to share between threads.
//
//   CXSEC_ASSIGN_OR_RETURN(MiotyNetworkKey key,
//   MiotyNetworkKey::FromBytes(raw)); AesCmac cmac(key); cmac.Update(b0);
//   cmac.Update(mpdu);
//   std::array<uint8_t, 16> tag = cmac.Final();
#ifndef CXSEC_CORE_MIOTY_NETWORK_KEY_H_
#define CXSEC_CORE_MIOTY_NETWORK_KEY_H_

#include <cstddef>
#include <span>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/bytes.h"
#include "core/mioty/boringssl_mioty_crypto.h"
#include "core/mioty/frame_codec.h"

namespace cxsec::mioty {

class MiotyNetworkKey : public NetworkKey<BoringSslMiotyCrypto> {
 public:
  // FromBytes expands a 16-byte network key. The caller keeps (and wipes)
  // `raw`; this object wipes its own expansion when destroyed.
  [[nodiscard]] static absl::StatusOr<MiotyNetworkKey> FromBytes(ByteView raw) {
    if (raw.size() != kNetworkKeySize) {
      return absl::InvalidArgumentError(
          absl::StrCat("mioty network key: expected ", kNetworkKeySize,
                       " bytes, got ", raw.size()));
    }
    MiotyNetworkKey key;
    if (key.Load(std::span<const uint8_t>(raw.data(), raw.size())) !=
        FrameReason::kNone) {
      return absl::InternalError("mioty network key: AES key schedule failed");
    }
    return key;
  }

  MiotyNetworkKey(MiotyNetworkKey&&) noexcept = default;
  MiotyNetworkKey& operator=(MiotyNetworkKey&&) noexcept = default;

 private:
  MiotyNetworkKey() = default;
};

// AesCmac: incremental RFC 4493 AES-CMAC (the device-side Cmac) on the
// host's backend.
using AesCmac = Cmac<BoringSslMiotyCrypto>;

}  // namespace cxsec::mioty

#endif  // CXSEC_CORE_MIOTY_NETWORK_KEY_H_
