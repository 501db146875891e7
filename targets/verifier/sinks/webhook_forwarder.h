// Webhook sink: forwards accepted telemetry to a receiver over HTTPS (or,
// when the configuration explicitly allows it, plain HTTP), signing each
// delivery with HMAC-SHA256 over the delivery id, a timestamp and the body:
//
//   X-Cxsec-Delivery: <log offset>   (idempotency key for the receiver)
//   X-Cxsec-Timestamp: <unix seconds>
//   X-Cxsec-Signature: v2=<hex HMAC-SHA256(secret,
//                          "v2." + delivery + "." + timestamp + "." + body)>
//
// The delivery id is inside the MAC because receivers deduplicate on it: a
// MAC that left it out (v1) let anyone who saw one delivery replay it under
// a new id (processed twice) or give a new delivery an old id (dropped as a
// duplicate). A receiver that checks the signature and refuses timestamps
// older than a few minutes cannot be fed a captured delivery again later.
//
// https:// receivers are reached with the gateway's uplink client
// (transports/uplink/https_client.h): the chain must verify against the
// configured CA bundle and the certificate must name the URL's host, so
// there is one TLS verification path in cxsec, not two.
//
// The durable retry queue is the NDJSON log itself plus a cursor file (the
// offset delivered so far, replaced atomically): nothing acknowledged to a
// gateway can be lost before it is delivered, a receiver outage (or a
// receiver whose certificate is refused) only delays delivery (exponential
// backoff, each failure counted and logged without the secret), and after
// a crash delivery resumes from the cursor (at-least-once).
//
// With the Redis sink (StartFromStream) the forwarder is instead a member
// of a consumer group on the shared stream: each instance's forwarder
// takes its share of the entries, acknowledges an entry only after the
// receiver answered 2xx, and takes over entries a dead instance left
// pending (RedisStreamConsumer). Each entry is one delivery whose id is
// derived from the entry id (StreamDeliveryId), so the same message has
// the same id whichever instance delivers it.
#ifndef CXSEC_TARGETS_VERIFIER_SINKS_WEBHOOK_FORWARDER_H_
#define CXSEC_TARGETS_VERIFIER_SINKS_WEBHOOK_FORWARDER_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/secret_bytes.h"
#include "targets/verifier/http/plain_http_client.h"
#include "targets/verifier/sinks/redis_stream_consumer.h"
#include "targets/verifier/sinks/telemetry_log.h"
#include "transports/uplink/https_client.h"

