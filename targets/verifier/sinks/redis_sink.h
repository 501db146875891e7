// RedisTelemetrySink: the scale-out telemetry sink (`telemetry_sink =
// redis`, docs/SCALE_OUT.md). Several verifier instances write accepted
// telemetry into one Redis stream and share one dedup index there, so the
// same message sent to two instances is stored once and downstream
// consumers read one stream.
//
// Each message is stored by one Lua script call (kAppendScript, run with
// EVALSHA, EVAL after NOSCRIPT) that checks the message's dedup key and,
// only if it is absent, appends the stream entry and sets the key, in one
// atomic step: an id is never marked seen without its message being
// stored, and never stored twice within the dedup window. The calls of
// everything queued meanwhile (one or more request batches) go to Redis as
// one pipeline from one worker thread; server threads never block on
// Redis.
//
// With `wait_replicas` > 0 the batch is acknowledged only after `WAIT`
// confirmed that many replicas; otherwise its messages are answered
// kNotReplicated (verdict "retry"), and so are duplicates and conflicts,
// whose original write the replicas have not confirmed either.
//
// A lost connection (Redis down, a timeout, a protocol error) fails the
// whole call with UNAVAILABLE (the service answers 503
// storage_unavailable, like the NDJSON log's write faults); the sink
// reconnects with exponential backoff (`reconnect_min` .. `reconnect_max`)
// and fails calls at once while it waits. The password is sent only in
// AUTH and never logged.
//
//   RedisSinkOptions options;
//   options.port = 6379;
//   options.wait_replicas = 1;
//   CXSEC_ASSIGN_OR_RETURN(std::unique_ptr<RedisTelemetrySink> sink,
//                          RedisTelemetrySink::Start(std::move(options)));
//   VerifierService service(&registry, &iam, &tokens, sink.get(), clock);
#ifndef CXSEC_TARGETS_VERIFIER_SINKS_REDIS_SINK_H_
#define CXSEC_TARGETS_VERIFIER_SINKS_REDIS_SINK_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/secret_bytes.h"
#include "targets/verifier/sinks/telemetry_log.h"
#include "targets/verifier/sinks/telemetry_sink.h"

struct redisContext;

namespace cxsec::verifier {

// kRedisAppendScript: the Lua script of one append (docs/SCALE_OUT.md,
// "The append script"). KEYS[1] the stream, KEYS[2] the dedup key, KEYS[3]
// the dedup window list; ARGV[1] the payload's SHA-256 (hex, may be
// empty), ARGV[2] the dedup TTL in seconds (0: none), ARGV[3] the window's
// size in messages, ARGV[4..] the stream entry's field/value pairs.
// Returns the new entry's id, "duplicate" or "conflict".
extern const char* const kRedisAppendScript;

// kRedisSealedAppendScript: the append of a sealed reading (a LogRecord
// with `seal`; docs/SCALE_OUT.md, "The sealed append script"). The same
// KEYS[1..3] and ARGV[1..3] as kRedisAppendScript, plus KEYS[4] the
// device's counter state (SealStateKey), KEYS[5] the cluster-wide seal
// statistics hash (fields "devices", "gaps"); ARGV[4] the epoch, ARGV[5]
// the sequence, ARGV[6] the 8-byte tag, ARGV[7..] the entry's fields. It
// applies the reading to the device's state exactly as ApplySealedReading
// does, and stores the entry, sets the dedup key and writes the new state
// in one atomic step, or changes nothing. Returns the entry's id,
// "duplicate", "conflict" (sequence reused with other bytes),
// "replayed_sequence" or "stale_epoch".
extern const char* const kRedisSealedAppendScript;

struct RedisSinkOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  // Every key the sink touches starts with this: PREFIX "telemetry" (the
  // stream), PREFIX "seen:" + 32 hex digits (dedup keys), PREFIX
  // "seen-order" (the window list), PREFIX "wait-fence".
  std::string key_prefix = "cxsec:";
  // AUTH: `username` (empty: the default user) and `password` (nullopt:
  // no AUTH).
  std::string username;
  std::optional<SecretBytes> password;
  // Connect, read and write timeout of one round trip (WAIT adds
  // `wait_timeout`).
  absl::Duration io_timeout = absl::Seconds(2);
  // Replicas that must confirm a batch before it is acknowledged; 0: no
  // WAIT.
  int wait_replicas = 0;
  absl::Duration wait_timeout = absl::Seconds(1);
  // The dedup window: at most max_messages keys (the oldest forgotten
  // first, across all instances), each with a TTL of max_age (zero: none).
  DedupWindow dedup_window;
  absl::Duration reconnect_min = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(5);
};

