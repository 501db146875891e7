// TelemetryLog: the bounded dedup window (by count and by age, kept across
// a restart), duplicate vs conflict inside it, loading existing logs
// backwards in small chunks, and recovery from write faults (a real
// RLIMIT_FSIZE limit, and a FIFO whose fdatasync fails while a second call
// with the same ids is in flight).
#include "targets/verifier/sinks/telemetry_log.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/clock.h"
#include "core/crypto/primitives.h"
#include "core/encoding/hex.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace cxsec::verifier {
namespace {

using Outcome = TelemetryLog::Outcome;
using nlohmann::json;

std::string TempPath(const std::string& name) {
  std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  unlink(path.c_str());
  return path;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A record as the verifier writes it (sorted fields, payload last).
LogRecord Record(const std::string& message_id, const std::string& payload,
                 int64_t received_ms = 0) {
  Sha256Digest digest = Sha256(AsBytes(payload));
  json head = {{"deviceId", "dev-1"},
               {"messageId", message_id},
               {"payloadSha256", HexEncode(ByteView(digest))},
               {"receivedAt", received_ms}};
  std::string line = head.dump();
  line.pop_back();
  absl::StrAppend(&line, ",\"payload\":", payload, "}");
  return LogRecord{DedupKey("dev-1", message_id), std::move(line), digest};
}

Outcome AppendOne(TelemetryLog& log, const std::string& id,
                  const std::string& payload = "{\"v\":1}",
                  int64_t received_ms = 0) {
  absl::StatusOr<std::vector<Outcome>> r =
      log.AppendDurably({Record(id, payload, received_ms)});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? (*r)[0] : Outcome::kConflict;
}

// The stored message ids in file order; fails the test on a torn line.
std::vector<std::string> StoredIds(const std::string& path) {
  std::vector<std::string> ids;
  std::string text = ReadAll(path);
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "torn tail";
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    json record = json::parse(line, nullptr, false);
    EXPECT_FALSE(record.is_discarded()) << "not JSON: " << line;
    if (!record.is_discarded()) ids.push_back(record["messageId"]);
  }
  return ids;
}

TelemetryLogOptions Window(uint64_t messages, absl::Duration age = {},
                           const Clock* clock = nullptr) {
  TelemetryLogOptions options;
  options.dedup_window.max_messages = messages;
  options.dedup_window.max_age = age;
  options.clock = clock;
  return options;
}

TEST(TelemetryLogTest, CountWindowForgetsTheOldestKeys) {
  std::string path = TempPath("count.ndjson");
  auto log = TelemetryLog::Open(path, Window(3));
  ASSERT_TRUE(log.ok()) << log.status();
  for (const char* id : {"a", "b", "c", "d"})
    EXPECT_EQ(AppendOne(**log, id), Outcome::kStored) << id;
  EXPECT_EQ((*log)->dedup_entries(), 3u);
  // "a" left the window: a re-send is stored again (at-least-once beyond
  // the window); b, c, d are still known.
  EXPECT_EQ(AppendOne(**log, "a"), Outcome::kStored);
  EXPECT_EQ(AppendOne(**log, "c"), Outcome::kDuplicate);
  EXPECT_EQ(AppendOne(**log, "d", "{\"v\":2}"), Outcome::kConflict);
  EXPECT_EQ((*log)->dedup_entries(), 3u);
  // Storing "a" again pushed "b" out.
  EXPECT_EQ(AppendOne(**log, "b"), Outcome::kStored);
}

TEST(TelemetryLogTest, AgeWindowForgetsKeysReceivedTooLongAgo) {
  std::string path = TempPath("age.ndjson");
  FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
  auto log = TelemetryLog::Open(path, Window(1000, absl::Seconds(60), &clock));
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(AppendOne(**log, "old"), Outcome::kStored);
  clock.Advance(absl::Seconds(30));
  EXPECT_EQ(AppendOne(**log, "young"), Outcome::kStored);
  clock.Advance(absl::Seconds(31));
  // "old" is 61 s old: forgotten; "young" (31 s) is not.
  EXPECT_EQ(AppendOne(**log, "young", "{\"v\":9}"), Outcome::kConflict);
  EXPECT_EQ(AppendOne(**log, "old"), Outcome::kStored);
  EXPECT_EQ(AppendOne(**log, "young"), Outcome::kDuplicate);
}

TEST(TelemetryLogTest, RestartKeepsTheWindowAndTellsConflictFromDuplicate) {
  std::string path = TempPath("restart.ndjson");
  {
    auto log = TelemetryLog::Open(path, Window(100));
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 10; ++i)
      EXPECT_EQ(AppendOne(**log, absl::StrCat("m", i)), Outcome::kStored);
  }
  // Small chunks: lines cross chunk boundaries while loading backwards.
  TelemetryLogOptions options = Window(4);
  options.load_chunk_bytes = 4096;
  auto log = TelemetryLog::Open(path, options);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->dedup_entries(), 4u);
  // The newest four (m6..m9) are remembered, with their payload hashes.
  EXPECT_EQ(AppendOne(**log, "m9"), Outcome::kDuplicate);
  EXPECT_EQ(AppendOne(**log, "m8", "{\"v\":2}"), Outcome::kConflict);
  EXPECT_EQ(AppendOne(**log, "m6"), Outcome::kDuplicate);
  EXPECT_EQ(AppendOne(**log, "m5"), Outcome::kStored);
}

