// uplink_benchmark: the durable spool and the whole uplink, each next to a
// baseline measured in the same run (tools/bench/uplink.sh prints ratios).
//
// - BM_SqliteInsertCommitBaseline: raw SQLite, one INSERT + COMMIT per
//   message, WAL, the same synchronous setting: the floor of durability.
// - BM_SpoolEnqueueAckPaired: SqliteSpool Insert, Peek, Remove (what every
//   message costs the gateway's disk), single caller, next to the raw
//   commit, the two timed in turns within each iteration (order
//   alternating) so both see the disk at the same moments: fsync latency
//   drifts within seconds, and measured in separate repetitions the ratio
//   of the same code swung from 0.70 to 1.0 between runs. Counters
//   raw_per_s and spool_per_s.
// - BM_SpoolEnqueueConcurrent: 8 callers (many nodes at once): group commit
//   shares one fsync among them.
// - BM_UplinkEndToEnd: Enqueue N messages into HttpsUplink and wait until
//   the in-process HTTPS verifier stand-in has stored all of them.
// Arg(0) = synchronous FULL, Arg(1) = NORMAL.
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "sqlite3.h"
#include "transports/uplink/https_uplink.h"
#include "transports/uplink/sqlite_spool.h"
#include "transports/uplink/testing/https_test_server.h"
#include "transports/uplink/testing/test_pki.h"

