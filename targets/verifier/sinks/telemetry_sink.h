// TelemetrySink: where the verifier stores accepted telemetry, and the one
// place that decides whether a message is new (dedup). The service hands
// each request's accepted messages to the sink and answers the gateway
// only from the sink's per-message outcomes, so "accepted" always means
// "durably stored by this sink". Two sinks implement it; configuration
// (`telemetry_sink`) picks one:
//   - TelemetryLog (sinks/telemetry_log.h): the local NDJSON file, default;
//   - RedisTelemetrySink (sinks/redis_sink.h): a Redis stream shared by
//     several verifier instances, with a shared dedup index.
//
//   sink->AppendAsync(std::move(records),
//                     [](absl::StatusOr<std::vector<TelemetrySink::Outcome>>
//                            outcomes) { ... answer the request ... });
#ifndef CXSEC_TARGETS_VERIFIER_SINKS_TELEMETRY_SINK_H_
#define CXSEC_TARGETS_VERIFIER_SINKS_TELEMETRY_SINK_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/crypto/crypto_backend.h"

namespace cxsec::verifier {

// SealedFields: what a sink that keeps the sealed-readings counter state
// itself (the Redis sink, docs/SCALE_OUT.md "Sealed readings in the
// append script") needs to apply a sealed reading in the same atomic step as storing it.
struct SealedFields {
  uint32_t epoch = 0;
  uint32_t sequence = 0;
  std::array<uint8_t, 8> tag{};
};

// LogRecord: one accepted message as a sink stores it.
struct LogRecord {
  std::string dedup_key;  // DedupKey(deviceId, messageId)
  std::string line;       // one JSON object, no newline
  // SHA-256 of the payload, also in `line` as "payloadSha256" (hex);
  // nullopt: unknown, never a conflict.
  std::optional<Sha256Digest> payload_sha256;
  // Copies of fields inside `line`, for sinks that index by them (the
  // Redis sink writes them as stream entry fields); may be empty for the
  // NDJSON log.
  std::string project;
  std::string device_id;
  std::string message_id;
  // Set for a sealed reading whose tag verified. The NDJSON log ignores it
  // (the verifier's SealAuthority commits after the line is durable); the
  // Redis sink applies it to the device's shared counter state atomically
  // with the append, and may answer kReplayedSequence or kStaleEpoch.
  std::optional<SealedFields> seal;
};

// DedupKey: the identity of a message for deduplication: the device id,
// kDedupKeySeparator, the message id. The separator cannot occur in either
// id (both are validated).
inline constexpr char kDedupKeySeparator = '\n';
std::string DedupKey(absl::string_view device_id, absl::string_view message_id);

class TelemetrySink {
 public:
  enum class Outcome {
    kStored,     // written and durable (and replicated, where required)
    kDuplicate,  // the key is stored with the same (or an unknown) payload
    kConflict,   // the key is stored with a different payload
    // Not decided now; the gateway must send it again (verdict "retry"):
    kNotReplicated,  // stored, or found stored, but the required replicas
                     // did not confirm it in time
    kStoreFailed,    // the store refused this message (e.g. Redis out of
                     // memory, a read-only replica): not stored, or (a
                     // Redis call that failed midway) stored and marked
                     // seen, so that its resend is a duplicate
    // Sealed readings, from a sink holding the shared counter state (Redis
    // sink): another instance moved the device's state past this reading
    // since this instance checked it. Nothing was stored.
    kReplayedSequence,  // below the device's replay window
    kStaleEpoch,        // an epoch before the device's current one
  };
  using AppendCallback =
      std::function<void(absl::StatusOr<std::vector<Outcome>>)>;

  virtual ~TelemetrySink() = default;

  // AppendAsync stores `records` (in order; a key that appears twice is
  // stored once) and calls `done` once with one outcome per record, on a
  // thread of the sink's (or inline). An error (UNAVAILABLE) means the
  // store could not be reached or written as a whole: nothing of this call
  // may be reported as stored, and the caller answers 503.
  virtual void AppendAsync(std::vector<LogRecord> records,
                           AppendCallback done) = 0;

  // The blocking form of AppendAsync.
  [[nodiscard]] absl::StatusOr<std::vector<Outcome>> AppendDurably(
      std::vector<LogRecord> records);
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SINKS_TELEMETRY_SINK_H_
