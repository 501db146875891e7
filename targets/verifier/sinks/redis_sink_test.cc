// RedisTelemetrySink against a real redis-server (AOF, appendfsync always)
// that each test starts on a free port: stored once, duplicates and
// conflicts, the dedup window (count and TTL), Redis stopped and killed
// under load (503-style errors, reconnect, nothing marked seen without its
// entry), WAIT without and with a replica, AUTH with a password that never
// reaches the log, a flushed script cache (also under load, with two
// groups in flight), batches spanning several script calls, a corrupt
// seal state, and malformed script calls.
#include "targets/verifier/sinks/redis_sink.h"

#include <atomic>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/crypto/primitives.h"
#include "core/encoding/hex.h"
#include "gtest/gtest.h"
#include "tests/fixtures/redis_process.h"

namespace cxsec::verifier {
namespace {

using cxsec::testing::RedisOptions;
using cxsec::testing::RedisProcess;
using Outcome = TelemetrySink::Outcome;

LogRecord Record(const std::string& message_id,
                 const std::string& payload = "1") {
  std::string line = absl::StrCat(
      R"({"deviceId":"dev-1","messageId":")", message_id,
      R"(","project":"acme","payload":)", payload, "}");
  return LogRecord{DedupKey("dev-1", message_id), line,
                   Sha256(AsBytes(payload)), "acme", "dev-1", message_id};
}

bool WaitUntil(const std::function<bool()>& done,
               absl::Duration timeout = absl::Seconds(20)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

class RedisSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", info->name());
    ASSERT_EQ(std::system(absl::StrCat("mkdir -p '", dir_, "'").c_str()), 0);
  }

  std::unique_ptr<RedisProcess> StartRedis(RedisOptions options = {}) {
    auto redis = RedisProcess::Start(dir_, std::move(options));
    EXPECT_TRUE(redis.ok()) << redis.status();
    if (!redis.ok()) return nullptr;
    absl::Status ready = (*redis)->WaitUntilReady(absl::Seconds(15));
    EXPECT_TRUE(ready.ok()) << ready;
    return std::move(*redis);
  }

  RedisSinkOptions Options(const RedisProcess& redis) {
    RedisSinkOptions options;
    options.port = redis.port();
    options.io_timeout = absl::Seconds(2);
    options.reconnect_min = absl::Milliseconds(20);
    options.reconnect_max = absl::Milliseconds(200);
    return options;
  }

  std::unique_ptr<RedisTelemetrySink> StartSink(RedisSinkOptions options) {
    auto sink = RedisTelemetrySink::Start(std::move(options));
    EXPECT_TRUE(sink.ok()) << sink.status();
    return sink.ok() ? std::move(*sink) : nullptr;
  }

  static long long Int(RedisProcess& redis,
                       const std::vector<std::string>& args) {
    absl::StatusOr<std::string> text = redis.Command(args);
    long long n = -1;
    if (!text.ok() || !absl::SimpleAtoi(*text, &n)) {
      ADD_FAILURE() << absl::StrJoin(args, " ") << ": "
                    << (text.ok() ? *text : text.status().ToString());
    }
    return n;
  }

  // Every dedup key names an entry that is in the stream, and every entry
  // has its dedup key: nothing is marked seen without being stored.
  static void ExpectSeenKeysMatchStream(RedisProcess& redis,
                                        const RedisTelemetrySink& sink) {
    absl::StatusOr<std::string> ids =
        redis.Command({"XRANGE", sink.stream_key(), "-", "+"});
    ASSERT_TRUE(ids.ok()) << ids.status();
    // XRANGE flattens to: id, field, value, ... per entry.
    std::vector<std::string> parts = absl::StrSplit(*ids, '\n');
    std::set<std::string> stream_ids;
    std::set<std::string> stream_messages;
    for (size_t i = 0; i < parts.size();) {
      if (parts[i].empty()) break;
      stream_ids.insert(parts[i]);
      ++i;
      while (i + 1 < parts.size() && parts[i].find('-') == std::string::npos) {
        if (parts[i] == "messageId") {
          EXPECT_TRUE(stream_messages.insert(parts[i + 1]).second)
              << parts[i + 1] << " is in the stream twice";
        }
        i += 2;
      }
    }
    absl::StatusOr<std::string> keys =
        redis.Command({"KEYS", "cxsec:seen:*"});
    ASSERT_TRUE(keys.ok()) << keys.status();
    size_t seen = 0;
    for (absl::string_view key : absl::StrSplit(*keys, '\n', absl::SkipEmpty())) {
      ++seen;
      absl::StatusOr<std::string> value = redis.Command({"GET", std::string(key)});
      ASSERT_TRUE(value.ok()) << value.status();
      std::string id = value->substr(value->find(' ') + 1);
      EXPECT_EQ(stream_ids.count(id), 1u)
          << key << " is marked seen, but entry " << id << " is not stored";
    }
    EXPECT_EQ(seen, stream_ids.size());
  }

  std::string dir_;
};