namespace cxsec::verifier {

// The configuration key that lets webhooks go over plain http://.
inline constexpr char kWebhookAllowPlainHttpKey[] = "webhook_allow_plain_http";

// Debian's system trust store, used for https:// webhooks when no CA file
// is configured.
inline constexpr char kSystemCaBundlePath[] =
    "/etc/ssl/certs/ca-certificates.crt";

struct WebhookOptions {
  std::string url;  // https://host[:port][/path], or http://host:port[/path]
  // PEM text of the CAs a https:// receiver's chain must verify against.
  std::string ca_bundle_pem;
  // http:// is refused unless this is set (config: webhook_allow_plain_http).
  bool allow_plain_http = false;
  SecretBytes secret;       // HMAC key, at least 16 bytes
  std::string cursor_path;  // where the delivered offset is kept (0600)
  size_t max_batch_bytes = 256 * 1024;
  absl::Duration timeout = absl::Seconds(5);
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(30);
};

// CheckWebhookUrl accepts an https:// URL, and an http://host:port URL only
// when `allow_plain_http`; the error names kWebhookAllowPlainHttpKey.
[[nodiscard]] absl::Status CheckWebhookUrl(absl::string_view url,
                                           bool allow_plain_http);

// WebhookSignature computes the X-Cxsec-Signature value, "v2=<hex>", over
// "v2." + delivery_id + "." + timestamp + "." + body.
std::string WebhookSignature(ByteView secret, absl::string_view delivery_id,
                             absl::string_view timestamp,
                             absl::string_view body);

// VerifyWebhookSignature is what a receiver runs: the delivery id and the
// timestamp are decimal numbers, the timestamp is within `tolerance` of
// now, and one "v2=" entry of the (comma-separated) signature header
// matches in constant time. A header with only v1 (which did not cover the
// delivery id) is refused.
[[nodiscard]] absl::Status VerifyWebhookSignature(
    ByteView secret, absl::string_view delivery_header,
    absl::string_view timestamp_header, absl::string_view signature_header,
    absl::string_view body, absl::Time now,
    absl::Duration tolerance = absl::Minutes(5));

// StreamDeliveryId maps a stream entry id "MS-SEQ" to the decimal
// X-Cxsec-Delivery MS * 1,000,000 + SEQ (receivers take delivery ids as
// decimal digits). Distinct for every id Redis assigns with XADD '*' (a
// sequence number reaches 10^6 only after a million appends within one
// millisecond); an id it cannot map is INVALID_ARGUMENT.
[[nodiscard]] absl::StatusOr<std::string> StreamDeliveryId(
    absl::string_view entry_id);

class WebhookForwarder {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<WebhookForwarder>> Start(
      TelemetryLog* log, WebhookOptions options, const Clock* clock);
  // StartFromStream forwards the entries `consumer` hands out (one
  // delivery per entry, acknowledged after a 2xx answer); `cursor_path` is
  // not used. The consumer connects in the background: an unreachable
  // Redis delays delivery, like an unreachable receiver.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<WebhookForwarder>>
  StartFromStream(std::unique_ptr<RedisStreamConsumer> consumer,
                  WebhookOptions options, const Clock* clock);
  ~WebhookForwarder();
  // The NDJSON log's offset delivered so far; with the stream, the number
  // of entries delivered.
  uint64_t delivered_offset() const { return delivered_.load(); }
  uint64_t failed_attempts() const { return failures_.load(); }

  // Failed deliveries whose cause was the receiver's certificate (unknown
  // CA, wrong host name, expired); they are also in failed_attempts().
  uint64_t certificate_rejections() const {
    return certificate_rejections_.load();
  }
  // RenderMetrics gives the counters above and the undelivered backlog in
  // Prometheus text format (cxsec_webhook_*), for /metrics.
  std::string RenderMetrics() const;

 private:
  WebhookForwarder(TelemetryLog* log, WebhookOptions options,
                   const Clock* clock, std::unique_ptr<HttpsClient> https,
                   HttpEndpoint plain_endpoint, std::string path,
                   uint64_t offset, int fd)
      : log_(log),
        options_(std::move(options)),
        clock_(clock),
        https_(std::move(https)),
        plain_endpoint_(std::move(plain_endpoint)),
        path_(std::move(path)),
        delivered_(offset),
        fd_(fd) {}
  // Post sends one signed delivery and returns the receiver's HTTP status.
  absl::StatusOr<unsigned> Post(
      const std::vector<std::pair<std::string, std::string>>& headers,
      const std::string& body);
  void Loop();
  absl::Status DeliverOnce(uint64_t durable);
  // DeliverFromStream delivers the next entry in hand (fetching a batch
  // when none is); `idle` is set when nothing was there to deliver.
  absl::Status DeliverFromStream(bool* idle);
  void SleepFor(absl::Duration d);

  TelemetryLog* log_;
  WebhookOptions options_;
  const Clock* clock_;
  std::unique_ptr<HttpsClient> https_;  // https:// receivers
  HttpEndpoint plain_endpoint_;         // http:// receivers (opt-in)
  std::string path_;
  std::atomic<uint64_t> delivered_;
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> certificate_rejections_{0};
  int fd_;
  std::unique_ptr<RedisStreamConsumer> stream_;  // StartFromStream only
  std::vector<StreamEntry> in_hand_;             // fetched, not yet delivered
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SINKS_WEBHOOK_FORWARDER_H_
