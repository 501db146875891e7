// The node's .seal key file: what `cxsec provision --seal-master` writes
// (FormatSealKeyFile) parses back to the same keys; a broader mode, another
// shape or a malformed key is refused without quoting a key.
#include "core/seal/seal_key_file.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

#include "core/encoding/hex.h"
#include "core/seal/seal_master_secret.h"
#include "gtest/gtest.h"

namespace cxsec::seal {
namespace {

constexpr char kMacHex[] = "5cabe232b37fa2e83b946a9ab070741a";
constexpr char kEncHex[] = "ba2c462cf1d535abaf3ecbda52eb8deb";

std::string WriteFile(const std::string& name, const std::string& text,
                      mode_t mode) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::remove(path.c_str());
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
  return path;
}

SecretBytes Key(const char* hex) {
  return SecretBytes::CopyFrom(*HexDecode(hex));
}

TEST(SealKeyFileTest, ReadsWhatProvisionWrites) {
  SecretBytes mac = Key(kMacHex);
  SecretBytes enc = Key(kEncHex);
  const std::string path = WriteFile(
      "both.seal", FormatSealKeyFile("D0011223344556677", 17, mac, &enc), 0600);
  absl::StatusOr<SealKeyFile> keys = LoadSealKeyFile(path);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->device_id, "D0011223344556677");
  EXPECT_EQ(keys->epoch, 17u);
  EXPECT_EQ(HexEncode(keys->mac_key.Reveal(SecretAccess::Grant())), kMacHex);
  ASSERT_TRUE(keys->enc_key.has_value());
  EXPECT_EQ(HexEncode(keys->enc_key->Reveal(SecretAccess::Grant())), kEncHex);
}

TEST(SealKeyFileTest, MacOnlyFileHasNoEncryptionKey) {
  SecretBytes mac = Key(kMacHex);
  absl::StatusOr<SealKeyFile> keys = ParseSealKeyFile(
      FormatSealKeyFile("D0011223344556677", 0, mac, nullptr), "t.seal");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_FALSE(keys->enc_key.has_value());
}

TEST(SealKeyFileTest, DeviceIdComesBackUpperCase) {
  absl::StatusOr<SealKeyFile> keys = ParseSealKeyFile(
      absl::StrCat("device = D00aabbccddeeff11\nseal_epoch = 0\n"
                   "seal_mac_key = ", kMacHex, "\n"),
      "t.seal");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->device_id, "D00AABBCCDDEEFF11");
}

TEST(SealKeyFileTest, RefusesAFileOthersCanRead) {
  SecretBytes mac = Key(kMacHex);
  const std::string path = WriteFile(
      "open.seal", FormatSealKeyFile("D0011223344556677", 0, mac, nullptr),
      0644);
  absl::StatusOr<SealKeyFile> keys = LoadSealKeyFile(path);
  ASSERT_FALSE(keys.ok());
  EXPECT_NE(keys.status().message().find(path), std::string::npos)
      << keys.status();
  EXPECT_EQ(keys.status().message().find(kMacHex), std::string::npos);
}

TEST(SealKeyFileTest, RefusesMalformedFilesWithoutQuotingKeys) {
  const std::string mac = kMacHex;
  const std::string bad_key = mac.substr(0, 30) + "zz";
  const std::string cases[] = {
      // no MAC key
      "device = D0011223344556677\nseal_epoch = 0\n",
      // not a device id
      "device = G0011223344556677\nseal_epoch = 0\nseal_mac_key = " + mac,
      "device = D00112233445566\nseal_epoch = 0\nseal_mac_key = " + mac,
      // epoch out of range
      "device = D0011223344556677\nseal_epoch = 4294967296\nseal_mac_key = " +
          mac,
      "device = D0011223344556677\nseal_epoch = -1\nseal_mac_key = " + mac,
      // short and non-hex keys
      "device = D0011223344556677\nseal_epoch = 0\nseal_mac_key = " +
          mac.substr(0, 30),
      "device = D0011223344556677\nseal_epoch = 0\nseal_mac_key = " + bad_key,
      "device = D0011223344556677\nseal_epoch = 0\nseal_mac_key = " + mac +
          "\nseal_enc_key = " + bad_key,
      // unknown key
      "device = D0011223344556677\nseal_epoch = 0\nseal_mac_key = " + mac +
          "\npsk = " + mac,
  };
  for (const std::string& text : cases) {
    absl::StatusOr<SealKeyFile> keys = ParseSealKeyFile(text, "t.seal");
    ASSERT_FALSE(keys.ok()) << text;
    EXPECT_NE(keys.status().message().find("t.seal"), std::string::npos)
        << keys.status();
    EXPECT_EQ(keys.status().message().find(mac.substr(0, 30)),
              std::string::npos)
        << keys.status();
  }
}

}  // namespace
}  // namespace cxsec::seal
