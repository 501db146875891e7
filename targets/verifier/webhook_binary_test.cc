// The real cxsec-verifier binary and its webhook configuration (issue 17,
// item 5). --check-config: an http:// webhook_url is refused at load,
// naming the option that allows it, and accepted once
// `webhook_allow_plain_http = true` is set; https:// needs no opt-in.
// Running: an https:// receiver is checked against webhook_ca_file, a
// refused certificate shows in /metrics and in the log (without the
// secret or the URL's path).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/child_process.h"

namespace cxsec::verifier {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr char kWebhookSecret[] = "binary-test-webhook-secret-0123456789";

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

// The value of a Prometheus sample line `name <value>`, or -1.
int64_t Sample(const std::string& metrics, const std::string& name) {
  size_t at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  size_t start = at + name.size() + 2;
  int64_t value = -1;
  if (!absl::SimpleAtoi(
          metrics.substr(start, metrics.find('\n', start) - start), &value)) {
    return -1;
  }
  return value;
}

class WebhookBinaryTest : public WebhookConfigTest {
 protected:
  // Starts the verifier with an https:// webhook pointing at the verifier
  // itself (a real HTTPS server with a certificate for 127.0.0.1), trusting
  // `ca_file`, and one telemetry line already in its log. Returns once it
  // listens; the admin key is then in `admin_key_`.
  absl::StatusOr<cxsec::testing::ChildProcess> Start(
      const std::string& name, const std::string& ca_file) {
    std::string data = dir_ + "/" + name;
    ::mkdir(data.c_str(), 0700);
    std::ofstream(data + "/telemetry.ndjson")
        << "{\"gatewayId\":\"G000000000000000001\",\"project\":\"acme\","
           "\"deviceId\":\"dev-1\",\"messageId\":\"m-1\",\"timestamp\":"
           "1700000000000,\"receivedAt\":1700000000000,\"payloadSha256\":"
           "\"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
           "\","
           "\"payload\":{}}\n";
    std::string secret_file = dir_ + "/hook.key";
    std::ofstream(secret_file) << kWebhookSecret << "\n";
    chmod(secret_file.c_str(), 0600);
    std::string config = dir_ + "/" + name + ".conf";
    std::ofstream(config) << "data_dir = " << data << "\n"
                          << "listen = 127.0.0.1:" << port_ << "\n"
                          << "tls_cert = " << cert_.cert_file << "\n"
                          << "tls_key = " << cert_.key_file << "\n"
                          << "webhook_secret_file = " << secret_file << "\n"
                          << "webhook_url = https://127.0.0.1:" << port_
                          << "/hook-path-token\n"
                          << "webhook_ca_file = " << ca_file << "\n";
    chmod(config.c_str(), 0600);
    stderr_ = dir_ + "/" + name + ".stderr";
    auto child = cxsec::testing::ChildProcess::Start(
        {"targets/verifier/cxsec-verifier", "--config=" + config},
        {.stdout_path = dir_ + "/" + name + ".stdout", .stderr_path = stderr_});
    if (!child.ok()) return child.status();
    for (int i = 0; i < 300; ++i) {
      if (absl::StrContains(ReadAll(stderr_), "listening")) {
        admin_key_ = std::string(
            absl::StripSuffix(ReadAll(data + "/bootstrap-admin.key"), "\n"));
        return child;
      }
      usleep(100 * 1000);
    }
    return absl::DeadlineExceededError("did not start: " + ReadAll(stderr_));
  }

  std::string Metrics() {
    auto r = testing::HttpsRequest(port_, cert_.cert_file, "GET", "/metrics",
                                   admin_key_, "");
    return r.ok() && r->status == 200 ? r->body : "";
  }

  void SetUp() override {
    WebhookConfigTest::SetUp();
    auto cert = testing::MakeTestCert(dir_);
    ASSERT_TRUE(cert.ok()) << cert.status();
    cert_ = *cert;
    ::mkdir((dir_ + "/other").c_str(), 0700);
    auto other = testing::MakeTestCert(dir_ + "/other");
    ASSERT_TRUE(other.ok()) << other.status();
    other_ = *other;
    port_ = testing::FreeLoopbackPort();
  }

  testing::TestCert cert_;
  testing::TestCert other_;  // same names, another (self-signed) issuer
  uint16_t port_ = 0;
  std::string admin_key_;
  std::string stderr_;
};

TEST_F(WebhookBinaryTest, ReceiverOutsideTheConfiguredCaIsRefusedAndCounted) {
  auto verifier = Start("foreign", other_.cert_file);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  std::string metrics;
  for (int i = 0; i < 100; ++i) {  // bounded: 10 s
    metrics = Metrics();
    if (Sample(metrics, "cxsec_webhook_certificate_rejections_total") > 0)
      break;
    usleep(100 * 1000);
  }
  EXPECT_GT(Sample(metrics, "cxsec_webhook_certificate_rejections_total"), 0)
      << metrics;
  EXPECT_GT(Sample(metrics, "cxsec_webhook_backlog_bytes"), 0) << metrics;
  ASSERT_TRUE(verifier->SignalAndWait(SIGTERM).ok());
  std::string log = ReadAll(stderr_);
  EXPECT_TRUE(absl::StrContains(log, "delivery failed")) << log;
  EXPECT_TRUE(absl::StrContains(log, "certificate")) << log;
  EXPECT_FALSE(absl::StrContains(log, kWebhookSecret)) << log;
  EXPECT_FALSE(absl::StrContains(log, "hook-path-token")) << log;
}

TEST_F(WebhookBinaryTest, ReceiverSignedByTheConfiguredCaIsReached) {
  // The verifier is its own receiver here: the handshake passes and the
  // POST is answered with an HTTP error (no such route), which is a failed
  // delivery but not a refused certificate.
  auto verifier = Start("trusted", cert_.cert_file);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  // Wait for the answered attempt itself: the first attempt can be made
  // before the verifier's own listener is up (connection refused), which
  // also counts as a failed attempt.
  for (int i = 0; i < 100; ++i) {  // bounded: 10 s
    if (absl::StrContains(ReadAll(stderr_), "webhook answered HTTP")) break;
    usleep(100 * 1000);
  }
  std::string metrics = Metrics();
  EXPECT_GT(Sample(metrics, "cxsec_webhook_failed_attempts_total"), 0)
      << metrics;
  EXPECT_EQ(Sample(metrics, "cxsec_webhook_certificate_rejections_total"), 0)
      << metrics;
  ASSERT_TRUE(verifier->SignalAndWait(SIGTERM).ok());
  EXPECT_TRUE(absl::StrContains(ReadAll(stderr_), "webhook answered HTTP"))
      << ReadAll(stderr_);
}

}  // namespace
}  // namespace cxsec::verifier
