// The embedded telemetry sink: an append-only NDJSON file. Appends from
// concurrent requests are group-committed by one flusher thread (one write
// + fdatasync for everything queued meanwhile), and a request is answered
// only after its records are on disk, so every acknowledged message
// survives a crash or SIGKILL. Callers are told through a callback, so
// server threads never block on the disk.
// It also owns de-duplication: a (deviceId, messageId) pair stored in
// the log within the dedup window, or being written, is never stored
// again. The SHA-256 of each record's payload is kept with its key (and
// written into the record as "payloadSha256"), so the same ids with the
// same payload are a "duplicate", and the same ids with a different
// payload a "conflict": one gateway cannot suppress another's reading by
// sending its ids first. Records written before the hash existed have
// none, and a later message with their ids counts as a duplicate whatever
// its payload (docs/VERIFIER_API.md).
//
// The dedup index is bounded (DedupWindow): it holds the last
// `max_messages` records (and, if set, only those received in the last
// `max_age`), oldest evicted first, as fixed 40-byte entries (truncated
// SHA-256 of the key and of the payload, receive time) instead of the key
// strings. A pair re-sent after it left the window is stored again: the
// log is at-least-once beyond the window, exactly-once within it
// (docs/DESIGN.md, "Deduplication window"). At start the index is rebuilt
// by reading the log backwards, only as far as the window reaches, in
// bounded chunks: start-up time and memory depend on the window, not on
// the log's size.
//
// A failed write or fdatasync (disk full, EIO, EFBIG) fails the batch
// being written and everything queued behind it (their callers answer
// "retry"); the file is cut back to the last durable offset before the
// next write, so the log recovers by itself once the fault clears.
#ifndef CXSEC_TARGETS_VERIFIER_SINKS_TELEMETRY_LOG_H_
#define CXSEC_TARGETS_VERIFIER_SINKS_TELEMETRY_LOG_H_

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/crypto/crypto_backend.h"
#include "targets/verifier/sinks/telemetry_sink.h"

namespace cxsec::verifier {

// DedupWindow bounds the dedup index. Defaults: the last 4,000,000
// records (about 160 MB of index), no age limit.
struct DedupWindow {
  static constexpr uint64_t kDefaultMaxMessages = 4'000'000;
  // The most records the index remembers, 1..2^31 (clamped).
  uint64_t max_messages = kDefaultMaxMessages;
  // Records received longer ago than this leave the index; zero: no age
  // limit (count only).
  absl::Duration max_age = absl::ZeroDuration();
};

// DedupIndex: the bounded (key, payload) memory of the log, oldest first.
// Not thread-safe (TelemetryLog holds its lock). Exposed for tests and
// benchmarks.
class DedupIndex {
 public:
  // 128 bits of SHA-256: no accidental or crafted collision (2^64 work
  // for a birthday pair) turns a new message into a "duplicate".
  using KeyHash = std::array<uint8_t, 16>;
  struct Entry {
    KeyHash key;
    // SHA-256 of the payload, truncated to 120 bits (still no feasible
    // second preimage), valid if `has_payload`; a record from before
    // payload hashes has none and is never a conflict.
    std::array<uint8_t, 15> payload;
    bool has_payload;
    int64_t received_unix_ms;
  };
  static_assert(sizeof(Entry) == 40);

  explicit DedupIndex(DedupWindow window);
  DedupIndex(const DedupIndex&) = delete;
  DedupIndex& operator=(const DedupIndex&) = delete;

  static KeyHash HashKey(absl::string_view dedup_key);
  // NewEntry builds the entry of a record received at `received_unix_ms`.
  static Entry NewEntry(absl::string_view dedup_key,
                        const std::optional<Sha256Digest>& payload_sha256,
                        int64_t received_unix_ms);
  static Entry NewEntry(const KeyHash& key,
                        const std::optional<Sha256Digest>& payload_sha256,
                        int64_t received_unix_ms);
  // Reserve makes room for `records` entries (at most the window) at once.
  void Reserve(size_t records);

  // Find returns the sequence number of `key`'s entry, or nullopt.
  std::optional<uint64_t> Find(const KeyHash& key) const;
  const Entry& At(uint64_t seq) const { return entries_[seq - first_seq_]; }
  // PushBack remembers a new record (key not present) and returns its
  // sequence number; the oldest entry goes when the count is exceeded.
  uint64_t PushBack(const Entry& entry);
  // PushFront adds an older record while loading backwards; false (and
  // nothing added) when the index is already full or `entry.key` is
  // present (a newer record with that key wins).
  bool PushFront(const Entry& entry);
  // PopBackFrom forgets every entry with a sequence number >= `seq` (the
  // reservations of a batch that failed to write).
  void PopBackFrom(uint64_t seq);
  // EvictOlderThan drops entries received before `cutoff_unix_ms` from the
  // front.
  void EvictOlderThan(int64_t cutoff_unix_ms);

