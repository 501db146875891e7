// The crypto-backend interface that core/ is written against. A backend is
// a struct of static functions; the CryptoBackend concept checks it at
// compile time. core/ needs only these few primitives, so a node build can
// swap in a smaller library without touching core code. The backend in use
// is selected in one place, core/crypto/primitives.h.
#ifndef CXSEC_CORE_CRYPTO_CRYPTO_BACKEND_H_
#define CXSEC_CORE_CRYPTO_CRYPTO_BACKEND_H_

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "core/bytes.h"

namespace cxsec {

// Sha256Digest: a SHA-256 output.
using Sha256Digest = std::array<uint8_t, 32>;

// CryptoBackend: what core/ needs from a crypto library.
//   Cleanse(p, n)              wipes memory in a way the compiler keeps;
//   RandomBytes(out)           fills `out` from a CSPRNG, or fails;
//   ConstantTimeEquals(a, b)   compares without data-dependent timing
//                              (lengths are not secret);
//   Sha256(data)               hashes;
//   HmacSha256(key, data)      authenticates.
template <class B>
concept CryptoBackend = requires(void* memory, size_t size, MutableByteView out,
                                 ByteView a, ByteView b) {
  { B::Cleanse(memory, size) } -> std::same_as<void>;
  { B::RandomBytes(out) } -> std::same_as<absl::Status>;
  { B::ConstantTimeEquals(a, b) } -> std::same_as<bool>;
  { B::Sha256(a) } -> std::same_as<Sha256Digest>;
  { B::HmacSha256(a, b) } -> std::same_as<Sha256Digest>;
};

}  // namespace cxsec

#endif  // CXSEC_CORE_CRYPTO_CRYPTO_BACKEND_H_
