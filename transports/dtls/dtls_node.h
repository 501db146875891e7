// The node side of the 6LoWPAN transport: a libcoap (GnuTLS) DTLS-PSK
// client that posts CBOR telemetry to a gateway's POST /t, and fetches its
// next-epoch PSK from GET /k during a key rollover.
//
// - Confirmable requests: libcoap retransmits (ack_timeout, max_retransmit);
//   when the session is lost (NACK, DTLS alert, timeout, or a gateway that
//   forgot it) the node drops it, handshakes again and resends the same
//   request. Each reading carries the node's reading id (CoAP option
//   kReadingIdOption, message_ids.h: a random per-boot prefix and a
//   counter), kept across retransmissions, new sessions and gateway
//   restarts, so the gateway's message id for it never changes.
// - Key material lives in a key file of mode 0600 (node_key_file.h); a
//   broader mode is refused. A rotated key is written atomically before it
//   is used, so a power cut leaves the old or the new key, never neither.
//
// libcoap 4.3.1 is not thread-safe: a DtlsNode owns its coap_context_t and
// must be used from one thread at a time.
#ifndef CXSEC_TRANSPORTS_DTLS_DTLS_NODE_H_
#define CXSEC_TRANSPORTS_DTLS_DTLS_NODE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/bytes.h"
#include "core/deployment/node_key_file.h"

struct coap_context_t;
struct coap_session_t;

namespace cxsec::dtls {

// CoAP Content-Format numbers (RFC 7252 section 12.3) of what a node posts:
// telemetry CBOR, or a sealed-reading envelope (docs/SEALED_READINGS.md),
// which is no CBOR.
inline constexpr int kContentFormatCbor = 60;
inline constexpr int kContentFormatOctetStream = 42;

// SealReading: turns one reading's CBOR into the sealed envelope the node
// posts instead (cxsec-node's NodeSealer::SealNext). Called once per
// reading, so every retransmission and new session carries the same
// envelope (the same sequence): the verifier sees an honest retry, never a
// second use of a sequence.
using SealReading = std::function<absl::StatusOr<Bytes>(ByteView reading)>;

// SealedReadingFields: integer fields added to the data map of a reading
// before it is sealed (cxsec-node's receipt tracker: "ur", "rs"), so they
// travel inside the envelope where the gateway cannot change them.
using SealedReadingFields =
    std::function<std::vector<std::pair<std::string, int64_t>>()>;

// SealedReadingAcknowledged: told of every sealed reading the gateway
// answered 2.04, with the envelope sent and the answer's payload (the seal
// receipts the gateway passes back; docs/SEALED_READINGS.md, "Receipts").
using SealedReadingAcknowledged =
    std::function<void(ByteView envelope, ByteView answer)>;

struct DtlsNodeOptions {
  std::string gateway_host = "127.0.0.1";
  uint16_t gateway_port = 5684;
  std::string key_file;                      // mode 0600
  absl::Duration request_timeout = absl::Seconds(20);
  unsigned max_retransmit = 4;               // CoAP MAX_RETRANSMIT
  unsigned ack_timeout_seconds = 2;          // CoAP ACK_TIMEOUT
  int max_attempts = 2;                      // sessions tried per request
  // Wait before each new session after a failed attempt: this long, then
  // doubling, at most 4 s. Zero retries at once. A gateway that restarts
  // (kill -9, an update) refuses the first attempts outright (ICMP port
  // unreachable), so without a wait every attempt is spent in milliseconds
  // and the reading is lost; cxsec-node sets 250 ms with 8 attempts.
  absl::Duration retry_backoff = absl::ZeroDuration();
  // Send the bare device id as PSK identity (the gateway's current epoch)
  // instead of "<id>.<epoch>".
  bool bare_identity = false;
  // When set, PostReading and RunPeriodic seal each reading with it and
  // post the envelope (Content-Format application/octet-stream).
  SealReading seal_reading;
  // Optional, with seal_reading only: fields for each reading's data map,
  // and what to tell of each acknowledged sealed reading.
  SealedReadingFields sealed_reading_fields;
  SealedReadingAcknowledged on_sealed_acknowledged;
  // Added to every reading as "m" (a test marker: with sealing in
  // encrypted mode it must never be visible between node and verifier).
  std::string reading_marker;
};

// CoapResponse: the code as class*100+detail (204 = 2.04) and the body.
struct CoapResponse {
  int code = 0;
  Bytes body;
  // On the ACK of the request (true) or in a separate message after an
  // empty ACK (false).
  bool piggybacked = false;
};

class DtlsNode {
 public:
  // Open loads the key file (refusing modes broader than 0600).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<DtlsNode>> Open(
      DtlsNodeOptions options);
  ~DtlsNode();
  DtlsNode(const DtlsNode&) = delete;
  DtlsNode& operator=(const DtlsNode&) = delete;