TEST(TelemetryLogTest, RestartKeepsOnlyTheAgeWindow) {
  std::string path = TempPath("restart-age.ndjson");
  FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
  {
    auto log =
        TelemetryLog::Open(path, Window(100, absl::ZeroDuration(), &clock));
    ASSERT_TRUE(log.ok()) << log.status();
    // The verifier writes its clock's time as receivedAt.
    EXPECT_EQ(AppendOne(**log, "early", "{}", absl::ToUnixMillis(clock.Now())),
              Outcome::kStored);
    clock.Advance(absl::Minutes(10));
    EXPECT_EQ(AppendOne(**log, "late", "{}", absl::ToUnixMillis(clock.Now())),
              Outcome::kStored);
  }
  clock.Advance(absl::Minutes(1));
  auto log = TelemetryLog::Open(path, Window(100, absl::Minutes(5), &clock));
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->dedup_entries(), 1u);
  EXPECT_EQ(AppendOne(**log, "late", "{}"), Outcome::kDuplicate);
  EXPECT_EQ(AppendOne(**log, "early", "{}"), Outcome::kStored);
}

// Logs written by earlier versions load: lines with the payload in the
// middle, without a hash, non-record lines, long lines and a torn tail;
// so do ids longer than the start-up scan's key buffer (256 bytes).
TEST(TelemetryLogTest, ExistingLogsLoadInSmallChunks) {
  std::string path = TempPath("legacy.ndjson");
  std::string big(70000, 'x');
  std::string long_id(300, 'L');
  {
    std::ofstream old(path);
    old << "{\"deviceId\":\"dev-1\",\"messageId\":\"nohash\",\"payload\":{}}\n"
        << "not json\n\n"
        << "{\"deviceId\":\"dev-1\",\"messageId\":\"big\",\"payload\":\"" << big
        << "\",\"payloadSha256\":\""
        << HexEncode(ByteView(Sha256(AsBytes("\"" + big + "\"")))) << "\"}\n"
        << Record("esc\\\"aped", "{\"v\":1}").line << "\n"
        << Record(long_id, "{\"v\":1}").line << "\n"
        << "{\"deviceId\":\"dev-1\",\"messageId\":\"torn\",\"payl";
  }
  TelemetryLogOptions options;
  options.load_chunk_bytes = 4096;
  auto log = TelemetryLog::Open(path, options);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->dedup_entries(), 4u);
  std::string text = ReadAll(path);
  EXPECT_EQ(text.back(), '\n') << "torn tail not cut";
  EXPECT_EQ((*log)->durable_bytes(), text.size());
  EXPECT_EQ(AppendOne(**log, "nohash", "{\"any\":1}"), Outcome::kDuplicate);
  EXPECT_EQ(AppendOne(**log, "big", "\"" + big + "\""), Outcome::kDuplicate);
  EXPECT_EQ(AppendOne(**log, "big", "{}"), Outcome::kConflict);
  EXPECT_EQ(AppendOne(**log, "esc\\\"aped"), Outcome::kDuplicate);
  EXPECT_EQ(AppendOne(**log, long_id), Outcome::kDuplicate);
  EXPECT_EQ(AppendOne(**log, long_id, "{}"), Outcome::kConflict);
  EXPECT_EQ(AppendOne(**log, "torn"), Outcome::kStored);
}

