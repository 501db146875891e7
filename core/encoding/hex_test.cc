#include "core/encoding/hex.h"

#include "gtest/gtest.h"

namespace cxsec {
namespace {

TEST(HexTest, EncodesLowerCase) {
  EXPECT_EQ(HexEncode(Bytes{0x00, 0x12, 0xab, 0xff}), "0012abff");
  EXPECT_EQ(HexEncode(Bytes{}), "");
}

TEST(HexTest, DecodesEitherCase) {
  absl::StatusOr<Bytes> out = HexDecode("0012AbfF");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (Bytes{0x00, 0x12, 0xab, 0xff}));
}

TEST(HexTest, RejectsOddLength) {
  absl::StatusOr<Bytes> out = HexDecode("abc");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(std::string(out.status().message()).find("odd length"),
            std::string::npos);
}

TEST(HexTest, RejectsNonHexAndNamesOffset) {
  absl::StatusOr<Bytes> out = HexDecode("00zz");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(std::string(out.status().message()).find("offset 2"),
            std::string::npos);
  EXPECT_FALSE(HexDecode("0x12").ok());
  EXPECT_FALSE(HexDecode("12 4").ok());
}

TEST(HexTest, ExactSizeNamesTheValue) {
  absl::StatusOr<Bytes> out = HexDecodeExact("0011", 16, "network key");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(std::string(out.status().message()).find("network key"),
            std::string::npos);
  EXPECT_TRUE(HexDecodeExact("70b3d56770001234", 8, "EUI-64").ok());
}

TEST(HexTest, RejectsOversizedInput) {
  EXPECT_FALSE(HexDecode(std::string(10, '0'), 8).ok());
}

}  // namespace
}  // namespace cxsec
