// `cxsec stream tail` (issue 19 item 3) against a real redis-server: the
// real binary as consumers of one group. Two consumers running at once get
// distinct entries that together are the whole stream; a consumer killed
// with SIGKILL after reading and before acknowledging leaves its entries
// pending, and another consumer of the group reclaims and prints them;
// nothing is delivered twice except what was reclaimed, and nothing stays
// pending. The Redis password comes from a 0600 file.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/fixtures/child_process.h"
#include "tests/fixtures/redis_process.h"

namespace cxsec::cli {
namespace {

using cxsec::testing::ChildProcess;
using cxsec::testing::RedisProcess;

constexpr char kBinary[] = "tools/cxsec";
constexpr char kPassword[] = "stream-pw-91c2";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(ReadAll(path), '\n')) {
    if (!line.empty()) lines.emplace_back(line);
  }
  return lines;
}

class StreamTailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", info->name());
    ASSERT_EQ(std::system(absl::StrCat("mkdir -p '", dir_, "'").c_str()), 0);
    password_file_ = dir_ + "/redis.pass";
    std::ofstream(password_file_) << kPassword << "\n";
    chmod(password_file_.c_str(), 0600);
    auto redis = RedisProcess::Start(
        dir_, {.extra_args = {"--requirepass", kPassword},
               .password = kPassword});
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    ASSERT_TRUE(redis_->WaitUntilReady(absl::Seconds(15)).ok());
  }

  // Appends entries as the verifier's sink does; the record is a JSON line
  // naming the message (padded to `pad` bytes of payload).
  void Add(int from, int to, size_t pad = 0) {
    for (int i = from; i < to; ++i) {
      std::string id = absl::StrCat("m", i);
      std::string record = absl::StrCat(
          "{\"deviceId\":\"dev-1\",\"messageId\":\"", id,
          "\",\"payload\":\"", std::string(pad, 'x'), "\"}");
      auto added = redis_->Command({"XADD", "cxsec:telemetry", "*", "project",
                                    "acme", "deviceId", "dev-1", "messageId",
                                    id, "record", record});
      ASSERT_TRUE(added.ok()) << added.status();
    }
  }

  ChildProcess Tail(const std::string& consumer,
                    const std::vector<std::string>& extra,
                    bool stdout_to_pipe = false) {
    std::vector<std::string> argv = {
        kBinary, "stream", "tail", "--redis",
        absl::StrCat("127.0.0.1:", redis_->port()), "--group", "archive",
        "--consumer", consumer, "--password-file", password_file_,
        "--block-ms", "200"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    cxsec::testing::ChildOutput output{
        .stdout_path = stdout_to_pipe ? "" : Out(consumer),
        .stderr_path = dir_ + "/" + consumer + ".err",
        .stdout_to_pipe = stdout_to_pipe};
    auto child = ChildProcess::Start(argv, output);
    EXPECT_TRUE(child.ok()) << child.status();
    return std::move(*child);
  }

  std::string Out(const std::string& consumer) {
    return dir_ + "/" + consumer + ".out";
  }

  long long Pending() {
    // -1 until the group exists.
    auto summary = redis_->Command({"XPENDING", "cxsec:telemetry", "archive"});
    long long n = -1;
    if (summary.ok()) {
      (void)absl::SimpleAtoi(summary->substr(0, summary->find('\n')), &n);
    }
    return n;
  }

  // The messageIds of a consumer's printed lines.
  static std::vector<std::string> Ids(const std::vector<std::string>& lines) {
    std::vector<std::string> ids;
    for (const std::string& line : lines) {
      size_t at = line.find("\"messageId\":\"");
      EXPECT_NE(at, std::string::npos) << line;
      if (at == std::string::npos) continue;
      at += 13;
      ids.push_back(line.substr(at, line.find('"', at) - at));
    }
    return ids;
  }

  std::string dir_, password_file_;
  std::unique_ptr<RedisProcess> redis_;
};

