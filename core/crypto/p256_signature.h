// Raw P-256 ECDSA signatures (r||s, 32 bytes each, big-endian, the JWS
// ES256 form): the scalar range check and the low-S rule.
//
// ECDSA signatures are malleable: if (r, s) verifies, so does (r, n - s).
// cxsec wants exactly one valid signature per token (a token's hash is its
// cache and replay key), so every signer writes the low form, s <= n/2
// (NormalizeP256SignatureToLowS), and the verifier refuses the high one
// (P256SIsLow). This is the rule Bitcoin adopted for the same reason
// (BIP 62/146, "LOW_S").
//
// Plain bytes, no heap, no Abseil: usable on either side.
//
//   NormalizeP256SignatureToLowS(signature);  // signer, after r||s encoding
//   if (!P256SIsLow(signature + 32)) refuse;   // verifier
#ifndef CXSEC_CORE_CRYPTO_P256_SIGNATURE_H_
#define CXSEC_CORE_CRYPTO_P256_SIGNATURE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace cxsec {

inline constexpr size_t kP256ScalarBytes = 32;
inline constexpr size_t kP256RawSignatureBytes = 2 * kP256ScalarBytes;

// kP256Order: n, the order of the P-256 group, big-endian.
inline constexpr uint8_t kP256Order[kP256ScalarBytes] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
    0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

// kP256HalfOrder: floor(n / 2), big-endian. n is odd, so s <= this is the
// low half and n - s of a high s is always low.
inline constexpr uint8_t kP256HalfOrder[kP256ScalarBytes] = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b,
    0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};

// P256ScalarInRange: 1 <= value <= n - 1 for a 32-byte big-endian value.
inline bool P256ScalarInRange(const uint8_t* value) {
  bool nonzero = false;
  for (size_t i = 0; i < kP256ScalarBytes; ++i) nonzero |= value[i] != 0;
  return nonzero && std::memcmp(value, kP256Order, kP256ScalarBytes) < 0;
}

// P256SIsLow: s <= n/2 for a 32-byte big-endian s.
inline bool P256SIsLow(const uint8_t* s) {
  return std::memcmp(s, kP256HalfOrder, kP256ScalarBytes) <= 0;
}

// NormalizeP256SignatureToLowS replaces s by n - s when s > n/2, in a
// 64-byte r||s signature. Both forms verify; only the low one is accepted
// by cxsec. s must already be in [1, n - 1] (every ECDSA signer's output).
inline void NormalizeP256SignatureToLowS(uint8_t* signature) {
  uint8_t* s = signature + kP256ScalarBytes;
  if (P256SIsLow(s)) return;
  // n - s, big-endian, with borrow; s < n so no final borrow.
  int borrow = 0;
  for (size_t i = kP256ScalarBytes; i-- > 0;) {
    int difference = int{kP256Order[i]} - int{s[i]} - borrow;
    borrow = difference < 0 ? 1 : 0;
    s[i] = static_cast<uint8_t>(difference + (borrow << 8));
  }
}

}  // namespace cxsec

#endif  // CXSEC_CORE_CRYPTO_P256_SIGNATURE_H_
