#include "core/encoding/base64url.h"

#include <string>

#include "gtest/gtest.h"

namespace cxsec {
namespace {

std::string DecodeToString(absl::string_view text) {
  absl::StatusOr<Bytes> out = Base64UrlDecode(text);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? ToString(*out) : "";
}

// RFC 4648 §10 test vectors, with padding removed as base64url in JOSE
// requires.
TEST(Base64UrlTest, Rfc4648Vectors) {
  const std::pair<std::string, std::string> kVectors[] = {
      {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},
      {"foo", "Zm9v"},  {"foob", "Zm9vYg"},  {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64UrlEncode(plain), encoded) << plain;
    EXPECT_EQ(DecodeToString(encoded), plain) << encoded;
  }
}

TEST(Base64UrlTest, UsesUrlSafeAlphabet) {
  const Bytes data = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(Base64UrlEncode(data), "-_-_");
  absl::StatusOr<Bytes> decoded = Base64UrlDecode("-_-_");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, data);
}

TEST(Base64UrlTest, RoundTripsEveryByteAndLength) {
  for (size_t length = 0; length < 300; ++length) {
    Bytes data(length);
    for (size_t i = 0; i < length; ++i) data[i] = static_cast<uint8_t>(i * 7 + length);
    absl::StatusOr<Bytes> decoded = Base64UrlDecode(Base64UrlEncode(data));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, data);
  }
}

// RFC 7515 Appendix A.3's JWS protected header {"alg":"ES256"}.
TEST(Base64UrlTest, JwsHeaderVector) {
  EXPECT_EQ(DecodeToString("eyJhbGciOiJFUzI1NiJ9"), "{\"alg\":\"ES256\"}");
}

struct RejectCase {
  const char* name;
  std::string input;
  const char* expected_message_part;
};

class Base64UrlRejectTest : public testing::TestWithParam<RejectCase> {};

TEST_P(Base64UrlRejectTest, Rejects) {
  absl::StatusOr<Bytes> out = Base64UrlDecode(GetParam().input);
  ASSERT_FALSE(out.ok()) << GetParam().name;
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(out.status().message())
                .find(GetParam().expected_message_part),
            std::string::npos)
      << out.status();
}

INSTANTIATE_TEST_SUITE_P(
    Strict, Base64UrlRejectTest,
    testing::Values(
        RejectCase{"padding", "Zg==", "padding"},
        RejectCase{"single_padding", "Zm8=", "padding"},
        RejectCase{"plus", "a+bc", "standard base64"},
        RejectCase{"slash", "ab/c", "standard base64"},
        RejectCase{"space", "Zm9v YmFy", "whitespace"},
        RejectCase{"newline", "Zm9v\nYmFy", "whitespace"},
        RejectCase{"tab", "\tZm9v", "whitespace"},
        RejectCase{"nul", std::string("Zm\0v", 4), "byte 0x00"},
        RejectCase{"high_byte", "Zm9\xc3\xa9", "byte 0xc3"},
        RejectCase{"punctuation", "Zm9v.", "'.'"},
        RejectCase{"length_4n_plus_1", "Zm9vY", "impossible"},
        RejectCase{"length_1", "A", "impossible"},
        RejectCase{"noncanonical_2_chars", "Zh", "non-canonical"},
        RejectCase{"noncanonical_3_chars", "Zm9", "non-canonical"},
        RejectCase{"noncanonical_last_bit", "AB", "non-canonical"}),
    [](const testing::TestParamInfo<RejectCase>& info) {
      return std::string(info.param.name);
    });

TEST(Base64UrlTest, CanonicalTrailingBitsAccepted) {
  // "Zg" and "Zh" both carry 'f' in the used bits; only "Zg" has zero
  // unused bits.
  EXPECT_TRUE(Base64UrlDecode("Zg").ok());
  EXPECT_TRUE(Base64UrlDecode("AA").ok());
  EXPECT_TRUE(Base64UrlDecode("AAE").ok());
  EXPECT_FALSE(Base64UrlDecode("AAF").ok());
}

TEST(Base64UrlTest, RejectsOversizedInputBeforeDecoding) {
  std::string big(101, 'A');
  absl::StatusOr<Bytes> out = Base64UrlDecode(big, 100);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(std::string(out.status().message()).find("exceeds the limit"),
            std::string::npos);
  EXPECT_TRUE(Base64UrlDecode(std::string(100, 'A'), 100).ok());
}

}  // namespace
}  // namespace cxsec
