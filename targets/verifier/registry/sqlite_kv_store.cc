#include "targets/verifier/registry/sqlite_kv_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace cxsec::verifier {

absl::Status SqliteKvStore::Error(absl::string_view what) const {
  return absl::InternalError(
      absl::StrCat(path_, ": ", what, ": ", sqlite3_errmsg(db_)));
}

absl::StatusOr<std::unique_ptr<SqliteKvStore>> SqliteKvStore::Open(
    const std::string& path) {
  // The registry holds API key hashes and the audit log: private file.
  mode_t old_mask = umask(077);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  umask(old_mask);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot open SQLite database: ", message));
  }
  std::unique_ptr<SqliteKvStore> store(new SqliteKvStore(db, path));
  struct stat opened;
  if (stat(path.c_str(), &opened) != 0) {
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot stat the SQLite database just opened"));
  }
  store->file_device_ = opened.st_dev;
  store->file_inode_ = opened.st_ino;
  sqlite3_busy_timeout(db, 5000);
  // WAL lets readers run during a write; synchronous=FULL makes every
  // committed registry change (e.g. a key revocation) survive power loss.
  const char* setup =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL) "
      "WITHOUT ROWID;";
  if (sqlite3_exec(db, setup, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return store->Error("cannot initialise");
  }
  return store;
}

SqliteKvStore::~SqliteKvStore() {
  // Readers first: the last connection to close checkpoints the WAL and
  // removes it, which a reader still open would prevent.
  idle_readers_.clear();
  sqlite3_close(db_);
}

SqliteKvStore::Reader::~Reader() {
  sqlite3_finalize(get);
  sqlite3_close(db);
}

absl::Status SqliteKvStore::ReaderError(const Reader& reader,
                                        absl::string_view what) const {
  return absl::InternalError(
      absl::StrCat(path_, ": ", what, ": ", sqlite3_errmsg(reader.db)));
}

absl::StatusOr<std::unique_ptr<SqliteKvStore::Reader>>
SqliteKvStore::TakeReader() {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (!idle_readers_.empty()) {
      std::unique_ptr<Reader> reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return reader;
    }
  }
  // Readers open the file by its path. Should it have been replaced (a
  // restore by rename) or removed while the store is open, a new reader
  // would read another file than the writer writes, and the two would
  // share WAL file names: refuse instead.
  struct stat now;
  if (stat(path_.c_str(), &now) != 0 || now.st_dev != file_device_ ||
      now.st_ino != file_inode_) {
    return absl::UnavailableError(absl::StrCat(
        path_, ": the registry database was replaced or removed while the "
               "verifier runs; restart the verifier"));
  }
  auto reader = std::make_unique<Reader>();
  // Each reader is used by one thread at a time (the pool hands it out),
  // so SQLite's own per-connection mutex is not needed.
  if (sqlite3_open_v2(path_.c_str(), &reader->db,
                      SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    if (reader->db == nullptr) {
      return absl::UnavailableError(
          absl::StrCat(path_, ": cannot open a reader: out of memory"));
    }
    return ReaderError(*reader, "cannot open a reader");
  }
  sqlite3_busy_timeout(reader->db, 5000);
  if (sqlite3_prepare_v3(reader->db, "SELECT v FROM kv WHERE k = ?1", -1,
                         SQLITE_PREPARE_PERSISTENT, &reader->get,
                         nullptr) != SQLITE_OK) {
    return ReaderError(*reader, "prepare get");
  }
  return reader;
}

void SqliteKvStore::ReturnReader(std::unique_ptr<Reader> reader) {
  std::lock_guard<std::mutex> lock(readers_mu_);
  idle_readers_.push_back(std::move(reader));
}

absl::StatusOr<std::optional<std::string>> SqliteKvStore::Get(
    absl::string_view key) {
  absl::StatusOr<std::unique_ptr<Reader>> taken = TakeReader();
  if (!taken.ok()) return taken.status();
  std::unique_ptr<Reader> reader = *std::move(taken);
  sqlite3_stmt* stmt = reader->get;
  sqlite3_bind_text(stmt, 1, key.data(), static_cast<int>(key.size()),
                    SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  absl::StatusOr<std::optional<std::string>> result;
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    int size = sqlite3_column_bytes(stmt, 0);
    result = std::optional<std::string>(std::string(
        reinterpret_cast<const char*>(text), static_cast<size_t>(size)));
  } else if (rc == SQLITE_DONE) {
    result = std::optional<std::string>();
  } else {
    result = ReaderError(*reader, "get");
  }
  // Ends the read transaction, so the reader holds no snapshot (and no
  // WAL frames back from a checkpoint) between lookups.
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  // A reader that failed for any reason but a lock held elsewhere (I/O
  // error, corruption) is closed, not kept: the next read opens afresh.
  int primary = rc & 0xff;
  if (rc == SQLITE_ROW || rc == SQLITE_DONE || primary == SQLITE_BUSY ||
      primary == SQLITE_LOCKED) {
    ReturnReader(std::move(reader));
  }
  return result;
}