TEST_F(RedisSinkTest, AcceptedMessageIsInTheStreamOnceWithItsFields) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  RedisSinkOptions options = Options(*redis);
  options.dedup_window.max_age = absl::Seconds(3600);
  auto sink = StartSink(std::move(options));
  ASSERT_NE(sink, nullptr);
  auto outcomes = sink->AppendDurably({Record("m1"), Record("m2", "[2]")});
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_EQ(*outcomes, (std::vector<Outcome>{Outcome::kStored, Outcome::kStored}));
  EXPECT_EQ(Int(*redis, {"XLEN", "cxsec:telemetry"}), 2);
  absl::StatusOr<std::string> first =
      redis->Command({"XRANGE", "cxsec:telemetry", "-", "+", "COUNT", "1"});
  ASSERT_TRUE(first.ok()) << first.status();
  std::vector<std::string> parts = absl::StrSplit(*first, '\n');
  // id, then four field/value pairs (the payload's hash is in `record`).
  ASSERT_EQ(parts.size(), 9u) << *first;
  std::map<std::string, std::string> fields;
  for (size_t i = 1; i + 1 < parts.size(); i += 2) fields[parts[i]] = parts[i + 1];
  EXPECT_EQ(fields["project"], "acme");
  EXPECT_EQ(fields["deviceId"], "dev-1");
  EXPECT_EQ(fields["messageId"], "m1");
  EXPECT_EQ(fields.count("payloadSha256"), 0u);
  EXPECT_EQ(fields["record"], Record("m1").line);
  // The dedup key carries the window's TTL.
  std::string key = sink->DedupRedisKey(DedupKey("dev-1", "m1"));
  long long ttl = Int(*redis, {"TTL", key});
  EXPECT_GT(ttl, 3500);
  EXPECT_LE(ttl, 3600);
  ExpectSeenKeysMatchStream(*redis, *sink);
}

TEST_F(RedisSinkTest, SameIdTwiceIsADuplicateAndTheStreamHoldsOneEntry) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  auto sink = StartSink(Options(*redis));
  ASSERT_NE(sink, nullptr);
  ASSERT_EQ(*sink->AppendDurably({Record("m1")}),
            std::vector<Outcome>{Outcome::kStored});
  EXPECT_EQ(*sink->AppendDurably({Record("m1")}),
            std::vector<Outcome>{Outcome::kDuplicate});
  // Within one batch, and the same ids with another payload.
  EXPECT_EQ(*sink->AppendDurably({Record("m2"), Record("m2"),
                                  Record("m1", "\"other\"")}),
            (std::vector<Outcome>{Outcome::kStored, Outcome::kDuplicate,
                                  Outcome::kConflict}));
  EXPECT_EQ(Int(*redis, {"XLEN", "cxsec:telemetry"}), 2);
  // No TTL configured: the key lives until the count window drops it.
  EXPECT_EQ(Int(*redis, {"TTL", sink->DedupRedisKey(DedupKey("dev-1", "m1"))}),
            -1);
  // A second sink (another verifier instance) shares the index.
  auto other = StartSink(Options(*redis));
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(*other->AppendDurably({Record("m2"), Record("m3")}),
            (std::vector<Outcome>{Outcome::kDuplicate, Outcome::kStored}));
  EXPECT_EQ(Int(*redis, {"XLEN", "cxsec:telemetry"}), 3);
  ExpectSeenKeysMatchStream(*redis, *sink);
}

