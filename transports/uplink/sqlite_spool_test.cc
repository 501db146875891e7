#include "transports/uplink/sqlite_spool.h"

#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sqlite3.h"

namespace cxsec {
namespace {

std::string FreshDir(absl::string_view name) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  std::string command = absl::StrCat("rm -rf '", dir, "'");
  EXPECT_EQ(std::system(command.c_str()), 0);
  EXPECT_EQ(::mkdir(dir.c_str(), 0700), 0);
  return dir;
}

VerifiedMessage Message(int id, size_t payload_size = 8) {
  VerifiedMessage m;
  m.device_id = "D0123456789abcdef";
  m.message_id = absl::StrCat(id);
  m.transport = "dtls";
  m.received_at = absl::FromUnixSeconds(1714564800 + id);
  m.payload.assign(payload_size, static_cast<uint8_t>(id));
  return m;
}

SqliteSpoolOptions Options(const std::string& dir) {
  SqliteSpoolOptions options;
  options.path = dir + "/spool.db";
  return options;
}

TEST(SqliteSpoolTest, InsertPeekRemoveKeepsOrderAndContent) {
  std::string dir = FreshDir("order");
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*spool)->Insert(Message(i)).ok());
  EXPECT_EQ((*spool)->Count(), 5);
  auto batch = (*spool)->Peek(3, 1 << 20);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 3u);
  EXPECT_EQ((*batch)[0].message.message_id, "0");
  EXPECT_EQ((*batch)[2].message.message_id, "2");
  EXPECT_EQ((*batch)[1].message.payload, Message(1).payload);
  EXPECT_EQ((*batch)[1].message.received_at, Message(1).received_at);
  EXPECT_EQ((*batch)[1].message.transport, "dtls");
  ASSERT_TRUE((*spool)->Remove({(*batch)[0].sequence, (*batch)[2].sequence}).ok());
  EXPECT_EQ((*spool)->Count(), 3);
  batch = (*spool)->Peek(10, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 3u);
  EXPECT_EQ((*batch)[0].message.message_id, "1");
  EXPECT_EQ((*batch)[1].message.message_id, "3");
}

// The uplink's loop (Peek, Remove) next to nodes' group commits: a Remove
// during a commit is deferred to a later transaction, and Peek must never
// hand out a message already removed, nor lose one. Every message comes
// out exactly once and nothing is left, also after a reopen.
TEST(SqliteSpoolTest, RemovesDuringGroupCommitsNeverResendOrLose) {
  std::string dir = FreshDir("remove_during_commit");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 150;
  {
    auto spool = SqliteSpool::Open(Options(dir));
    ASSERT_TRUE(spool.ok()) << spool.status();
    std::atomic<int> running{kThreads};
    std::vector<std::thread> inserters;
    for (int t = 0; t < kThreads; ++t) {
      inserters.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          EXPECT_TRUE((*spool)->Insert(Message(t * kPerThread + i)).ok());
        }
        --running;
      });
    }
    // By message id: SQLite reuses a deleted sequence number once the
    // table's last row is gone.
    std::set<std::string> delivered;
    while (true) {
      bool inserting = running.load() > 0;
      auto batch = (*spool)->Peek(16, 1 << 20);
      ASSERT_TRUE(batch.ok()) << batch.status();
      if (batch->empty() && !inserting) break;
      std::vector<int64_t> sequences;
      for (const SpooledMessage& row : *batch) {
        EXPECT_TRUE(delivered.insert(row.message.message_id).second)
            << "message " << row.message.message_id
            << " peeked again after its Remove";
        sequences.push_back(row.sequence);
      }
      ASSERT_TRUE((*spool)->Remove(sequences).ok());
    }
    for (std::thread& t : inserters) t.join();
    EXPECT_EQ(delivered.size(), static_cast<size_t>(kThreads * kPerThread));
    EXPECT_EQ((*spool)->Count(), 0);
  }
  auto reopened = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->Count(), 0);
  auto rest = (*reopened)->Peek(10, 1 << 20);
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(rest->empty());
}

// CountOnDisk runs a COUNT query on the spool's file through a connection
// of its own, i.e. sees what a crash would leave behind; -1 on error.
int64_t CountOnDisk(const std::string& dir, const char* sql) {
  sqlite3* db = nullptr;
  int64_t rows = -1;
  if (sqlite3_open_v2((dir + "/spool.db").c_str(), &db, SQLITE_OPEN_READONLY,
                      nullptr) == SQLITE_OK) {
    sqlite3_stmt* count = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &count, nullptr) == SQLITE_OK &&
        sqlite3_step(count) == SQLITE_ROW) {
      rows = sqlite3_column_int64(count, 0);
    }
    sqlite3_finalize(count);
  }
  sqlite3_close(db);
  return rows;
}