  uint64_t next_seq() const { return first_seq_ + entries_.size(); }
  size_t size() const { return entries_.size(); }
  bool full() const { return entries_.size() >= window_.max_messages; }
  const DedupWindow& window() const { return window_; }

 private:
  // The set holds sequence numbers (mod 2^32: the window is < 2^32) and
  // hashes and compares them through the entries they name, so the
  // lookup structure costs ~5-10 bytes per record, not a second key copy.
  struct SlotHash {
    using is_transparent = void;
    const DedupIndex* index;
    size_t operator()(uint32_t slot) const;
    size_t operator()(const KeyHash& key) const;
  };
  struct SlotEq {
    using is_transparent = void;
    const DedupIndex* index;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t a, const KeyHash& b) const;
    bool operator()(const KeyHash& a, uint32_t b) const {
      return (*this)(b, a);
    }
  };
  const Entry& BySlot(uint32_t slot) const {
    return entries_[static_cast<uint32_t>(slot -
                                          static_cast<uint32_t>(first_seq_))];
  }
  void PopFront();

  DedupWindow window_;
  std::deque<Entry> entries_;  // oldest first
  uint64_t first_seq_;         // sequence number of entries_.front()
  absl::flat_hash_set<uint32_t, SlotHash, SlotEq> slots_;
};

struct TelemetryLogOptions {
  DedupWindow dedup_window;
  // Receive times for the age window; nullptr: the system clock.
  const Clock* clock = nullptr;
  // Bytes read per step while loading the log backwards at start.
  size_t load_chunk_bytes = 1 << 20;
  // Called on the flusher thread after every callback of a durable batch
  // ran, with the durable size: everything below it has been answered
  // (the sealed-readings state snapshots against it).
  std::function<void(uint64_t durable_bytes)> after_durable;
};

class TelemetryLog : public TelemetrySink {
 public:
  // Opens or creates `path` (0600). A torn last line (a crash mid-write,
  // never acknowledged) is cut off. Lines that are not JSON objects with a
  // deviceId and messageId are skipped (they are kept in the file).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TelemetryLog>> Open(
      const std::string& path, TelemetryLogOptions options = {});
  ~TelemetryLog() override;

  // Queues the records and calls `done` (on the flusher thread, or inline
  // if nothing new needs writing and nothing it matched is still being
  // written) once they are durable. A record whose key is being written by
  // another call is answered only after that write: a duplicate if it
  // became durable, and the whole call fails if it did not. On error
  // (UNAVAILABLE) nothing of this call counts as stored, a retry will be
  // accepted, and the next call tries the disk again.
  // Outcomes are kStored, kDuplicate and kConflict only.
  void AppendAsync(std::vector<LogRecord> records,
                   AppendCallback done) override;

  const std::string& path() const { return path_; }
  uint64_t durable_bytes() const;
  // How many records the dedup index holds now.
  size_t dedup_entries() const;
  // Wait until durable_bytes() > offset or `timeout_ms` passes (webhooks).
  void WaitForDataBeyond(uint64_t offset, int timeout_ms) const;

 private:
  TelemetryLog(int fd, std::string path, uint64_t size,
               const TelemetryLogOptions& options)
      : fd_(fd),
        path_(std::move(path)),
        clock_(options.clock != nullptr ? options.clock
                                        : &SystemClock::Default()),
        after_durable_(options.after_durable),
        index_(options.dedup_window),
        durable_bytes_(size) {}
  struct Waiter {
    AppendCallback done;
    std::vector<Outcome> outcomes;
  };
  [[nodiscard]] absl::Status LoadIndex(uint64_t size, size_t chunk_bytes);
  [[nodiscard]] absl::Status WriteBatch(const std::string& batch);
  void FlushLoop();

  int fd_;
  std::string path_;
  const Clock* clock_;
  std::function<void(uint64_t)> after_durable_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // durable_bytes_ advanced
  std::condition_variable work_cv_;     // something to flush / stop
  DedupIndex index_;
  // Index entries from this sequence number on are reserved by records
  // not yet durable.
  uint64_t durable_seq_ = 0;
  std::string pending_;
  std::vector<Waiter> waiters_;
  bool stopping_ = false;
  uint64_t durable_bytes_;
  // A write failed: the file may hold bytes beyond durable_bytes_ that
  // must be cut off before anything else is appended.
  bool tail_dirty_ = false;
  std::thread flusher_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SINKS_TELEMETRY_LOG_H_
