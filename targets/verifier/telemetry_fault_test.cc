// Write faults through the real cxsec-verifier binary (issue 17 item 7):
// a gateway posts telemetry, the verifier's file-size limit is lowered
// (prlimit RLIMIT_FSIZE on the running process: writes fail with EFBIG, as
// on a full disk) and later lifted again. The verifier must survive the
// fault (SIGXFSZ ignored), answer the batches it cannot store with 503
// storage_unavailable, and store again once the fault clears, without a
// restart. At the end every message is in the log exactly once, every
// "accepted" answer is backed by a stored line, and no line is torn.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
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

absl::StatusOr<cxsec::testing::ChildProcess> StartVerifierBinary(
    const std::string& binary, const std::string& config,
    const std::string& out_prefix) {
  absl::StatusOr<cxsec::testing::ChildProcess> child =
      cxsec::testing::ChildProcess::Start(
          {binary, "--config=" + config},
          {.stdout_path = out_prefix + ".stdout",
           .stderr_path = out_prefix + ".stderr"});
  if (!child.ok()) return child.status();
  for (int i = 0; i < 200; ++i) {
    if (ReadAll(out_prefix + ".stderr").find("listening") != std::string::npos)
      return child;
    usleep(100 * 1000);
  }
  return absl::DeadlineExceededError("verifier did not start: " +
                                     ReadAll(out_prefix + ".stderr"));
}

class TelemetryFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::getenv("TEST_TMPDIR");
    auto cert = testing::MakeTestCert(dir_);
    ASSERT_TRUE(cert.ok()) << cert.status();
    ca_ = cert->cert_file;
    port_ = testing::FreeLoopbackPort();
    config_ = dir_ + "/verifier.conf";
    std::ofstream(config_) << "data_dir = " << dir_
                           << "/data\nlisten = 127.0.0.1:" << port_
                           << "\ntls_cert = " << cert->cert_file
                           << "\ntls_key = " << cert->key_file
                           << "\ndedup_window_messages = 100000\n"
                           << "dedup_window_seconds = 3600\n";
    chmod(config_.c_str(), 0600);
  }

  std::string dir_, ca_, config_;
  uint16_t port_ = 0;
};

TEST_F(TelemetryFaultTest, BadWindowSettingsAreRefusedAtStart) {
  std::string text = ReadAll(config_);
  std::string bad = dir_ + "/bad.conf";
  std::ofstream(bad) << absl::StrReplaceAll(
      text, {{"dedup_window_messages = 100000", "dedup_window_messages = 0"}});
  chmod(bad.c_str(), 0600);
  auto child = cxsec::testing::ChildProcess::Start(
      {"targets/verifier/cxsec-verifier", "--config=" + bad},
      {.stdout_path = dir_ + "/bad.stdout",
       .stderr_path = dir_ + "/bad.stderr"});
  ASSERT_TRUE(child.ok()) << child.status();
  absl::StatusOr<int> status = child->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_NE(ReadAll(dir_ + "/bad.stderr")
                .find("'dedup_window_messages' must be between 1"),
            std::string::npos)
      << ReadAll(dir_ + "/bad.stderr");
}

