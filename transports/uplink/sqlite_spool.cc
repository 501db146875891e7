#include "transports/uplink/sqlite_spool.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/crypto/primitives.h"
#include "sqlite3.h"

namespace cxsec {

struct SqliteSpool::PendingInsert {
  const VerifiedMessage* message = nullptr;
  MessageKey key{};
  int64_t size = 0;
  // false: a message earlier in the same group has this key; this one
  // shares its commit and is not written.
  bool write = true;
  bool inserted = false;  // false: was already spooled (duplicate)
  bool done = false;
  absl::Status status;
};

namespace {

// UserName: the account name of `uid`, or "" if it has none.
std::string UserName(uid_t uid) {
  struct passwd entry;
  struct passwd* found = nullptr;
  char buffer[1024];
  if (::getpwuid_r(uid, &entry, buffer, sizeof(buffer), &found) != 0 ||
      found == nullptr) {
    return "";
  }
  return found->pw_name;
}

// Describe: "'name' (uid N)", or "uid N" for an id without an account.
std::string Describe(uid_t uid) {
  std::string name = UserName(uid);
  if (name.empty()) return absl::StrFormat("uid %d", static_cast<int>(uid));
  return absl::StrFormat("'%s' (uid %d)", name, static_cast<int>(uid));
}

// CannotOpenError says why the spool file did not open and, for the usual
// case (a directory or file left to root while the gateway runs as its
// service account), the command that fixes it.
absl::Status CannotOpenError(const std::string& path, const std::string& dir,
                             const struct stat& dir_stat, int error) {
  std::string message =
      absl::StrCat("spool: cannot open ", path, ": ", std::strerror(error));
  if (error != EACCES && error != EPERM) {
    return absl::PermissionDeniedError(message);
  }
  uid_t self = ::geteuid();
  std::string user = UserName(self);
  if (user.empty()) user = absl::StrCat(self);
  struct stat file_stat;
  uid_t owner = dir_stat.st_uid;
  std::string what = absl::StrCat("the directory ", dir);
  if (owner == self && ::lstat(path.c_str(), &file_stat) == 0) {
    owner = file_stat.st_uid;
    what = "the file";
  }
  if (owner != self) {
    absl::StrAppend(&message, "; ", what, " is owned by ", Describe(owner),
                    " but the gateway runs as ", Describe(self), ": chown -R ",
                    user, ": ", dir,
                    " (the systemd unit's StateDirectory= does this)");
  }
  return absl::PermissionDeniedError(message);
}

int64_t MessageSize(const VerifiedMessage& m) {
  return static_cast<int64_t>(m.payload.size() + m.device_id.size() +
                              m.message_id.size() + m.transport.size());
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Statement: a prepared statement finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    code_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  int code() const { return code_; }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int code_ = SQLITE_OK;
};

// The messages table as this version creates it. No UNIQUE constraint:
// the spool keeps (device_id, message_id) unique itself (spooled_, see
// the header), which costs a new row no index page of its own.
constexpr char kCreateMessages[] =
    "CREATE TABLE IF NOT EXISTS messages ("
    " seq INTEGER PRIMARY KEY,"
    " device_id TEXT NOT NULL,"
    " message_id TEXT NOT NULL,"
    " transport TEXT NOT NULL,"
    " received_at_us INTEGER NOT NULL,"
    " payload BLOB NOT NULL,"
    " size INTEGER NOT NULL)";

// ColumnView: a text column of the current row, valid until the statement
// steps or resets.
absl::string_view ColumnView(sqlite3_stmt* s, int column) {
  const unsigned char* data = sqlite3_column_text(s, column);
  int length = sqlite3_column_bytes(s, column);
  if (data == nullptr || length <= 0) return absl::string_view();
  return absl::string_view(reinterpret_cast<const char*>(data),
                           static_cast<size_t>(length));
}

std::string ColumnText(sqlite3_stmt* s, int column) {
  return std::string(ColumnView(s, column));
}

}  // namespace

SqliteSpool::MessageKey SqliteSpool::KeyOf(absl::string_view device_id,
                                           absl::string_view message_id) {
  // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
  std::string input;
  input.reserve(4 + device_id.size() + message_id.size());
  const uint32_t length = static_cast<uint32_t>(device_id.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    input.push_back(static_cast<char>((length >> shift) & 0xff));
  }
  input.append(device_id.data(), device_id.size());
  input.append(message_id.data(), message_id.size());
  Sha256Digest digest = Sha256(AsBytes(input));
  MessageKey key;
  std::memcpy(key.data(), digest.data(), key.size());
  return key;
}

SqliteSpool::SqliteSpool(const SqliteSpoolOptions& options)
    : options_(options) {}

SqliteSpool::~SqliteSpool() {
  {
    // A clean stop does not send acknowledged messages again.
    absl::MutexLock lock(&queue_mutex_);
    if (!removals_.empty() && !committing_) RemoveQueuedLocked().IgnoreError();
  }
  {
    absl::MutexLock read_lock(&read_mutex_);
    sqlite3_finalize(peek_stmt_);
    if (read_db_ != nullptr) sqlite3_close_v2(read_db_);
  }
  absl::MutexLock lock(&db_mutex_);
  sqlite3_finalize(insert_stmt_);
  sqlite3_finalize(remove_stmt_);
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

absl::StatusOr<std::unique_ptr<SqliteSpool>> SqliteSpool::Open(
    const SqliteSpoolOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("spool: no database path");
  }
  if (options.max_messages <= 0 || options.max_bytes <= 0) {
    return absl::InvalidArgumentError("spool: limits must be positive");
  }
  // The spool holds every node's telemetry until the cloud has it: other
  // accounts must neither read it nor swap files under it.
  std::string dir = DirectoryOf(options.path);
  struct stat dir_stat;
  if (::stat(dir.c_str(), &dir_stat) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("spool: directory ", dir, " does not exist"));
    }
    // E.g. EACCES: a parent the service account may not search.
    return absl::PermissionDeniedError(
        absl::StrCat("spool: directory ", dir, ": ", std::strerror(errno),
                     " (the gateway runs as ", Describe(::geteuid()), ")"));
  }
  if (!S_ISDIR(dir_stat.st_mode) || (dir_stat.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "spool: directory %s has mode %04o; it must be a directory that "
        "group and others cannot access (chmod 0700 %s)",
        dir, dir_stat.st_mode & 07777, dir));
  }
  // Create the file 0600 ourselves; SQLite gives its -wal and -shm files
  // the database file's mode.
  int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return CannotOpenError(options.path, dir, dir_stat, errno);
  struct stat file_stat;
  bool private_mode = ::fstat(fd, &file_stat) == 0 &&
                      S_ISREG(file_stat.st_mode) &&
                      (file_stat.st_mode & 077) == 0;
  ::close(fd);
  if (!private_mode) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "spool: %s must be a regular file of mode 0600 (chmod 0600 %s)",
        options.path, options.path));
  }
  std::unique_ptr<SqliteSpool> spool(new SqliteSpool(options));
  absl::Status status = spool->Initialize();
  if (!status.ok()) return status;
  return spool;
}

