// kill -9 of a real gateway-like process (uplink_crash_child) while it
// spools and sends: after a restart on the same spool every message it had
// acknowledged reaches the verifier stand-in exactly once.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/fixtures/child_process.h"
#include "transports/uplink/testing/https_test_server.h"
#include "transports/uplink/testing/test_pki.h"

namespace cxsec {
namespace {

constexpr char kToken[] = "crash-test-token";

using cxsec::testing::ChildProcess;

std::string ChildPath() {
  const char* path = std::getenv("CRASH_CHILD");
  return path != nullptr ? path : "";
}

TEST(UplinkKill9Test, NothingLostNothingDuplicatedAcrossKill9) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/kill9");
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  std::string spool_dir = dir + "/spool";
  ASSERT_EQ(::mkdir(spool_dir.c_str(), 0700), 0);
  auto ca = testing::MakeTestCa(dir, "ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto cert = testing::IssueServerCert(*ca, "server", {"localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(cert.ok()) << cert.status();
  auto server = testing::HttpsTestServer::Start(
      {cert->cert_path, cert->key_path, kToken, 0});
  ASSERT_TRUE(server.ok()) << server.status();
  // Slow answers keep batches in flight, so the kill lands mid-request.
  (*server)->SetDelay(absl::Milliseconds(30));
  std::string url = absl::StrCat("https://localhost:", (*server)->port());
  ASSERT_FALSE(ChildPath().empty());

  std::set<std::string> promised;  // ids the child acknowledged as spooled
  constexpr int kRounds = 3;
  constexpr int kPerRound = 400;
  for (int round = 0; round < kRounds; ++round) {
    absl::StatusOr<ChildProcess> child = ChildProcess::Start(
        {ChildPath(), spool_dir, url, ca->cert_path, kToken,
         std::to_string(round * kPerRound), std::to_string(kPerRound)},
        {.stdout_to_pipe = true});
    ASSERT_TRUE(child.ok()) << child.status();
    char line[128];
    int seen = 0;
    // Kill after a varying number of acknowledgements, while sending.
    int kill_after = 100 + round * 120;
    while (seen < kill_after && std::fgets(line, sizeof(line), child->stdout_pipe())) {
      absl::string_view text(line);
      if (absl::StartsWith(text, "spooled ")) {
        promised.insert(std::string(absl::StripSuffix(
            absl::StripPrefix(text, "spooled "), "\n")));
        ++seen;
      }
    }
    ASSERT_EQ(seen, kill_after) << "child ended early in round " << round;
    absl::StatusOr<int> status = child->SignalAndWait(SIGKILL);
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);
    // Lines written before the kill but not yet read are promises too.
    while (std::fgets(line, sizeof(line), child->stdout_pipe())) {
      absl::string_view text(line);
      if (absl::StartsWith(text, "spooled ")) {
        promised.insert(std::string(absl::StripSuffix(
            absl::StripPrefix(text, "spooled "), "\n")));
      }
    }
  }

  // Restart on the same spool, in drain mode, with a fast verifier.
  (*server)->SetDelay(absl::ZeroDuration());
  absl::StatusOr<ChildProcess> drain = ChildProcess::Start(
      {ChildPath(), spool_dir, url, ca->cert_path, kToken, "0", "0"},
      {.stdout_to_pipe = true});
  ASSERT_TRUE(drain.ok()) << drain.status();
  char line[128];
  bool drained = false;
  while (std::fgets(line, sizeof(line), drain->stdout_pipe())) {
    drained |= absl::StartsWith(line, "drained");
  }
  absl::StatusOr<int> status = drain->Wait();
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_TRUE(drained);
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);

  std::set<std::string> stored = (*server)->StoredKeys();
  int missing = 0;
  for (const std::string& id : promised) {
    if (stored.count(absl::StrCat("D0123456789abcdef/", id)) == 0) ++missing;
  }
  EXPECT_EQ(missing, 0) << "acknowledged messages lost across kill -9";
  EXPECT_GE(promised.size(), 100u + 220u + 340u);
  testing::HttpsTestServer::Counters counters = (*server)->counters();
  // Each message is stored once: every re-send after a kill was answered
  // "duplicate" (the verifier deduplicates by message id), never stored
  // twice.
  EXPECT_EQ(counters.stored, static_cast<int64_t>(stored.size()));
  EXPECT_EQ(counters.receipts - counters.duplicate_receipts, counters.stored);
  std::printf("promised %zu, stored %zu, re-sent duplicates %lld\n",
              promised.size(), stored.size(),
              static_cast<long long>(counters.duplicate_receipts));
}

}  // namespace
}  // namespace cxsec