TEST_F(TelemetryFaultTest,
       IngestRecoversAfterAWriteFaultWithoutLossOrDuplicates) {
  absl::StatusOr<cxsec::testing::ChildProcess> verifier = StartVerifierBinary(
      "targets/verifier/cxsec-verifier", config_, dir_ + "/v");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  std::string admin = ReadAll(dir_ + "/data/bootstrap-admin.key");
  if (!admin.empty() && admin.back() == '\n') admin.pop_back();
  auto call = [&](const std::string& target, const json& body) {
    auto r =
        testing::HttpsRequest(port_, ca_, "POST", target, admin, body.dump());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->status : 0u;
  };
  ASSERT_EQ(call("/v1/projects", json{{"id", "acme"}}), 201u);
  ASSERT_EQ(call("/v1/gateways",
                 json{{"id", "G0123456789abcdef01"}, {"project", "acme"}}),
            201u);
  testing::GatewaySigner signer;
  auto enrolled = testing::EnrollGatewayKey(port_, ca_, admin,
                                            "G0123456789abcdef01", signer);
  ASSERT_TRUE(enrolled.ok()) << enrolled.status();
  ASSERT_EQ(enrolled->status, 201u) << enrolled->body;
  ASSERT_EQ(call("/v1/devices", json{{"id", "dev-1"}, {"project", "acme"}}),
            201u);
  std::string token = signer.Token("G0123456789abcdef01", "acme");

  // The gateway's spool, reduced to what matters: a message leaves it only
  // on a final verdict (accepted or duplicate).
  std::set<std::string> spool;
  std::map<std::string, int> accepted;  // "accepted" answers per id
  std::string filler(1000, 'f');
  int answered_503 = 0;
  auto post = [&](std::vector<std::string> ids) -> bool {
    json messages = json::array();
    for (const std::string& id : ids) {
      messages.push_back({{"deviceId", "dev-1"},
                          {"messageId", id},
                          {"timestamp", 1},
                          {"payload", {{"id", id}, {"f", filler}}}});
    }
    auto r = testing::HttpsRequest(port_, ca_, "POST", "/v1/telemetry", token,
                                   json{{"messages", messages}}.dump());
    if (!r.ok()) return false;  // the verifier is gone
    if (r->status == 503) {
      ++answered_503;
      EXPECT_NE(r->body.find("storage_unavailable"), std::string::npos)
          << r->body;
      return true;
    }
    EXPECT_EQ(r->status, 200u) << r->body;
    if (r->status != 200) return true;
    json answer = json::parse(r->body);
    for (const json& result : answer["results"]) {
      std::string id = result["messageId"];
      if (result["status"] == "accepted") {
        ++accepted[id];
        spool.erase(id);
      } else if (result["status"] == "duplicate") {
        spool.erase(id);
      } else {
        EXPECT_EQ(result["status"], "retry") << result.dump();
      }
    }
    return true;
  };
  int next_id = 0;
  auto new_batch = [&] {
    std::vector<std::string> ids;
    for (int i = 0; i < 10; ++i) {
      ids.push_back(absl::StrCat("m", next_id++));
      spool.insert(ids.back());
    }
    return ids;
  };

  for (int b = 0; b < 10; ++b) ASSERT_TRUE(post(new_batch()));
  EXPECT_TRUE(spool.empty());
  std::string log_path = dir_ + "/data/telemetry.ndjson";
  struct stat st;
  ASSERT_EQ(stat(log_path.c_str(), &st), 0);

  // The fault: room for about one more message, then EFBIG.
  struct rlimit saved;
  ASSERT_EQ(prlimit(verifier->pid(), RLIMIT_FSIZE, nullptr, &saved), 0);
  struct rlimit limited = saved;
  limited.rlim_cur = static_cast<rlim_t>(st.st_size) + 1500;
  ASSERT_EQ(prlimit(verifier->pid(), RLIMIT_FSIZE, &limited, nullptr), 0);
  for (int b = 0; b < 10; ++b) {
    ASSERT_TRUE(post(new_batch())) << "the verifier died during the fault: "
                                   << ReadAll(dir_ + "/v.stderr");
  }
  EXPECT_GE(answered_503, 5) << "the fault did not bite";
  EXPECT_FALSE(spool.empty());

  // The fault clears; the same process stores the rest.
  ASSERT_EQ(prlimit(verifier->pid(), RLIMIT_FSIZE, &saved, nullptr), 0);
  for (int round = 0; round < 20 && !spool.empty(); ++round) {
    std::vector<std::string> ids(spool.begin(), spool.end());
    for (size_t i = 0; i < ids.size(); i += 10) {
      ASSERT_TRUE(post(std::vector<std::string>(
          ids.begin() + i, ids.begin() + std::min(ids.size(), i + 10))));
    }
  }
  EXPECT_TRUE(spool.empty()) << spool.size() << " messages never stored";
  for (int b = 0; b < 5; ++b) ASSERT_TRUE(post(new_batch()));
  // A re-send of stored messages (its answer lost, say) is a duplicate.
  ASSERT_TRUE(post({"m0", "m105", "m199"}));
  EXPECT_TRUE(spool.empty());

  std::map<std::string, int> stored;
  std::string text = ReadAll(log_path);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "torn tail";
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    json record = json::parse(line, nullptr, false);
    ASSERT_FALSE(record.is_discarded()) << "torn line in the log: " << line;
    ++stored[record["messageId"].get<std::string>()];
  }
  EXPECT_EQ(stored.size(), static_cast<size_t>(next_id));
  for (const auto& [id, n] : stored)
    EXPECT_EQ(n, 1) << id << " stored " << n << " times";
  for (const auto& [id, n] : accepted) {
    EXPECT_EQ(n, 1) << id << " accepted " << n << " times";
    EXPECT_EQ(stored.count(id), 1u) << id << " acknowledged but not stored";
  }
  EXPECT_NE(ReadAll(dir_ + "/v.stderr").find("write failed"),
            std::string::npos);
  absl::StatusOr<int> status = verifier->SignalAndWait(SIGTERM);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
}

}  // namespace
}  // namespace cxsec::verifier
