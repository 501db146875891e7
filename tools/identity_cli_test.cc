// End-to-end through the `cxsec` binary: keygen -> jwt mint -> jwt verify,
// and tpm enroll (real swtpm) -> jwt mint --tpm -> verify with the PEM the
// enrolment printed.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/fixtures/swtpm_fixture.h"

namespace cxsec {
namespace {

using ::cxsec::testing::RunCommand;

const std::string& Cli() {
  static const std::string* path = new std::string("tools/cxsec");
  return *path;
}
std::string Tmp(absl::string_view name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

TEST(IdentityCliTest, KeygenMintVerifyAndRejectionReason) {
  for (const char* alg : {"ES256", "EdDSA"}) {
    std::string dir = Tmp(alg);
    ASSERT_TRUE(RunCommand({Cli(), "keygen", "--alg", alg, "--out", dir}, {}).ok());
    struct stat st;
    ASSERT_EQ(stat((dir + "/private_key.pem").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    absl::StatusOr<std::string> token = RunCommand(
        {Cli(), "jwt", "mint", "--key", dir + "/private_key.pem", "--sub", "G1",
         "--aud", "proj", "--ttl", "600"},
        {});
    ASSERT_TRUE(token.ok()) << token.status();
    std::string t(absl::StripAsciiWhitespace(*token));
    absl::StatusOr<std::string> ok = RunCommand(
        {Cli(), "jwt", "verify", "--pub", dir + "/public_key.pem", "--aud", "proj", t}, {});
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_TRUE(absl::StrContains(*ok, "sub: G1"));
    absl::StatusOr<std::string> bad = RunCommand(
        {Cli(), "jwt", "verify", "--pub", dir + "/public_key.jwk", "--aud", "other", t}, {});
    ASSERT_FALSE(bad.ok());
    absl::StatusOr<std::string> inspect = RunCommand({Cli(), "jwt", "inspect", t}, {});
    ASSERT_TRUE(inspect.ok());
    EXPECT_TRUE(absl::StrContains(*inspect, "NOT VERIFIED"));
    // A second keygen into the same directory must not replace the key.
    EXPECT_FALSE(RunCommand({Cli(), "keygen", "--alg", alg, "--out", dir}, {}).ok());
    ASSERT_EQ(chmod((dir + "/private_key.pem").c_str(), 0640), 0);
    EXPECT_FALSE(RunCommand({Cli(), "jwt", "mint", "--key", dir + "/private_key.pem",
                             "--sub", "G1", "--aud", "proj"},
                            {})
                     .ok());
  }
}

TEST(IdentityCliTest, TpmEnrollMintVerify) {
  auto tpm = cxsec::testing::SwtpmProcess::Start();
  ASSERT_TRUE(tpm.ok()) << tpm.status();
  // Neither an authorization file nor an explicit --empty-auth: refused.
  EXPECT_FALSE(RunCommand({Cli(), "tpm", "enroll", "--tcti", (*tpm)->Tcti(),
                           "--handle", "0x81000042"},
                          {})
                   .ok());
  std::string auth_path = Tmp("tpm.auth");
  std::remove(auth_path.c_str());
  absl::StatusOr<std::string> enrolled =
      RunCommand({Cli(), "tpm", "enroll", "--tcti", (*tpm)->Tcti(), "--handle",
                  "0x81000042", "--auth-file", auth_path},
                 {});
  ASSERT_TRUE(enrolled.ok()) << enrolled.status();
  struct stat st {};
  ASSERT_EQ(stat(auth_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  size_t end = enrolled->find("-----END PUBLIC KEY-----");
  ASSERT_NE(end, std::string::npos) << *enrolled;
  EXPECT_TRUE(absl::StrContains(*enrolled, "\"kty\":\"EC\""));
  std::string pem_path = Tmp("tpm.pem");
  std::ofstream(pem_path) << enrolled->substr(0, end + 25) << "\n";
  absl::StatusOr<std::string> token =
      RunCommand({Cli(), "jwt", "mint", "--tpm", (*tpm)->Tcti(), "--handle",
                  "0x81000042", "--tpm-auth-file", auth_path, "--sub",
                  "G0123456789abcdef01", "--aud", "proj"},
                 {});
  ASSERT_TRUE(token.ok()) << token.status();
  // Another local TPM user without the value cannot sign as the gateway.
  absl::StatusOr<std::string> no_auth = RunCommand(
      {Cli(), "jwt", "mint", "--tpm", (*tpm)->Tcti(), "--handle", "0x81000042",
       "--sub", "G0123456789abcdef01", "--aud", "proj"},
      {});
  ASSERT_FALSE(no_auth.ok());
  EXPECT_TRUE(absl::StrContains(no_auth.status().message(),
                                "refused the authorization value"))
      << no_auth.status();
  // Nor with a guessed value.
  std::string guess_path = Tmp("guess.auth");
  std::ofstream(guess_path) << std::string(32, 'x');
  ASSERT_EQ(chmod(guess_path.c_str(), 0600), 0);
  EXPECT_FALSE(
      RunCommand({Cli(), "jwt", "mint", "--tpm", (*tpm)->Tcti(), "--handle",
                  "0x81000042", "--tpm-auth-file", guess_path, "--sub",
                  "G0123456789abcdef01", "--aud", "proj"},
                 {})
          .ok());
  // Enrolling again with the same file reuses the key; with another file
  // it is refused, not silently handed back unusable.
  EXPECT_TRUE(RunCommand({Cli(), "tpm", "enroll", "--tcti", (*tpm)->Tcti(),
                          "--handle", "0x81000042", "--auth-file", auth_path},
                         {})
                  .ok());
  EXPECT_FALSE(RunCommand({Cli(), "tpm", "enroll", "--tcti", (*tpm)->Tcti(),
                           "--handle", "0x81000042", "--auth-file", guess_path},
                          {})
                   .ok());
  absl::StatusOr<std::string> ok = RunCommand(
      {Cli(), "jwt", "verify", "--pub", pem_path, "--aud", "proj",
       std::string(absl::StripAsciiWhitespace(*token))},
      {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(absl::StrContains(*ok, "alg: ES256"));
  // An empty handle is a clear error, not a crash.
  absl::StatusOr<std::string> empty = RunCommand(
      {Cli(), "jwt", "mint", "--tpm", (*tpm)->Tcti(), "--handle", "0x81000043",
       "--sub", "G1", "--aud", "proj"},
      {});
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(absl::StrContains(empty.status().message(), "is empty")) << empty.status();
}

TEST(IdentityCliTest, JwtVerifyRefusesASmallOrderEd25519PublicKey) {
  // The Ed25519 identity point, and a token "signed" with R = identity,
  // S = 0, which that key would accept for any payload.
  std::string pem_path = Tmp("small_order.pem");
  std::ofstream(pem_path)
      << "-----BEGIN PUBLIC KEY-----\n"
         "MCowBQYDK2VwAyEAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
         "-----END PUBLIC KEY-----\n";
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::string forged = absl::StrCat(
      absl::WebSafeBase64Escape(R"({"alg":"EdDSA"})"), ".",
      absl::WebSafeBase64Escape(
          absl::StrCat(R"({"sub":"G1","aud":"proj","iat":)", now, R"(,"exp":)",
                       now + 600, "}")),
      ".",
      absl::WebSafeBase64Escape(std::string("\x01") + std::string(63, '\0')));
  absl::StatusOr<std::string> out = RunCommand(
      {Cli(), "jwt", "verify", "--pub", pem_path, "--aud", "proj", forged}, {});
  ASSERT_FALSE(out.ok()) << "a forged token verified: " << *out;
  EXPECT_TRUE(absl::StrContains(out.status().message(), "small order"))
      << out.status();
}

}  // namespace
}  // namespace cxsec