  // Post sends one payload to POST /t (telemetry CBOR, or with
  // kContentFormatOctetStream a sealed envelope) and succeeds on 2.04 only.
  [[nodiscard]] absl::Status Post(ByteView payload,
                                  int content_format = kContentFormatCbor);
  // PostReading encodes {"v3":{"s":...,"d":data}}, seals it when the
  // options say so, and posts it. A failure to seal (the sequence could not
  // be persisted) sends nothing and is FailedPrecondition, not Unavailable.
  [[nodiscard]] absl::Status PostReading(bool event, int64_t temperature_mc);

  // RotateKeyIfOffered asks GET /k for a next-epoch key; if the gateway is
  // in a rollover, unwraps it, persists it, switches to it (the next request
  // handshakes with the new key) and returns true.
  [[nodiscard]] absl::StatusOr<bool> RotateKeyIfOffered();

  // Exchange sends one confirmable request and waits for its response.
  // With `send_reading_id` the request carries the node's reading id (the
  // same bytes in every attempt); Post sets it, a bare Exchange does not,
  // which is how a third-party client without one looks to the gateway.
  [[nodiscard]] absl::StatusOr<CoapResponse> Exchange(
      int method, absl::string_view path, ByteView payload,
      bool send_reading_id = false, int content_format = kContentFormatCbor);

  // RunPeriodic posts a reading every `interval` (and checks for a key
  // rollover every `rekey_every` posts) until `stop` or `count` posts.
  // Fails, after the last post, if any reading got no 2.04 (Unavailable);
  // stops at once if a reading cannot be sealed (a local fault that no
  // retry fixes).
  [[nodiscard]] absl::Status RunPeriodic(absl::Duration interval, int count,
                                         int rekey_every,
                                         const std::atomic<bool>* stop);

  uint32_t epoch() const { return key_.epoch; }
  const std::string& device_id() const { return key_.device_id; }
  int handshakes() const { return handshakes_; }
  // Drops the DTLS session as if the gateway or radio lost it.
  void DropSession();

  // State the libcoap callbacks write (public for the C trampolines).
  struct Pending {
    Bytes token;
    bool done = false;
    bool failed = false;
    CoapResponse response;
  };
  Pending pending_;
  bool session_lost_ = false;
  int handshakes_ = 0;

 private:
  DtlsNode(DtlsNodeOptions options, NodeKey key);
  [[nodiscard]] absl::Status EnsureSession();
  // PostForAnswer: Post, returning the 2.04's payload.
  [[nodiscard]] absl::StatusOr<Bytes> PostForAnswer(ByteView payload,
                                                    int content_format);

  DtlsNodeOptions options_;
  NodeKey key_;
  coap_context_t* context_ = nullptr;
  coap_session_t* session_ = nullptr;
  bool session_established_ = false;
  uint64_t next_token_ = 0;
};

// LoadNodeKey reads and parses a node key file (0600 required).
[[nodiscard]] absl::StatusOr<NodeKey> LoadNodeKey(const std::string& path);

}  // namespace cxsec::dtls

#endif  // CXSEC_TRANSPORTS_DTLS_DTLS_NODE_H_