// RowsOnDisk counts the messages table.
int64_t RowsOnDisk(const std::string& dir) {
  return CountOnDisk(dir, "SELECT COUNT(*) FROM messages");
}

// Acknowledging must not cost a transaction of its own: at
// synchronous=FULL that was a second disk write per message. The deletion
// waits for the next Insert's transaction (or for a Peek that finds
// nothing left to send), and until then the message is neither counted
// nor handed out again.
TEST(SqliteSpoolTest, RemoveRidesInTheNextInsertsTransaction) {
  std::string dir = FreshDir("remove_rides");
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*spool)->Insert(Message(i)).ok());
  auto first = (*spool)->Peek(1, 1 << 20);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  ASSERT_TRUE((*spool)->Remove({(*first)[0].sequence}).ok());

  EXPECT_EQ(RowsOnDisk(dir), 3) << "Remove wrote a transaction of its own";
  EXPECT_EQ((*spool)->Count(), 2);
  auto rest = (*spool)->Peek(10, 1 << 20);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].message.message_id, "1");

  ASSERT_TRUE((*spool)->Insert(Message(3)).ok());
  EXPECT_EQ(RowsOnDisk(dir), 3);  // 3 - the removed one + the new one
  EXPECT_EQ((*spool)->Count(), 3);

  std::vector<int64_t> all;
  auto everything = (*spool)->Peek(10, 1 << 20);
  ASSERT_TRUE(everything.ok());
  for (const SpooledMessage& row : *everything) all.push_back(row.sequence);
  ASSERT_TRUE((*spool)->Remove(all).ok());
  EXPECT_EQ(RowsOnDisk(dir), 3);
  // The nodes are quiet: the Peek that finds nothing runs the deletion.
  auto none = (*spool)->Peek(10, 1 << 20);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(RowsOnDisk(dir), 0);
  EXPECT_EQ((*spool)->Count(), 0);
  EXPECT_EQ((*spool)->Bytes(), 0);
}

// An acknowledgement makes room at once, also by bytes, although its
// deletion is only queued: the Insert that finds the spool full runs it
// first.
TEST(SqliteSpoolTest, QueuedRemovalsMakeRoomForTheNextInsert) {
  std::string dir = FreshDir("full_then_room");
  SqliteSpoolOptions options = Options(dir);
  options.max_bytes = 1000;
  auto spool = SqliteSpool::Open(options);
  ASSERT_TRUE(spool.ok()) << spool.status();
  ASSERT_TRUE((*spool)->Insert(Message(0, 600)).ok());
  EXPECT_EQ((*spool)->Insert(Message(1, 600)).code(),
            absl::StatusCode::kResourceExhausted);
  auto batch = (*spool)->Peek(1, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ASSERT_TRUE((*spool)->Remove({(*batch)[0].sequence}).ok());
  EXPECT_EQ(RowsOnDisk(dir), 1);
  EXPECT_TRUE((*spool)->Insert(Message(1, 600)).ok()) << "room after an ack";
  EXPECT_EQ(RowsOnDisk(dir), 1);
  EXPECT_EQ((*spool)->Count(), 1);
  EXPECT_EQ((*spool)->Bytes(), 600 + 17 + 1 + 4);
}

TEST(SqliteSpoolTest, ReopenKeepsEverythingNotRemoved) {
  std::string dir = FreshDir("reopen");
  {
    auto spool = SqliteSpool::Open(Options(dir));
    ASSERT_TRUE(spool.ok()) << spool.status();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*spool)->Insert(Message(i)).ok());
    auto batch = (*spool)->Peek(4, 1 << 20);
    ASSERT_TRUE(batch.ok());
    std::vector<int64_t> sequences;
    for (const auto& row : *batch) sequences.push_back(row.sequence);
    ASSERT_TRUE((*spool)->Remove(sequences).ok());
  }
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  EXPECT_EQ((*spool)->Count(), 6);
  EXPECT_EQ((*spool)->Bytes(), 6 * (8 + 17 + 1 + 4));
  auto batch = (*spool)->Peek(100, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 6u);
  EXPECT_EQ((*batch)[0].message.message_id, "4");
}