TEST_F(RedisSinkTest, ConcurrentAppendsOfTheSameIdsStoreEachOnce) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  auto a = StartSink(Options(*redis));
  auto b = StartSink(Options(*redis));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::atomic<int> stored{0};
  auto run = [&](RedisTelemetrySink* sink) {
    for (int batch = 0; batch < 20; ++batch) {
      std::vector<LogRecord> records;
      for (int i = 0; i < 10; ++i)
        records.push_back(Record(absl::StrCat("m", batch * 10 + i)));
      auto outcomes = sink->AppendDurably(std::move(records));
      ASSERT_TRUE(outcomes.ok()) << outcomes.status();
      for (Outcome o : *outcomes) {
        if (o == Outcome::kStored) ++stored;
        else EXPECT_EQ(o, Outcome::kDuplicate);
      }
    }
  };
  std::thread t1(run, a.get()), t2(run, b.get());
  t1.join();
  t2.join();
  EXPECT_EQ(stored.load(), 200);
  EXPECT_EQ(Int(*redis, {"XLEN", "cxsec:telemetry"}), 200);
  ExpectSeenKeysMatchStream(*redis, *a);
}

TEST_F(RedisSinkTest, CountWindowForgetsTheOldestAndTtlWindowExpires) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  RedisSinkOptions options = Options(*redis);
  options.dedup_window.max_messages = 3;
  auto sink = StartSink(std::move(options));
  ASSERT_NE(sink, nullptr);
  for (int i = 1; i <= 5; ++i) {
    ASSERT_EQ(*sink->AppendDurably({Record(absl::StrCat("m", i))}),
              std::vector<Outcome>{Outcome::kStored});
  }
  EXPECT_EQ(Int(*redis, {"LLEN", "cxsec:seen-order"}), 3);
  // m1 and m2 left the window: stored again (at-least-once beyond it);
  // m5 is still in it.
  EXPECT_EQ(*sink->AppendDurably({Record("m5"), Record("m1")}),
            (std::vector<Outcome>{Outcome::kDuplicate, Outcome::kStored}));
  EXPECT_EQ(Int(*redis, {"XLEN", "cxsec:telemetry"}), 6);
  EXPECT_EQ(Int(*redis, {"LLEN", "cxsec:seen-order"}), 3);
  // A batch larger than the window: one call pops what it pushed over.
  EXPECT_EQ(*sink->AppendDurably({Record("b1"), Record("b2"), Record("b3"),
                                  Record("b4"), Record("b5")}),
            std::vector<Outcome>(5, Outcome::kStored));
  EXPECT_EQ(Int(*redis, {"LLEN", "cxsec:seen-order"}), 3);
  EXPECT_EQ(*sink->AppendDurably({Record("b2"), Record("b3")}),
            (std::vector<Outcome>{Outcome::kStored, Outcome::kDuplicate}));

  RedisSinkOptions aged = Options(*redis);
  aged.key_prefix = "aged:";
  aged.dedup_window.max_age = absl::Seconds(1);
  auto short_lived = StartSink(std::move(aged));
  ASSERT_NE(short_lived, nullptr);
  ASSERT_EQ(*short_lived->AppendDurably({Record("t1")}),
            std::vector<Outcome>{Outcome::kStored});
  EXPECT_EQ(*short_lived->AppendDurably({Record("t1")}),
            std::vector<Outcome>{Outcome::kDuplicate});
  absl::SleepFor(absl::Milliseconds(2100));
  EXPECT_EQ(*short_lived->AppendDurably({Record("t1")}),
            std::vector<Outcome>{Outcome::kStored});
  EXPECT_EQ(Int(*redis, {"XLEN", "aged:telemetry"}), 2);
  // The age trim dropped the expired entry from the window list, but not
  // the key t1 was stored under again, which names the newer entry.
  EXPECT_EQ(Int(*redis, {"LLEN", "aged:seen-order"}), 1);
  EXPECT_EQ(*short_lived->AppendDurably({Record("t1")}),
            std::vector<Outcome>{Outcome::kDuplicate});
}

