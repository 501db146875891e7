// Unit tests (host) for seal receipts: round trips, and every change a
// gateway could make to a receipt refused.
#include "core/seal/seal_receipt.h"

#include <array>
#include <cstdint>
#include <vector>

#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/mbedtls_seal_crypto.h"
#include "gtest/gtest.h"

namespace cxsec::seal {
namespace {

template <class Crypto>
class SealReceiptTest : public testing::Test {
 protected:
  void SetUp() override {
    std::array<uint8_t, 16> raw{};
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i);
    ASSERT_EQ(key_.Load(raw), SealReason::kNone);
    raw[0] ^= 1;
    ASSERT_EQ(other_key_.Load(raw), SealReason::kNone);
  }
  using Codec = SealReceiptCodec<Crypto>;
  SealKey<Crypto> key_;
  SealKey<Crypto> other_key_;
};

using Backends = testing::Types<BoringSslSealCrypto, MbedTlsSealCrypto>;
TYPED_TEST_SUITE(SealReceiptTest, Backends);

TYPED_TEST(SealReceiptTest, RoundTrip) {
  std::array<uint8_t, kReceiptSize> r{};
  ASSERT_EQ(TestFixture::Codec::Make(this->key_, Transport::kDtlsCoap,
                                     ReceiptVerdict::kDuplicate, 3, 77, r),
            SealReason::kNone);
  SealReceipt out;
  ASSERT_EQ(TestFixture::Codec::Check(this->key_, 3, Transport::kDtlsCoap, r,
                                      out),
            SealReason::kNone);
  EXPECT_EQ(out.verdict, ReceiptVerdict::kDuplicate);
  EXPECT_EQ(out.epoch, 3u);
  EXPECT_EQ(out.sequence, 77u);
}

TYPED_TEST(SealReceiptTest, EveryBitFlipIsRefused) {
  std::array<uint8_t, kReceiptSize> r{};
  ASSERT_EQ(TestFixture::Codec::Make(this->key_, Transport::kDtlsCoap,
                                     ReceiptVerdict::kAccepted, 0, 5, r),
            SealReason::kNone);
  for (size_t bit = 0; bit < r.size() * 8; ++bit) {
    std::array<uint8_t, kReceiptSize> t = r;
    t[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    SealReceipt out;
    EXPECT_NE(TestFixture::Codec::Check(this->key_, 0, Transport::kDtlsCoap, t,
                                        out),
              SealReason::kNone)
        << "bit " << bit;
  }
}

TYPED_TEST(SealReceiptTest, RefusesOtherKeyTransportEpochAndSize) {
  std::array<uint8_t, kReceiptSize> r{};
  ASSERT_EQ(TestFixture::Codec::Make(this->key_, Transport::kDtlsCoap,
                                     ReceiptVerdict::kAccepted, 2, 9, r),
            SealReason::kNone);
  SealReceipt out;
  // Another device's key (what a gateway would have to guess).
  EXPECT_EQ(TestFixture::Codec::Check(this->other_key_, 2,
                                      Transport::kDtlsCoap, r, out),
            SealReason::kTagMismatch);
  // Bound to the transport.
  EXPECT_EQ(TestFixture::Codec::Check(this->key_, 2, Transport::kMioty, r, out),
            SealReason::kTagMismatch);
  // A receipt of an epoch the node is not at cannot be checked.
  EXPECT_EQ(TestFixture::Codec::Check(this->key_, 3, Transport::kDtlsCoap, r,
                                      out),
            SealReason::kEpochMismatch);
  // Exactly 17 bytes.
  EXPECT_EQ(TestFixture::Codec::Check(this->key_, 2, Transport::kDtlsCoap,
                                      std::span(r).first(16), out),
            SealReason::kTruncated);
  std::vector<uint8_t> longer(r.begin(), r.end());
  longer.push_back(0);
  EXPECT_EQ(TestFixture::Codec::Check(this->key_, 2, Transport::kDtlsCoap,
                                      longer, out),
            SealReason::kTruncated);
  // A verdict byte this code does not know.
  std::array<uint8_t, kReceiptSize> t = r;
  t[0] = 7;
  EXPECT_EQ(TestFixture::Codec::Check(this->key_, 2, Transport::kDtlsCoap, t,
                                      out),
            SealReason::kUnknownVerdict);
  // Changing the verdict to another known one breaks the MAC.
  t[0] = 1;
  EXPECT_EQ(TestFixture::Codec::Check(this->key_, 2, Transport::kDtlsCoap, t,
                                      out),
            SealReason::kTagMismatch);
}

TYPED_TEST(SealReceiptTest, RefusesUnloadedKeyAndUnknownVerdictOnMake) {
  SealKey<TypeParam> unloaded;
  std::array<uint8_t, kReceiptSize> r{};
  EXPECT_EQ(TestFixture::Codec::Make(unloaded, Transport::kDtlsCoap,
                                     ReceiptVerdict::kAccepted, 0, 0, r),
            SealReason::kKeyNotLoaded);
  EXPECT_EQ(TestFixture::Codec::Make(this->key_, Transport::kDtlsCoap,
                                     static_cast<ReceiptVerdict>(9), 0, 0, r),
            SealReason::kUnknownVerdict);
}

}  // namespace
}  // namespace cxsec::seal
