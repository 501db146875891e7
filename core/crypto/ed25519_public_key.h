// CheckEd25519PublicKey: the one check every Ed25519 public key passes
// before cxsec trusts it (JwtPublicKey::FromEd25519 calls it, so gateway
// enrolment, keys read back from the registry, JWKs and `cxsec jwt verify
// --pub` all go through it). Host-side: it uses BoringSSL's BIGNUM.
//
// Why: RFC 8032 verification ([S]B = R + [k]A) accepts forgeries when A has
// small order. With A the identity, R = identity and S = 0 verify for every
// message, and BoringSSL's ED25519_verify does not refuse such keys. A key
// that has more than one encoding (y >= p, or x = 0 with the sign bit set)
// would get a second thumbprint for the same point. Both are refused here,
// and so are encodings that are not a point on the curve at all, which
// could never verify anything and only hide a mistake.
//
//   CXSEC_RETURN_IF_ERROR(CheckEd25519PublicKey(raw_32_bytes));
//
// The curve: -x^2 + y^2 = 1 + d x^2 y^2 over p = 2^255 - 19, with
// d = -121665/121666. An encoding is y (little-endian, 255 bits) with the
// sign (low bit) of x in the top bit (RFC 8032 §5.1.2).
#ifndef CXSEC_CORE_CRYPTO_ED25519_PUBLIC_KEY_H_
#define CXSEC_CORE_CRYPTO_ED25519_PUBLIC_KEY_H_

#include <openssl/bn.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/bytes.h"

namespace cxsec {

inline constexpr size_t kEd25519PublicKeyBytes = 32;

namespace ed25519_internal {

// p = 2^255 - 19, little-endian.
inline constexpr std::array<uint8_t, 32> kFieldPrime = {
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};

// d = -121665/121666 mod p, little-endian.
inline constexpr std::array<uint8_t, 32> kCurveD = {
    0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75, 0xab, 0xd8, 0x41,
    0x41, 0x4d, 0x0a, 0x70, 0x00, 0x98, 0xe8, 0x79, 0x77, 0x79, 0x40,
    0xc7, 0x8c, 0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52};

// The y coordinates of the eight points of order dividing 8 (the
// torsion subgroup, cyclic of order 8): y = 1 (the identity), y = p - 1
// (order 2), y = 0 (the two points of order 4, x = ±sqrt(-1)) and y = ±y8
// (the four points of order 8, where y8^2 = (-1 - sqrt(1 + d)) / d for the
// root of 1 + d that makes it a square). core/crypto/
// ed25519_public_key_test.cc derives each value from the curve equation.
struct SmallOrderY {
  std::array<uint8_t, 32> y;  // canonical, little-endian
  int order;
};
inline constexpr SmallOrderY kSmallOrderY[] = {
    {{0x01}, 1},
    {{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
     2},
    {{0x00}, 4},
    {{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
      0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
      0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
     8},
    {{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
      0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
      0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
     8},
};

// LessThanLittleEndian: a < b for two 32-byte little-endian numbers.
inline bool LessThanLittleEndian(const uint8_t* a, const uint8_t* b) {
  for (int i = 31; i >= 0; --i) {
    if (a[i] != b[i]) return a[i] < b[i];
  }
  return false;
}

struct BnCtxDeleter {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};

// CheckOnCurve: x^2 = (y^2 - 1) / (d y^2 + 1) has a solution, i.e. the
// right-hand side is a square (Euler's criterion). The denominator is never
// zero: -1/d is not a square mod p. Public data only, so variable time is
// fine.
inline absl::Status CheckOnCurve(const uint8_t* y_le) {
  std::unique_ptr<BN_CTX, BnCtxDeleter> ctx(BN_CTX_new());
  if (!ctx) return absl::InternalError("BN_CTX_new failed");
  BN_CTX_start(ctx.get());
  BIGNUM* p = BN_CTX_get(ctx.get());
  BIGNUM* d = BN_CTX_get(ctx.get());
  BIGNUM* y = BN_CTX_get(ctx.get());
  BIGNUM* y2 = BN_CTX_get(ctx.get());
  BIGNUM* u = BN_CTX_get(ctx.get());
  BIGNUM* v = BN_CTX_get(ctx.get());
  BIGNUM* e = BN_CTX_get(ctx.get());
  bool ok = e != nullptr && BN_le2bn(kFieldPrime.data(), 32, p) != nullptr &&
            BN_le2bn(kCurveD.data(), 32, d) != nullptr &&
            BN_le2bn(y_le, 32, y) != nullptr &&
            BN_mod_mul(y2, y, y, p, ctx.get()) &&
            BN_mod_sub(u, y2, BN_value_one(), p, ctx.get()) &&
            BN_mod_mul(v, d, y2, p, ctx.get()) &&
            BN_mod_add(v, v, BN_value_one(), p, ctx.get()) &&
            BN_mod_inverse(v, v, p, ctx.get()) != nullptr &&
            BN_mod_mul(u, u, v, p, ctx.get()) && BN_copy(e, p) != nullptr &&
            BN_sub_word(e, 1) && BN_rshift1(e, e) &&
            BN_mod_exp(v, u, e, p, ctx.get());
  bool square = ok && (BN_is_zero(u) || BN_is_one(v));
  BN_CTX_end(ctx.get());
  if (!ok) return absl::InternalError("Ed25519 point check: BIGNUM failure");
  if (!square) {
    return absl::InvalidArgumentError(
        "Ed25519 public key is not a point on the curve");
  }
  return absl::OkStatus();
}

}  // namespace ed25519_internal

// CheckEd25519PublicKey: OK for a 32-byte canonical encoding of a curve
// point outside the small-order subgroup; InvalidArgument naming the
// defect otherwise. See the file comment for why each case matters.
[[nodiscard]] inline absl::Status CheckEd25519PublicKey(ByteView key) {
  using namespace ed25519_internal;  // NOLINT: constants of this file
  if (key.size() != kEd25519PublicKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 public key must be 32 bytes, got ", key.size()));
  }
  std::array<uint8_t, 32> y;
  std::memcpy(y.data(), key.data(), 32);
  const bool x_sign = (y[31] & 0x80) != 0;
  y[31] &= 0x7f;
  if (!LessThanLittleEndian(y.data(), kFieldPrime.data())) {
    return absl::InvalidArgumentError(
        "Ed25519 public key is not canonical: y >= 2^255-19");
  }
  // x = 0 only for y = 1 and y = p - 1; "-0" is a second encoding.
  if (x_sign && (y == kSmallOrderY[0].y || y == kSmallOrderY[1].y)) {
    return absl::InvalidArgumentError(
        "Ed25519 public key is not canonical: x = 0 with the sign bit set");
  }
  for (const SmallOrderY& small : kSmallOrderY) {
    if (y == small.y) {
      return absl::InvalidArgumentError(
          absl::StrCat("Ed25519 public key has small order (", small.order,
                       "): signatures under it can be forged"));
    }
  }
  return CheckOnCurve(y.data());
}

}  // namespace cxsec

#endif  // CXSEC_CORE_CRYPTO_ED25519_PUBLIC_KEY_H_