absl::Status SqliteSpool::SqliteError(int code, absl::string_view what) {
  int primary = code & 0xff;
  std::string message =
      absl::StrCat("spool: ", what, ": ", sqlite3_errstr(code), " (",
                   options_.path, ")");
  if (primary == SQLITE_FULL) return absl::ResourceExhaustedError(message);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

absl::Status SqliteSpool::Exec(const char* sql) {
  int code = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) return SqliteError(code, sql);
  return absl::OkStatus();
}

absl::StatusOr<sqlite3_stmt*> SqliteSpool::Prepared(sqlite3_stmt** slot,
                                                     const char* sql) {
  return PrepareOn(db_, slot, sql);
}

absl::StatusOr<sqlite3_stmt*> SqliteSpool::PrepareOn(sqlite3* db,
                                                      sqlite3_stmt** slot,
                                                      const char* sql) {
  if (*slot == nullptr) {
    int code = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                  slot, nullptr);
    if (code != SQLITE_OK) {
      sqlite3_finalize(*slot);
      *slot = nullptr;
      return SqliteError(code, "prepare");
    }
  }
  sqlite3_reset(*slot);
  sqlite3_clear_bindings(*slot);
  return *slot;
}

absl::Status SqliteSpool::Initialize() {
  int64_t count = 0;
  int64_t bytes = 0;
  MessageKeySet keys;
  {
    absl::MutexLock lock(&db_mutex_);
    absl::Status status = OpenDatabase(&count, &bytes, &keys);
    if (!status.ok()) return status;
  }
  {
    // Opened after the writer has set up WAL and the schema.
    absl::MutexLock read_lock(&read_mutex_);
    int code = sqlite3_open_v2(options_.path.c_str(), &read_db_,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                               nullptr);
    if (code != SQLITE_OK) return SqliteError(code, "open reader");
    sqlite3_extended_result_codes(read_db_, 1);
    sqlite3_busy_timeout(read_db_, 5000);
    code = sqlite3_exec(read_db_, "PRAGMA query_only=1", nullptr, nullptr,
                        nullptr);
    if (code != SQLITE_OK) return SqliteError(code, "reader query_only");
  }
  absl::MutexLock queue_lock(&queue_mutex_);
  count_ = count;
  bytes_ = bytes;
  spooled_ = std::move(keys);
  return absl::OkStatus();
}

