// Crash durability of the real cxsec-verifier binary: gateways post under
// load from several threads, the process is SIGKILLed mid-stream, and after
// a restart on the same data directory every message that was answered
// "accepted" is in the NDJSON log, and a retry of it is a duplicate.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/child_process.h"

namespace cxsec::verifier {
namespace {

using nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// StartVerifier runs the verifier binary with stdout and stderr in
// `out_prefix`.stdout/.stderr and waits (bounded, 20 s) until it listens.
absl::StatusOr<cxsec::testing::ChildProcess> StartVerifierBinary(const std::string& binary,
                                                          const std::string& config,
                                                          const std::string& out_prefix) {
  absl::StatusOr<cxsec::testing::ChildProcess> child = cxsec::testing::ChildProcess::Start(
      {binary, "--config=" + config},
      {.stdout_path = out_prefix + ".stdout", .stderr_path = out_prefix + ".stderr"});
  if (!child.ok()) return child.status();
  for (int i = 0; i < 200; ++i) {
    if (ReadAll(out_prefix + ".stderr").find("listening") != std::string::npos) return child;
    usleep(100 * 1000);
  }
  return absl::DeadlineExceededError("verifier did not start: " +
                                     ReadAll(out_prefix + ".stderr"));
}

TEST(SigkillDurabilityTest, EveryAcknowledgedMessageSurvivesSigkill) {
  std::string dir = std::getenv("TEST_TMPDIR");
  std::string binary = "targets/verifier/cxsec-verifier";
  auto cert = testing::MakeTestCert(dir);
  ASSERT_TRUE(cert.ok());
  uint16_t port = testing::FreeLoopbackPort();
  std::string config = dir + "/verifier.conf";
  std::ofstream(config) << "data_dir = " << dir << "/data\nlisten = 127.0.0.1:" << port
                        << "\ntls_cert = " << cert->cert_file
                        << "\ntls_key = " << cert->key_file << "\n";
  chmod(config.c_str(), 0600);

  absl::StatusOr<cxsec::testing::ChildProcess> first =
      StartVerifierBinary(binary, config, dir + "/first");
  ASSERT_TRUE(first.ok()) << first.status();
  // The first start writes the bootstrap admin key to a new 0600 file.
  std::string admin = ReadAll(dir + "/data/bootstrap-admin.key");
  if (!admin.empty() && admin.back() == '\n') admin.pop_back();
  ASSERT_EQ(admin.rfind("cxk_admin_", 0), 0u);
  const std::string& ca = cert->cert_file;
  auto call = [&](const std::string& method, const std::string& target, const json& body) {
    auto r = testing::HttpsRequest(port, ca, method, target, admin, body.dump());
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->status : 0u;
  };
  ASSERT_EQ(call("POST", "/v1/projects", json{{"id", "acme"}}), 201u);
  ASSERT_EQ(call("POST", "/v1/gateways", json{{"id", "G0123456789abcdef01"}, {"project", "acme"}}), 201u);
  testing::GatewaySigner signer;
  auto enrolled =
      testing::EnrollGatewayKey(port, ca, admin, "G0123456789abcdef01", signer);
  ASSERT_TRUE(enrolled.ok()) << enrolled.status();
  ASSERT_EQ(enrolled->status, 201u) << enrolled->body;
  ASSERT_EQ(call("POST", "/v1/devices", json{{"id", "dev-1"}, {"project", "acme"}}), 201u);
  std::string token = signer.Token("G0123456789abcdef01", "acme");

  std::mutex mu;
  std::set<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int batch = 0; batch < 100000 && !stop.load(); ++batch) {
        json messages = json::array();
        for (int m = 0; m < 5; ++m) {
          messages.push_back({{"deviceId", "dev-1"},
                              {"messageId", absl::StrCat(t, "-", batch, "-", m)},
                              {"timestamp", 1},
                              {"payload", {{"n", m}}}});
        }
        auto r = testing::HttpsRequest(port, ca, "POST", "/v1/telemetry", token,
                                       json{{"messages", messages}}.dump());
        if (!r.ok()) return;  // the server is gone
        if (r->status != 200) continue;
        json answer = json::parse(r->body, nullptr, false);
        std::lock_guard<std::mutex> lock(mu);
        for (const json& res : answer["results"]) {
          if (res["status"] == "accepted") acknowledged.insert(res["messageId"]);
        }
      }
    });
  }
  // Kill once a few hundred messages are acknowledged (bounded wait).
  for (int i = 0; i < 3000; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (acknowledged.size() >= 300) break;
    }
    usleep(10 * 1000);
  }
  ASSERT_TRUE(first->SignalAndWait(SIGKILL).ok());
  stop.store(true);
  for (std::thread& c : clients) c.join();
  ASSERT_GE(acknowledged.size(), 300u);

  absl::StatusOr<cxsec::testing::ChildProcess> second =
      StartVerifierBinary(binary, config, dir + "/second");
  ASSERT_TRUE(second.ok()) << second.status();
  // Not first start any more: no new admin key anywhere.
  EXPECT_EQ(ReadAll(dir + "/second.stdout").find("cxk_"), std::string::npos);
  EXPECT_EQ(ReadAll(dir + "/data/bootstrap-admin.key"), admin + "\n");
  std::set<std::string> stored;
  size_t lines = 0;
  for (absl::string_view line :
       absl::StrSplit(ReadAll(dir + "/data/telemetry.ndjson"), '\n', absl::SkipEmpty())) {
    json record = json::parse(line, nullptr, false);
    ASSERT_FALSE(record.is_discarded()) << "torn line in the log: " << line;
    stored.insert(record["messageId"].get<std::string>());
    ++lines;
  }
  EXPECT_EQ(lines, stored.size()) << "a message id was stored twice";
  size_t missing = 0;
  for (const std::string& id : acknowledged) missing += stored.count(id) == 0 ? 1 : 0;
  EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged";
  // Retrying an acknowledged message (same payload) after the restart is a
  // duplicate: the payload hash is rebuilt from the log too.
  std::string some_id = *acknowledged.begin();
  int n = std::stoi(some_id.substr(some_id.rfind('-') + 1));
  json retry = {{"messages",
                 {{{"deviceId", "dev-1"},
                   {"messageId", some_id},
                   {"timestamp", 1},
                   {"payload", {{"n", n}}}}}}};
  auto r = testing::HttpsRequest(port, ca, "POST", "/v1/telemetry", token, retry.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->body)["results"][0]["status"], "duplicate") << r->body;
  // Other data under the same ids is a conflict, never stored.
  retry["messages"][0]["payload"] = {{"n", n + 1}};
  r = testing::HttpsRequest(port, ca, "POST", "/v1/telemetry", token,
                            retry.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->body)["results"][0]["status"], "conflict")
      << r->body;
  EXPECT_TRUE(second->SignalAndWait(SIGTERM).ok());
}

}  // namespace
}  // namespace cxsec::verifier