absl::Status SqliteKvStore::Put(absl::string_view key, absl::string_view value) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)",
                         -1, &stmt, nullptr) != SQLITE_OK) {
    return Error("prepare put");
  }
  absl::Cleanup finalize = [stmt] { sqlite3_finalize(stmt); };
  sqlite3_bind_text(stmt, 1, key.data(), static_cast<int>(key.size()),
                    SQLITE_TRANSIENT);
  sqlite3_bind_text(stmt, 2, value.data(), static_cast<int>(value.size()),
                    SQLITE_TRANSIENT);
  if (sqlite3_step(stmt) != SQLITE_DONE) return Error("put");
  return absl::OkStatus();
}

absl::StatusOr<KvRead> SqliteKvStore::GetForUpdate(absl::string_view key) {
  absl::StatusOr<std::optional<std::string>> value = Get(key);
  if (!value.ok()) return value.status();
  KvRead read;
  read.value = *std::move(value);
  return read;
}

absl::StatusOr<bool> SqliteKvStore::PutIfUnchanged(absl::string_view key,
                                                   absl::string_view value,
                                                   const KvRead& read) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_stmt* stmt = nullptr;
  const char* sql = read.value.has_value()
                        ? "UPDATE kv SET v = ?2 WHERE k = ?1 AND v = ?3"
                        : "INSERT OR IGNORE INTO kv (k, v) VALUES (?1, ?2)";
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    return Error("prepare conditional put");
  }
  absl::Cleanup finalize = [stmt] { sqlite3_finalize(stmt); };
  sqlite3_bind_text(stmt, 1, key.data(), static_cast<int>(key.size()),
                    SQLITE_TRANSIENT);
  sqlite3_bind_text(stmt, 2, value.data(), static_cast<int>(value.size()),
                    SQLITE_TRANSIENT);
  if (read.value.has_value()) {
    sqlite3_bind_text(stmt, 3, read.value->data(),
                      static_cast<int>(read.value->size()), SQLITE_TRANSIENT);
  }
  if (sqlite3_step(stmt) != SQLITE_DONE) return Error("conditional put");
  return sqlite3_changes(db_) > 0;
}

absl::StatusOr<bool> SqliteKvStore::Delete(absl::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "DELETE FROM kv WHERE k = ?1", -1, &stmt,
                         nullptr) != SQLITE_OK) {
    return Error("prepare delete");
  }
  absl::Cleanup finalize = [stmt] { sqlite3_finalize(stmt); };
  sqlite3_bind_text(stmt, 1, key.data(), static_cast<int>(key.size()),
                    SQLITE_TRANSIENT);
  if (sqlite3_step(stmt) != SQLITE_DONE) return Error("delete");
  return sqlite3_changes(db_) > 0;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
SqliteKvStore::ListPage(absl::string_view prefix, absl::string_view after,
                        KvOrder order, size_t limit) {
  // Keys compare as bytes (the column's BINARY collation), so the keys
  // starting with `prefix` are the range [prefix, successor), and a cursor
  // tightens one end. Each bound is a plain comparison on the primary key,
  // so a page reads only its own rows, in either direction.
  std::string lower(prefix);
  bool lower_exclusive = false;
  std::optional<std::string> upper = PrefixSuccessor(prefix);
  if (!after.empty()) {
    if (order == KvOrder::kAscending && after >= lower) {
      lower = std::string(after);
      lower_exclusive = true;
    } else if (order == KvOrder::kDescending && (!upper || after < *upper)) {
      upper = std::string(after);
    }
  }
  std::string sql = absl::StrCat(
      "SELECT k, v FROM kv WHERE k ", lower_exclusive ? ">" : ">=", " ?1",
      upper.has_value() ? " AND k < ?2" : "", " ORDER BY k ",
      order == KvOrder::kAscending ? "ASC" : "DESC", " LIMIT ?3");
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    return Error("prepare list");
  }
  absl::Cleanup finalize = [stmt] { sqlite3_finalize(stmt); };
  sqlite3_bind_text(stmt, 1, lower.data(), static_cast<int>(lower.size()),
                    SQLITE_TRANSIENT);
  if (upper.has_value()) {
    sqlite3_bind_text(stmt, 2, upper->data(), static_cast<int>(upper->size()),
                      SQLITE_TRANSIENT);
  }
  sqlite3_bind_int64(
      stmt, 3, static_cast<sqlite3_int64>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<std::pair<std::string, std::string>> out;
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error("list");
    out.emplace_back(
        std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)),
                    static_cast<size_t>(sqlite3_column_bytes(stmt, 0))),
        std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)),
                    static_cast<size_t>(sqlite3_column_bytes(stmt, 1))));
  }
  return out;
}

}  // namespace cxsec::verifier