absl::Status SqliteSpool::OpenDatabase(int64_t* count, int64_t* bytes,
                                       MessageKeySet* keys) {
  int code = sqlite3_open_v2(
      options_.path.c_str(), &db_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (code != SQLITE_OK) return SqliteError(code, "open");
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 5000);
  {
    Statement wal(db_, "PRAGMA journal_mode=WAL");
    if (wal.code() != SQLITE_OK) return SqliteError(wal.code(), "journal_mode");
    if (sqlite3_step(wal.get()) != SQLITE_ROW ||
        absl::string_view(reinterpret_cast<const char*>(
            sqlite3_column_text(wal.get(), 0))) != "wal") {
      return absl::InternalError(
          absl::StrCat("spool: cannot switch ", options_.path, " to WAL"));
    }
  }
  absl::Status status = Exec(options_.sync == SpoolSync::kFull
                                 ? "PRAGMA synchronous=FULL"
                                 : "PRAGMA synchronous=NORMAL");
  if (!status.ok()) return status;
  int64_t max_file = options_.max_file_bytes > 0
                         ? options_.max_file_bytes
                         : 2 * options_.max_bytes + (16ll << 20);
  int64_t pages = max_file / 4096;
  if (pages < 8) pages = 8;
  status = Exec(absl::StrCat("PRAGMA page_size=4096; PRAGMA max_page_count=",
                             pages)
                    .c_str());
  if (!status.ok()) return status;
  status = Exec(kCreateMessages);
  if (!status.ok()) return status;
  // Spools created before the key set had UNIQUE (device_id, message_id)
  // in the table. It agrees with the key set, but costs every insert its
  // index page; an empty table is recreated without it, in one
  // transaction that also checks it is empty (a table with messages keeps
  // the index until the spool is opened empty).
  status = Exec("BEGIN IMMEDIATE");
  if (!status.ok()) return status;
  bool recreate = false;
  {
    Statement old(db_,
                  "SELECT 1 FROM sqlite_master WHERE type = 'index' AND "
                  "tbl_name = 'messages' AND sql IS NULL AND NOT EXISTS "
                  "(SELECT 1 FROM messages)");
    int code = old.code() == SQLITE_OK ? sqlite3_step(old.get()) : old.code();
    if (code != SQLITE_ROW && code != SQLITE_DONE) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return SqliteError(code, "looking for the old UNIQUE index on messages");
    }
    recreate = code == SQLITE_ROW;
  }
  if (recreate) {
    status = Exec("DROP TABLE messages");
    if (status.ok()) status = Exec(kCreateMessages);
  }
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok()) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }
  // Set-aside messages, for an operator (docs/GATEWAY.md); added after the
  // first release, so created here on older spools too.
  status = Exec(
      "CREATE TABLE IF NOT EXISTS dead_letters ("
      " seq INTEGER PRIMARY KEY,"
      " device_id TEXT NOT NULL,"
      " message_id TEXT NOT NULL,"
      " transport TEXT NOT NULL,"
      " received_at_us INTEGER NOT NULL,"
      " payload BLOB NOT NULL,"
      " size INTEGER NOT NULL,"
      " reason TEXT NOT NULL,"
      " set_aside_at_us INTEGER NOT NULL)");
  if (!status.ok()) return status;
  Statement totals(db_,
                   "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages");
  if (totals.code() != SQLITE_OK) return SqliteError(totals.code(), "count");
  if (sqlite3_step(totals.get()) != SQLITE_ROW) {
    return SqliteError(sqlite3_errcode(db_), "count");
  }
  *count = sqlite3_column_int64(totals.get(), 0);
  *bytes = sqlite3_column_int64(totals.get(), 1);
  // Rows that share ids (only a hand-made re-queue can write them) share
  // one key: deleting either forgets it, so a retry meanwhile is stored
  // and sent once more, and the verifier answers it "duplicate". Nothing
  // is lost that way.
  Statement ids(db_, "SELECT device_id, message_id FROM messages");
  if (ids.code() != SQLITE_OK) {
    return SqliteError(ids.code(), "reading the waiting messages' ids");
  }
  keys->reserve(static_cast<size_t>(*count));
  while ((code = sqlite3_step(ids.get())) == SQLITE_ROW) {
    keys->insert(KeyOf(ColumnView(ids.get(), 0), ColumnView(ids.get(), 1)));
  }
  if (code != SQLITE_DONE) {
    return SqliteError(code, "reading the waiting messages' ids");
  }
  return absl::OkStatus();
}

