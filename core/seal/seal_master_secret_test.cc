// The verifier-side master secret file: loaded only when private, parsed
// strictly, never quoted in an error; per-device keys as the known answers
// of docs/SEALED_READINGS.md say.
#include "core/seal/seal_master_secret.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "core/encoding/hex.h"
#include "gtest/gtest.h"

namespace cxsec::seal {
namespace {

constexpr char kMasterHex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

std::string WriteFile(const std::string& name, const std::string& text,
                      mode_t mode) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::remove(path.c_str());
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
  return path;
}

TEST(SealMasterSecretTest, LoadsAPrivateFile) {
  const std::string path =
      WriteFile("master_ok", std::string(kMasterHex) + "\n", 0600);
  absl::StatusOr<SecretBytes> master = LoadSealMasterSecret(path);
  ASSERT_TRUE(master.ok()) << master.status();
  EXPECT_EQ(HexEncode(master->Reveal(SecretAccess::Grant())), kMasterHex);
  EXPECT_EQ(FormatSealMasterSecret(*master), std::string(kMasterHex) + "\n");
}

TEST(SealMasterSecretTest, RefusesAFileOthersCanRead) {
  for (mode_t mode : {0640, 0644, 0604, 0660}) {
    const std::string path = WriteFile("master_open", kMasterHex, mode);
    absl::StatusOr<SecretBytes> master = LoadSealMasterSecret(path);
    ASSERT_FALSE(master.ok()) << std::oct << mode;
    EXPECT_NE(master.status().message().find("master_open"), std::string::npos)
        << master.status();
    EXPECT_EQ(master.status().message().find(kMasterHex), std::string::npos);
  }
}

TEST(SealMasterSecretTest, RefusesMalformedTextWithoutQuotingIt) {
  const std::string secretish(62, 'a');
  for (const std::string& text :
       {std::string(), secretish, secretish + "zz", secretish + "aaaa",
        std::string(kMasterHex) + " extra"}) {
    absl::StatusOr<SecretBytes> master =
        ParseSealMasterSecret(text, "master.key");
    ASSERT_FALSE(master.ok()) << text;
    EXPECT_TRUE(absl::IsInvalidArgument(master.status()));
    EXPECT_NE(master.status().message().find("master.key"), std::string::npos);
    EXPECT_EQ(master.status().message().find(secretish), std::string::npos);
  }
}

TEST(SealMasterSecretTest, DerivesTheKnownAnswerKeys) {
  absl::StatusOr<SecretBytes> master = ParseSealMasterSecret(kMasterHex, "m");
  ASSERT_TRUE(master.ok());
  // docs/SEALED_READINGS.md: mac_key_epoch_0, enc_key_epoch_2.
  absl::StatusOr<SecretBytes> mac =
      DeriveSealKey(KeyBranch::kMac, *master, "D0011223344556677", 0);
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(HexEncode(mac->Reveal(SecretAccess::Grant())),
            "5cabe232b37fa2e83b946a9ab070741a");
  absl::StatusOr<SecretBytes> enc =
      DeriveSealKey(KeyBranch::kEncryption, *master, "D0011223344556677", 2);
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(HexEncode(enc->Reveal(SecretAccess::Grant())),
            "013eb3ae1be131b2d1b6379e1da57323");
  for (const char* bad :
       {"0011223344556677", "D00112233445566", "Dxx11223344556677"}) {
    EXPECT_FALSE(DeriveSealKey(KeyBranch::kMac, *master, bad, 0).ok()) << bad;
  }
}

TEST(SealMasterSecretTest, KeyFileHoldsTheEncryptionKeyOnlyWhenGiven) {
  SecretBytes mac = SecretBytes::CopyFrom(Bytes(16, 0x11));
  SecretBytes enc = SecretBytes::CopyFrom(Bytes(16, 0x22));
  const std::string both = FormatSealKeyFile("D0011223344556677", 3, mac, &enc);
  EXPECT_NE(both.find("seal_epoch = 3\n"), std::string::npos);
  EXPECT_NE(both.find("seal_mac_key = 11111111111111111111111111111111\n"),
            std::string::npos);
  EXPECT_NE(both.find("seal_enc_key = 22222222222222222222222222222222\n"),
            std::string::npos);
  const std::string mac_only =
      FormatSealKeyFile("D0011223344556677", 3, mac, nullptr);
  EXPECT_EQ(mac_only.find("seal_enc_key"), std::string::npos);
}

}  // namespace
}  // namespace cxsec::seal