class RedisTelemetrySink : public TelemetrySink {
 public:
  // Start checks the options and starts the worker thread, which connects
  // in the background: an unreachable Redis is not an error here (calls
  // fail with UNAVAILABLE until it is reachable), bad options are
  // (INVALID_ARGUMENT).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RedisTelemetrySink>>
  Start(RedisSinkOptions options);
  // Answers everything still queued, then stops the worker.
  ~RedisTelemetrySink() override;
  RedisTelemetrySink(const RedisTelemetrySink&) = delete;
  RedisTelemetrySink& operator=(const RedisTelemetrySink&) = delete;

  // Outcomes: kStored, kDuplicate, kConflict, kNotReplicated (WAIT fell
  // short), kStoreFailed (Redis refused that call: OOM, READONLY, ...);
  // for records with `seal` also kReplayedSequence and kStaleEpoch.
  void AppendAsync(std::vector<LogRecord> records,
                   AppendCallback done) override;

  std::string stream_key() const { return options_.key_prefix + "telemetry"; }
  // DedupRedisKey: the Redis key that marks `dedup_key` (DedupKey(...)) as
  // seen: PREFIX "seen:" + hex of the first 128 bits of its SHA-256.
  std::string DedupRedisKey(absl::string_view dedup_key) const;
  // SealStateKey: the Redis key of `device_id`'s sealed-readings counter
  // state: PREFIX "seal:" + the device id.
  std::string SealStateKey(absl::string_view device_id) const {
    return absl::StrCat(options_.key_prefix, "seal:", device_id);
  }
  std::string seal_stats_key() const {
    return options_.key_prefix + "seal-stats";
  }
  // True while the worker holds a working connection.
  bool connected() const { return connected_.load(); }
  // Prometheus text: connection state, reconnects, short WAITs.
  std::string RenderMetrics() const;

 private:
  struct Waiter {
    std::vector<LogRecord> records;
    AppendCallback done;
  };
  explicit RedisTelemetrySink(RedisSinkOptions options)
      : options_(std::move(options)) {}
  void WorkLoop();
  // Store answers every waiter of `group` (on the worker thread).
  void Store(std::vector<Waiter>& group);
  [[nodiscard]] absl::Status EnsureConnected();
  [[nodiscard]] absl::Status Connect();
  void Disconnect(absl::string_view why);
  // RunScripts: one outcome per record of `group`, in order.
  [[nodiscard]] absl::StatusOr<std::vector<Outcome>> RunScripts(
      const std::vector<Waiter>& group);
  // WaitForReplicas: how many replicas confirmed everything this
  // connection wrote, including a fence write after the scripts.
  [[nodiscard]] absl::StatusOr<long long> WaitForReplicas();

  RedisSinkOptions options_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::vector<Waiter> queue_;
  bool stopping_ = false;
  std::thread worker_;

  // Worker thread only.
  redisContext* context_ = nullptr;
  std::string script_sha_;
  std::string sealed_script_sha_;
  absl::Time next_attempt_ = absl::InfinitePast();
  absl::Duration backoff_ = absl::ZeroDuration();

  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint64_t> connect_failures_{0};
  std::atomic<uint64_t> wait_short_{0};
  std::atomic<uint64_t> store_errors_{0};
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SINKS_REDIS_SINK_H_
