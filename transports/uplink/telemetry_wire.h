// The wire format between the gateway's uplink and the cloud verifier:
// `POST /v1/telemetry` carries a JSON batch of messages, and the verifier
// answers each message individually, so one bad message never holds back
// (or silently drops) the others.
//
// Request body (as the verifier on branch issue-7 parses it in
// targets/verifier/service/telemetry_batch.cc):
//   {"messages": [{"deviceId": "D0123456789abcdef",
//                  "messageId": "42",
//                  "timestamp": 1714564800123,      // unix milliseconds
//                  "transport": "dtls",             // ignored by the verifier
//                  "payload": "<base64url of the node's CBOR, no padding>"},
//                 ...]}                             // 1..500 messages
// Response body (200):
//   {"results": [{"deviceId": "...", "messageId": "...",
//                 "status": "accepted" | "duplicate" | "rejected" | "retry",
//                 "error": "unknown_device"}, ...]}  // error: rejected only
//
// The whole format lives in the two function pairs below so that it can be
// adjusted in one place (docs/GATEWAY.md documents it). Decoders take
// untrusted bytes: they bound the body size, the number of entries and each
// field, and fail with the index and field name of the first bad entry.
#ifndef CXSEC_TRANSPORTS_UPLINK_TELEMETRY_WIRE_H_
#define CXSEC_TRANSPORTS_UPLINK_TELEMETRY_WIRE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/policy/message.h"

namespace cxsec {

// TelemetryWireLimits: what the decoders accept.
struct TelemetryWireLimits {
  size_t max_body_bytes = 4 << 20;
  size_t max_messages = 500;  // the verifier's kMaxMessagesPerBatch
  size_t max_id_bytes = 64;
  size_t max_payload_bytes = 16 << 10;  // decoded
  size_t max_reason_bytes = 256;
};

// The verifier's verdict on one message. Every verdict except kRetry is
// final: the gateway removes the message from its spool.
enum class TelemetryVerdict {
  kAccepted,   // verified and stored
  kDuplicate,  // already stored earlier (same deviceId + messageId)
  kRejected,   // verified as bad (reason says why); final, counted
  kRetry,      // the verifier could not decide now; send again later
};

absl::string_view TelemetryVerdictName(TelemetryVerdict verdict);

// TelemetryResult: the verifier's answer for one message.
struct TelemetryResult {
  std::string device_id;
  std::string message_id;
  TelemetryVerdict verdict = TelemetryVerdict::kRetry;
  std::string reason;  // "error" on the wire
};

// EncodeTelemetryBatch / DecodeTelemetryBatch: the request body.
[[nodiscard]] std::string EncodeTelemetryBatch(
    const std::vector<VerifiedMessage>& messages);
[[nodiscard]] absl::StatusOr<std::vector<VerifiedMessage>>
DecodeTelemetryBatch(absl::string_view body,
                     const TelemetryWireLimits& limits = {});

// EncodeTelemetryResults / DecodeTelemetryResults: the response body.
[[nodiscard]] std::string EncodeTelemetryResults(
    const std::vector<TelemetryResult>& results);
[[nodiscard]] absl::StatusOr<std::vector<TelemetryResult>>
DecodeTelemetryResults(absl::string_view body,
                       const TelemetryWireLimits& limits = {});

}  // namespace cxsec

#endif  // CXSEC_TRANSPORTS_UPLINK_TELEMETRY_WIRE_H_
