// SqliteSpool: the gateway's durable store-and-forward queue. Every message
// a transport accepts is committed here before the transport acknowledges
// the node, and deleted only when the verifier has answered for it, so a
// cloud outage, a kill -9 or a power cut loses nothing.
//
// SQLite in WAL mode with synchronous=FULL (configurable): a commit is on
// disk when Insert returns. Removing acknowledged messages writes its WAL
// frames without an fsync of its own: the next Insert's fsync makes them
// durable (one WAL, synced whole). A power cut in between may bring an
// acknowledged message back; it is sent again and the verifier answers
// "duplicate", so it is still held once. Remove does not write at all:
// the deletion rides in the next group commit's transaction (or runs when
// Peek finds nothing left to send), and Peek skips those messages
// meanwhile, so acknowledging costs no transaction of its own and never
// waits for a node's fsync. Peek reads through a connection of its own,
// so it does not wait for a commit's fsync either. An Insert never waits
// for less than its own fsync. Concurrent Inserts are group-committed: callers
// that arrive while a commit is running are written together in the next
// transaction, so many nodes share one fsync instead of queueing for one
// each. Messages the verifier will never take are moved to a dead-letter
// table (SetAside) for an operator instead of blocking the queue. (device_id,
// message_id) is unique, so a node retrying a message it did not see
// acknowledged is stored once. The spool checks that against a set in
// memory of each waiting message's key (the first 128 bits of a SHA-256
// of both ids, 16 bytes), rebuilt from the table at Open, not against an
// index on disk: with a large backlog every insert landed on an index
// page of its own, and each such page is a 4 KiB WAL frame to write and
// fsync (12 KB written per message with 1,000,000 waiting, against 3-7
// KB with an empty spool). The set costs 20-39 bytes of memory per
// waiting message (a 17-byte slot at a load of 7/16 to 7/8; 36 MB with
// the default 1,000,000 waiting, 54 MB for a moment while it grows past
// 917,504), held until the spool is empty again, and about 0.7 s at Open
// with 1,000,000 waiting.
//
// When the spool reaches its limits (rows, payload bytes, or the database
// file's size, where SQLite reports SQLITE_FULL, as it does for a full
// disk) Insert returns ResourceExhausted: the transport answers the node
// CoAP 5.03 and the node keeps the message. Nothing is dropped silently.
//
//   CXSEC_ASSIGN_OR_RETURN(std::unique_ptr<SqliteSpool> spool,
//                          SqliteSpool::Open(options));
//   CXSEC_RETURN_IF_ERROR(spool->Insert(message));
//   CXSEC_ASSIGN_OR_RETURN(std::vector<SpooledMessage> batch,
//                          spool->Peek(100, 1 << 20));
//   CXSEC_RETURN_IF_ERROR(spool->Remove({batch[0].sequence}));
#ifndef CXSEC_TRANSPORTS_UPLINK_SQLITE_SPOOL_H_
#define CXSEC_TRANSPORTS_UPLINK_SQLITE_SPOOL_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/policy/message.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cxsec {

// SpoolSync: how hard a commit waits for the disk.
enum class SpoolSync {
  kFull,    // fsync the WAL on every commit: survives power loss (default)
  kNormal,  // fsync at checkpoints: survives kill -9, may lose the last
            // commits on power loss
};

struct SqliteSpoolOptions {
  std::string path;  // the database file, e.g. <spool_dir>/spool.db
  SpoolSync sync = SpoolSync::kFull;
  int64_t max_messages = 1'000'000;
  // Sum of payload and id bytes of spooled messages.
  int64_t max_bytes = 256ll << 20;
  // Hard cap on the database file (SQLite's max_page_count); 0 means
  // 2 * max_bytes + 16 MiB. Hitting it is SQLITE_FULL.
  int64_t max_file_bytes = 0;
  // Per-message bounds (a transport never produces more).
  size_t max_payload_bytes = 16 << 10;
  size_t max_id_bytes = 64;
};

// SpooledMessage: a message as stored, with its spool sequence number.
struct SpooledMessage {
  int64_t sequence = 0;
  VerifiedMessage message;
};

// DeadLetter: a message set aside because the verifier will never take it
// (it refuses it alone with 400/413, or answers "conflict"). It stays in
// the spool's `dead_letters` table until an operator deals with it
// (docs/GATEWAY.md); it no longer counts against the spool's limits.
struct DeadLetter {
  // spooled.sequence numbers the dead letter in its own table, not in the
  // queue (whose numbers start again when it empties).
  SpooledMessage spooled;
  std::string reason;  // e.g. "http_400:malformed_batch", "conflict"
  absl::Time set_aside_at;
};