TEST_F(RedisSinkTest, RedisStoppedFailsTheCallThenTheSinkReconnects) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  auto sink = StartSink(Options(*redis));
  ASSERT_NE(sink, nullptr);
  ASSERT_EQ(*sink->AppendDurably({Record("m1")}),
            std::vector<Outcome>{Outcome::kStored});
  ASSERT_TRUE(redis->Stop().ok());
  for (int i = 0; i < 5; ++i) {
    auto outcomes = sink->AppendDurably({Record("m2")});
    ASSERT_FALSE(outcomes.ok());
    EXPECT_TRUE(absl::IsUnavailable(outcomes.status())) << outcomes.status();
  }
  EXPECT_FALSE(sink->connected());
  ASSERT_TRUE(redis->Restart().ok());
  // AOF with appendfsync always: m1 survived; m2 is stored now, once.
  ASSERT_TRUE(WaitUntil([&] {
    auto outcomes = sink->AppendDurably({Record("m2"), Record("m1")});
    return outcomes.ok() &&
           *outcomes == std::vector<Outcome>{Outcome::kStored,
                                             Outcome::kDuplicate};
  }));
  EXPECT_TRUE(sink->connected());
  EXPECT_EQ(Int(*redis, {"XLEN", "cxsec:telemetry"}), 2);
  EXPECT_NE(sink->RenderMetrics().find("cxsec_redis_sink_reconnects_total 1"),
            std::string::npos)
      << sink->RenderMetrics();
  ExpectSeenKeysMatchStream(*redis, *sink);
}

// Redis killed (SIGKILL) while two writers append: every message answered
// stored or duplicate is in the stream after the restart, nothing is in it
// twice, and no dedup key lacks its entry. Failed calls are re-sent, as
// the gateway does.
TEST_F(RedisSinkTest, RedisKilledUnderLoadLosesNothingAcknowledged) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  auto sink = StartSink(Options(*redis));
  ASSERT_NE(sink, nullptr);
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::set<std::string> acknowledged;
  std::atomic<int> failures{0};
  auto writer = [&](int w) {
    int next = 0;
    std::vector<std::string> spool;
    while (!stop.load() || !spool.empty()) {
      if (!stop.load() && spool.size() < 20) {
        spool.push_back(absl::StrCat("w", w, "-", next++));
      }
      std::vector<LogRecord> records;
      for (const std::string& id : spool) records.push_back(Record(id));
      auto outcomes = sink->AppendDurably(std::move(records));
      if (!outcomes.ok()) {
        ++failures;
        absl::SleepFor(absl::Milliseconds(10));
        continue;
      }
      std::vector<std::string> kept;
      for (size_t i = 0; i < spool.size(); ++i) {
        Outcome o = (*outcomes)[i];
        if (o == Outcome::kStored || o == Outcome::kDuplicate) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged.insert(spool[i]);
        } else {
          kept.push_back(spool[i]);
        }
      }
      spool.swap(kept);
    }
  };
  std::thread t1(writer, 1), t2(writer, 2);
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_TRUE(redis->Kill().ok());
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(redis->Restart().ok());
  absl::SleepFor(absl::Milliseconds(500));
  stop = true;
  t1.join();
  t2.join();
  EXPECT_GT(failures.load(), 0) << "the kill did not bite";
  absl::StatusOr<std::string> all =
      redis->Command({"XRANGE", "cxsec:telemetry", "-", "+"});
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> parts = absl::StrSplit(*all, '\n');
  std::map<std::string, int> stored;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] == "messageId") ++stored[parts[i + 1]];
  }
  for (const std::string& id : acknowledged) {
    EXPECT_EQ(stored[id], 1) << id << " acknowledged, stored " << stored[id];
  }
  EXPECT_EQ(stored.size(), acknowledged.size());
  ExpectSeenKeysMatchStream(*redis, *sink);
}

