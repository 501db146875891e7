// The crypto primitives core/ code calls, bound to the backend in use.
// This is the single place that names the backend: everything else calls
// RandomBytes(), ConstantTimeEquals(), Sha256(), HmacSha256().
//
//   Bytes nonce(12);
//   CXSEC_RETURN_IF_ERROR(RandomBytes(absl::MakeSpan(nonce)));
//   if (!ConstantTimeEquals(expected_mac, received_mac)) { ... }
#ifndef CXSEC_CORE_CRYPTO_PRIMITIVES_H_
#define CXSEC_CORE_CRYPTO_PRIMITIVES_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "core/crypto/boringssl_backend.h"
#include "core/crypto/crypto_backend.h"

namespace cxsec {

// ActiveCryptoBackend: the backend core/ is compiled against.
using ActiveCryptoBackend = BoringSslBackend;
static_assert(CryptoBackend<ActiveCryptoBackend>,
              "cxsec: ActiveCryptoBackend must satisfy cxsec::CryptoBackend");

// RandomBytes fills `out` from the CSPRNG.
[[nodiscard]] inline absl::Status RandomBytes(MutableByteView out) {
  return ActiveCryptoBackend::RandomBytes(out);
}

// RandomBytes returns `size` bytes from the CSPRNG.
[[nodiscard]] inline absl::StatusOr<Bytes> RandomBytes(size_t size) {
  Bytes out(size);
  absl::Status status = ActiveCryptoBackend::RandomBytes(absl::MakeSpan(out));
  if (!status.ok()) return status;
  return out;
}

// ConstantTimeEquals compares two byte strings in time that depends only on
// their lengths. Use it for every MAC, digest, tag or token comparison.
[[nodiscard]] inline bool ConstantTimeEquals(ByteView a, ByteView b) {
  return ActiveCryptoBackend::ConstantTimeEquals(a, b);
}

// SecureZero wipes `memory` so that the compiler cannot elide the write.
inline void SecureZero(void* memory, size_t size) {
  ActiveCryptoBackend::Cleanse(memory, size);
}

// Sha256 hashes `data`.
[[nodiscard]] inline Sha256Digest Sha256(ByteView data) {
  return ActiveCryptoBackend::Sha256(data);
}

// HmacSha256 computes HMAC-SHA256(key, data).
[[nodiscard]] inline Sha256Digest HmacSha256(ByteView key, ByteView data) {
  return ActiveCryptoBackend::HmacSha256(key, data);
}

}  // namespace cxsec

#endif  // CXSEC_CORE_CRYPTO_PRIMITIVES_H_
