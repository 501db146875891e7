// Known-answer tests for CheckEd25519PublicKey. The small-order points are
// derived here from the curve equation with BIGNUM arithmetic, independently
// of the constants in ed25519_public_key.h, and compared with the published
// list: eight points plus six non-canonical encodings, as in C2SP/CCTV's
// ed25519 vectors (ed25519/README.md, flags low_order and non_canonical) and
// https://hdevalence.ca/blog/2020-10-04-its-25519am.
#include "core/crypto/ed25519_public_key.h"

#include <openssl/bn.h>
#include <openssl/curve25519.h>
#include <openssl/err.h>

#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "core/encoding/hex.h"
#include "gtest/gtest.h"

namespace cxsec {
namespace {

using Encoding = std::array<uint8_t, 32>;

// Arithmetic mod p = 2^255 - 19 on BoringSSL's BIGNUM.
class Field {
 public:
  using Int = bssl::UniquePtr<BIGNUM>;

  Field() : ctx_(BN_CTX_new()), p_(BN_new()) {
    BN_set_bit(p_.get(), 255);
    BN_sub_word(p_.get(), 19);
  }
  const BIGNUM* p() const { return p_.get(); }

  Int Value(int64_t v) const {
    Int out(BN_new());
    BN_set_word(out.get(), static_cast<BN_ULONG>(v < 0 ? -v : v));
    if (v < 0) return Sub(Value(0).get(), out.get());
    return out;
  }
  Int FromLittleEndian(const Encoding& e) const {
    return Int(BN_le2bn(e.data(), e.size(), nullptr));
  }
  Encoding ToLittleEndian(const BIGNUM* a) const {
    Encoding out{};
    EXPECT_TRUE(BN_bn2le_padded(out.data(), out.size(), a));
    return out;
  }
  Int Add(const BIGNUM* a, const BIGNUM* b) const {
    Int out(BN_new());
    EXPECT_TRUE(BN_mod_add(out.get(), a, b, p(), ctx_.get()));
    return out;
  }
  Int Sub(const BIGNUM* a, const BIGNUM* b) const {
    Int out(BN_new());
    EXPECT_TRUE(BN_mod_sub(out.get(), a, b, p(), ctx_.get()));
    return out;
  }
  Int Mul(const BIGNUM* a, const BIGNUM* b) const {
    Int out(BN_new());
    EXPECT_TRUE(BN_mod_mul(out.get(), a, b, p(), ctx_.get()));
    return out;
  }
  Int Inverse(const BIGNUM* a) const {
    Int out(BN_new());
    EXPECT_NE(BN_mod_inverse(out.get(), a, p(), ctx_.get()), nullptr);
    return out;
  }
  // Sqrt: a root, or null when `a` is not a square.
  Int Sqrt(const BIGNUM* a) const {
    Int out(BN_mod_sqrt(nullptr, a, p(), ctx_.get()));
    ERR_clear_error();
    return out;
  }
  bool Equal(const BIGNUM* a, const BIGNUM* b) const {
    return BN_cmp(a, b) == 0;
  }

 private:
  bssl::UniquePtr<BN_CTX> ctx_;
  Int p_;
};

// The curve: -x^2 + y^2 = 1 + d x^2 y^2.
class Curve {
 public:
  Curve()
      : d_(f_.Mul(f_.Value(-121665).get(),
                  f_.Inverse(f_.Value(121666).get()).get())) {}
  const Field& field() const { return f_; }
  const BIGNUM* d() const { return d_.get(); }

  // XSquared: x^2 = (y^2 - 1) / (d y^2 + 1).
  Field::Int XSquared(const BIGNUM* y) const {
    Field::Int y2 = f_.Mul(y, y);
    return f_.Mul(
        f_.Sub(y2.get(), f_.Value(1).get()).get(),
        f_.Inverse(f_.Add(f_.Mul(d(), y2.get()).get(), f_.Value(1).get()).get())
            .get());
  }
  bool OnCurve(const BIGNUM* y) const {
    Field::Int x2 = XSquared(y);
    return BN_is_zero(x2.get()) || f_.Sqrt(x2.get()) != nullptr;
  }
  // DoubleY: y of 2P, which depends on y only (x enters squared):
  // y' = (y^2 + x^2) / (2 + x^2 - y^2).
  Field::Int DoubleY(const BIGNUM* y) const {
    Field::Int x2 = XSquared(y);
    Field::Int y2 = f_.Mul(y, y);
    return f_.Mul(
        f_.Add(y2.get(), x2.get()).get(),
        f_.Inverse(
              f_.Sub(f_.Add(f_.Value(2).get(), x2.get()).get(), y2.get()).get())
            .get());
  }
  // OrderDividing8: the order of a point with this y when it divides 8
  // (1, 2, 4 or 8), else 0. y = 1 is the identity.
  int OrderDividing8(const BIGNUM* y) const {
    Field::Int one = f_.Value(1);
    Field::Int current(BN_dup(y));
    for (int order = 1; order <= 8; order *= 2) {
      if (f_.Equal(current.get(), one.get())) return order;
      current = DoubleY(current.get());
    }
    return 0;
  }

