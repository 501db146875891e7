// Webhook sink: forwards accepted telemetry to an HTTP receiver, signing
// each delivery with HMAC-SHA256 over "<timestamp>.<body>":
//
//   X-Cxsec-Timestamp: <unix seconds>
//   X-Cxsec-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//   X-Cxsec-Delivery: <log offset>   (idempotency key for the receiver)
//
// A receiver that checks the signature and refuses timestamps older than a
// few minutes cannot be fed a captured delivery again later, which a
// static bearer token does not give. The durable retry queue is the NDJSON
// log itself plus a cursor file (the offset delivered so far, replaced
// atomically): nothing acknowledged to a gateway can be lost before it is
// delivered, a receiver outage only delays delivery (exponential backoff),
// and after a crash delivery resumes from the cursor (at-least-once).
#ifndef CXSEC_TARGETS_VERIFIER_SINKS_WEBHOOK_FORWARDER_H_
#define CXSEC_TARGETS_VERIFIER_SINKS_WEBHOOK_FORWARDER_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/secret_bytes.h"
#include "targets/verifier/http/plain_http_client.h"
#include "targets/verifier/sinks/telemetry_log.h"

namespace cxsec::verifier {

struct WebhookOptions {
  std::string url;          // http://host:port/path
  SecretBytes secret;       // HMAC key, at least 16 bytes
  std::string cursor_path;  // where the delivered offset is kept (0600)
  size_t max_batch_bytes = 256 * 1024;
  absl::Duration timeout = absl::Seconds(5);
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(30);
};

// WebhookSignature computes the X-Cxsec-Signature value.
std::string WebhookSignature(ByteView secret, absl::string_view timestamp,
                             absl::string_view body);

// VerifyWebhookSignature is what a receiver runs: signature matches
// (constant time) and the timestamp is within `tolerance` of now.
[[nodiscard]] absl::Status VerifyWebhookSignature(
    ByteView secret, absl::string_view timestamp_header,
    absl::string_view signature_header, absl::string_view body, absl::Time now,
    absl::Duration tolerance = absl::Minutes(5));

class WebhookForwarder {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<WebhookForwarder>> Start(
      TelemetryLog* log, WebhookOptions options, const Clock* clock);
  ~WebhookForwarder();
  uint64_t delivered_offset() const { return delivered_.load(); }
  uint64_t failed_attempts() const { return failures_.load(); }

 private:
  WebhookForwarder(TelemetryLog* log, WebhookOptions options, const Clock* clock,
                   HttpEndpoint endpoint, std::string path, uint64_t offset, int fd)
      : log_(log), options_(std::move(options)), clock_(clock),
        endpoint_(std::move(endpoint)), path_(std::move(path)), delivered_(offset),
        fd_(fd) {}
  void Loop();
  absl::Status DeliverOnce(uint64_t durable);
  void SleepFor(absl::Duration d);

  TelemetryLog* log_;
  WebhookOptions options_;
  const Clock* clock_;
  HttpEndpoint endpoint_;
  std::string path_;
  std::atomic<uint64_t> delivered_;
  std::atomic<uint64_t> failures_{0};
  int fd_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SINKS_WEBHOOK_FORWARDER_H_
