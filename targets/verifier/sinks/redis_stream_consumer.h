// RedisStreamConsumer: one member of a Redis Streams consumer group reading
// the verifier's telemetry stream (PREFIX "telemetry", docs/SCALE_OUT.md
// "Consumers"). `cxsec stream tail` and the webhook forwarder (with the
// Redis sink) are built on it.
//
// Delivery is at-least-once: an entry handed out by Next stays pending in
// the group (XPENDING) until Ack; if this consumer dies first, another
// member of the group reclaims it (XAUTOCLAIM) once it has been idle longer
// than `reclaim_idle`. Only reclaimed entries are ever delivered twice.
//
//   StreamConsumerOptions options{.host = "127.0.0.1", .port = 6379,
//                                 .group = "archive", .consumer = "a-1"};
//   CXSEC_ASSIGN_OR_RETURN(auto consumer, RedisStreamConsumer::Create(options));
//   for (;;) {
//     CXSEC_ASSIGN_OR_RETURN(std::vector<StreamEntry> batch, consumer->Next(100));
//     ... process every entry durably ...
//     CXSEC_RETURN_IF_ERROR(consumer->Ack(batch));
//   }
//
// Errors: UNAVAILABLE for a lost or refused connection (the next call
// reconnects; entries handed out but not acknowledged are handed out again
// after a reconnect, from this consumer's own pending list);
// PERMISSION_DENIED when AUTH is refused; FAILED_PRECONDITION for any other
// error reply of Redis (e.g. WRONGTYPE).
#ifndef CXSEC_TARGETS_VERIFIER_SINKS_REDIS_STREAM_CONSUMER_H_
#define CXSEC_TARGETS_VERIFIER_SINKS_REDIS_STREAM_CONSUMER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/secret_bytes.h"

struct redisContext;
struct redisReply;

namespace cxsec::verifier {

struct StreamConsumerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  // The stream is key_prefix + "telemetry", as the verifier's Redis sink
  // writes it (redis_key_prefix).
  std::string key_prefix = "cxsec:";
  std::string group;
  std::string consumer;
  std::optional<SecretBytes> password;
  // How long one XREADGROUP waits for new entries.
  absl::Duration block = absl::Seconds(2);
  // Pending entries of any consumer idle longer than this are claimed.
  absl::Duration reclaim_idle = absl::Seconds(60);
  // Connect and round-trip timeout (a blocking read adds `block`).
  absl::Duration io_timeout = absl::Seconds(5);
};

// StreamEntry: one stream entry. `record` is the entry's `record` field
// (the NDJSON line of the message); `has_record` is false for an entry
// deleted from the stream while pending (XTRIM) or written by someone else
// without that field.
struct StreamEntry {
  std::string id;
  std::string record;
  bool has_record = false;
  bool reclaimed = false;  // taken over from another (dead) consumer
};

class RedisStreamConsumer {
 public:
  // Create checks the options (INVALID_ARGUMENT); it does not connect.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RedisStreamConsumer>>
  Create(StreamConsumerOptions options);
  // Connect connects unless connected, and creates the group (at the
  // stream's start, with MKSTREAM) unless it exists. Next and Ack call it
  // themselves; calling it first lets a caller wait for Redis at start.
  [[nodiscard]] absl::Status Connect() { return EnsureConnected(); }
  ~RedisStreamConsumer();
  RedisStreamConsumer(const RedisStreamConsumer&) = delete;
  RedisStreamConsumer& operator=(const RedisStreamConsumer&) = delete;

  // Next returns at most `max` entries (> 0), in this order of sources:
  // this consumer's own pending entries (after a start or reconnect), then,
  // when a reclaim pass is due (at start and every reclaim_idle / 2, at
  // least 100 ms apart), entries of consumers idle longer than
  // reclaim_idle, then new entries, waiting up to `block` for them. An
  // empty result means nothing arrived within `block`.
  [[nodiscard]] absl::StatusOr<std::vector<StreamEntry>> Next(size_t max);
  // Ack acknowledges `entries` (XACK): call it only once they are
  // processed durably.
  [[nodiscard]] absl::Status Ack(const std::vector<StreamEntry>& entries);

  std::string stream_key() const { return options_.key_prefix + "telemetry"; }

 private:
  explicit RedisStreamConsumer(StreamConsumerOptions options)
      : options_(std::move(options)) {}
  [[nodiscard]] absl::Status EnsureConnected();
  void Disconnect();
  // Run sends one command; errors as described in the header comment.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<redisReply, void (*)(redisReply*)>>
  Run(const std::vector<std::string>& args);

  StreamConsumerOptions options_;
  redisContext* context_ = nullptr;
  // Next id after which this consumer's own pending list is read; empty
  // once it has been read to its end.
  std::string own_pending_from_;
  // The XAUTOCLAIM cursor of a pass in progress; empty between passes.
  std::string reclaim_cursor_;
  absl::Time next_reclaim_ = absl::InfinitePast();
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SINKS_REDIS_STREAM_CONSUMER_H_
