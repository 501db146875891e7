// The gateway's 6LoWPAN transport: a CoAP-over-DTLS-PSK server on libcoap
// 4.3.1 with its GnuTLS backend (DTLS 1.2, TLS_PSK_WITH_AES_128_CCM_8).
//
// - PSKs are looked up per identity (identity.h) from security.txt: the
//   device's HKDF-derived key of the epoch it presents; unknown identities,
//   retired epochs and failed handshakes are logged by identity (never by
//   key) and counted.
// - POST /t takes CBOR telemetry (core/deployment/telemetry_cbor.h) or a
//   sealed reading (docs/SEALED_READINGS.md: first byte 0x20..0x3f, where
//   CBOR telemetry starts 0xa0..0xbf), whose structure alone is checked
//   (core/seal's parser; the gateway holds no key to check its tag) and
//   which is forwarded byte for byte; anything else is 4.00, saying why. A
//   verified payload goes to the MessageSink and the confirmable request is
//   answered (piggy-backed ACK) 2.04 only after the sink returned OK, i.e.
//   the payload is durably queued; a failing sink gives 5.03 so the node
//   retries. The 2.04 to a sealed reading carries the device's pending
//   seal receipts (docs/SEALED_READINGS.md, "Receipts") as its payload
//   when DtlsServerOptions::take_receipts gives any.
// - GET /k, inside the node's DTLS session, returns its next-epoch PSK
//   wrapped under a key derived from its current PSK (deployment_keys.h),
//   while a rollover is in progress.
// - Denial-of-service limits: concurrent handshakes, established sessions,
//   sessions per identity (the oldest are ended), idle timeout,
//   per-identity request rate, payload size; all in DtlsServerOptions.
// - With commit_threads > 0 the sink runs on those threads and the
//   server's thread serves other nodes meanwhile; the 2.04 to a
//   confirmable POST /t is piggybacked on its ACK once the sink returned,
//   or, when the node retransmitted first (its ACK timeout passed), sent
//   separately after an empty ACK.
// - Message ids: the node's reading id when it sends one, else a random
//   per-session nonce and the request's number (message_ids.h), so two
//   sessions never share an id and a retransmission keeps its own.
//
// libcoap 4.3.1 is not thread-safe: the coap_context_t lives entirely on
// the server's own thread. Start/Stop/ReplaceSecurity/counters may be
// called from any thread.
#ifndef CXSEC_TRANSPORTS_DTLS_DTLS_SERVER_H_
#define CXSEC_TRANSPORTS_DTLS_DTLS_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/bytes.h"
#include "core/deployment/security_file.h"
#include "core/policy/message.h"

namespace cxsec::dtls {

struct DtlsServerOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 5684;
  size_t max_handshakes = 100;        // concurrent sessions in handshake
  size_t max_sessions = 1000;         // established DTLS sessions
  // Established sessions per PSK identity (device); a new session beyond
  // it ends that device's oldest ones, so one node key cannot take every
  // slot. 0: no per-identity limit.
  size_t max_sessions_per_identity = 4;
  unsigned idle_timeout_seconds = 300;
  double requests_per_second = 10;    // per identity, token bucket rate
  double request_burst = 20;          // per identity, token bucket size
  size_t max_payload_bytes = 1024;    // CoAP payload of POST /t
  // Refuse to start unless GnuTLS offers TLS_PSK_WITH_AES_128_CCM_8 only
  // (GNUTLS_SYSTEM_PRIORITY_FILE=gnutls_psk_ccm8.conf). Only benchmarks
  // comparing against an unrestricted reference server turn this off;
  // established sessions on any other suite are refused regardless.
  bool require_ccm8_priority = true;
  // Seal receipts for the 2.04 of a sealed reading: returns (and forgets)
  // at most `max_bytes` of `device_id`'s pending receipts, concatenated,
  // which the answer carries as an application/octet-stream payload. The
  // transport neither parses nor keeps them; the gateway's composition
  // connects this to what its uplink heard from the verifier
  // (targets/gateway/gateway_core.h). Unset: 2.04 without a payload.
  // Called on the server's thread.
  std::function<Bytes(absl::string_view device_id, size_t max_bytes)>
      take_receipts;
  // Threads that hand accepted readings to the MessageSink (the gateway's
  // fsync'd spool) while the server's thread goes on serving other nodes.
  // Readings of many nodes then share one spool commit instead of
  // queueing for one fsync each. A confirmable POST /t is answered once
  // the sink returned, piggy-backed on its ACK, or separately (RFC 7252
  // 5.2.2: an empty ACK, then the 2.04 or 5.03 as a confirmable message)
  // when the node retransmitted first. 0: the sink is called on the
  // server's thread.
  size_t commit_threads = 32;
};

