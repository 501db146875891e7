// The low-S rule for raw P-256 signatures, checked against BIGNUM
// arithmetic and against BoringSSL's own ECDSA.
#include "core/crypto/p256_signature.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/nid.h>
#include <openssl/sha.h>

#include <array>

#include "gtest/gtest.h"

namespace cxsec {
namespace {

using Scalar = std::array<uint8_t, 32>;

bssl::UniquePtr<BIGNUM> Order() {
  bssl::UniquePtr<EC_GROUP> group(
      EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  return bssl::UniquePtr<BIGNUM>(BN_dup(EC_GROUP_get0_order(group.get())));
}

Scalar ToScalar(const BIGNUM* value) {
  Scalar out{};
  EXPECT_TRUE(BN_bn2bin_padded(out.data(), out.size(), value));
  return out;
}

TEST(P256SignatureTest, ConstantsAreNAndHalfOfN) {
  bssl::UniquePtr<BIGNUM> n = Order();
  EXPECT_EQ(ToScalar(n.get()), Scalar(std::to_array(kP256Order)));
  bssl::UniquePtr<BIGNUM> half(BN_dup(n.get()));
  ASSERT_TRUE(BN_rshift1(half.get(), half.get()));
  EXPECT_EQ(ToScalar(half.get()), Scalar(std::to_array(kP256HalfOrder)));
  EXPECT_TRUE(BN_is_odd(n.get()));
}

// Normalized returns the s of `s` after NormalizeP256SignatureToLowS.
Scalar Normalized(const Scalar& s) {
  uint8_t signature[64] = {0x01};
  std::copy(s.begin(), s.end(), signature + 32);
  NormalizeP256SignatureToLowS(signature);
  EXPECT_EQ(signature[0], 0x01) << "r must not change";
  Scalar out;
  std::copy(signature + 32, signature + 64, out.begin());
  return out;
}

TEST(P256SignatureTest, BoundariesOfTheLowHalf) {
  bssl::UniquePtr<BIGNUM> n = Order();
  bssl::UniquePtr<BIGNUM> value(BN_new());
  auto at = [&](int64_t offset_from_half) {
    BN_rshift1(value.get(), n.get());
    if (offset_from_half >= 0) {
      BN_add_word(value.get(), static_cast<BN_ULONG>(offset_from_half));
    } else {
      BN_sub_word(value.get(), static_cast<BN_ULONG>(-offset_from_half));
    }
    return ToScalar(value.get());
  };
  EXPECT_TRUE(P256SIsLow(at(-1).data()));
  EXPECT_TRUE(P256SIsLow(at(0).data()));   // floor(n/2) is low
  EXPECT_FALSE(P256SIsLow(at(1).data()));  // (n+1)/2 is high
  EXPECT_EQ(Normalized(at(0)), at(0));
  EXPECT_EQ(Normalized(at(1)), at(0));  // n - (n+1)/2 = (n-1)/2
  EXPECT_EQ(Normalized(at(2)), at(-1));
  Scalar one{};
  one[31] = 1;
  Scalar n_minus_one = ToScalar(n.get());
  n_minus_one[31] -= 1;
  EXPECT_TRUE(P256SIsLow(one.data()));
  EXPECT_FALSE(P256SIsLow(n_minus_one.data()));
  EXPECT_EQ(Normalized(n_minus_one), one);
  EXPECT_EQ(Normalized(one), one);
}

TEST(P256SignatureTest, NormalizeIsMinOfSAndNMinusSForRandomS) {
  bssl::UniquePtr<BIGNUM> n = Order();
  bssl::UniquePtr<BIGNUM> half(BN_dup(n.get()));
  BN_rshift1(half.get(), half.get());
  for (int i = 0; i < 2000; ++i) {
    bssl::UniquePtr<BIGNUM> s(BN_new());
    ASSERT_TRUE(BN_rand_range_ex(s.get(), 1, n.get()));
    bssl::UniquePtr<BIGNUM> expected(BN_new());
    if (BN_cmp(s.get(), half.get()) > 0) {
      ASSERT_TRUE(BN_sub(expected.get(), n.get(), s.get()));
    } else {
      ASSERT_TRUE(BN_copy(expected.get(), s.get()));
    }
    EXPECT_EQ(Normalized(ToScalar(s.get())), ToScalar(expected.get()));
    EXPECT_EQ(P256SIsLow(ToScalar(s.get()).data()),
              BN_cmp(s.get(), half.get()) <= 0);
  }
}

TEST(P256SignatureTest, BothFormsVerifyWithBoringSslAndNormalizingKeepsOne) {
  // Why the rule exists: (r, s) and (r, n - s) are both valid.
  bssl::UniquePtr<EC_KEY> key(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  ASSERT_TRUE(EC_KEY_generate_key(key.get()));
  uint8_t digest[32];
  SHA256(reinterpret_cast<const uint8_t*>("m"), 1, digest);
  bssl::UniquePtr<BIGNUM> n = Order();
  int high_seen = 0;
  for (int i = 0; i < 64; ++i) {
    bssl::UniquePtr<ECDSA_SIG> sig(ECDSA_do_sign(digest, 32, key.get()));
    ASSERT_NE(sig, nullptr);
    uint8_t raw[64];
    ASSERT_TRUE(BN_bn2bin_padded(raw, 32, sig->r));
    ASSERT_TRUE(BN_bn2bin_padded(raw + 32, 32, sig->s));
    high_seen += P256SIsLow(raw + 32) ? 0 : 1;
    NormalizeP256SignatureToLowS(raw);
    ASSERT_TRUE(P256SIsLow(raw + 32));
    ASSERT_TRUE(P256ScalarInRange(raw + 32));
    bssl::UniquePtr<ECDSA_SIG> low(ECDSA_SIG_new());
    ASSERT_TRUE(ECDSA_SIG_set0(low.get(), BN_bin2bn(raw, 32, nullptr),
                               BN_bin2bn(raw + 32, 32, nullptr)));
    EXPECT_EQ(ECDSA_do_verify(digest, 32, low.get(), key.get()), 1);
    bssl::UniquePtr<BIGNUM> high_s(BN_new());
    ASSERT_TRUE(BN_sub(high_s.get(), n.get(), low->s));
    bssl::UniquePtr<ECDSA_SIG> high(ECDSA_SIG_new());
    ASSERT_TRUE(ECDSA_SIG_set0(high.get(), BN_dup(low->r), high_s.release()));
    EXPECT_EQ(ECDSA_do_verify(digest, 32, high.get(), key.get()), 1);
  }
  // BoringSSL itself does not normalise; 64 signatures all low by chance
  // would happen once in 2^64 runs.
  EXPECT_GT(high_seen, 0);
}

TEST(P256SignatureTest, ScalarRange) {
  Scalar zero{};
  EXPECT_FALSE(P256ScalarInRange(zero.data()));
  Scalar n = std::to_array(kP256Order);
  EXPECT_FALSE(P256ScalarInRange(n.data()));
  n[31] -= 1;
  EXPECT_TRUE(P256ScalarInRange(n.data()));
}

}  // namespace
}  // namespace cxsec