// WAIT required, no replica: nothing is acknowledged (the entry is on the
// primary, the gateway keeps its copy). Once a replica follows, the re-send
// is confirmed (a duplicate, replicated) and new messages are accepted.
TEST_F(RedisSinkTest, WaitWithoutReplicaIsRetryAndWithAReplicaAccepted) {
  auto primary = StartRedis();
  ASSERT_NE(primary, nullptr);
  RedisSinkOptions options = Options(*primary);
  options.wait_replicas = 1;
  // Generous: right after its sync a replica forks an AOF rewrite and
  // fsyncs every write, and on a loaded machine its first ACKs took more
  // than 500 ms.
  options.wait_timeout = absl::Milliseconds(2500);
  auto sink = StartSink(std::move(options));
  ASSERT_NE(sink, nullptr);
  absl::Time start = absl::Now();
  EXPECT_EQ(*sink->AppendDurably({Record("m1"), Record("m2")}),
            (std::vector<Outcome>{Outcome::kNotReplicated,
                                  Outcome::kNotReplicated}));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(2400));
  // A re-send while still no replica: still not acknowledged.
  EXPECT_EQ(*sink->AppendDurably({Record("m1")}),
            std::vector<Outcome>{Outcome::kNotReplicated});
  EXPECT_NE(sink->RenderMetrics().find("cxsec_redis_sink_wait_short_total 2"),
            std::string::npos);

  auto replica = StartRedis(
      {.extra_args = {"--replicaof", "127.0.0.1",
                      absl::StrCat(primary->port())}});
  ASSERT_NE(replica, nullptr);
  // Synced, and counted by the primary: it puts a replica online (and
  // WAIT counts it) only after the replica's first ACK, up to 1 s later.
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<std::string> info = primary->Command({"INFO", "replication"});
    return info.ok() && info->find("state=online") != std::string::npos;
  })) << "the replica never synced";
  EXPECT_EQ(*sink->AppendDurably({Record("m1"), Record("m3")}),
            (std::vector<Outcome>{Outcome::kDuplicate, Outcome::kStored}));
  EXPECT_EQ(Int(*replica, {"XLEN", "cxsec:telemetry"}), 3);
  ExpectSeenKeysMatchStream(*replica, *sink);
}

TEST_F(RedisSinkTest, PasswordAuthAndTheSecretNeverReachesTheLog) {
  const std::string password = "s3cret-redis-pass-7f1c";
  auto redis = StartRedis({.extra_args = {"--requirepass", password},
                           .password = password});
  ASSERT_NE(redis, nullptr);
  ::testing::internal::CaptureStderr();
  {
    RedisSinkOptions wrong = Options(*redis);
    wrong.password = SecretBytes::CopyFrom(AsBytes(std::string("not-it-9d2e")));
    auto sink = StartSink(std::move(wrong));
    ASSERT_NE(sink, nullptr);
    auto outcomes = sink->AppendDurably({Record("m1")});
    EXPECT_TRUE(absl::IsUnavailable(outcomes.status())) << outcomes.status();
    EXPECT_EQ(outcomes.status().message().find("not-it-9d2e"),
              std::string::npos);
  }
  {
    RedisSinkOptions none = Options(*redis);
    auto sink = StartSink(std::move(none));
    ASSERT_NE(sink, nullptr);
    EXPECT_FALSE(sink->AppendDurably({Record("m1")}).ok());
  }
  RedisSinkOptions right = Options(*redis);
  right.password = SecretBytes::CopyFrom(AsBytes(password));
  auto sink = StartSink(std::move(right));
  ASSERT_NE(sink, nullptr);
  EXPECT_EQ(*sink->AppendDurably({Record("m1")}),
            std::vector<Outcome>{Outcome::kStored});
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("AUTH refused (WRONGPASS)"), std::string::npos) << log;
  EXPECT_EQ(log.find(password), std::string::npos) << log;
  EXPECT_EQ(log.find("not-it-9d2e"), std::string::npos) << log;
}