absl::Status SqliteSpool::Insert(const VerifiedMessage& message) {
  if (message.device_id.empty() || message.message_id.empty()) {
    return absl::InvalidArgumentError(
        "spool: a message needs a device id and a message id");
  }
  if (message.device_id.size() > options_.max_id_bytes ||
      message.message_id.size() > options_.max_id_bytes ||
      message.transport.size() > options_.max_id_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("spool: id longer than ", options_.max_id_bytes, " bytes"));
  }
  if (message.payload.size() > options_.max_payload_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("spool: payload of ", message.payload.size(),
                     " bytes exceeds ", options_.max_payload_bytes));
  }
  PendingInsert pending;
  pending.message = &message;
  pending.key = KeyOf(message.device_id, message.message_id);
  pending.size = MessageSize(message);

  absl::MutexLock lock(&queue_mutex_);
  // A node's retry of a message that is committed and not yet deleted is
  // held (durably): OK at once, without waiting for any commit.
  if (spooled_.contains(pending.key)) return absl::OkStatus();
  queue_.push_back(&pending);
  while (!pending.done) {
    if (committing_) {
      committed_.Wait(&queue_mutex_);
      continue;
    }
    // Become the leader: admit what fits, commit it all in one transaction.
    committing_ = true;
    std::vector<PendingInsert*> group;
    group.reserve(queue_.size());
    for (PendingInsert* p : queue_) {
      if (spooled_.contains(p->key)) {
        // Its first copy was committed while this one waited in the
        // queue: held, so OK, with no transaction.
        p->inserted = false;
        p->status = absl::OkStatus();
        p->done = true;
        continue;
      }
      group.push_back(p);
    }
    queue_.clear();
    if (!removals_.empty()) {
      int64_t group_bytes = 0;
      for (PendingInsert* p : group) group_bytes += p->size;
      if (count_ + static_cast<int64_t>(group.size()) > options_.max_messages ||
          bytes_ + group_bytes > options_.max_bytes) {
        // The limits are reached, but the uplink has acknowledged
        // messages whose deletion is queued: delete them first, so an
        // acknowledgement makes room at once (on failure they stay, and
        // the node hears "full").
        DeleteQueuedLocked().IgnoreError();
      }
    }
    std::vector<PendingInsert*> admitted;
    // Only a group of several can hold copies of one message; a lone
    // caller's group needs no set (and no allocation for it).
    const bool several = group.size() > 1;
    MessageKeySet in_group;
    int64_t count = count_;
    int64_t bytes = bytes_;
    for (PendingInsert* p : group) {
      if (several && in_group.contains(p->key)) {
        // Its first copy is admitted in this group: it shares that
        // commit's fate and needs no room.
        p->write = false;
        admitted.push_back(p);
        continue;
      }
      if (count + 1 > options_.max_messages ||
          bytes + p->size > options_.max_bytes) {
        p->status = absl::ResourceExhaustedError(absl::StrCat(
            "spool full: ", count, " messages, ", bytes, " bytes (limits ",
            options_.max_messages, ", ", options_.max_bytes, ")"));
        p->done = true;
        continue;
      }
      ++count;
      bytes += p->size;
      if (several) in_group.insert(p->key);
      admitted.push_back(p);
    }
    // Deletions Remove queued meanwhile ride in the same transaction.
    std::vector<int64_t> removals;
    if (!admitted.empty()) removals.swap(removals_);
    queue_mutex_.Unlock();
    absl::Status status;
    Removed removed;
    if (!admitted.empty()) {
      absl::MutexLock db_lock(&db_mutex_);
      status = CommitGroup(admitted, removals, &removed);
    }
    queue_mutex_.Lock();
    FinishRemovals(removals, status.ok() ? &removed : nullptr);
    for (PendingInsert* p : admitted) {
      p->status = status;
      p->done = true;
      if (status.ok() && p->inserted) {
        ++count_;
        bytes_ += p->size;
        spooled_.insert(p->key);
      }
    }
    committing_ = false;
    committed_.SignalAll();
  }
  return pending.status;
}

