// RedisTelemetrySink: the scale-out telemetry sink (`telemetry_sink =
// redis`, docs/SCALE_OUT.md). Several verifier instances write accepted
// telemetry into one Redis stream and share one dedup index there, so the
// same message sent to two instances is stored once and downstream
// consumers read one stream.
//
// Messages are stored by a Lua script (kRedisAppendScript, run with
// EVALSHA, EVAL after NOSCRIPT) that, for each message in order, checks
// its dedup key and, only if it is absent, appends the stream entry and
// sets the key, in one atomic step: an id is never marked seen without
// its message being stored, and never stored twice within the dedup
// window. Everything queued meanwhile (one or more request batches) is
// stored by one call per kMessagesPerCall messages, all in one pipeline
// from one worker thread; server threads never block on Redis.
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
#include <deque>
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
struct redisReply;

namespace cxsec::verifier {

// kRedisAppendScript: the Lua script that stores a batch of messages
// (docs/SCALE_OUT.md, "The append script"). KEYS[1] the stream, KEYS[2]
// the dedup window list, KEYS[3] the seal statistics hash (fields
// "devices", "gaps"), then per message its dedup key and, for a sealed
// reading, the device's counter state (SealStateKey). ARGV[1] the dedup
// TTL in seconds (0: none), ARGV[2] the window's size in messages, then
// per message: "p" (plain) or "s" (sealed), the payload's SHA-256 (hex,
// may be empty), the number of entry fields that follow, for "s" the
// epoch, the sequence and the 8-byte tag, then the entry's field/value
// pairs. A sealed reading first moves the device's state exactly as
// ApplySealedReading does. Returns one answer per message, in order: the
// new entry's id, "duplicate", "conflict", for sealed readings also
// "replayed_sequence" or "stale_epoch", or "error: ..." (that message
// only; nothing of it written).
extern const char* const kRedisAppendScript;

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
  // Messages per script call; a group larger than this is several calls
  // in one pipeline.
  static constexpr size_t kMessagesPerCall = 128;
  struct Waiter {
    std::vector<LogRecord> records;
    AppendCallback done;
  };
  explicit RedisTelemetrySink(RedisSinkOptions options)
      : options_(std::move(options)),
        stream_key_(stream_key()),
        window_key_(options_.key_prefix + "seen-order"),
        stats_key_(seal_stats_key()),
        ttl_arg_(absl::StrCat(
            absl::ToInt64Seconds(options_.dedup_window.max_age))),
        window_size_arg_(absl::StrCat(options_.dedup_window.max_messages)) {}
  // A group of request batches sent to Redis whose replies are not read
  // yet.
  struct Flight {
    std::vector<Waiter> group;
    std::vector<const LogRecord*> records;  // into `group`
    std::vector<Outcome> outcomes;          // one per record
    std::vector<size_t> noscript;  // calls answered NOSCRIPT
    long long replicas = 0;        // WAIT's answer, if asked
    std::string first_error;       // of a refused call, for the log
    size_t calls() const {
      return (records.size() + kMessagesPerCall - 1) / kMessagesPerCall;
    }
  };
  // At most this many groups in flight: one Redis works on, one waiting
  // behind it.
  static constexpr size_t kMaxFlights = 2;

  void WorkLoop();
  // Send queues `flight`'s script calls (and INCR + WAIT) and pushes it on
  // `flights`; if it cannot, it answers it (and, when the connection
  // dropped, everything in `flights`) with the error.
  void Send(Flight flight, std::deque<Flight>& flights);
  // Receive reads the replies of the first flight and answers it (after a
  // NOSCRIPT, every flight).
  void Receive(std::deque<Flight>& flights);
  bool ReadFlight(Flight& flight);
  // ReadCallReply reads the reply to one script call of `flight`; false
  // when the connection failed.
  bool ReadCallReply(Flight& flight, size_t call);
  void ParseCallReply(Flight& flight, size_t call, const redisReply& reply);
  void Answer(Flight& flight, const absl::Status& status);
  // Disconnects and answers `unsent` and every flight UNAVAILABLE.
  void ConnectionLost(std::deque<Flight>& flights, Flight* unsent);
  [[nodiscard]] bool AppendCall(const Flight& flight, size_t call,
                                bool by_sha);
  [[nodiscard]] bool AppendWait();
  [[nodiscard]] bool ReadWait(long long& replicas);
  [[nodiscard]] bool Flush();
  [[nodiscard]] absl::Status EnsureConnected();
  [[nodiscard]] absl::Status Connect();
  void Disconnect(absl::string_view why);

  RedisSinkOptions options_;
  // The keys and arguments every script call starts with, built once.
  const std::string stream_key_;
  const std::string window_key_;
  const std::string stats_key_;
  const std::string ttl_arg_;
  const std::string window_size_arg_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::vector<Waiter> queue_;
  bool stopping_ = false;
  std::thread worker_;

  // Worker thread only.
  redisContext* context_ = nullptr;
  std::string script_sha_;
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