// DtlsServerCounters: what an operator (and the tests) can observe.
struct DtlsServerCounters {
  uint64_t handshakes_ok = 0;
  uint64_t handshakes_failed = 0;     // PSK mismatch, timeouts, alerts
  uint64_t unknown_identities = 0;    // not a device id / retired epoch
  uint64_t sessions_refused = 0;      // session limit reached
  uint64_t sessions_evicted = 0;      // per-identity limit: oldest ended
  uint64_t wrong_suite = 0;           // negotiated suite was not CCM_8
  uint64_t messages_accepted = 0;
  uint64_t sealed_accepted = 0;       // of messages_accepted: sealed readings
  uint64_t receipts_bytes_sent = 0;   // seal receipt bytes in 2.04 answers
  uint64_t malformed = 0;
  uint64_t too_large = 0;
  uint64_t rate_limited = 0;
  uint64_t sink_failures = 0;
  uint64_t keys_served = 0;
  // Readings answered with a separate CON after an empty ACK (the commit
  // outlasted the node's ACK timeout); answers not sent (the session ended
  // first, or libcoap could not build or send it; the node sends the
  // reading again); answers repeated to a retransmission that came after
  // them (their ACK was lost).
  uint64_t answers_separate = 0;
  uint64_t answers_dropped = 0;
  uint64_t answers_repeated = 0;
  // Time readings spent in the MessageSink (the spool commit), summed
  // (wall clock, microseconds), and how many calls that was.
  uint64_t sink_calls = 0;
  uint64_t sink_us = 0;
  // libcoap's walks over every session (session_walk_limiter.h): done,
  // and skipped because one ran less than an interval ago.
  uint64_t session_walks = 0;
  uint64_t session_walks_skipped = 0;
  std::string last_failed_identity;
  std::string last_cipher_suite;      // e.g. "PSK-AES-128-CCM-8 DTLS1.2"
};

// CheckCcm8OnlyPriority says whether GnuTLS, as configured for this
// process, would negotiate nothing but TLS_PSK_WITH_AES_128_CCM_8 for
// libcoap's priority strings.
[[nodiscard]] absl::Status CheckCcm8OnlyPriority();

class DtlsServer {
 public:
  static constexpr absl::string_view kName = "dtls";

  DtlsServer(DtlsServerOptions options, SecurityConfig security);
  ~DtlsServer();
  DtlsServer(const DtlsServer&) = delete;
  DtlsServer& operator=(const DtlsServer&) = delete;

  // Start binds the UDP port and begins serving on the server thread; it
  // returns once the endpoint is bound (or failed to bind).
  [[nodiscard]] absl::Status Start(MessageSink sink);
  void Stop();

  // ReplaceSecurity installs a new security.txt (start or retire a
  // rollover) without a restart; new handshakes use it at once.
  void ReplaceSecurity(SecurityConfig security);

  DtlsServerCounters Counters() const;

  // Implementation detail, public for the libcoap C callbacks.
  struct Loop;

 private:
  void Run(MessageSink sink, absl::Notification* bound, absl::Status* status);

  const DtlsServerOptions options_;
  mutable absl::Mutex mutex_;
  SecurityConfig security_ ABSL_GUARDED_BY(mutex_);
  DtlsServerCounters counters_ ABSL_GUARDED_BY(mutex_);
  std::atomic<bool> stop_{false};
  std::thread thread_;
  bool started_ = false;

  friend struct Loop;
};

}  // namespace cxsec::dtls

#endif  // CXSEC_TRANSPORTS_DTLS_DTLS_SERVER_H_
