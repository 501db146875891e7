// The embedded telemetry sink: an append-only NDJSON file. Appends from
// concurrent requests are group-committed by one flusher thread (one write
// + fdatasync for everything queued meanwhile), and a request is answered
// only after its records are on disk, so every acknowledged message
// survives a crash or SIGKILL. Callers are told through a callback, so
// server threads never block on the disk.
// It also owns de-duplication: a (deviceId, messageId) pair already in
// the log, or being written, is never stored again. The SHA-256 of each
// record's payload is kept with its key (and written into the record as
// "payloadSha256"), so the same ids with the same payload are a
// "duplicate", and the same ids with a different payload a "conflict": one
// gateway cannot suppress another's reading by sending its ids first. The
// index is rebuilt from the log at start; records written before the hash
// existed have none, and a later message with their ids counts as a
// duplicate whatever its payload (docs/VERIFIER_API.md).
#ifndef CXSEC_TARGETS_VERIFIER_SINKS_TELEMETRY_LOG_H_
#define CXSEC_TARGETS_VERIFIER_SINKS_TELEMETRY_LOG_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/crypto/crypto_backend.h"

namespace cxsec::verifier {

struct LogRecord {
  std::string dedup_key;  // DedupKey(deviceId, messageId)
  std::string line;       // one JSON object, no newline
  // SHA-256 of the payload, also in `line` as "payloadSha256" (hex);
  // nullopt: unknown, never a conflict.
  std::optional<Sha256Digest> payload_sha256;
};

std::string DedupKey(absl::string_view device_id, absl::string_view message_id);

class TelemetryLog {
 public:
  // Opens or creates `path` (0600). A torn last line (a crash mid-write,
  // never acknowledged) is cut off.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TelemetryLog>> Open(
      const std::string& path);
  ~TelemetryLog();

  enum class Outcome {
    kStored,     // written and durable
    kDuplicate,  // the key is stored with the same (or an unknown) payload
    kConflict,   // the key is stored with a different payload
  };
  using AppendCallback = std::function<void(absl::StatusOr<std::vector<Outcome>>)>;
  // Queues the records and calls `done` (on the flusher thread, or inline
  // if nothing new needs writing) once they are durable. On error nothing
  // of this call counts as stored (and a retry will be accepted).
  void AppendAsync(std::vector<LogRecord> records, AppendCallback done);
  // The blocking form of AppendAsync.
  [[nodiscard]] absl::StatusOr<std::vector<Outcome>> AppendDurably(
      std::vector<LogRecord> records);

  const std::string& path() const { return path_; }
  uint64_t durable_bytes() const;
  // Wait until durable_bytes() > offset or `timeout_ms` passes (webhooks).
  void WaitForDataBeyond(uint64_t offset, int timeout_ms) const;

 private:
  TelemetryLog(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), durable_bytes_(size) {}
  struct Waiter {
    AppendCallback done;
    std::vector<Outcome> outcomes;
    std::vector<std::string> reserved_keys;
  };
  void FlushLoop();

  int fd_;
  std::string path_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;        // durable_bytes_ advanced
  std::condition_variable work_cv_;           // something to flush / stop
  // Dedup index: key -> payload hash (nullopt for records without one).
  absl::flat_hash_map<std::string, std::optional<Sha256Digest>> keys_;
  std::string pending_;
  std::vector<Waiter> waiters_;
  bool stopping_ = false;
  uint64_t durable_bytes_;
  absl::Status failed_;
  std::thread flusher_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SINKS_TELEMETRY_LOG_H_