TEST_F(RedisSinkTest, FlushedScriptCacheFallsBackToEval) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  auto sink = StartSink(Options(*redis));
  ASSERT_NE(sink, nullptr);
  ASSERT_EQ(*sink->AppendDurably({Record("m1")}),
            std::vector<Outcome>{Outcome::kStored});
  ASSERT_TRUE(redis->Command({"SCRIPT", "FLUSH"}).ok());
  EXPECT_EQ(*sink->AppendDurably({Record("m2"), Record("m1")}),
            (std::vector<Outcome>{Outcome::kStored, Outcome::kDuplicate}));
  EXPECT_EQ(Int(*redis, {"XLEN", "cxsec:telemetry"}), 2);
}

TEST_F(RedisSinkTest, BatchLargerThanOneScriptCallKeepsOrderAndVerdicts) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  auto sink = StartSink(Options(*redis));
  ASSERT_NE(sink, nullptr);
  // 300 new ids, then a resend of m5 and m7 with another payload, across
  // three script calls: the verdicts come back in order, and the stream
  // holds the ids in the order they were given.
  std::vector<LogRecord> records;
  std::vector<Outcome> expected;
  for (int i = 0; i < 300; ++i) {
    records.push_back(Record(absl::StrCat("m", i)));
    expected.push_back(Outcome::kStored);
    if (i == 200) {
      records.push_back(Record("m5"));
      expected.push_back(Outcome::kDuplicate);
    }
    if (i == 260) {
      records.push_back(Record("m7", "2"));
      expected.push_back(Outcome::kConflict);
    }
  }
  auto outcomes = sink->AppendDurably(std::move(records));
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_EQ(*outcomes, expected);
  EXPECT_EQ(Int(*redis, {"XLEN", "cxsec:telemetry"}), 300);
  absl::StatusOr<std::string> all =
      redis->Command({"XRANGE", "cxsec:telemetry", "-", "+"});
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> parts = absl::StrSplit(*all, '\n');
  int next = 0;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] == "messageId") {
      EXPECT_EQ(parts[i + 1], absl::StrCat("m", next)) << "entry " << next;
      ++next;
    }
  }
  EXPECT_EQ(next, 300);
  ExpectSeenKeysMatchStream(*redis, *sink);
}

TEST_F(RedisSinkTest, CorruptSealStateFailsOnlyThatReading) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  auto sink = StartSink(Options(*redis));
  ASSERT_NE(sink, nullptr);
  ASSERT_TRUE(redis->Command({"SET", sink->SealStateKey("dev-2"), "junk"}).ok());
  auto sealed = [](const std::string& device, uint32_t sequence) {
    std::string id = absl::StrCat("seal/1/", sequence);
    LogRecord r{DedupKey(device, id),
                absl::StrCat(R"({"deviceId":")", device, R"(","payload":1})"),
                Sha256(AsBytes("1")), "acme", device, id};
    r.seal = SealedFields{1, sequence, {1, 2, 3, 4, 5, 6, 7, 8}};
    return r;
  };
  std::vector<LogRecord> records;
  records.push_back(Record("m1"));
  records.push_back(sealed("dev-2", 1));
  records.push_back(sealed("dev-3", 1));
  ::testing::internal::CaptureStderr();
  auto outcomes = sink->AppendDurably(std::move(records));
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_EQ(*outcomes, (std::vector<Outcome>{Outcome::kStored,
                                             Outcome::kStoreFailed,
                                             Outcome::kStored}));
  EXPECT_NE(log.find("seal state of unknown version"), std::string::npos)
      << log;
  EXPECT_EQ(Int(*redis, {"XLEN", "cxsec:telemetry"}), 2);
  EXPECT_EQ(*redis->Command({"GET", sink->SealStateKey("dev-2")}), "junk");
}

