// The real cxsec-verifier binary's config check (--check-config) for
// webhooks: an http:// webhook_url is refused at load, naming the option
// that allows it, and accepted once `webhook_allow_plain_http = true` is
// set; https:// needs no opt-in (issue 17, item 5).
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fixtures/child_process.h"

namespace cxsec::verifier {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class WebhookConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(std::system(("mkdir -p " + dir_).c_str()), 0);
  }

  // Runs `cxsec-verifier --check-config` on a config made of the required
  // keys plus `webhook_lines`; returns the exit code, stderr in `errors`.
  int CheckConfig(const std::string& webhook_lines, std::string* errors) {
    std::string config = dir_ + "/verifier.conf";
    std::ofstream(config) << "data_dir = " << dir_ << "/data\n"
                          << "tls_cert = " << dir_ << "/cert.pem\n"
                          << "tls_key = " << dir_ << "/key.pem\n"
                          << "webhook_secret_file = " << dir_ << "/hook.key\n"
                          << webhook_lines;
    chmod(config.c_str(), 0600);
    std::string err = dir_ + "/check.stderr";
    auto child = cxsec::testing::ChildProcess::Start(
        {"targets/verifier/cxsec-verifier", "--config=" + config,
         "--check-config"},
        {.stdout_path = dir_ + "/check.stdout", .stderr_path = err});
    if (!child.ok()) return -1;
    absl::StatusOr<int> status = child->Wait(absl::Seconds(30));
    *errors = ReadAll(err);
    if (!status.ok() || !WIFEXITED(*status)) return -1;
    return WEXITSTATUS(*status);
  }

  std::string dir_;
};

TEST_F(WebhookConfigTest, PlainHttpRefusedWithoutTheOptIn) {
  std::string errors;
  EXPECT_EQ(CheckConfig("webhook_url = http://127.0.0.1:8080/hook\n", &errors),
            1);
  EXPECT_TRUE(absl::StrContains(errors, "webhook_allow_plain_http")) << errors;
  EXPECT_TRUE(absl::StrContains(errors, "verifier.conf:5")) << errors;
  EXPECT_EQ(CheckConfig("webhook_url = http://127.0.0.1:8080/hook\n"
                        "webhook_allow_plain_http = false\n",
                        &errors),
            1);
  EXPECT_TRUE(absl::StrContains(errors, "webhook_allow_plain_http")) << errors;
}

TEST_F(WebhookConfigTest, PlainHttpAcceptedWithTheOptIn) {
  std::string errors;
  EXPECT_EQ(CheckConfig("webhook_url = http://127.0.0.1:8080/hook\n"
                        "webhook_allow_plain_http = true\n",
                        &errors),
            0)
      << errors;
}

TEST_F(WebhookConfigTest, HttpsAcceptedWithOrWithoutACaFile) {
  std::string errors;
  EXPECT_EQ(CheckConfig("webhook_url = https://hooks.example/in\n", &errors), 0)
      << errors;
  EXPECT_EQ(CheckConfig("webhook_url = https://hooks.example:8443/in\n"
                        "webhook_ca_file = /etc/cxsec/hooks-ca.pem\n",
                        &errors),
            0)
      << errors;
  // A CA file for a plain http:// receiver is a mistake worth naming.
  EXPECT_EQ(CheckConfig("webhook_url = http://127.0.0.1:8080/hook\n"
                        "webhook_allow_plain_http = true\n"
                        "webhook_ca_file = /etc/cxsec/hooks-ca.pem\n",
                        &errors),
            1);
  EXPECT_TRUE(absl::StrContains(errors, "webhook_ca_file")) << errors;
  EXPECT_EQ(CheckConfig("webhook_url = ftp://hooks.example/in\n", &errors), 1);
}

}  // namespace
}  // namespace cxsec::verifier
