#include "core/crypto/primitives.h"

#include <set>

#include "core/encoding/hex.h"
#include "gtest/gtest.h"

namespace cxsec {
namespace {

TEST(ConstantTimeEqualsTest, EqualAndUnequal) {
  const Bytes a = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_TRUE(ConstantTimeEquals(a, a));
  EXPECT_TRUE(ConstantTimeEquals(Bytes{}, Bytes{}));
  // A difference at any position, including the first and last, counts.
  for (size_t i = 0; i < a.size(); ++i) {
    Bytes b = a;
    b[i] ^= 0x01;
    EXPECT_FALSE(ConstantTimeEquals(a, b)) << "position " << i;
    b[i] ^= 0x81;
    EXPECT_FALSE(ConstantTimeEquals(a, b)) << "position " << i;
  }
}

TEST(ConstantTimeEqualsTest, DifferentLengthsNeverEqual) {
  const Bytes a = {1, 2, 3};
  const Bytes prefix = {1, 2};
  EXPECT_FALSE(ConstantTimeEquals(a, prefix));
  EXPECT_FALSE(ConstantTimeEquals(prefix, a));
  EXPECT_FALSE(ConstantTimeEquals(a, Bytes{}));
}

TEST(RandomBytesTest, FillsAndDiffers) {
  absl::StatusOr<Bytes> first = RandomBytes(32);
  absl::StatusOr<Bytes> second = RandomBytes(32);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->size(), 32u);
  EXPECT_NE(*first, *second);
  EXPECT_NE(*first, Bytes(32, 0));
}

TEST(RandomBytesTest, CoversAllByteValues) {
  absl::StatusOr<Bytes> sample = RandomBytes(64 * 1024);
  ASSERT_TRUE(sample.ok());
  std::set<uint8_t> seen(sample->begin(), sample->end());
  EXPECT_EQ(seen.size(), 256u);
}

TEST(RandomBytesTest, EmptyRequestSucceeds) {
  Bytes none;
  EXPECT_TRUE(RandomBytes(absl::MakeSpan(none)).ok());
}

TEST(HashTest, Sha256KnownAnswer) {
  // FIPS 180-2 "abc".
  EXPECT_EQ(HexEncode(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HashTest, HmacSha256Rfc4231Case2) {
  EXPECT_EQ(HexEncode(HmacSha256(AsBytes("Jefe"),
                                 AsBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(SecureZeroTest, ZeroesBuffer) {
  Bytes buffer = {1, 2, 3, 4};
  SecureZero(buffer.data(), buffer.size());
  EXPECT_EQ(buffer, Bytes(4, 0));
}

}  // namespace
}  // namespace cxsec