class SqliteSpool {
 public:
  // Open opens (creating if needed) the spool database. The file is created
  // 0600; its directory must not be accessible to group or others.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SqliteSpool>> Open(
      const SqliteSpoolOptions& options);

  ~SqliteSpool();
  SqliteSpool(const SqliteSpool&) = delete;
  SqliteSpool& operator=(const SqliteSpool&) = delete;

  // Insert commits `message` durably. OK also when the same (device_id,
  // message_id) is already spooled. ResourceExhausted when full.
  [[nodiscard]] absl::Status Insert(const VerifiedMessage& message);

  // Peek returns up to `max_messages` of the oldest messages whose total
  // payload is at most `max_bytes` (at least one message if any exist).
  [[nodiscard]] absl::StatusOr<std::vector<SpooledMessage>> Peek(
      size_t max_messages, size_t max_bytes);

  // Remove deletes the given sequence numbers (the verifier answered for
  // them). Unknown sequence numbers are ignored. The deletion is queued:
  // it joins the next Insert's group-commit transaction, or runs in a
  // transaction of its own (not fsync'd by itself at SpoolSync::kFull)
  // when a Peek finds nothing left to send, when
  // kRemovalsToApplyAtOnce are queued, or at the destructor, whichever
  // comes first. Peek skips queued messages and Count leaves them out.
  // A crash before the deletion is durable brings an acknowledged message
  // back; it is sent again and the verifier answers "duplicate" (see the
  // file comment).
  [[nodiscard]] absl::Status Remove(const std::vector<int64_t>& sequences);

  // How many queued deletions Remove or Peek run at once instead of
  // waiting for an Insert to carry them.
  static constexpr size_t kRemovalsToApplyAtOnce = 1024;

  // SetAside moves the given sequence numbers from the queue to the
  // dead-letter table with `reason`, in one transaction. Unknown sequence
  // numbers are ignored.
  [[nodiscard]] absl::Status SetAside(const std::vector<int64_t>& sequences,
                                      absl::string_view reason);

  // DeadLetters returns up to `max_messages` set-aside messages, oldest
  // first; DeadLetterCount how many there are.
  [[nodiscard]] absl::StatusOr<std::vector<DeadLetter>> DeadLetters(
      size_t max_messages);
  [[nodiscard]] absl::StatusOr<int64_t> DeadLetterCount();

  // Count: messages waiting to be sent (dead letters and removed messages
  // whose deletion is still queued not included). Bytes: what the spool's
  // limits count, i.e. including queued deletions until they run.
  int64_t Count() const;
  int64_t Bytes() const;

 private:
  struct PendingInsert;
  // MessageKey: what makes a message unique in the spool, (device_id,
  // message_id), as the first 128 bits of SHA-256 over both
  // (length-prefixed). A collision needs about 2^64 chosen ids.
  using MessageKey = std::array<uint8_t, 16>;
  struct MessageKeyHash {
    size_t operator()(const MessageKey& key) const {
      size_t h;
      std::memcpy(&h, key.data(), sizeof(h));  // already uniformly random
      return h;
    }
  };
  using MessageKeySet = absl::flat_hash_set<MessageKey, MessageKeyHash>;
  static MessageKey KeyOf(absl::string_view device_id,
                          absl::string_view message_id);
  // Rows deleted by one transaction: how many, their bytes and keys.
  struct Removed {
    int64_t count = 0;
    int64_t bytes = 0;
    std::vector<MessageKey> keys;
  };

  explicit SqliteSpool(const SqliteSpoolOptions& options);
  absl::Status Initialize();
  // OpenDatabase opens db_, creates or updates the schema, and reads the
  // totals and the keys of the waiting messages.
  absl::Status OpenDatabase(int64_t* count, int64_t* bytes,
                            MessageKeySet* keys)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mutex_);
  // CommitGroup inserts `group` (except in-group duplicates) and deletes
  // `removals` in one transaction at the configured durability.
  absl::Status CommitGroup(const std::vector<PendingInsert*>& group,
                           const std::vector<int64_t>& removals,
                           Removed* removed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mutex_);
  // DeleteRows runs the DELETEs of `removals` in the open transaction.
  absl::Status DeleteRows(const std::vector<int64_t>& removals,
                          Removed* removed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mutex_);
  // SelectOldest reads Peek's batch on the reading connection, stepping
  // over `skip`.
  absl::Status SelectOldest(size_t max_messages, size_t max_bytes,
                            const absl::flat_hash_set<int64_t>& skip,
                            std::vector<SpooledMessage>* out)
      ABSL_LOCKS_EXCLUDED(read_mutex_);
  // ApplyRemovals deletes `removals` in a transaction of its own, not
  // fsync'd at kFull.
  absl::Status ApplyRemovals(const std::vector<int64_t>& removals,
                             Removed* removed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mutex_);
  // RemoveQueuedLocked: with no commit running, becomes the committer and
  // deletes what Remove queued. Called and returns with queue_mutex_ held.
  absl::Status RemoveQueuedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mutex_);
  // DeleteQueuedLocked: RemoveQueuedLocked for a caller that is already the
  // committer (committing_ set).
  absl::Status DeleteQueuedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mutex_);
  // FinishRemovals: `removals` are no longer queued (deleted, or left to be
  // sent again when their transaction failed: then `removed` is null).
  void FinishRemovals(const std::vector<int64_t>& removals,
                      const Removed* removed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mutex_);
  // ReleaseKeysIfDrained gives the key set's memory back once the spool is
  // empty.
  void ReleaseKeysIfDrained() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mutex_);
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mutex_);
  // RestoreFullSync puts the connection back to synchronous=FULL after a
  // Remove relaxed it; CommitGroup calls it first, so an Insert is always
  // fsync'd when the options say kFull.
  absl::Status RestoreFullSync() ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mutex_);
  // Prepared returns the statement for `sql`, prepared once per spool and
  // reset for reuse (an enqueue must not pay SQL parsing each time).
  absl::StatusOr<sqlite3_stmt*> Prepared(sqlite3_stmt** slot, const char* sql)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mutex_);
  // PrepareOn: Prepared for a connection other than db_.
  absl::StatusOr<sqlite3_stmt*> PrepareOn(sqlite3* db, sqlite3_stmt** slot,
                                          const char* sql);
  absl::Status SqliteError(int code, absl::string_view what);

  const SqliteSpoolOptions options_;

  // Group commit: Inserts queue here; the first caller that finds no
  // commit running becomes the leader and commits the whole queue.
  mutable absl::Mutex queue_mutex_;
  std::deque<PendingInsert*> queue_ ABSL_GUARDED_BY(queue_mutex_);
  bool committing_ ABSL_GUARDED_BY(queue_mutex_) = false;
  int64_t count_ ABSL_GUARDED_BY(queue_mutex_) = 0;
  int64_t bytes_ ABSL_GUARDED_BY(queue_mutex_) = 0;
  // Sequences passed to Remove and not yet deleted: `removals_` waits for
  // the next committer, `removing_` holds those and the ones being deleted
  // now, so Peek never hands out an acknowledged message again.
  std::vector<int64_t> removals_ ABSL_GUARDED_BY(queue_mutex_);
  absl::flat_hash_set<int64_t> removing_ ABSL_GUARDED_BY(queue_mutex_);
  // The keys of every message in the table (committed, not yet deleted):
  // an Insert of one of them is a node's retry, answered at once.
  MessageKeySet spooled_ ABSL_GUARDED_BY(queue_mutex_);

  absl::CondVar committed_;

  absl::Mutex db_mutex_ ABSL_ACQUIRED_AFTER(queue_mutex_);
  sqlite3* db_ ABSL_GUARDED_BY(db_mutex_) = nullptr;
  // True while the connection runs at synchronous=NORMAL for a Remove.
  bool relaxed_ ABSL_GUARDED_BY(db_mutex_) = false;
  // Statements prepared on first use, finalized before db_ is closed.
  sqlite3_stmt* insert_stmt_ ABSL_GUARDED_BY(db_mutex_) = nullptr;
  sqlite3_stmt* remove_stmt_ ABSL_GUARDED_BY(db_mutex_) = nullptr;

  // Peek reads through a connection of its own: in WAL mode a reader does
  // not wait for a writer, so the uplink's next batch is not held up by a
  // group commit's fsync, nor a commit by the uplink's read. It sees every
  // committed Insert; what Remove queued is skipped by sequence number.
  absl::Mutex read_mutex_ ABSL_ACQUIRED_AFTER(queue_mutex_);
  sqlite3* read_db_ ABSL_GUARDED_BY(read_mutex_) = nullptr;
  sqlite3_stmt* peek_stmt_ ABSL_GUARDED_BY(read_mutex_) = nullptr;
};

}  // namespace cxsec

#endif  // CXSEC_TRANSPORTS_UPLINK_SQLITE_SPOOL_H_