TEST(SqliteSpoolTest, DatabaseIsInWalModeAndPrivate) {
  std::string dir = FreshDir("wal");
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  ASSERT_TRUE((*spool)->Insert(Message(1)).ok());
  struct stat st;
  ASSERT_EQ(::stat((dir + "/spool.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir + "/spool.db-wal").c_str(), &st), 0)
      << "no WAL file: the spool is not in WAL mode";
  EXPECT_EQ(st.st_mode & 077, 0u);
}

TEST(SqliteSpoolTest, DuplicateMessageIdIsStoredOnce) {
  std::string dir = FreshDir("duplicate");
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok());
  ASSERT_TRUE((*spool)->Insert(Message(7)).ok());
  ASSERT_TRUE((*spool)->Insert(Message(7)).ok());
  EXPECT_EQ((*spool)->Count(), 1);
  auto batch = (*spool)->Peek(10, 1 << 20);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->size(), 1u);
}

// IndexesOnMessages counts the indexes SQLite keeps on the messages table
// (a UNIQUE constraint is one, named sqlite_autoindex_messages_1).
int64_t IndexesOnMessages(const std::string& dir) {
  return CountOnDisk(dir,
                     "SELECT COUNT(*) FROM sqlite_master WHERE type = "
                     "'index' AND tbl_name = 'messages'");
}

// Why: with a backlog, an index on (device_id, message_id) put every new
// row on an index page of its own, a 4 KiB WAL frame to write and fsync
// per message (issue 20 item 8). Uniqueness is kept in memory instead.
TEST(SqliteSpoolTest, MessagesTableHasNoIndexPerMessage) {
  std::string dir = FreshDir("no_index");
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  ASSERT_TRUE((*spool)->Insert(Message(1)).ok());
  EXPECT_EQ(IndexesOnMessages(dir), 0);
}

// CreateOldSpool writes a spool as earlier versions did: UNIQUE (device_id,
// message_id) in the messages table, with `rows` messages in it.
void CreateOldSpool(const std::string& dir, int rows) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/spool.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(::chmod((dir + "/spool.db").c_str(), 0600), 0);
  std::string sql =
      "PRAGMA journal_mode=WAL; CREATE TABLE messages (seq INTEGER PRIMARY "
      "KEY, device_id TEXT NOT NULL, message_id TEXT NOT NULL, transport "
      "TEXT NOT NULL, received_at_us INTEGER NOT NULL, payload BLOB NOT "
      "NULL, size INTEGER NOT NULL, UNIQUE (device_id, message_id));";
  for (int i = 0; i < rows; ++i) {
    absl::StrAppend(&sql,
                    "INSERT INTO messages (device_id, message_id, transport, "
                    "received_at_us, payload, size) VALUES "
                    "('D0123456789abcdef', '",
                    i, "', 'dtls', 0, x'00', 23);");
  }
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
}

TEST(SqliteSpoolTest, AnEmptySpoolOfTheOldFormatLosesItsIndex) {
  std::string dir = FreshDir("old_empty");
  CreateOldSpool(dir, 0);
  ASSERT_EQ(IndexesOnMessages(dir), 1);
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  EXPECT_EQ(IndexesOnMessages(dir), 0);
  ASSERT_TRUE((*spool)->Insert(Message(1)).ok());
  ASSERT_TRUE((*spool)->Insert(Message(1)).ok());
  EXPECT_EQ(RowsOnDisk(dir), 1);
}

// A spool of the old format with messages waiting keeps its table (and
// index) until drained, and its waiting messages are still known: a
// node's retry of one of them is not stored twice.
TEST(SqliteSpoolTest, AnOldSpoolWithMessagesKeepsThemAndTheirKeys) {
  std::string dir = FreshDir("old_rows");
  CreateOldSpool(dir, 3);
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  EXPECT_EQ(IndexesOnMessages(dir), 1);
  EXPECT_EQ((*spool)->Count(), 3);
  ASSERT_TRUE((*spool)->Insert(Message(2)).ok());
  ASSERT_TRUE((*spool)->Insert(Message(3)).ok());
  EXPECT_EQ(RowsOnDisk(dir), 4);
  EXPECT_EQ((*spool)->Count(), 4);
}

// The key set is rebuilt from the table when the spool opens: after a
// restart a node's retry of a waiting message is still a duplicate.
TEST(SqliteSpoolTest, RetryAfterReopenIsStoredOnce) {
  std::string dir = FreshDir("retry_reopen");
  {
    auto spool = SqliteSpool::Open(Options(dir));
    ASSERT_TRUE(spool.ok()) << spool.status();
    ASSERT_TRUE((*spool)->Insert(Message(7)).ok());
  }
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  ASSERT_TRUE((*spool)->Insert(Message(7)).ok());
  EXPECT_EQ(RowsOnDisk(dir), 1);
  EXPECT_EQ((*spool)->Count(), 1);
}

