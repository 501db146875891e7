#include "core/deployment/security_file.h"

#include "gtest/gtest.h"

namespace cxsec {
namespace {

const char kMaster[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

std::string Valid() {
  return absl::StrCat("# comment\nformat = cxsec-security-v1\npan_id = 0x1a2b\n",
                      "master_secret = ", kMaster, "\nepoch = 3\n");
}

TEST(SecurityFileTest, ParsesTheDocumentedFormat) {
  absl::StatusOr<SecurityConfig> config = ParseSecurityFile(Valid(), "s.txt");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pan_id, 0x1a2b);
  EXPECT_EQ(config->epoch, 3u);
  EXPECT_FALSE(config->next_epoch.has_value());
  EXPECT_EQ(HexEncode(config->master_secret.Reveal(SecretAccess::Grant())),
            kMaster);
  EXPECT_TRUE(config->AcceptsEpoch(3));
  EXPECT_FALSE(config->AcceptsEpoch(4));
}

TEST(SecurityFileTest, FormatRoundTripsWithRollover) {
  SecurityConfig config = *ParseSecurityFile(Valid(), "s.txt");
  config.next_epoch = 4;
  std::string text = FormatSecurityFile(config);
  EXPECT_NE(text.find("# "), std::string::npos);
  absl::StatusOr<SecurityConfig> again = ParseSecurityFile(text, "s.txt");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->next_epoch, 4u);
  EXPECT_TRUE(again->AcceptsEpoch(3));
  EXPECT_TRUE(again->AcceptsEpoch(4));
  EXPECT_TRUE(again->master_secret.Equals(config.master_secret));
  EXPECT_EQ(FormatSecurityFile(*again), text);
}

void ExpectLineError(const std::string& text, const std::string& where) {
  absl::StatusOr<SecurityConfig> config = ParseSecurityFile(text, "s.txt");
  ASSERT_FALSE(config.ok()) << text;
  EXPECT_NE(config.status().message().find(where), std::string::npos)
      << config.status();
  // The secret never appears in an error.
  EXPECT_EQ(config.status().message().find("8899aabb"), std::string::npos);
}

TEST(SecurityFileTest, FreshMasterAndCompromisedDevicesRoundTrip) {
  const char kNext[] =
      "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
  std::string text = absl::StrCat(
      Valid(), "next_epoch = 4\nnext_master_secret = ", kNext,
      "\ncompromised = D00112233445566aa:4, D0011223344556677:4\n");
  absl::StatusOr<SecurityConfig> config = ParseSecurityFile(text, "s.txt");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(HexEncode(config->MasterFor(4).Reveal(SecretAccess::Grant())),
            kNext);
  EXPECT_EQ(HexEncode(config->MasterFor(3).Reveal(SecretAccess::Grant())),
            kMaster);
  // Ids are stored in the gateway's upper-case form.
  EXPECT_TRUE(config->IsCompromised("D00112233445566AA", 3));
  EXPECT_TRUE(config->IsCompromised("D0011223344556677", 3));
  EXPECT_FALSE(config->IsCompromised("D0011223344556677", 4));
  EXPECT_FALSE(config->IsCompromised("D0011223344556678", 3));
  absl::StatusOr<SecurityConfig> again =
      ParseSecurityFile(FormatSecurityFile(*config), "s.txt");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->next_master_secret.Equals(config->next_master_secret));
  EXPECT_EQ(again->compromised, config->compromised);
}

TEST(SecurityFileTest, RecoveryEntriesAreCheckedAndBounded) {
  auto error = [](const std::string& extra) {
    absl::StatusOr<SecurityConfig> config =
        ParseSecurityFile(absl::StrCat(Valid(), extra), "s.txt");
    return config.ok() ? std::string("accepted")
                       : std::string(config.status().message());
  };
  EXPECT_NE(error(absl::StrCat("next_master_secret = ", kMaster, "\n"))
                .find("next_master_secret needs next_epoch"),
            std::string::npos);
  EXPECT_NE(error("next_epoch = 4\nnext_master_secret = 00\n")
                .find("next_master_secret"),
            std::string::npos);
  EXPECT_NE(error("compromised = D0011223344556677\n").find("compromised entries"),
            std::string::npos);
  EXPECT_NE(error("compromised = D0011223344556677:0\n").find("compromised entries"),
            std::string::npos);
  EXPECT_NE(error("compromised = X0011223344556677:2\n").find("compromised entries"),
            std::string::npos);
  EXPECT_NE(error("compromised = D00112233445566aa:2,D00112233445566AA:3\n")
                .find("listed twice"),
            std::string::npos);
  std::string many = "compromised = ";
  for (size_t i = 0; i <= kMaxCompromisedDevices; ++i) {
    absl::StrAppend(&many, i == 0 ? "" : ",", absl::StrFormat("D%016X:2", i));
  }
  EXPECT_NE(error(many + "\n").find("provision a new deployment"),
            std::string::npos);
}

TEST(SecurityFileTest, ErrorsNameTheLine) {
  ExpectLineError(Valid() + "garbage\n", "s.txt:6:");
  ExpectLineError(Valid() + "epoch = 4\n", "s.txt:6: duplicate key");
  ExpectLineError(Valid() + "color = red\n", "s.txt:6: unknown key");
  std::string bad_master = Valid();
  bad_master.replace(bad_master.find(kMaster), 2, "zz");
  ExpectLineError(bad_master, "s.txt:4:");
  std::string short_master = Valid();
  short_master.replace(short_master.find(kMaster), 2, "");
  ExpectLineError(short_master, "s.txt:4:");
  std::string bad_pan = Valid();
  bad_pan.replace(bad_pan.find("0x1a2b"), 6, "6699");
  ExpectLineError(bad_pan, "s.txt:3:");
  std::string bad_epoch = Valid();
  bad_epoch.replace(bad_epoch.find("epoch = 3"), 9, "epoch = -3");
  ExpectLineError(bad_epoch, "s.txt:5:");
  ExpectLineError(Valid() + "next_epoch = 3\n", "s.txt:6: next_epoch");
  ExpectLineError(Valid() + "next_epoch = 99999999999\n", "s.txt:6:");
  std::string bad_format = Valid();
  bad_format.replace(bad_format.find("v1"), 2, "v9");
  ExpectLineError(bad_format, "s.txt:2:");
  ExpectLineError("format = cxsec-security-v1\n", "missing required key");
  ExpectLineError(std::string(20000, '#'), "exceeds the limit");
}

}  // namespace
}  // namespace cxsec
