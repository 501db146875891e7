// spool_scaling: the spool rows of the scaling section
// (tools/bench/scaling.sh spool). The gateway's SqliteSpool with 1,000,000
// messages waiting (the cloud down for hours) next to an empty one, in the
// same run:
//   - enqueue rate (SqliteSpool::Insert, synchronous=FULL unless --normal),
//     one caller and --callers concurrent callers, the two spools taking
//     turns (--rounds slices of --seconds each);
//   - the database's bytes on disk per waiting message, next to the bytes
//     the spool itself counts per message (payload and ids).
// The backlog is written straight into the spool's own table in one SQLite
// transaction (the same columns SqliteSpool::Insert writes), since a
// million durable one-by-one commits would take the whole time budget;
// then the spool is reopened on it as a restarted gateway would.
// Prints key=value lines:
//   spool=empty|backlog waiting=N open_ms=O rate1=R rateN=R callers=C db_bytes=B
//   logical_bytes=L rounds=K
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "core/cli/command_line.h"
#include "transports/uplink/sqlite_spool.h"

namespace {

constexpr int kDevices = 1000;

// A typical message: one of 1,000 devices, a counter id, 48 bytes of CBOR.
cxsec::VerifiedMessage Message(int64_t n) {
  cxsec::VerifiedMessage m;
  m.device_id = absl::StrFormat("D%016X", 0xC0FFEE00 + n % kDevices);
  m.message_id = absl::StrCat(n);
  m.transport = "dtls";
  m.received_at = absl::Now();
  m.payload.assign(48, 0xa5);
  return m;
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

// Writes `n` messages into the spool's table in one transaction.
bool BulkFill(const std::string& path, int64_t n) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return false;
  sqlite3_exec(db, "PRAGMA synchronous=OFF; BEGIN", nullptr, nullptr, nullptr);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO messages (device_id, message_id, transport, "
                     "received_at_us, payload, size) VALUES (?, ?, ?, ?, ?, ?)",
                     -1, &s, nullptr);
  bool ok = s != nullptr;
  for (int64_t i = 0; ok && i < n; ++i) {
    cxsec::VerifiedMessage m = Message(i);
    sqlite3_bind_text(s, 1, m.device_id.data(), static_cast<int>(m.device_id.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, m.message_id.data(), static_cast<int>(m.message_id.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, m.transport.data(), static_cast<int>(m.transport.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, absl::ToUnixMicros(m.received_at));
    sqlite3_bind_blob(s, 5, m.payload.data(), static_cast<int>(m.payload.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 6, static_cast<int64_t>(m.payload.size() + m.device_id.size() +
                                                  m.message_id.size() + m.transport.size()));
    ok = sqlite3_step(s) == SQLITE_DONE;
    sqlite3_reset(s);
  }
  sqlite3_finalize(s);
  ok = ok && sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return ok;
}

// Inserts from `callers` threads for `seconds`; messages/s.
double EnqueueRate(cxsec::SqliteSpool& spool, int callers, double seconds, int64_t* next_id) {
  std::atomic<int64_t> id{*next_id}, done{0}, failed{0};
  const absl::Time start = absl::Now(), deadline = start + absl::Seconds(seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&]() {
      while (absl::Now() < deadline) {
        if (spool.Insert(Message(id++)).ok()) {
          ++done;
        } else {
          ++failed;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  *next_id = id.load();
  if (failed > 0) std::fprintf(stderr, "spool_scaling: %lld inserts failed\n",
                               static_cast<long long>(failed.load()));
  return done.load() / absl::ToDoubleSeconds(absl::Now() - start);
}

}  // namespace

int main(int argc, char** argv) {
  cxsec::CommandLine cl({
      {"dir", true, "an empty directory for the two spools", "DIR"},
      {"backlog", true, "messages waiting in the full spool (default 1000000)", "N"},
      {"seconds", true, "seconds per enqueue slice (default 1)", "S"},
      {"rounds", true, "turns each spool takes (default 3)", "N"},
      {"callers", true, "concurrent callers of the second measurement (default 8)", "N"},
      {"normal", false, "synchronous=NORMAL instead of FULL", ""},
  });
  if (absl::Status parsed = cl.Parse(argc - 1, argv + 1); !parsed.ok()) {
    std::fprintf(stderr, "spool_scaling: %s\n%s", std::string(parsed.message()).c_str(),
                 cl.Usage().c_str());
    return 2;
  }
  std::string dir = cl.Value("dir", "");
  absl::StatusOr<long long> backlog = cl.IntValue("backlog", 1000000, 0, 100000000);
  absl::StatusOr<long long> seconds = cl.IntValue("seconds", 1, 1, 600);
  absl::StatusOr<long long> rounds = cl.IntValue("rounds", 3, 1, 100);
  absl::StatusOr<long long> callers = cl.IntValue("callers", 8, 1, 256);
  if (dir.empty() || !backlog.ok() || !seconds.ok() || !rounds.ok() || !callers.ok()) return 2;

  struct Side {
    const char* name;
    std::unique_ptr<cxsec::SqliteSpool> spool;
    int64_t next_id = 0, waiting = 0, logical = 0, db_bytes = 0;
    double open_ms = 0, done1 = 0, secs1 = 0, doneN = 0, secsN = 0;
  };
  Side sides[2] = {{"empty"}, {"backlog"}};
  for (Side& side : sides) {
    const bool full = std::string(side.name) == "backlog";
    cxsec::SqliteSpoolOptions options;
    options.path = absl::StrCat(dir, "/", side.name, ".db");
    options.sync = cl.Has("normal") ? cxsec::SpoolSync::kNormal : cxsec::SpoolSync::kFull;
    // The default cap is 1,000,000 messages: room for the backlog and the
    // measurement on top of it (a gateway needs spool_max_messages raised
    // the same way to hold a million).
    options.max_messages = *backlog * 2 + 1000000;
    options.max_bytes = 4ll << 30;
    side.next_id = full ? *backlog : 0;
    if (full) {
      {  // let the spool create its schema, then fill its table
        auto created = cxsec::SqliteSpool::Open(options);
        if (!created.ok()) return 1;
      }
      const absl::Time f0 = absl::Now();
      if (!BulkFill(options.path, *backlog)) {
        std::fprintf(stderr, "spool_scaling: bulk fill failed\n");
        return 1;
      }
      std::fprintf(stderr, "spool_scaling: filled %lld in %.1f s\n", *backlog,
                   absl::ToDoubleSeconds(absl::Now() - f0));
    }
    const absl::Time o0 = absl::Now();
    auto spool = cxsec::SqliteSpool::Open(options);
    if (!spool.ok()) {
      std::fprintf(stderr, "spool_scaling: %s\n", std::string(spool.status().message()).c_str());
      return 1;
    }
    side.open_ms = absl::ToDoubleMilliseconds(absl::Now() - o0);
    side.spool = std::move(*spool);
    side.waiting = side.spool->Count();
    side.logical = side.spool->Bytes();
    side.db_bytes = FileSize(options.path) + FileSize(options.path + "-wal");
  }
  // The disk's speed drifts with whatever else the machine does: the two
  // spools take turns, --rounds times, one --seconds slice each, and each
  // rate is the sum of its slices.
  for (long long round = 0; round < *rounds; ++round) {
    for (Side& side : sides) {
      side.done1 += EnqueueRate(*side.spool, 1, *seconds, &side.next_id) * *seconds;
      side.secs1 += *seconds;
    }
    for (Side& side : sides) {
      side.doneN += EnqueueRate(*side.spool, static_cast<int>(*callers), *seconds,
                                &side.next_id) * *seconds;
      side.secsN += *seconds;
    }
  }
  for (Side& side : sides) {
    std::printf(
        "spool=%s waiting=%lld open_ms=%.1f rate1=%.1f rateN=%.1f callers=%lld db_bytes=%lld "
        "logical_bytes=%lld rounds=%lld\n",
        side.name, static_cast<long long>(side.waiting), side.open_ms, side.done1 / side.secs1,
        side.doneN / side.secsN, *callers, static_cast<long long>(side.db_bytes),
        static_cast<long long>(side.logical), *rounds);
  }
  return 0;
}