TEST_F(StreamTailTest, TwoConsumersOfOneGroupGetDistinctEntries) {
  Add(0, 20);  // before the group exists: a new group starts at the beginning
  ChildProcess a = Tail("a", {});
  ChildProcess b = Tail("b", {});
  usleep(300 * 1000);
  // Added one at a time while both wait in XREADGROUP, so both get some.
  for (int batch = 0; batch < 18; ++batch) {
    Add(20 + batch * 10, 30 + batch * 10);
    usleep(20 * 1000);
  }
  const int total = 200;
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline &&
         Lines(Out("a")).size() + Lines(Out("b")).size() < total) {
    usleep(50 * 1000);
  }
  usleep(300 * 1000);  // anything more would be a duplicate
  ASSERT_TRUE(a.SignalAndWait(SIGTERM).ok());
  ASSERT_TRUE(b.SignalAndWait(SIGTERM).ok());
  std::vector<std::string> ids_a = Ids(Lines(Out("a")));
  std::vector<std::string> ids_b = Ids(Lines(Out("b")));
  EXPECT_GT(ids_a.size(), 0u) << ReadAll(dir_ + "/a.err");
  EXPECT_GT(ids_b.size(), 0u) << ReadAll(dir_ + "/b.err");
  std::multiset<std::string> all(ids_a.begin(), ids_a.end());
  all.insert(ids_b.begin(), ids_b.end());
  std::set<std::string> distinct(all.begin(), all.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(total));
  EXPECT_EQ(distinct.size(), static_cast<size_t>(total));
  for (int i = 0; i < total; ++i) {
    EXPECT_EQ(all.count(absl::StrCat("m", i)), 1u) << "m" << i;
  }
  EXPECT_EQ(Pending(), 0);
  // Each line is the entry's record, as the verifier wrote it.
  EXPECT_EQ(Lines(Out("a")).front().rfind("{\"deviceId\":\"dev-1\"", 0), 0u);
}

TEST_F(StreamTailTest, EntriesOfAKilledConsumerAreReclaimed) {
  // "victim" reads 100 entries of 2 KB, then blocks writing them to a pipe
  // nobody reads (64 KB): read, not acknowledged, when it is killed.
  Add(0, 100, 2048);
  ChildProcess victim = Tail("victim", {}, /*stdout_to_pipe=*/true);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && Pending() < 100) usleep(50 * 1000);
  ASSERT_EQ(Pending(), 100) << ReadAll(dir_ + "/victim.err");
  usleep(200 * 1000);
  ASSERT_TRUE(victim.SignalAndWait(SIGKILL).ok());
  // A consumer seen only through Redis: it read 20 more and died silently.
  Add(100, 120);
  auto read = redis_->Command({"XREADGROUP", "GROUP", "archive", "silent",
                               "COUNT", "20", "STREAMS", "cxsec:telemetry", ">"});
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(Pending(), 120);
  Add(120, 130);  // new, never delivered

  // "rescuer" takes over what was idle for 500 ms and prints everything
  // exactly once: 100 + 20 reclaimed, 10 new.
  ChildProcess rescuer = Tail("rescuer", {"--reclaim-idle-ms", "500",
                                          "--count", "130"});
  absl::StatusOr<int> exit = rescuer.Wait(absl::Seconds(30));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0)
      << *exit << ReadAll(dir_ + "/rescuer.err");
  std::vector<std::string> ids = Ids(Lines(Out("rescuer")));
  std::multiset<std::string> all(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), 130u);
  for (int i = 0; i < 130; ++i) {
    EXPECT_EQ(all.count(absl::StrCat("m", i)), 1u) << "m" << i;
  }
  EXPECT_EQ(Pending(), 0);
  // Exited after --count: a next run of the group has nothing left.
  Add(130, 131);
  ChildProcess next = Tail("next", {"--count", "1"});
  exit = next.Wait(absl::Seconds(10));
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(Ids(Lines(Out("next"))), std::vector<std::string>{"m130"});
}

TEST_F(StreamTailTest, WrongPasswordAndBadFlagsStopIt) {
  std::string wrong = dir_ + "/wrong.pass";
  std::ofstream(wrong) << "nope\n";
  chmod(wrong.c_str(), 0600);
  auto run = [&](const std::vector<std::string>& argv) {
    auto child = ChildProcess::Start(
        argv, {.stdout_path = dir_ + "/x.out", .stderr_path = dir_ + "/x.err"});
    EXPECT_TRUE(child.ok());
    absl::StatusOr<int> status = child->Wait(absl::Seconds(10));
    EXPECT_TRUE(status.ok());
    return status.ok() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  };
  std::string redis = absl::StrCat("127.0.0.1:", redis_->port());
  EXPECT_EQ(run({kBinary, "stream", "tail", "--redis", redis, "--group", "g",
                 "--consumer", "c", "--password-file", wrong}),
            1);
  EXPECT_NE(ReadAll(dir_ + "/x.err").find("AUTH refused"), std::string::npos)
      << ReadAll(dir_ + "/x.err");
  EXPECT_EQ(run({kBinary, "stream", "tail", "--redis", redis, "--group", "g"}), 2);
  chmod(wrong.c_str(), 0644);
  EXPECT_EQ(run({kBinary, "stream", "tail", "--redis", redis, "--group", "g",
                 "--consumer", "c", "--password-file", wrong}),
            1);
}

}  // namespace
}  // namespace cxsec::cli