absl::Status SqliteSpool::RestoreFullSync() {
  if (!relaxed_) return absl::OkStatus();
  absl::Status status = Exec("PRAGMA synchronous=FULL");
  if (status.ok()) relaxed_ = false;
  return status;
}

absl::Status SqliteSpool::CommitGroup(
    const std::vector<PendingInsert*>& group,
    const std::vector<int64_t>& removals, Removed* removed) {
  // Never commit a node's message at less than the configured durability.
  absl::Status status = RestoreFullSync();
  if (!status.ok()) return status;
  status = Exec("BEGIN IMMEDIATE");
  if (!status.ok()) return status;
  // Called with db_mutex_ held; the annotation tells clang's thread-safety
  // analysis, which checks each lambda on its own.
  auto rollback = [this](absl::Status failure)
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mutex_) {
    if (sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    return failure;
  };
  absl::StatusOr<sqlite3_stmt*> insert =
      Prepared(&insert_stmt_,
               "INSERT OR IGNORE INTO messages (device_id, message_id, "
               "transport, received_at_us, payload, size) "
               "VALUES (?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return rollback(insert.status());
  for (PendingInsert* p : group) {
    if (!p->write) continue;
    const VerifiedMessage& m = *p->message;
    sqlite3_stmt* s = *insert;
    sqlite3_bind_text(s, 1, m.device_id.data(),
                      static_cast<int>(m.device_id.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 2, m.message_id.data(),
                      static_cast<int>(m.message_id.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 3, m.transport.data(),
                      static_cast<int>(m.transport.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, absl::ToUnixMicros(m.received_at));
    // A zero-length blob must still be a blob, not NULL.
    static const uint8_t kEmpty = 0;
    sqlite3_bind_blob(s, 5, m.payload.empty() ? &kEmpty : m.payload.data(),
                      static_cast<int>(m.payload.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, p->size);
    int code = sqlite3_step(s);
    if (code != SQLITE_DONE) {
      sqlite3_reset(s);
      return rollback(SqliteError(code, "insert"));
    }
    p->inserted = sqlite3_changes(db_) > 0;
    sqlite3_reset(s);
  }
  // After the inserts. A node's retry of a message being removed never
  // reaches them: its key is still in spooled_, so it is answered as held
  // (the verifier has it) and deleted with it, not stored and sent again.
  status = DeleteRows(removals, removed);
  if (!status.ok()) return rollback(status);
  int code = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) return rollback(SqliteError(code, "commit"));
  return absl::OkStatus();
}

absl::Status SqliteSpool::DeleteRows(const std::vector<int64_t>& removals,
                                     Removed* removed) {
  *removed = Removed();
  if (removals.empty()) return absl::OkStatus();
  absl::StatusOr<sqlite3_stmt*> remove =
      Prepared(&remove_stmt_,
               "DELETE FROM messages WHERE seq = ? RETURNING size, "
               "device_id, message_id");
  if (!remove.ok()) return remove.status();
  sqlite3_stmt* s = *remove;
  for (int64_t sequence : removals) {
    sqlite3_bind_int64(s, 1, sequence);
    int code;
    while ((code = sqlite3_step(s)) == SQLITE_ROW) {
      ++removed->count;
      removed->bytes += sqlite3_column_int64(s, 0);
      removed->keys.push_back(KeyOf(ColumnView(s, 1), ColumnView(s, 2)));
    }
    sqlite3_reset(s);
    if (code != SQLITE_DONE) return SqliteError(code, "delete");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SpooledMessage>> SqliteSpool::Peek(
    size_t max_messages, size_t max_bytes) {
  std::vector<SpooledMessage> batch;
  if (max_messages == 0) return batch;
  absl::flat_hash_set<int64_t> skip;
  {
    absl::MutexLock lock(&queue_mutex_);
    if (removals_.size() >= kRemovalsToApplyAtOnce && !committing_) {
      // No Insert has come for a while to take them: delete them now, so
      // the SELECT below does not step over ever more of them (on failure
      // they stay spooled and are simply sent again).
      RemoveQueuedLocked().IgnoreError();
    }
    skip = removing_;
  }
  absl::Status status = SelectOldest(max_messages, max_bytes, skip, &batch);
  if (!status.ok()) return status;
  if (batch.empty()) {
    // Nothing left to send: the nodes are quiet, so no Insert will take
    // the queued deletions soon; run them now rather than at shutdown.
    absl::MutexLock lock(&queue_mutex_);
    if (!removals_.empty() && !committing_) RemoveQueuedLocked().IgnoreError();
  }
  return batch;
}

absl::Status SqliteSpool::SelectOldest(
    size_t max_messages, size_t max_bytes,
    const absl::flat_hash_set<int64_t>& skip,
    std::vector<SpooledMessage>* out) {
  std::vector<SpooledMessage>& batch = *out;
  absl::MutexLock lock(&read_mutex_);
  absl::StatusOr<sqlite3_stmt*> select =
      PrepareOn(read_db_, &peek_stmt_,
               "SELECT seq, device_id, message_id, transport, "
               "received_at_us, payload, size FROM messages "
               "ORDER BY seq LIMIT ?");
  if (!select.ok()) return select.status();
  sqlite3_stmt* s = *select;
  // Reset on every exit: a statement left mid-read would hold the WAL
  // read snapshot open and keep checkpoints from finishing.
  struct ResetOnExit {
    sqlite3_stmt* s;
    ~ResetOnExit() { sqlite3_reset(s); }
  } reset_on_exit{s};
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(max_messages + skip.size()));
  size_t total = 0;
  while (batch.size() < max_messages) {
    int code = sqlite3_step(s);
    if (code == SQLITE_DONE) break;
    if (code != SQLITE_ROW) return SqliteError(code, "select");
    if (skip.contains(sqlite3_column_int64(s, 0))) continue;
    int64_t size = sqlite3_column_int64(s, 6);
    if (!batch.empty() && total + static_cast<size_t>(size) > max_bytes) break;
    total += static_cast<size_t>(size);
    SpooledMessage row;
    row.sequence = sqlite3_column_int64(s, 0);
    row.message.device_id = ColumnText(s, 1);
    row.message.message_id = ColumnText(s, 2);
    row.message.transport = ColumnText(s, 3);
    row.message.received_at = absl::FromUnixMicros(sqlite3_column_int64(s, 4));
    const uint8_t* blob =
        static_cast<const uint8_t*>(sqlite3_column_blob(s, 5));
    int blob_size = sqlite3_column_bytes(s, 5);
    if (blob != nullptr && blob_size > 0) {
      row.message.payload.assign(blob, blob + blob_size);
    }
    batch.push_back(std::move(row));
  }
  return absl::OkStatus();
}

absl::Status SqliteSpool::Remove(const std::vector<int64_t>& sequences) {
  if (sequences.empty()) return absl::OkStatus();
  absl::MutexLock lock(&queue_mutex_);
  for (int64_t sequence : sequences) {
    if (removing_.insert(sequence).second) removals_.push_back(sequence);
  }
  // The next group commit deletes these in its own transaction: a
  // transaction of their own costs its BEGIN, WAL writes and COMMIT (about
  // as much as the enqueue at sync=NORMAL), and a running commit's fsync
  // is a wait the uplink need not share. Peek skips them meanwhile. Only
  // a long queue is deleted at once.
  if (committing_ || removals_.size() < kRemovalsToApplyAtOnce) {
    return absl::OkStatus();
  }
  return RemoveQueuedLocked();
}

absl::Status SqliteSpool::RemoveQueuedLocked() {
  committing_ = true;
  absl::Status status = DeleteQueuedLocked();
  committing_ = false;
  committed_.SignalAll();
  return status;
}

absl::Status SqliteSpool::DeleteQueuedLocked() {
  std::vector<int64_t> removals;
  removals.swap(removals_);
  queue_mutex_.Unlock();
  Removed removed;
  absl::Status status;
  {
    absl::MutexLock db_lock(&db_mutex_);
    status = ApplyRemovals(removals, &removed);
  }
  queue_mutex_.Lock();
  FinishRemovals(removals, status.ok() ? &removed : nullptr);
  return status;
}

void SqliteSpool::FinishRemovals(const std::vector<int64_t>& removals,
                                 const Removed* removed) {
  for (int64_t sequence : removals) removing_.erase(sequence);
  if (removed == nullptr) return;
  count_ -= removed->count;
  bytes_ -= removed->bytes;
  for (const MessageKey& key : removed->keys) spooled_.erase(key);
  ReleaseKeysIfDrained();
}

void SqliteSpool::ReleaseKeysIfDrained() {
  // A flat_hash_set keeps its capacity when emptied: a backlog of a
  // million would hold 36 MB until restart.
  if (spooled_.empty() && spooled_.capacity() > 4096) {
    MessageKeySet().swap(spooled_);
  }
}

absl::Status SqliteSpool::ApplyRemovals(const std::vector<int64_t>& removals,
                                        Removed* removed) {
  *removed = Removed();
  if (removals.empty()) return absl::OkStatus();
  // Deleting what the verifier holds needs no fsync of its own (see the
  // header): at synchronous=FULL this was one of two fsyncs per message.
  // The WAL frames reach the OS at COMMIT (kill -9 safe); the next
  // Insert's fsync of the WAL covers them too.
  if (options_.sync == SpoolSync::kFull) {
    absl::Status status = Exec("PRAGMA synchronous=NORMAL");
    if (!status.ok()) return status;
    relaxed_ = true;
  }
  // Called with db_mutex_ held; the annotation tells clang's
  // thread-safety analysis, which checks each lambda on its own.
  auto finish = [this](absl::Status status)
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mutex_) {
    if (!status.ok() && sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    // If this fails, relaxed_ stays set and the next Insert retries it
    // before committing (RestoreFullSync).
    RestoreFullSync().IgnoreError();
    return status;
  };
  absl::Status status = Exec("BEGIN IMMEDIATE");
  if (!status.ok()) return finish(status);
  status = DeleteRows(removals, removed);
  if (!status.ok()) return finish(status);
  int code = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) return finish(SqliteError(code, "commit"));
  return finish(absl::OkStatus());
}

absl::Status SqliteSpool::SetAside(const std::vector<int64_t>& sequences,
                                   absl::string_view reason) {
  if (sequences.empty()) return absl::OkStatus();
  int64_t moved = 0;
  int64_t moved_bytes = 0;
  std::vector<MessageKey> moved_keys;
  // Runs as the committer, like a deletion: a group commit's keys enter
  // spooled_ after its transaction, so a SetAside between the two (the
  // uplink can read, send and set aside a message that fast) would erase
  // a key not yet there and leave it behind for a row that is gone.
  queue_mutex_.Lock();
  while (committing_) committed_.Wait(&queue_mutex_);
  committing_ = true;
  queue_mutex_.Unlock();
  absl::Status result = [&]() -> absl::Status {
    absl::MutexLock lock(&db_mutex_);
    absl::Status status = Exec("BEGIN IMMEDIATE");
    if (!status.ok()) return status;
    // Called with db_mutex_ held (see Remove).
    auto rollback =
        [this](absl::Status failure) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mutex_) {
          if (sqlite3_get_autocommit(db_) == 0) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
          }
          return failure;
        };
    // Dead letters are numbered by their own table: the queue's seq
    // starts again at 1 whenever the queue empties, and a copied seq
    // made a later dead letter replace an earlier one.
    Statement copy(db_,
                   "INSERT INTO dead_letters (device_id, "
                   "message_id, transport, received_at_us, payload, size, "
                   "reason, set_aside_at_us) SELECT device_id, "
                   "message_id, transport, received_at_us, payload, size, ?, "
                   "? FROM messages WHERE seq = ?");
    if (copy.code() != SQLITE_OK) {
      return rollback(SqliteError(copy.code(), "prepare set aside"));
    }
    Statement remove(db_,
                     "DELETE FROM messages WHERE seq = ? RETURNING size, "
                     "device_id, message_id");
    if (remove.code() != SQLITE_OK) {
      return rollback(SqliteError(remove.code(), "prepare delete"));
    }
    int64_t now_us = absl::ToUnixMicros(absl::Now());
    for (int64_t sequence : sequences) {
      sqlite3_bind_text(copy.get(), 1, reason.data(),
                        static_cast<int>(reason.size()), SQLITE_STATIC);
      sqlite3_bind_int64(copy.get(), 2, now_us);
      sqlite3_bind_int64(copy.get(), 3, sequence);
      int code = sqlite3_step(copy.get());
      if (code != SQLITE_DONE) return rollback(SqliteError(code, "set aside"));
      sqlite3_reset(copy.get());
      sqlite3_bind_int64(remove.get(), 1, sequence);
      while ((code = sqlite3_step(remove.get())) == SQLITE_ROW) {
        ++moved;
        moved_bytes += sqlite3_column_int64(remove.get(), 0);
        moved_keys.push_back(KeyOf(ColumnView(remove.get(), 1),
                                   ColumnView(remove.get(), 2)));
      }
      if (code != SQLITE_DONE) return rollback(SqliteError(code, "delete"));
      sqlite3_reset(remove.get());
    }
    int code = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    if (code != SQLITE_OK) return rollback(SqliteError(code, "commit"));
    return absl::OkStatus();
  }();
  absl::MutexLock lock(&queue_mutex_);
  if (result.ok()) {
    count_ -= moved;
    bytes_ -= moved_bytes;
    for (const MessageKey& key : moved_keys) spooled_.erase(key);
    ReleaseKeysIfDrained();
  }
  committing_ = false;
  committed_.SignalAll();
  return result;
}

absl::StatusOr<std::vector<DeadLetter>> SqliteSpool::DeadLetters(
    size_t max_messages) {
  std::vector<DeadLetter> letters;
  if (max_messages == 0) return letters;
  absl::MutexLock lock(&db_mutex_);
  Statement select(db_,
                   "SELECT seq, device_id, message_id, transport, "
                   "received_at_us, payload, reason, set_aside_at_us FROM "
                   "dead_letters ORDER BY seq LIMIT ?");
  if (select.code() != SQLITE_OK) return SqliteError(select.code(), "select");
  sqlite3_bind_int64(select.get(), 1, static_cast<int64_t>(max_messages));
  while (true) {
    int code = sqlite3_step(select.get());
    if (code == SQLITE_DONE) break;
    if (code != SQLITE_ROW) return SqliteError(code, "select");
    sqlite3_stmt* s = select.get();
    DeadLetter letter;
    letter.spooled.sequence = sqlite3_column_int64(s, 0);
    letter.spooled.message.device_id = ColumnText(s, 1);
    letter.spooled.message.message_id = ColumnText(s, 2);
    letter.spooled.message.transport = ColumnText(s, 3);
    letter.spooled.message.received_at =
        absl::FromUnixMicros(sqlite3_column_int64(s, 4));
    const uint8_t* blob =
        static_cast<const uint8_t*>(sqlite3_column_blob(s, 5));
    int blob_size = sqlite3_column_bytes(s, 5);
    if (blob != nullptr && blob_size > 0) {
      letter.spooled.message.payload.assign(blob, blob + blob_size);
    }
    letter.reason = ColumnText(s, 6);
    letter.set_aside_at = absl::FromUnixMicros(sqlite3_column_int64(s, 7));
    letters.push_back(std::move(letter));
  }
  return letters;
}

absl::StatusOr<int64_t> SqliteSpool::DeadLetterCount() {
  absl::MutexLock lock(&db_mutex_);
  Statement count(db_, "SELECT COUNT(*) FROM dead_letters");
  if (count.code() != SQLITE_OK) return SqliteError(count.code(), "count");
  if (sqlite3_step(count.get()) != SQLITE_ROW) {
    return SqliteError(sqlite3_errcode(db_), "count");
  }
  return sqlite3_column_int64(count.get(), 0);
}

int64_t SqliteSpool::Count() const {
  absl::MutexLock lock(&queue_mutex_);
  // Removed messages whose deletion is still queued are no longer waiting.
  int64_t queued = static_cast<int64_t>(removing_.size());
  return count_ > queued ? count_ - queued : 0;
}

int64_t SqliteSpool::Bytes() const {
  absl::MutexLock lock(&queue_mutex_);
  return bytes_;
}

}  // namespace cxsec
