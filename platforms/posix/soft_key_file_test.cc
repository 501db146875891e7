// Key files: 0600 on write, refused on load when broader, never overwritten.
#include "platforms/posix/soft_key_file.h"

#include <sys/stat.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cxsec {
namespace {

std::string TempDir(absl::string_view name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

TEST(SoftKeyFileTest, WritesPrivate0600AndLoadsBack) {
  for (JwtAlgorithm alg : {JwtAlgorithm::kEs256, JwtAlgorithm::kEdDsa}) {
    SoftKey key = *SoftKey::Generate(alg);
    std::string dir = TempDir(JwtAlgorithmName(alg));
    absl::StatusOr<SoftKeyFiles> files = WriteNewSoftKey(key, dir);
    ASSERT_TRUE(files.ok()) << files.status();
    struct stat st;
    ASSERT_EQ(stat(files->private_key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    absl::StatusOr<SoftKey> loaded = LoadSoftKey(files->private_key);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(*loaded->KeyId(), *key.KeyId());
    EXPECT_EQ(LoadPublicKey(files->public_pem)->Thumbprint(), *key.KeyId());
    EXPECT_EQ(LoadPublicKey(files->public_jwk)->Thumbprint(), *key.KeyId());
    // A second key never replaces the first.
    EXPECT_FALSE(WriteNewSoftKey(*SoftKey::Generate(alg), dir).ok());
    EXPECT_EQ(*LoadSoftKey(files->private_key)->KeyId(), *key.KeyId());
  }
}

TEST(SoftKeyFileTest, RefusesGroupOrOtherReadableKey) {
  SoftKey key = *SoftKey::Generate(JwtAlgorithm::kEs256);
  absl::StatusOr<SoftKeyFiles> files = WriteNewSoftKey(key, TempDir("broad"));
  ASSERT_TRUE(files.ok());
  for (mode_t mode : {0640, 0604, 0644}) {
    ASSERT_EQ(chmod(files->private_key.c_str(), mode), 0);
    absl::StatusOr<SoftKey> loaded = LoadSoftKey(files->private_key);
    ASSERT_FALSE(loaded.ok());
    EXPECT_TRUE(absl::StrContains(loaded.status().message(), files->private_key))
        << loaded.status();
    EXPECT_TRUE(absl::StrContains(loaded.status().message(),
                                  absl::StrCat("0", (mode >> 6) & 7, (mode >> 3) & 7, mode & 7)))
        << loaded.status();
  }
}

}  // namespace
}  // namespace cxsec
