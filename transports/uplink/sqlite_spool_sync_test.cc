// Unit test (host): what SqliteSpool asks of the disk. A counting SQLite VFS
// wraps the default one and counts syncs of the write-ahead log, so the
// durability promise is checked directly: every Insert at SpoolSync::kFull
// is fsync'd before it returns, also when it carries a Remove's queued
// deletion, and neither a Remove nor the deletion a quiet Peek runs syncs.
// The VFS can also hold a WAL sync, to show that Peek does not wait for a
// commit's fsync.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sqlite3.h"
#include "transports/uplink/sqlite_spool.h"

namespace cxsec {
namespace {

std::atomic<int> wal_syncs{0};
sqlite3_vfs* real_vfs = nullptr;

// CountingFile: the wrapper's file; the real file's memory follows it.
struct CountingFile {
  sqlite3_file base;
  sqlite3_file* real;
  bool wal;
};

sqlite3_file* Real(sqlite3_file* f) {
  return reinterpret_cast<CountingFile*>(f)->real;
}

int Close(sqlite3_file* f) { return Real(f)->pMethods->xClose(Real(f)); }
int Read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
  return Real(f)->pMethods->xRead(Real(f), b, n, o);
}
int Write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  return Real(f)->pMethods->xWrite(Real(f), b, n, o);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
// While `hold_wal_syncs` is set, a WAL sync waits for it to be cleared.
std::mutex hold_mutex;
std::condition_variable hold_changed;
bool hold_wal_syncs = false;  // guarded by hold_mutex
int held_syncs = 0;           // guarded by hold_mutex

int Sync(sqlite3_file* f, int flags) {
  if (reinterpret_cast<CountingFile*>(f)->wal) {
    ++wal_syncs;
    std::unique_lock<std::mutex> lock(hold_mutex);
    if (hold_wal_syncs) {
      ++held_syncs;
      hold_changed.notify_all();
      hold_changed.wait(lock, [] { return !hold_wal_syncs; });
    }
  }
  return Real(f)->pMethods->xSync(Real(f), flags);
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int Lock(sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); }
int Unlock(sqlite3_file* f, int l) {
  return Real(f)->pMethods->xUnlock(Real(f), l);
}
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) {
  return Real(f)->pMethods->xSectorSize(Real(f));
}
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShmMap(sqlite3_file* f, int page, int size, int extend,
           void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), page, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int remove) {
  return Real(f)->pMethods->xShmUnmap(Real(f), remove);
}

// No xFetch/xUnfetch (version 2): SQLite then reads without mmap.
const sqlite3_io_methods kCountingMethods = {
    2,        Close,       Read,    Write,     Truncate,
    Sync,     FileSize,    Lock,    Unlock,    CheckReservedLock,
    FileControl, SectorSize, DeviceCharacteristics, ShmMap, ShmLock,
    ShmBarrier, ShmUnmap,  nullptr, nullptr};

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags,
         int* out_flags) {
  CountingFile* counting = reinterpret_cast<CountingFile*>(file);
  counting->real = reinterpret_cast<sqlite3_file*>(counting + 1);
  counting->wal = (flags & SQLITE_OPEN_WAL) != 0;
  int code = real_vfs->xOpen(real_vfs, name, counting->real, flags, out_flags);
  counting->base.pMethods =
      counting->real->pMethods != nullptr ? &kCountingMethods : nullptr;
  return code;
}

sqlite3_vfs counting_vfs;

void RegisterCountingVfs() {
  if (real_vfs != nullptr) return;
  real_vfs = sqlite3_vfs_find(nullptr);
  counting_vfs = *real_vfs;
  counting_vfs.zName = "cxsec-counting";
  counting_vfs.szOsFile =
      static_cast<int>(sizeof(CountingFile)) + real_vfs->szOsFile;
  counting_vfs.xOpen = Open;
  ASSERT_EQ(sqlite3_vfs_register(&counting_vfs, /*makeDflt=*/1), SQLITE_OK);
}

std::string FreshDir(absl::string_view name) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  std::string command = absl::StrCat("rm -rf '", dir, "'");
  EXPECT_EQ(std::system(command.c_str()), 0);
  EXPECT_EQ(::mkdir(dir.c_str(), 0700), 0);
  return dir;
}

VerifiedMessage Message(int id) {
  VerifiedMessage m;
  m.device_id = "D0123456789abcdef";
  m.message_id = absl::StrCat(id);
  m.transport = "dtls";
  m.received_at = absl::FromUnixSeconds(1714564800 + id);
  m.payload.assign(48, static_cast<uint8_t>(id));
  return m;
}

