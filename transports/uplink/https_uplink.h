// HttpsUplink: the gateway's cxsec::Uplink policy. Enqueue commits each
// message to the durable SqliteSpool and returns OK only then; a sender
// thread posts the oldest spooled messages in batches to the verifier's
// `POST /v1/telemetry` over HttpsClient (CA bundle, host name, optional
// SPKI pin, `Authorization: Bearer` from the BearerTokenSource) and
// deletes each message only once the verifier has given it a final verdict
// (accepted, duplicate or rejected). "retry", a verdict this build does not
// know, and a missing answer keep the message for later; "conflict" moves
// it to the spool's dead-letter table. Network failures, 401, 5xx and
// unusable answers are retried forever with exponential backoff and
// jitter. A batch refused whole (400/413) is halved until the verifier
// takes it; a single message it still refuses is set aside in the
// dead-letter table (counted, logged without payload) so it cannot block
// the messages behind it. Nothing is dropped silently. Because message
// ids are stable, a batch re-sent after a crash is deduplicated by the
// verifier. Seal receipts in final answers (docs/SEALED_READINGS.md,
// "Receipts") go, undecoded beyond base64url, to `on_receipt` once their
// messages have left the spool.
//
//   HttpsUplinkOptions options;
//   options.client.url = "https://verifier.example:8443";
//   options.client.ca_bundle_pem = ca_pem;
//   options.spool.path = "/var/lib/cxsec/spool.db";
//   CXSEC_ASSIGN_OR_RETURN(HttpsUplink uplink, HttpsUplink::Create(options));
//   CXSEC_RETURN_IF_ERROR(uplink.Start(tokens));
//   CXSEC_RETURN_IF_ERROR(uplink.Enqueue(message));  // durably spooled
#ifndef CXSEC_TRANSPORTS_UPLINK_HTTPS_UPLINK_H_
#define CXSEC_TRANSPORTS_UPLINK_HTTPS_UPLINK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/bytes.h"
#include "core/policy/concepts.h"
#include "core/policy/message.h"
#include "transports/uplink/backoff.h"
#include "transports/uplink/https_client.h"
#include "transports/uplink/sqlite_spool.h"

namespace cxsec {

struct HttpsUplinkOptions {
  HttpsClientOptions client;
  SqliteSpoolOptions spool;
  size_t batch_max_messages = 256;
  // Payload bytes per batch. Payloads travel base64url-encoded (4/3 of
  // their size) inside JSON: 640 KiB stays under the verifier's 1 MiB
  // request limit (a larger batch is answered 413 and split).
  size_t batch_max_bytes = 640 << 10;
  // How long the sender sleeps with an empty spool before looking again
  // (Enqueue wakes it earlier).
  absl::Duration idle_wait = absl::Seconds(1);
  BackoffPolicy backoff;
  uint64_t jitter_seed = 0;  // 0: random
  // Tests inject a sleeper to observe and shorten backoff waits; by default
  // the sender waits on a condition variable that Stop interrupts.
  std::function<void(absl::Duration)> sleeper;
  // Told of each seal receipt the verifier answered for one of our
  // messages (accepted or duplicate), after the spool dropped it: the
  // device and the receipt's bytes, opaque to the uplink. Called on the
  // sender thread; must not block. Unset: receipts are ignored.
  std::function<void(absl::string_view device_id, Bytes receipt)> on_receipt;
};

// UplinkStats: what the uplink has done since Start (for logs, the demo
// report and tests).
struct UplinkStats {
  int64_t enqueued = 0;   // Enqueue calls that returned OK
  int64_t refused_full = 0;  // Enqueue calls refused with ResourceExhausted
  int64_t accepted = 0;   // verdict "accepted"
  int64_t duplicates = 0; // verdict "duplicate"
  int64_t rejected = 0;   // verdict "rejected"
  std::map<std::string, int64_t> rejected_by_reason;
  int64_t conflicts = 0;         // verdict "conflict" (set aside)
  int64_t receipts = 0;          // seal receipts handed to on_receipt
  int64_t unknown_verdicts = 0;  // verdicts this build does not know (kept)
  int64_t refused_batches = 0;   // batches answered 400/413 as a whole
  int64_t set_aside = 0;         // messages moved to the dead-letter table
  int64_t batches_sent = 0;
  int64_t failed_attempts = 0;  // batches that must be retried
  int64_t spooled_now = 0;
  // Where a delivered batch's time went (wall clock, microseconds, summed
  // over batches the verifier answered 200): reading it from the spool and
  // encoding it, the HTTPS round trip (the verifier's work included), and
  // decoding the answer and removing what it settled from the spool.
  int64_t messages_sent = 0;  // in those batches
  int64_t build_us = 0;
  int64_t round_trip_us = 0;
  int64_t acknowledge_us = 0;
  std::string last_error;  // the latest failure, empty after a success
};

class HttpsUplink {
 public:
  static constexpr absl::string_view kName = "https";

  // Create checks the options (URL, CA bundle, pins) without touching the
  // network or the spool.
  [[nodiscard]] static absl::StatusOr<HttpsUplink> Create(
      HttpsUplinkOptions options);

  HttpsUplink(HttpsUplink&&) noexcept;
  HttpsUplink& operator=(HttpsUplink&&) noexcept;
  ~HttpsUplink();

  // Start opens the spool (whatever an earlier run left there is sent
  // first) and starts the sender. `tokens` is asked for a bearer token
  // before every request.
  [[nodiscard]] absl::Status Start(BearerTokenSource tokens);

  // Enqueue returns OK once `message` is durably spooled; ResourceExhausted
  // when the spool is full (the transport answers CoAP 5.03);
  // FailedPrecondition before Start.
  [[nodiscard]] absl::Status Enqueue(VerifiedMessage message);

  // Stop stops the sender after its current request; spooled messages stay
  // for the next Start. Idempotent.
  void Stop();

  UplinkStats stats() const;

 private:
  struct State;
  explicit HttpsUplink(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

static_assert(Uplink<HttpsUplink>);

}  // namespace cxsec

#endif  // CXSEC_TRANSPORTS_UPLINK_HTTPS_UPLINK_H_
