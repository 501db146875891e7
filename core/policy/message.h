// VerifiedMessage: what a transport produces once a frame has passed its
// security checks (DTLS session keyed by a device PSK, Mioty MIC and replay
// counter), and what an uplink carries to the cloud.
#ifndef CXSEC_CORE_POLICY_MESSAGE_H_
#define CXSEC_CORE_POLICY_MESSAGE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/bytes.h"

namespace cxsec {

struct VerifiedMessage {
  std::string device_id;   // "D" + 16 hex digits, or a Mioty EUI-64
  std::string message_id;  // unique per device and stable across retries
  std::string transport;   // the transport's kName, e.g. "dtls", "mioty"
  absl::Time received_at;
  Bytes payload;           // the node's payload (CBOR)
};

// MessageSink: where a transport hands messages. OK means the message is
// durably accepted (spooled); an error means it is not, and the transport
// must tell the node (e.g. CoAP 5.03) instead of acknowledging it.
using MessageSink = std::function<absl::Status(VerifiedMessage)>;

// BearerTokenSource: yields the current credential an uplink presents to
// the cloud (a JWT minted from the identity).
using BearerTokenSource = std::function<absl::StatusOr<std::string>()>;

}  // namespace cxsec

#endif  // CXSEC_CORE_POLICY_MESSAGE_H_