// RLIMIT_FSIZE stands in for a full disk: writes past it fail with EFBIG
// (SIGXFSZ ignored, as in the verifier). The batch is refused, nothing of
// it stays in the file, and once the limit is lifted the next append works
// without reopening the log.
TEST(TelemetryLogTest, WriteFaultRefusesTheBatchAndRecoversAfterwards) {
  std::string path = TempPath("fault.ndjson");
  auto log = TelemetryLog::Open(path);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(AppendOne(**log, "before"), Outcome::kStored);
  uint64_t durable = (*log)->durable_bytes();

  signal(SIGXFSZ, SIG_IGN);
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit limited = saved;
  limited.rlim_cur = durable + 100;  // part of the next batch fits
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  std::string payload = absl::StrCat("\"", std::string(500, 'p'), "\"");
  absl::StatusOr<std::vector<Outcome>> failed = (*log)->AppendDurably(
      {Record("during-1", payload), Record("during-2", payload)});
  absl::StatusOr<std::vector<Outcome>> failed_again =
      (*log)->AppendDurably({Record("during-1", payload)});
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);

  EXPECT_TRUE(absl::IsUnavailable(failed.status())) << failed.status();
  EXPECT_TRUE(absl::IsUnavailable(failed_again.status()))
      << failed_again.status();
  EXPECT_EQ((*log)->durable_bytes(), durable);
  // The fault cleared: the same records are stored (not "duplicate"), the
  // partial batch is gone, nothing is stored twice.
  absl::StatusOr<std::vector<Outcome>> retried = (*log)->AppendDurably(
      {Record("during-1", payload), Record("during-2", payload)});
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ((*retried)[0], Outcome::kStored);
  EXPECT_EQ((*retried)[1], Outcome::kStored);
  EXPECT_EQ(AppendOne(**log, "during-1", payload), Outcome::kDuplicate);
  EXPECT_EQ(StoredIds(path),
            (std::vector<std::string>{"before", "during-1", "during-2"}));
  EXPECT_EQ((*log)->durable_bytes(), ReadAll(path).size());
}

// While one call's write is in flight, a second call with the same ids
// must not be answered "duplicate": if the write then fails, the sender
// of the second call would delete a message that was never stored. The
// log is a FIFO: the first write blocks until the test reads, and
// fdatasync on it fails (EINVAL), like a disk that fails mid-batch.
TEST(TelemetryLogTest, SameIdsInFlightAreNotDuplicatesOfAFailedWrite) {
  std::string path = TempPath("fifo.ndjson");
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  int reader = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  auto log = TelemetryLog::Open(path);
  ASSERT_TRUE(log.ok()) << log.status();
  // More than a pipe holds (64 KiB), so the flusher blocks in write().
  std::string payload = absl::StrCat("\"", std::string(200000, 'p'), "\"");
  std::atomic<int> answered{0};
  absl::StatusOr<std::vector<Outcome>> first, second;
  (*log)->AppendAsync({Record("same", payload)},
                      [&](absl::StatusOr<std::vector<Outcome>> r) {
                        first = std::move(r);
                        ++answered;
                      });
  usleep(100 * 1000);  // let the flusher start writing
  (*log)->AppendAsync({Record("same", payload)},
                      [&](absl::StatusOr<std::vector<Outcome>> r) {
                        second = std::move(r);
                        ++answered;
                      });
  EXPECT_EQ(answered.load(), 0) << "answered before the write finished";
  char buf[65536];
  for (int i = 0; i < 1000 && answered.load() < 2; ++i) {
    while (read(reader, buf, sizeof(buf)) > 0) {
    }
    usleep(5 * 1000);
  }
  ASSERT_EQ(answered.load(), 2);
  EXPECT_FALSE(first.ok());
  EXPECT_FALSE(second.ok()) << "told the second sender its message is stored";
  log->reset();
  close(reader);
}

// The index entries are fixed-size; a count window of N holds N entries.
TEST(DedupIndexTest, EntriesAreCompactAndEvictionIsFifo) {
  static_assert(sizeof(DedupIndex::Entry) == 40);
  DedupWindow window;
  window.max_messages = 1000;
  DedupIndex index(window);
  for (int i = 0; i < 5000; ++i) {
    index.PushBack(DedupIndex::NewEntry(absl::StrCat("k", i), std::nullopt, i));
  }
  EXPECT_EQ(index.size(), 1000u);
  EXPECT_FALSE(index.Find(DedupIndex::HashKey("k3999")).has_value());
  std::optional<uint64_t> seq = index.Find(DedupIndex::HashKey("k4000"));
  ASSERT_TRUE(seq.has_value());
  EXPECT_EQ(index.At(*seq).received_unix_ms, 4000);
  index.EvictOlderThan(4500);
  EXPECT_EQ(index.size(), 500u);
  index.PopBackFrom(index.next_seq() - 10);
  EXPECT_EQ(index.size(), 490u);
  EXPECT_FALSE(index.Find(DedupIndex::HashKey("k4999")).has_value());
  EXPECT_TRUE(index.Find(DedupIndex::HashKey("k4989")).has_value());
}

}  // namespace
}  // namespace cxsec::verifier
