#include "core/config/key_value_file.h"

#include "gtest/gtest.h"

namespace cxsec {
namespace {

std::string ErrorOf(absl::string_view text) {
  absl::StatusOr<KeyValueFile> file = KeyValueFile::Parse(text, "test.conf");
  EXPECT_FALSE(file.ok());
  return file.ok() ? "" : std::string(file.status().message());
}

TEST(KeyValueFileTest, ParsesKeysValuesAndComments) {
  absl::StatusOr<KeyValueFile> file = KeyValueFile::Parse(
      "# a comment\n\ngateway_id = G0123456789abcdef01  # trailing\n"
      "  port=5684\r\nempty =\n",
      "gw.conf");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->GetString("gateway_id"), "G0123456789abcdef01");
  EXPECT_EQ(file->GetString("empty"), "");
  EXPECT_EQ(file->Find("port")->line, 4);
  EXPECT_EQ(*file->GetInt("port", 0, 1, 65535), 5684);
  EXPECT_EQ(file->GetString("missing", "fallback"), "fallback");
}

TEST(KeyValueFileTest, ErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("a = 1\nnot a pair\n"),
            "test.conf:2: expected 'key = value'");
  EXPECT_EQ(ErrorOf("a = 1\n\na = 2\n"),
            "test.conf:3: duplicate key 'a' (first set on line 1)");
  EXPECT_EQ(ErrorOf(" = 2\n"), "test.conf:1: empty key");
  EXPECT_NE(ErrorOf("Upper = 1\n").find("test.conf:1: key 'Upper'"),
            std::string::npos);
  EXPECT_EQ(ErrorOf("a = \x01\n"), "test.conf:1: control character in line");
}

TEST(KeyValueFileTest, EnforcesLimits) {
  KeyValueLimits limits;
  limits.max_bytes = 10;
  EXPECT_FALSE(KeyValueFile::Parse("a = 12345678901", "x", limits).ok());
  limits = KeyValueLimits();
  limits.max_line_length = 5;
  EXPECT_FALSE(KeyValueFile::Parse("a = 123\n", "x", limits).ok());
  limits = KeyValueLimits();
  limits.max_entries = 2;
  EXPECT_FALSE(KeyValueFile::Parse("a=1\nb=2\nc=3\n", "x", limits).ok());
  EXPECT_TRUE(KeyValueFile::Parse("a=1\nb=2\n", "x", limits).ok());
}

TEST(KeyValueFileTest, CheckKeysNamesUnknownKeyAndLine) {
  absl::StatusOr<KeyValueFile> file =
      KeyValueFile::Parse("known = 1\ntypo_key = 2\n", "gw.conf");
  ASSERT_TRUE(file.ok());
  absl::Status status = file->CheckKeys({{"known", true, ""}});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message())
                .find("gw.conf:2: unknown key 'typo_key'"),
            std::string::npos);
}

TEST(KeyValueFileTest, CheckKeysNamesMissingRequiredKey) {
  absl::StatusOr<KeyValueFile> file = KeyValueFile::Parse("a = 1\n", "n.conf");
  ASSERT_TRUE(file.ok());
  absl::Status status = file->CheckKeys({{"a", false, ""}, {"b", true, ""}});
  EXPECT_EQ(status.message(), "n.conf: missing required key 'b'");
}

TEST(KeyValueFileTest, TypedGettersValidate) {
  absl::StatusOr<KeyValueFile> file =
      KeyValueFile::Parse("n = abc\nm = 99999\nb = yes\n", "t.conf");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->GetInt("n", 0, 0, 10).status().message(),
            "t.conf:1: 'n' must be an integer");
  EXPECT_EQ(file->GetInt("m", 0, 0, 10).status().message(),
            "t.conf:2: 'm' must be between 0 and 10");
  EXPECT_EQ(file->GetBool("b", false).status().message(),
            "t.conf:3: 'b' must be true or false");
}

TEST(KeyValueFileTest, ErrorsNeverEchoValues) {
  std::string message = ErrorOf("psk = 00112233\npsk = secretvalue\n");
  EXPECT_EQ(message.find("secretvalue"), std::string::npos);
}

}  // namespace
// A secret pushed left of the '=' (a hex key as a key name) is never
// quoted into an error (found by //core/seal:seal_key_file_fuzzer).
TEST(KeyValueFileTest, KeyNamesThatLookLikeKeyMaterialAreNotQuoted) {
  const std::string secret = "b949300512c2b21eca8b2680c9bf314e";
  for (const std::string& text : std::vector<std::string>{
           "Key" + secret + " = 1\n", secret + " = 1\n" + secret + " = 2\n"}) {
    absl::StatusOr<KeyValueFile> file = KeyValueFile::Parse(text, "k.seal");
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().message().find(secret), std::string::npos)
        << file.status();
  }
  absl::StatusOr<KeyValueFile> unknown =
      KeyValueFile::Parse(secret + " = 1\n", "k.seal");
  ASSERT_TRUE(unknown.ok());
  absl::Status checked = unknown->CheckKeys({{"device", false, ""}});
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.message().find(secret), std::string::npos) << checked;
  EXPECT_NE(checked.message().find("looks like key material"),
            std::string::npos)
      << checked;
}

}  // namespace cxsec