// OpenCounted opens a spool in a fresh directory through the counting VFS.
absl::StatusOr<std::unique_ptr<SqliteSpool>> OpenCounted(absl::string_view name,
                                                         SpoolSync sync) {
  RegisterCountingVfs();
  SqliteSpoolOptions options;
  options.path = FreshDir(name) + "/spool.db";
  options.sync = sync;
  return SqliteSpool::Open(options);
}

TEST(SqliteSpoolSyncTest, EveryInsertIsSyncedAndAnAcknowledgementIsNot) {
  auto spool = OpenCounted("sync_full", SpoolSync::kFull);
  ASSERT_TRUE(spool.ok()) << spool.status();
  for (int i = 0; i < 20; ++i) {
    int before = wal_syncs.load();
    ASSERT_TRUE((*spool)->Insert(Message(i)).ok());
    EXPECT_GE(wal_syncs.load() - before, 1) << "insert " << i << " not synced";
    auto batch = (*spool)->Peek(1, 1 << 20);
    ASSERT_TRUE(batch.ok() && batch->size() == 1u);
    before = wal_syncs.load();
    ASSERT_TRUE((*spool)->Remove({(*batch)[0].sequence}).ok());
    EXPECT_EQ(wal_syncs.load() - before, 0) << "remove " << i << " synced";
  }
  EXPECT_EQ((*spool)->Count(), 0);
  // The last deletion is still queued; the Peek that finds nothing left
  // runs it, unsynced too.
  int before = wal_syncs.load();
  auto none = (*spool)->Peek(1, 1 << 20);
  ASSERT_TRUE(none.ok() && none->empty());
  EXPECT_EQ(wal_syncs.load() - before, 0) << "the quiet Peek's deletion synced";
}

// The uplink reads its next batch while the nodes' group commit waits for
// the disk: Peek must not queue behind that fsync (it did when it shared
// the writer's connection), and must not hand out the message being
// committed before its fsync is done.
TEST(SqliteSpoolSyncTest, PeekDoesNotWaitForACommitsFsync) {
  auto spool = OpenCounted("peek_during_sync", SpoolSync::kFull);
  ASSERT_TRUE(spool.ok()) << spool.status();
  ASSERT_TRUE((*spool)->Insert(Message(0)).ok());

  {
    std::lock_guard<std::mutex> lock(hold_mutex);
    hold_wal_syncs = true;
    held_syncs = 0;
  }
  auto release = [] {
    std::lock_guard<std::mutex> lock(hold_mutex);
    hold_wal_syncs = false;
    hold_changed.notify_all();
  };
  std::thread inserter([&] { EXPECT_TRUE((*spool)->Insert(Message(1)).ok()); });
  bool in_sync;
  {
    std::unique_lock<std::mutex> lock(hold_mutex);
    in_sync = hold_changed.wait_for(lock, std::chrono::seconds(10),
                                    [] { return held_syncs > 0; });
  }
  if (!in_sync) {
    release();
    inserter.join();
    FAIL() << "the Insert never reached its WAL sync";
  }

  std::mutex peek_mutex;
  std::condition_variable peek_done;
  bool peeked = false;
  absl::StatusOr<std::vector<SpooledMessage>> batch;
  std::thread peeker([&] {
    auto result = (*spool)->Peek(10, 1 << 20);
    std::lock_guard<std::mutex> lock(peek_mutex);
    batch = std::move(result);
    peeked = true;
    peek_done.notify_all();
  });
  bool finished;
  {
    std::unique_lock<std::mutex> lock(peek_mutex);
    finished = peek_done.wait_for(lock, std::chrono::seconds(10),
                                  [&] { return peeked; });
  }
  release();
  inserter.join();
  peeker.join();
  EXPECT_TRUE(finished) << "Peek waited for the commit's fsync";
  ASSERT_TRUE(batch.ok()) << batch.status();
  if (finished) {
    ASSERT_EQ(batch->size(), 1u) << "a message was handed out before its fsync";
    EXPECT_EQ((*batch)[0].message.message_id, "0");
  }
  auto both = (*spool)->Peek(10, 1 << 20);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->size(), 2u);
}

TEST(SqliteSpoolSyncTest, NormalSyncDoesNotSyncEachInsert) {
  auto spool = OpenCounted("sync_normal", SpoolSync::kNormal);
  ASSERT_TRUE(spool.ok()) << spool.status();
  int before = wal_syncs.load();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*spool)->Insert(Message(i)).ok());
  EXPECT_EQ(wal_syncs.load() - before, 0);
}

}  // namespace
}  // namespace cxsec
