// Parsing of POST /v1/telemetry bodies, separate from I/O so it can be
// fuzzed: {"messages":[{"deviceId","messageId","timestamp","payload"}]}.
// Every limit is checked before anything is stored, so a bad batch is
// refused whole with an error naming the message index and field.
#ifndef CXSEC_TARGETS_VERIFIER_SERVICE_TELEMETRY_BATCH_H_
#define CXSEC_TARGETS_VERIFIER_SERVICE_TELEMETRY_BATCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cxsec::verifier {

inline constexpr size_t kMaxMessagesPerBatch = 500;
inline constexpr size_t kMaxMessageIdBytes = 128;
inline constexpr size_t kMaxPayloadBytes = 64 * 1024;
inline constexpr int kMaxJsonDepth = 32;

struct TelemetryMessage {
  std::string device_id;
  std::string message_id;
  int64_t timestamp_ms = 0;
  std::string payload_json;  // re-serialized, compact
};

[[nodiscard]] absl::StatusOr<std::vector<TelemetryMessage>> ParseTelemetryBatch(
    absl::string_view body);

// JsonDepthWithin rejects deeply nested input before a recursive parser
// sees it (nlohmann's parser recurses per nesting level).
bool JsonDepthWithin(absl::string_view text, int max_depth);

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SERVICE_TELEMETRY_BATCH_H_
