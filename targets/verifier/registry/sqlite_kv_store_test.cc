// SqliteKvStore's reads go through a pool of read-only connections while
// writes use one writing connection: a write must be visible to the very
// next read on any thread, readers must not pin the WAL (a checkpoint
// after reads empties it), and several threads read at once.
#include "targets/verifier/registry/sqlite_kv_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cxsec::verifier {
namespace {

std::string DbPath() {
  return absl::StrCat(
      std::getenv("TEST_TMPDIR"), "/",
      ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".db");
}

TEST(SqliteKvStoreTest, EveryThreadReadsTheLatestWrite) {
  auto store = SqliteKvStore::Open(DbPath());
  ASSERT_TRUE(store.ok()) << store.status();
  constexpr int kThreads = 4, kRounds = 300;
  std::atomic<int> stale{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string key = absl::StrCat("k/", t);
      for (int i = 0; i < kRounds; ++i) {
        std::string value = absl::StrCat(t, ":", i);
        if (!(*store)->Put(key, value).ok()) ++failed;
        auto read = (*store)->Get(key);
        if (!read.ok()) {
          ++failed;
        } else if (!read->has_value() || **read != value) {
          ++stale;
        }
      }
      auto deleted = (*store)->Delete(key);
      if (!deleted.ok() || !*deleted) ++failed;
      auto gone = (*store)->Get(key);
      if (!gone.ok() || gone->has_value()) ++stale;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(stale.load(), 0);
}

TEST(SqliteKvStoreTest, ReadersHoldNoSnapshotBetweenLookups) {
  std::string path = DbPath();
  auto store = SqliteKvStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE((*store)->Put(absl::StrCat("k/", i), std::string(500, 'x')).ok());
    auto read = (*store)->Get(absl::StrCat("k/", i));
    ASSERT_TRUE(read.ok() && read->has_value());
  }
  // A reader that kept its read transaction open would keep the WAL from
  // being reset: TRUNCATE would then report the checkpoint busy.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  // The connection learns that the database is in WAL mode on its first read.
  ASSERT_EQ(sqlite3_exec(other, "SELECT count(*) FROM kv", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  int log_frames = -1, checkpointed = -1;
  EXPECT_EQ(sqlite3_wal_checkpoint_v2(other, nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                      &log_frames, &checkpointed),
            SQLITE_OK)
      << sqlite3_errmsg(other);
  sqlite3_close(other);
  struct stat wal;
  ASSERT_EQ(stat((path + "-wal").c_str(), &wal), 0);
  EXPECT_EQ(wal.st_size, 0) << log_frames << " " << checkpointed;
}

TEST(SqliteKvStoreTest, AChangeByAnotherConnectionIsSeenAtOnce) {
  std::string path = DbPath();
  auto store = SqliteKvStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Put("k", "before").ok());
  ASSERT_EQ(*(*store)->Get("k").value(), "before");  // a reader now exists
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "UPDATE kv SET v = 'after' WHERE k = 'k'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(other);
  auto read = (*store)->Get("k");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(**read, "after");
}

TEST(SqliteKvStoreTest, ADatabaseReplacedUnderTheStoreIsRefusedNotRead) {
  std::string path = DbPath();
  auto store = SqliteKvStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Put("k", "mine").ok());
  // Another registry file moved over this one (a restore by rename).
  std::string other_path = path + ".other";
  {
    auto other = SqliteKvStore::Open(other_path);
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_TRUE((*other)->Put("k", "theirs").ok());
  }
  ASSERT_EQ(std::rename(other_path.c_str(), path.c_str()), 0);
  auto read = (*store)->Get("k");
  ASSERT_FALSE(read.ok()) << "read " << read->value_or("nothing");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(read.status().message().find("replaced or removed"),
            std::string::npos)
      << read.status();
}

}  // namespace
}  // namespace cxsec::verifier