TEST_F(RedisSinkTest, MalformedScriptCallWritesNothing) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  // A valid plain message first, then a sealed one whose tag is 7 bytes:
  // the script refuses the call before its first write.
  std::vector<std::string> call = {
      "EVAL", kRedisAppendScript, "6", "t:telemetry", "t:seen-order",
      "t:seal-stats", "t:seen:1", "t:seen:2", "t:seal:dev-1",
      "0", "100",
      "p", "", "2", "record", "one",
      "s", "", "2", "1", "1", "1234567", "record", "two"};
  absl::StatusOr<std::string> answer = redis->Command(call);
  ASSERT_FALSE(answer.ok());
  EXPECT_NE(answer.status().message().find("bad seal arguments"),
            std::string::npos)
      << answer.status();
  EXPECT_EQ(Int(*redis, {"EXISTS", "t:telemetry", "t:seen:1", "t:seen-order",
                         "t:seal:dev-1"}),
            0);
  // A field count that runs past the arguments, and keys that do not
  // match the messages, are refused the same way.
  std::vector<std::string> short_fields = {
      "EVAL", kRedisAppendScript, "4", "t:telemetry", "t:seen-order",
      "t:seal-stats", "t:seen:1", "0", "100", "p", "", "4", "record", "one"};
  EXPECT_FALSE(redis->Command(short_fields).ok());
  std::vector<std::string> extra_key = {
      "EVAL", kRedisAppendScript, "5", "t:telemetry", "t:seen-order",
      "t:seal-stats", "t:seen:1", "t:seen:2", "0", "100", "p", "", "2",
      "record", "one"};
  EXPECT_FALSE(redis->Command(extra_key).ok());
  EXPECT_EQ(Int(*redis, {"EXISTS", "t:telemetry", "t:seen:1"}), 0);
}

TEST_F(RedisSinkTest, ScriptCacheFlushedUnderLoadLosesNothing) {
  auto redis = StartRedis();
  ASSERT_NE(redis, nullptr);
  auto sink = StartSink(Options(*redis));
  ASSERT_NE(sink, nullptr);
  // Eight callers keep two groups in flight while the script cache is
  // flushed again and again: every call answered NOSCRIPT is sent again
  // with EVAL, in both flights, and nothing fails or is stored twice.
  std::atomic<bool> running{true};
  std::atomic<int> stored{0}, other{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      for (int batch = 0; running.load() || batch < 5; ++batch) {
        std::vector<LogRecord> records;
        for (int i = 0; i < 3; ++i) {
          records.push_back(Record(absl::StrCat("c", t, "-", batch, "-", i)));
        }
        auto outcomes = sink->AppendDurably(std::move(records));
        ASSERT_TRUE(outcomes.ok()) << outcomes.status();
        for (Outcome o : *outcomes) {
          (o == Outcome::kStored ? stored : other).fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    absl::SleepFor(absl::Milliseconds(30));
    ASSERT_TRUE(redis->Command({"SCRIPT", "FLUSH"}).ok());
  }
  running.store(false);
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Int(*redis, {"XLEN", "cxsec:telemetry"}), stored.load());
  ExpectSeenKeysMatchStream(*redis, *sink);
}

TEST_F(RedisSinkTest, BadOptionsAreRefused) {
  RedisSinkOptions options;
  options.key_prefix = "has space";
  EXPECT_TRUE(absl::IsInvalidArgument(
      RedisTelemetrySink::Start(std::move(options)).status()));
  options = RedisSinkOptions();
  options.username = "ingest";
  EXPECT_TRUE(absl::IsInvalidArgument(
      RedisTelemetrySink::Start(std::move(options)).status()));
}

}  // namespace
}  // namespace cxsec::verifier