namespace cxsec {
namespace {

std::string FreshDir(absl::string_view name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base ? base : "/tmp", "/uplink_bench_", name,
                                 "_", ::getpid());
  std::string command = absl::StrCat("rm -rf '", dir, "'");
  if (std::system(command.c_str()) != 0) std::abort();
  ::mkdir(dir.c_str(), 0700);
  return dir;
}

VerifiedMessage Message(int64_t id) {
  VerifiedMessage m;
  m.device_id = "D0123456789abcdef";
  m.message_id = absl::StrCat(id);
  m.transport = "dtls";
  m.received_at = absl::Now();
  m.payload.assign(48, 0xa5);  // a typical CBOR sensor reading
  return m;
}

// RawCommitter: the baseline's table and statement, one INSERT+COMMIT per
// call. The table is the spool's: the same columns and, like it, no index
// on (device_id, message_id), whose uniqueness the spool keeps in memory.
class RawCommitter {
 public:
  RawCommitter(const std::string& path, bool full) {
    sqlite3_open(path.c_str(), &db_);
    sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    sqlite3_exec(db_, full ? "PRAGMA synchronous=FULL"
                           : "PRAGMA synchronous=NORMAL",
                 nullptr, nullptr, nullptr);
    sqlite3_exec(db_,
                 "CREATE TABLE m (seq INTEGER PRIMARY KEY, device_id TEXT, "
                 "message_id TEXT, transport TEXT, received_at_us INTEGER, "
                 "payload BLOB, size INTEGER)",
                 nullptr, nullptr, nullptr);
    sqlite3_prepare_v2(db_, "INSERT INTO m VALUES (NULL, ?, ?, ?, ?, ?, ?)",
                       -1, &insert_, nullptr);
  }
  ~RawCommitter() {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }
  bool Commit(const VerifiedMessage& m) {
    sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_bind_text(insert_, 1, m.device_id.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(insert_, 2, m.message_id.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(insert_, 3, m.transport.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 4, absl::ToUnixMicros(m.received_at));
    sqlite3_bind_blob(insert_, 5, m.payload.data(),
                      static_cast<int>(m.payload.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 6, 80);
    bool ok = sqlite3_step(insert_) == SQLITE_DONE;
    sqlite3_reset(insert_);
    return sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) ==
               SQLITE_OK &&
           ok;
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
};

void BM_SqliteInsertCommitBaseline(benchmark::State& state) {
  std::string dir = FreshDir("raw");
  RawCommitter raw(dir + "/raw.db", state.range(0) == 0);
  int64_t id = 0;
  for (auto _ : state) {
    if (!raw.Commit(Message(id++))) state.SkipWithError("insert");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SqliteInsertCommitBaseline)->Arg(0)->Arg(1)->UseRealTime();

std::unique_ptr<SqliteSpool> OpenSpool(const std::string& dir, int64_t sync) {
  SqliteSpoolOptions options;
  options.path = dir + "/spool.db";
  options.sync = sync == 0 ? SpoolSync::kFull : SpoolSync::kNormal;
  auto spool = SqliteSpool::Open(options);
  if (!spool.ok()) std::abort();
  return *std::move(spool);
}

void BM_SpoolEnqueueAckPaired(benchmark::State& state) {
  std::string dir = FreshDir("paired");
  RawCommitter raw(dir + "/raw.db", state.range(0) == 0);
  std::unique_ptr<SqliteSpool> spool = OpenSpool(dir, state.range(0));
  absl::Duration raw_time, spool_time;
  int64_t id = 0;
  bool raw_first = true;
  for (auto _ : state) {
    VerifiedMessage m = Message(id++);
    for (int turn = 0; turn < 2; ++turn) {
      const absl::Time t0 = absl::Now();
      if (raw_first == (turn == 0)) {
        if (!raw.Commit(m)) state.SkipWithError("raw commit");
        raw_time += absl::Now() - t0;
        continue;
      }
      bool ok = spool->Insert(m).ok();
      auto batch = spool->Peek(1, 1 << 20);
      ok = ok && batch.ok() && !batch->empty() &&
           spool->Remove({(*batch)[0].sequence}).ok();
      spool_time += absl::Now() - t0;
      if (!ok) state.SkipWithError("enqueue+ack");
    }
    raw_first = !raw_first;
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["raw_per_s"] = n / absl::ToDoubleSeconds(raw_time);
  state.counters["spool_per_s"] = n / absl::ToDoubleSeconds(spool_time);
}
BENCHMARK(BM_SpoolEnqueueAckPaired)->Arg(0)->Arg(1)->UseRealTime();

SqliteSpool* shared_spool = nullptr;
std::atomic<int64_t> shared_id{0};

void BM_SpoolEnqueueConcurrent(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_spool = OpenSpool(FreshDir("concurrent"), state.range(0)).release();
  }
  for (auto _ : state) {
    if (!shared_spool->Insert(Message(shared_id++)).ok()) {
      state.SkipWithError("insert");
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete shared_spool;
    shared_spool = nullptr;
  }
}
BENCHMARK(BM_SpoolEnqueueConcurrent)->Arg(0)->Arg(1)->Threads(8)->UseRealTime();

void BM_UplinkEndToEnd(benchmark::State& state) {
  std::string dir = FreshDir("e2e");
  auto ca = testing::MakeTestCa(dir, "ca");
  if (!ca.ok()) return state.SkipWithError("ca");
  auto cert = testing::IssueServerCert(*ca, "server", {"localhost"}, {});
  if (!cert.ok()) return state.SkipWithError("cert");
  auto server = testing::HttpsTestServer::Start(
      {cert->cert_path, cert->key_path, "token", 0});
  if (!server.ok()) return state.SkipWithError("server");
  ::mkdir((dir + "/spool").c_str(), 0700);
  HttpsUplinkOptions options;
  options.client.url = absl::StrCat("https://localhost:", (*server)->port());
  options.client.ca_bundle_pem = *testing::ReadTextFile(ca->cert_path);
  options.spool.path = dir + "/spool/spool.db";
  options.spool.sync =
      state.range(0) == 0 ? SpoolSync::kFull : SpoolSync::kNormal;
  options.idle_wait = absl::Milliseconds(5);
  auto uplink = HttpsUplink::Create(options);
  if (!uplink.ok() ||
      !uplink->Start([]() -> absl::StatusOr<std::string> { return "token"; })
           .ok()) {
    return state.SkipWithError("uplink");
  }
  constexpr int kMessages = 2000;
  int64_t id = 0;
  for (auto _ : state) {
    int64_t target = (*server)->counters().stored + kMessages;
    for (int i = 0; i < kMessages; ++i) {
      if (!uplink->Enqueue(Message(id++)).ok()) state.SkipWithError("enqueue");
    }
    absl::Time deadline = absl::Now() + absl::Seconds(120);
    while ((*server)->counters().stored < target && absl::Now() < deadline) {
      absl::SleepFor(absl::Microseconds(200));
    }
  }
  state.SetItemsProcessed(state.iterations() * kMessages);
  state.counters["requests"] =
      static_cast<double>((*server)->counters().requests);
  uplink->Stop();
}
BENCHMARK(BM_UplinkEndToEnd)->Arg(0)->Arg(1)->Iterations(3)->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cxsec