 private:
  Field f_;
  Field::Int d_;
};

Encoding WithSign(Encoding e, bool sign) {
  if (sign) e[31] |= 0x80;
  return e;
}

Encoding FromHex(absl::string_view hex) {
  absl::StatusOr<Bytes> raw = HexDecodeExact(hex, 32, "test vector");
  EXPECT_TRUE(raw.ok()) << raw.status();
  Encoding out{};
  std::copy(raw->begin(), raw->end(), out.begin());
  return out;
}

// Every point of order dividing 8, as y value -> order, derived from the
// curve: y = 1 (identity), y = -1 (order 2), y = 0 (order 4: 2P has y = -1)
// and the roots of d y^4 + 2 y^2 - 1 = 0 (order 8: 2P has y = 0, which
// needs x^2 = -y^2).
std::map<Encoding, int> DerivedSmallOrderY(const Curve& curve) {
  const Field& f = curve.field();
  std::map<Encoding, int> out;
  out[f.ToLittleEndian(f.Value(1).get())] = 1;
  out[f.ToLittleEndian(f.Value(-1).get())] = 2;
  out[f.ToLittleEndian(f.Value(0).get())] = 4;
  // y^2 = (-1 ± sqrt(1 + d)) / d; keep the roots that are squares.
  Field::Int root = f.Sqrt(f.Add(f.Value(1).get(), curve.d()).get());
  EXPECT_NE(root, nullptr);
  for (bool negate : {false, true}) {
    Field::Int r = negate ? f.Sub(f.Value(0).get(), root.get())
                          : Field::Int(BN_dup(root.get()));
    Field::Int y2 = f.Mul(f.Sub(r.get(), f.Value(1).get()).get(),
                          f.Inverse(curve.d()).get());
    Field::Int y = f.Sqrt(y2.get());
    if (y == nullptr) continue;
    out[f.ToLittleEndian(y.get())] = 8;
    out[f.ToLittleEndian(f.Sub(f.Value(0).get(), y.get()).get())] = 8;
  }
  return out;
}

TEST(Ed25519PublicKeyTest, ConstantsMatchTheCurve) {
  Curve curve;
  EXPECT_EQ(curve.field().ToLittleEndian(curve.d()), ed25519_internal::kCurveD);
  EXPECT_EQ(curve.field().ToLittleEndian(curve.field().p()),
            ed25519_internal::kFieldPrime);
  std::map<Encoding, int> derived = DerivedSmallOrderY(curve);
  std::map<Encoding, int> in_header;
  for (const auto& small : ed25519_internal::kSmallOrderY) {
    in_header[small.y] = small.order;
  }
  EXPECT_EQ(derived, in_header);
}

TEST(Ed25519PublicKeyTest, DerivedPointsHaveTheOrderClaimed) {
  Curve curve;
  const Field& f = curve.field();
  int points = 0;
  for (const auto& [y_le, order] : DerivedSmallOrderY(curve)) {
    Field::Int y = f.FromLittleEndian(y_le);
    ASSERT_TRUE(curve.OnCurve(y.get())) << HexEncode(y_le);
    EXPECT_EQ(curve.OrderDividing8(y.get()), order) << HexEncode(y_le);
    // Two points (±x) per y unless x = 0.
    points += BN_is_zero(curve.XSquared(y.get()).get()) ? 1 : 2;
  }
  // The torsion subgroup of edwards25519 has exactly eight points.
  EXPECT_EQ(points, 8);
}

// The fourteen encodings (eight canonical, six not), y as little-endian hex
// with the top bit being x's sign; the published list.
constexpr const char* kPublishedSmallOrderEncodings[] = {
    // canonical
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    // x = 0 with the sign bit set
    "0100000000000000000000000000000000000000000000000000000000000080",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    // y + p for y = 0 and y = 1, both signs
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
};

std::set<Encoding> DerivedSmallOrderEncodings(const Curve& curve) {
  const Field& f = curve.field();
  std::set<Encoding> out;
  for (const auto& [y_le, order] : DerivedSmallOrderY(curve)) {
    Field::Int y = f.FromLittleEndian(y_le);
    for (bool sign : {false, true}) out.insert(WithSign(y_le, sign));
    // y + p when it still fits in 255 bits: a second encoding of y.
    Field::Int y_plus_p(BN_new());
    BN_add(y_plus_p.get(), y.get(), f.p());
    if (BN_num_bits(y_plus_p.get()) <= 255) {
      Encoding e{};
      BN_bn2le_padded(e.data(), e.size(), y_plus_p.get());
      for (bool sign : {false, true}) out.insert(WithSign(e, sign));
    }
  }
  return out;
}

TEST(Ed25519PublicKeyTest, DerivedEncodingsAreThePublishedFourteen) {
  std::set<Encoding> published;
  for (const char* hex : kPublishedSmallOrderEncodings) {
    published.insert(FromHex(hex));
  }
  ASSERT_EQ(published.size(), 14u);
  EXPECT_EQ(DerivedSmallOrderEncodings(Curve()), published);
}

TEST(Ed25519PublicKeyTest, EverySmallOrderEncodingIsRefusedWithAReason) {
  for (const char* hex : kPublishedSmallOrderEncodings) {
    Encoding key = FromHex(hex);
    absl::Status status = CheckEd25519PublicKey(key);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << hex << ": " << status;
    EXPECT_TRUE(absl::StrContains(status.message(), "small order") ||
                absl::StrContains(status.message(), "not canonical"))
        << hex << ": " << status;
  }
}

TEST(Ed25519PublicKeyTest, ReasonsNameTheDefect) {
  EXPECT_EQ(CheckEd25519PublicKey(FromHex(kPublishedSmallOrderEncodings[0]))
                .message(),
            "Ed25519 public key has small order (1): signatures under it can "
            "be forged");
  EXPECT_EQ(CheckEd25519PublicKey(FromHex(kPublishedSmallOrderEncodings[4]))
                .message(),
            "Ed25519 public key has small order (8): signatures under it can "
            "be forged");
  EXPECT_EQ(CheckEd25519PublicKey(FromHex(kPublishedSmallOrderEncodings[8]))
                .message(),
            "Ed25519 public key is not canonical: x = 0 with the sign bit set");
  EXPECT_EQ(CheckEd25519PublicKey(FromHex(kPublishedSmallOrderEncodings[10]))
                .message(),
            "Ed25519 public key is not canonical: y >= 2^255-19");
  Encoding all_ones;
  all_ones.fill(0xff);
  EXPECT_EQ(CheckEd25519PublicKey(all_ones).message(),
            "Ed25519 public key is not canonical: y >= 2^255-19");
  EXPECT_EQ(CheckEd25519PublicKey(Bytes(31)).message(),
            "Ed25519 public key must be 32 bytes, got 31");
  EXPECT_EQ(CheckEd25519PublicKey(Bytes(33)).message(),
            "Ed25519 public key must be 32 bytes, got 33");
}

TEST(Ed25519PublicKeyTest, EveryNonCanonicalYIsRefused) {
  // y in [p, 2^255 - 1]: nineteen values, each with either sign.
  Encoding y = ed25519_internal::kFieldPrime;
  for (int i = 0; i < 19; ++i) {
    for (bool sign : {false, true}) {
      absl::Status status = CheckEd25519PublicKey(WithSign(y, sign));
      EXPECT_EQ(status.message(),
                "Ed25519 public key is not canonical: y >= 2^255-19")
          << HexEncode(y);
    }
    ++y[0];
  }
  EXPECT_EQ(y[0], 0x00);  // 2^255 would need a 256th bit: done.
}

TEST(Ed25519PublicKeyTest, OffCurveEncodingsAreRefusedAndAgreeWithTheCurve) {
  Curve curve;
  const Field& f = curve.field();
  int off = 0;
  for (int64_t small_y = 2; small_y < 64; ++small_y) {
    Field::Int y = f.Value(small_y);
    Encoding e = f.ToLittleEndian(y.get());
    absl::Status status = CheckEd25519PublicKey(e);
    if (curve.OnCurve(y.get())) {
      EXPECT_TRUE(status.ok()) << small_y << ": " << status;
    } else {
      ++off;
      EXPECT_EQ(status.message(),
                "Ed25519 public key is not a point on the curve")
          << small_y;
    }
  }
  EXPECT_GT(off, 10);  // about half of all y are off the curve
}

TEST(Ed25519PublicKeyTest, GeneratedKeysAndTheBasePointPass) {
  // The base point: y = 4/5.
  Curve curve;
  const Field& f = curve.field();
  Encoding base = f.ToLittleEndian(
      f.Mul(f.Value(4).get(), f.Inverse(f.Value(5).get()).get()).get());
  EXPECT_EQ(HexEncode(base),
            "5866666666666666666666666666666666666666666666666666666666666666");
  EXPECT_TRUE(CheckEd25519PublicKey(base).ok());
  for (int i = 0; i < 200; ++i) {
    uint8_t public_key[32];
    uint8_t private_key[64];
    ED25519_keypair(public_key, private_key);
    absl::Status status = CheckEd25519PublicKey(ByteView(public_key, 32));
    EXPECT_TRUE(status.ok())
        << HexEncode(ByteView(public_key, 32)) << ": " << status;
  }
}

}  // namespace
}  // namespace cxsec