// A message leaves the key set with its row: once the verifier has it and
// its deletion ran, or once it was set aside, the same ids are a new
// message for the spool (the verifier answers "duplicate" if it is one).
TEST(SqliteSpoolTest, RemovedOrSetAsideMessagesCanBeSpooledAgain) {
  std::string dir = FreshDir("key_leaves");
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  ASSERT_TRUE((*spool)->Insert(Message(1)).ok());
  ASSERT_TRUE((*spool)->Insert(Message(2)).ok());
  auto batch = (*spool)->Peek(2, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 2u);
  ASSERT_TRUE((*spool)->Remove({(*batch)[0].sequence}).ok());
  ASSERT_TRUE((*spool)->SetAside({(*batch)[1].sequence}, "conflict").ok());
  // Message 1's deletion is still queued: a retry of it is held already.
  ASSERT_TRUE((*spool)->Insert(Message(1)).ok());
  EXPECT_EQ((*spool)->Count(), 0);
  auto none = (*spool)->Peek(10, 1 << 20);  // runs the queued deletion
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(RowsOnDisk(dir), 0);

  ASSERT_TRUE((*spool)->Insert(Message(1)).ok());
  ASSERT_TRUE((*spool)->Insert(Message(2)).ok());
  EXPECT_EQ(RowsOnDisk(dir), 2);
  EXPECT_EQ((*spool)->Count(), 2);
}

// A message whose commit failed is not held: its retry must be written,
// not answered as a duplicate of nothing.
TEST(SqliteSpoolTest, AFailedCommitDoesNotMarkItsMessageSpooled) {
  std::string dir = FreshDir("failed_commit_key");
  SqliteSpoolOptions options = Options(dir);
  options.max_bytes = 1ll << 30;
  options.max_file_bytes = 64 << 10;  // SQLITE_FULL after a few messages
  auto spool = SqliteSpool::Open(options);
  ASSERT_TRUE(spool.ok()) << spool.status();
  int refused = -1;
  for (int i = 0; i < 200 && refused < 0; ++i) {
    absl::Status status = (*spool)->Insert(Message(i, 4000));
    if (!status.ok()) {
      ASSERT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
      refused = i;
    }
  }
  ASSERT_GE(refused, 1);
  // Make room: everything is acknowledged, and the Peek that finds
  // nothing left runs the deletion.
  auto batch = (*spool)->Peek(1000, 1 << 30);
  ASSERT_TRUE(batch.ok()) << batch.status();
  std::vector<int64_t> all;
  for (const SpooledMessage& row : *batch) all.push_back(row.sequence);
  ASSERT_TRUE((*spool)->Remove(all).ok());
  ASSERT_TRUE((*spool)->Peek(10, 1 << 30).ok());
  ASSERT_EQ(RowsOnDisk(dir), 0);

  ASSERT_TRUE((*spool)->Insert(Message(refused, 4000)).ok());
  EXPECT_EQ(RowsOnDisk(dir), 1) << "the retry was taken for a duplicate";
  EXPECT_EQ((*spool)->Count(), 1);
}

// A deletion that rides in a group commit forgets its message's key too.
TEST(SqliteSpoolTest, ARemovalInAGroupCommitForgetsItsKey) {
  std::string dir = FreshDir("ride_forgets");
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  ASSERT_TRUE((*spool)->Insert(Message(1)).ok());
  auto batch = (*spool)->Peek(1, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 1u);
  ASSERT_TRUE((*spool)->Remove({(*batch)[0].sequence}).ok());
  ASSERT_TRUE((*spool)->Insert(Message(2)).ok());  // carries the deletion
  ASSERT_EQ(RowsOnDisk(dir), 1);
  ASSERT_TRUE((*spool)->Insert(Message(1)).ok());
  EXPECT_EQ(RowsOnDisk(dir), 2);
  EXPECT_EQ((*spool)->Count(), 2);
}

// Why: the queue numbers its messages from 1 again whenever it empties,
// and dead letters used to take the queue's number with INSERT OR
// REPLACE, so a later dead letter replaced an earlier one.
TEST(SqliteSpoolTest, DeadLettersOfAQueueThatEmptiedInBetweenAreAllKept) {
  std::string dir = FreshDir("dead_letters_kept");
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  for (int i = 1; i <= 2; ++i) {
    ASSERT_TRUE((*spool)->Insert(Message(i)).ok());
    auto batch = (*spool)->Peek(1, 1 << 20);
    ASSERT_TRUE(batch.ok());
    ASSERT_EQ(batch->size(), 1u);
    ASSERT_TRUE((*spool)->SetAside({(*batch)[0].sequence}, "conflict").ok());
    ASSERT_EQ(RowsOnDisk(dir), 0);
  }
  auto count = (*spool)->DeadLetterCount();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 2);
  auto letters = (*spool)->DeadLetters(10);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 2u);
  EXPECT_EQ((*letters)[0].spooled.message.message_id, "1");
  EXPECT_EQ((*letters)[1].spooled.message.message_id, "2");
}

