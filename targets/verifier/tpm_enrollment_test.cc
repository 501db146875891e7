// Gateway key enrolment with a TPM key, end to end: `cxsec tpm enroll` on
// a real swtpm, a challenge from an in-process verifier (SQLite), the
// proof signed inside the TPM by `cxsec jwt enroll-proof --tpm`, the key
// added with it, and a token minted in the TPM then accepted as telemetry.
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "targets/verifier/registry/sqlite_kv_store.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/swtpm_fixture.h"

namespace cxsec::verifier {
namespace {

namespace vt = ::cxsec::verifier::testing;
using ::cxsec::testing::RunCommand;

const std::string& Cli() {
  static const std::string* path = new std::string("tools/cxsec");
  return *path;
}
std::string Tmp(absl::string_view name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

// Issue 17 item 2: a key is enrolled only with a proof made by that key;
// for a TPM key the proof is signed inside the TPM, and the verifier takes
// it. The enrolled key then signs telemetry tokens the verifier accepts.
TEST(TpmEnrollmentTest, TpmMadeProofIsAcceptedByTheVerifier) {
  using nlohmann::json;
  auto tpm = cxsec::testing::SwtpmProcess::Start();
  ASSERT_TRUE(tpm.ok()) << tpm.status();
  const std::string auth = Tmp("tpm-key.auth");
  std::remove(auth.c_str());
  absl::StatusOr<std::string> enrolled =
      RunCommand({Cli(), "tpm", "enroll", "--tcti", (*tpm)->Tcti(), "--handle",
                  "0x81000042", "--auth-file", auth},
                 {});
  ASSERT_TRUE(enrolled.ok()) << enrolled.status();
  size_t end = enrolled->find("-----END PUBLIC KEY-----");
  ASSERT_NE(end, std::string::npos) << *enrolled;
  std::string pem = enrolled->substr(0, end + 25) + "\n";

  std::string dir = Tmp("verifier");
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  auto cert = vt::MakeTestCert(dir);
  ASSERT_TRUE(cert.ok()) << cert.status();
  auto store = SqliteKvStore::Open(dir + "/registry.db");
  ASSERT_TRUE(store.ok()) << store.status();
  auto v =
      vt::StartVerifier(std::move(*store), dir + "/telemetry.ndjson", *cert);
  ASSERT_TRUE(v.ok()) << v.status();
  const std::string admin = (*v)->admin_key;
  const std::string gateway = "G0123456789abcdef01";
  auto call = [&](const std::string& method, const std::string& target,
                  const std::string& bearer, const json& body) {
    auto r = vt::HttpsRequest((*v)->port(), cert->cert_file, method, target,
                              bearer, body.dump());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : vt::ClientResponse{};
  };
  ASSERT_EQ(call("POST", "/v1/projects", admin, json{{"id", "proj"}}).status,
            201u);
  ASSERT_EQ(call("POST", "/v1/gateways", admin,
                 json{{"id", gateway}, {"project", "proj"}})
                .status,
            201u);
  vt::ClientResponse challenge =
      call("POST", "/v1/gateways/" + gateway + "/enrollment-challenge", admin,
           json::object());
  ASSERT_EQ(challenge.status, 201u) << challenge.body;
  std::string nonce = json::parse(challenge.body)["nonce"];
  absl::StatusOr<std::string> proof =
      RunCommand({Cli(), "jwt", "enroll-proof", "--tpm", (*tpm)->Tcti(),
                  "--handle", "0x81000042", "--tpm-auth-file", auth,
                  "--gateway", gateway, "--challenge", nonce},
                 {});
  ASSERT_TRUE(proof.ok()) << proof.status();
  vt::ClientResponse added =
      call("POST", "/v1/gateways/" + gateway + "/keys", admin,
           json{{"publicKeyPem", pem},
                {"proof", std::string(absl::StripAsciiWhitespace(*proof))}});
  ASSERT_EQ(added.status, 201u) << added.body;
  // The TPM key now speaks for the gateway.
  absl::StatusOr<std::string> token = RunCommand(
      {Cli(), "jwt", "mint", "--tpm", (*tpm)->Tcti(), "--handle", "0x81000042",
       "--tpm-auth-file", auth, "--sub", gateway, "--aud", "proj"},
      {});
  ASSERT_TRUE(token.ok()) << token.status();
  ASSERT_EQ(call("POST", "/v1/devices", admin,
                 json{{"id", "dev-1"}, {"project", "proj"}})
                .status,
            201u);
  vt::ClientResponse posted = call(
      "POST", "/v1/telemetry", std::string(absl::StripAsciiWhitespace(*token)),
      json{{"messages",
            {{{"deviceId", "dev-1"},
              {"messageId", "m1"},
              {"timestamp", 1},
              {"payload", 1}}}}});
  EXPECT_EQ(posted.status, 200u) << posted.body;
  // A malformed challenge is refused by the CLI before touching the TPM.
  absl::StatusOr<std::string> bad =
      RunCommand({Cli(), "jwt", "enroll-proof", "--tpm", (*tpm)->Tcti(),
                  "--gateway", gateway, "--challenge", "not-a-nonce"},
                 {});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "43-character"))
      << bad.status();
}

}  // namespace
}  // namespace cxsec::verifier
