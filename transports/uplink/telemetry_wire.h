// The one definition of the wire format between the gateway's uplink and
// the cloud verifier (`POST /v1/telemetry`), used by both sides: the
// gateway encodes batches and decodes answers with it
// (transports/uplink/https_uplink.cc), the verifier decodes batches and
// encodes answers with it (targets/verifier/service/verifier_service.cc).
// A new verdict or field is added here, once, and cannot drift between
// the two. docs/VERIFIER_API.md documents the format.
//
// Request body:
//   {"messages": [{"deviceId": "D0123456789abcdef",   // [A-Za-z0-9-_.:]
//                  "messageId": "42",                  // no control chars
//                  "timestamp": 1714564800123,         // unix milliseconds
//                  "transport": "dtls",                // optional
//                  "payload": <any JSON value>},       // the gateway sends
//                 ...]}                                // base64url of CBOR
// Answer (200): one result per message, so one bad message never holds
// back the others:
//   {"results": [{"deviceId": "...", "messageId": "...",
//                 "status": "accepted" | "duplicate" | "rejected" |
//                           "conflict" | "retry",
//                 "error": "unknown_device",          // error: optional
//                 "receipt": "<base64url>"}, ...]}     // optional: a seal
//   receipt (docs/SEALED_READINGS.md, "Receipts") for a sealed DTLS
//   reading answered accepted or duplicate; opaque to the gateway
//
// Decoders take untrusted bytes: they bound the body, the nesting depth,
// the number of entries and every field, and fail with the index and field
// name of the first bad entry.
#ifndef CXSEC_TRANSPORTS_UPLINK_TELEMETRY_WIRE_H_
#define CXSEC_TRANSPORTS_UPLINK_TELEMETRY_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/policy/message.h"

namespace cxsec {

// TelemetryWireLimits: what the decoders accept. The defaults are the
// verifier's published limits (docs/VERIFIER_API.md).
struct TelemetryWireLimits {
  size_t max_body_bytes = 4 << 20;
  size_t max_messages = 500;
  size_t max_id_bytes = 128;                 // deviceId, messageId, transport
  size_t max_payload_json_bytes = 64 << 10;  // the payload as compact JSON
  int max_json_depth = 32;
  size_t max_reason_bytes = 256;
  size_t max_receipt_bytes = 64;  // base64url; a receipt is 23 characters
};

// The verifier's verdict on one message and what the gateway does with it.
// Only the verdicts marked final let the gateway drop the message from its
// spool; a verdict it does not know is decoded as kRetry, never as final.
enum class TelemetryVerdict {
  kAccepted,   // final: verified and durably stored
  kDuplicate,  // final: the same deviceId + messageId + payload is stored
  kRejected,   // final: refused for good ("error" says why), counted
  kConflict,   // final, but kept: the same deviceId + messageId is stored
               // with a different payload; the gateway sets it aside in its
               // dead-letter table for an operator, it never deletes it
  kRetry,      // not final: the verifier could not decide now (e.g. its
               // registry is unavailable); send again later
};

absl::string_view TelemetryVerdictName(TelemetryVerdict verdict);
// ParseTelemetryVerdict: the verdict named `name`, or nullopt if unknown.
std::optional<TelemetryVerdict> ParseTelemetryVerdict(absl::string_view name);

// TelemetryWireMessage: one decoded entry of a request.
struct TelemetryWireMessage {
  std::string device_id;
  std::string message_id;
  std::string transport;  // empty if absent
  int64_t timestamp_ms = 0;
  std::string payload_json;  // the payload value, compact JSON text
};

// TelemetryResult: the verifier's answer for one message.
struct TelemetryResult {
  std::string device_id;
  std::string message_id;
  TelemetryVerdict verdict = TelemetryVerdict::kRetry;
  std::string reason;  // "error" on the wire; empty: absent
  // False when the answer named a verdict this build does not know (then
  // `verdict` is kRetry).
  bool verdict_known = true;
  // "receipt" on the wire, base64url; empty: absent. The decoder drops a
  // receipt that is not a string of at most max_receipt_bytes base64url
  // characters (the rest of the answer still counts): it only ever matters
  // to the node, which checks its MAC.
  std::string receipt;
};

// EncodeTelemetryBatch: the gateway's request body (payloads as base64url
// strings).
[[nodiscard]] std::string EncodeTelemetryBatch(
    const std::vector<VerifiedMessage>& messages);
// DecodeTelemetryBatch: the verifier's view of a request body. A batch
// with any bad entry is refused whole (InvalidArgument).
[[nodiscard]] absl::StatusOr<std::vector<TelemetryWireMessage>>
DecodeTelemetryBatch(absl::string_view body,
                     const TelemetryWireLimits& limits = {});
// ToVerifiedMessage: a decoded entry whose payload is a base64url string
// (what EncodeTelemetryBatch sends) back as the gateway's message.
[[nodiscard]] absl::StatusOr<VerifiedMessage> ToVerifiedMessage(
    const TelemetryWireMessage& message);

// EncodeTelemetryResults / DecodeTelemetryResults: the answer body.
[[nodiscard]] std::string EncodeTelemetryResults(
    const std::vector<TelemetryResult>& results);
[[nodiscard]] absl::StatusOr<std::vector<TelemetryResult>>
DecodeTelemetryResults(absl::string_view body,
                       const TelemetryWireLimits& limits = {});

// JsonDepthWithin: false if `text` nests objects/arrays deeper than
// `max_depth`. A cheap scan that runs before any recursive JSON parser.
bool JsonDepthWithin(absl::string_view text, int max_depth);

}  // namespace cxsec

#endif  // CXSEC_TRANSPORTS_UPLINK_TELEMETRY_WIRE_H_