// Retries of one message arriving at once (one group commit, or several)
// are stored once, and every caller is answered OK.
TEST(SqliteSpoolTest, ConcurrentRetriesOfOneMessageAreStoredOnce) {
  std::string dir = FreshDir("concurrent_retries");
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok()) << spool.status();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!(*spool)->Insert(Message(i)).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(RowsOnDisk(dir), 50);
  EXPECT_EQ((*spool)->Count(), 50);
}

TEST(SqliteSpoolTest, FullByCountIsResourceExhaustedNotADrop) {
  std::string dir = FreshDir("full_count");
  SqliteSpoolOptions options = Options(dir);
  options.max_messages = 3;
  auto spool = SqliteSpool::Open(options);
  ASSERT_TRUE(spool.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*spool)->Insert(Message(i)).ok());
  absl::Status full = (*spool)->Insert(Message(3));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_NE(full.message().find("spool full"), std::string::npos);
  auto batch = (*spool)->Peek(10, 1 << 20);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 3u);
  ASSERT_TRUE((*spool)->Remove({(*batch)[0].sequence}).ok());
  EXPECT_TRUE((*spool)->Insert(Message(3)).ok()) << "room after an ack";
}

TEST(SqliteSpoolTest, FullByBytesIsResourceExhausted) {
  std::string dir = FreshDir("full_bytes");
  SqliteSpoolOptions options = Options(dir);
  options.max_bytes = 1000;
  auto spool = SqliteSpool::Open(options);
  ASSERT_TRUE(spool.ok());
  ASSERT_TRUE((*spool)->Insert(Message(1, 600)).ok());
  EXPECT_EQ((*spool)->Insert(Message(2, 600)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE((*spool)->Insert(Message(3, 100)).ok());
}

// The file-size cap makes SQLite itself report SQLITE_FULL, exactly as a
// full disk does; the spool must turn that into ResourceExhausted and keep
// what it already had.
TEST(SqliteSpoolTest, SqliteFullIsResourceExhausted) {
  std::string dir = FreshDir("sqlite_full");
  SqliteSpoolOptions options = Options(dir);
  options.max_bytes = 1ll << 30;  // the logical limit is not what stops it
  options.max_file_bytes = 64 << 10;
  auto spool = SqliteSpool::Open(options);
  ASSERT_TRUE(spool.ok()) << spool.status();
  int stored = 0;
  absl::Status status;
  for (int i = 0; i < 200 && status.ok(); ++i) {
    status = (*spool)->Insert(Message(i, 4000));
    if (status.ok()) ++stored;
  }
  ASSERT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("full"), std::string::npos) << status;
  EXPECT_GT(stored, 0);
  EXPECT_EQ((*spool)->Count(), stored);
  auto batch = (*spool)->Peek(1000, 1 << 30);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(static_cast<int>(batch->size()), stored);
}

TEST(SqliteSpoolTest, ConcurrentInsertsAreAllStored) {
  std::string dir = FreshDir("concurrent");
  SqliteSpoolOptions options = Options(dir);
  options.sync = SpoolSync::kNormal;
  auto spool = SqliteSpool::Open(options);
  ASSERT_TRUE(spool.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        EXPECT_TRUE((*spool)->Insert(Message(t * 1000 + i)).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ((*spool)->Count(), 400);
  auto batch = (*spool)->Peek(1000, 1 << 30);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->size(), 400u);
}

TEST(SqliteSpoolTest, RefusesADirectoryOthersCanAccess) {
  std::string dir = FreshDir("open_dir");
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_FALSE(spool.ok());
  EXPECT_NE(spool.status().message().find("0755"), std::string::npos)
      << spool.status();
}

TEST(SqliteSpoolTest, RejectsOversizedAndAnonymousMessages) {
  std::string dir = FreshDir("bad_messages");
  auto spool = SqliteSpool::Open(Options(dir));
  ASSERT_TRUE(spool.ok());
  EXPECT_EQ((*spool)->Insert(Message(1, 17 << 10)).code(),
            absl::StatusCode::kInvalidArgument);
  VerifiedMessage anonymous = Message(2);
  anonymous.message_id.clear();
  EXPECT_EQ((*spool)->Insert(anonymous).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*spool)->Count(), 0);
}

}  // namespace
}  // namespace cxsec
