#include "targets/verifier/sinks/webhook_forwarder.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/crypto/primitives.h"
#include "core/encoding/hex.h"
#include "core/status.h"
#include "platforms/posix/files.h"
#include "transports/uplink/https_url.h"

namespace cxsec::verifier {
namespace {

constexpr char kSignatureVersion[] = "v2";

bool IsDecimal(absl::string_view text, size_t max_digits) {
  if (text.empty() || text.size() > max_digits) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// PlainHttpParts splits "http://host:port[/path]" into the endpoint and
// the request path.
absl::Status PlainHttpParts(absl::string_view url, HttpEndpoint* endpoint,
                            std::string* path) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError("webhook URL must start with http://");
  }
  size_t slash = rest.find('/');
  // No user info (it would be sent in clear and logged), query or fragment,
  // as for https:// URLs (https_url.h).
  if (rest.substr(0, slash).find_first_of("@?#") != absl::string_view::npos ||
      (slash != absl::string_view::npos &&
       rest.substr(slash).find_first_of("?#") != absl::string_view::npos)) {
    return absl::InvalidArgumentError(
        "webhook URL must not carry user info, a query or a fragment");
  }
  *path =
      slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  absl::StatusOr<HttpEndpoint> parsed = HttpEndpoint::ParseHttpUrl(
      absl::StrCat("http://", rest.substr(0, slash)));
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        "webhook URL must be http://HOST:PORT[/PATH]");
  }
  *endpoint = *parsed;
  return absl::OkStatus();
}

// Where a delivery goes, for log lines: scheme, host and port only. The
// path is left out because receivers often put a secret token in it.
std::string ReceiverForLogs(absl::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return "webhook receiver";
  absl::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  authority = authority.substr(authority.rfind('@') + 1);  // no user info
  return absl::StrCat(url.substr(0, scheme_end + 3), authority);
}

}  // namespace

absl::Status CheckWebhookUrl(absl::string_view url, bool allow_plain_http) {
  if (absl::StartsWith(url, "https://")) {
    absl::StatusOr<HttpsUrl> parsed = ParseHttpsUrl(url);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("webhook_url: ", parsed.status().message()));
    }
    return absl::OkStatus();
  }
  if (absl::StartsWith(url, "http://")) {
    if (!allow_plain_http) {
      return absl::InvalidArgumentError(absl::StrCat(
          "webhook_url is plain http://: telemetry and its signatures would "
          "cross the network readable and alterable; use https://, or set '",
          kWebhookAllowPlainHttpKey,
          " = true' to accept that (trusted networks only)"));
    }
    HttpEndpoint endpoint;
    std::string path;
    return PlainHttpParts(url, &endpoint, &path);
  }
  return absl::InvalidArgumentError(
      "webhook_url must start with https:// (or http:// with "
      "webhook_allow_plain_http = true)");
}

std::string WebhookSignature(ByteView secret, absl::string_view delivery_id,
                             absl::string_view timestamp,
                             absl::string_view body) {
  std::string signed_text = absl::StrCat(kSignatureVersion, ".", delivery_id,
                                         ".", timestamp, ".", body);
  Sha256Digest mac = HmacSha256(secret, AsBytes(signed_text));
  return absl::StrCat(kSignatureVersion, "=",
                      HexEncode(ByteView(mac.data(), mac.size())));
}

absl::Status VerifyWebhookSignature(ByteView secret,
                                    absl::string_view delivery_header,
                                    absl::string_view timestamp_header,
                                    absl::string_view signature_header,
                                    absl::string_view body, absl::Time now,
                                    absl::Duration tolerance) {
  // Digits only: the signed text is then unambiguous ('.' cannot occur).
  if (!IsDecimal(delivery_header, 20)) {
    return absl::UnauthenticatedError(
        "X-Cxsec-Delivery is not a decimal number");
  }
  int64_t ts = 0;
  if (!IsDecimal(timestamp_header, 18) ||
      !absl::SimpleAtoi(timestamp_header, &ts)) {
    return absl::UnauthenticatedError("X-Cxsec-Timestamp is not a number");
  }
  if (absl::AbsDuration(now - absl::FromUnixSeconds(ts)) > tolerance) {
    return absl::UnauthenticatedError(
        "X-Cxsec-Timestamp is outside the tolerance (replay?)");
  }
  std::string expected =
      WebhookSignature(secret, delivery_header, timestamp_header, body);
  bool has_v2 = false;
  bool matched = false;
  for (absl::string_view entry : absl::StrSplit(signature_header, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (!absl::StartsWith(entry, "v2=")) continue;  // other versions
    has_v2 = true;
    matched |= expected.size() == entry.size() &&
               ConstantTimeEquals(AsBytes(expected), AsBytes(entry));
  }
  if (!has_v2) {
    return absl::UnauthenticatedError(
        "X-Cxsec-Signature has no v2= signature (v1 did not cover the "
        "delivery id and is no longer sent or accepted)");
  }
  if (!matched) {
    return absl::UnauthenticatedError("X-Cxsec-Signature does not match");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StreamDeliveryId(absl::string_view entry_id) {
  size_t dash = entry_id.find('-');
  uint64_t ms = 0, seq = 0;
  if (dash == absl::string_view::npos ||
      !IsDecimal(entry_id.substr(0, dash), 13) ||
      !IsDecimal(entry_id.substr(dash + 1), 6) ||
      !absl::SimpleAtoi(entry_id.substr(0, dash), &ms) ||
      !absl::SimpleAtoi(entry_id.substr(dash + 1), &seq) ||
      ms > 9'000'000'000'000ULL || seq >= 1'000'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream entry id '", entry_id,
                     "' has no decimal delivery id"));
  }
  return absl::StrCat(ms * 1'000'000 + seq);
}

namespace {

// The receiver's client, for either kind of source.
absl::Status MakeReceiverClient(const WebhookOptions& options,
                                std::unique_ptr<HttpsClient>* https,
                                HttpEndpoint* plain_endpoint,
                                std::string* path) {
  if (options.secret.size() < 16) {
    return absl::InvalidArgumentError(
        "webhook secret must be at least 16 bytes");
  }
  CXSEC_RETURN_IF_ERROR(CheckWebhookUrl(options.url, options.allow_plain_http));
  if (absl::StartsWith(options.url, "https://")) {
    HttpsClientOptions client_options;
    client_options.url = options.url;
    client_options.ca_bundle_pem = options.ca_bundle_pem;
    client_options.timeout = options.timeout;
    client_options.max_response_bytes = 64 * 1024;
    client_options.user_agent = "cxsec-verifier";
    client_options.peer_name = "webhook receiver";
    absl::StatusOr<std::unique_ptr<HttpsClient>> client =
        HttpsClient::Create(client_options);
    if (!client.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "webhook receiver's CA bundle: ", client.status().message()));
    }
    *https = *std::move(client);
    return absl::OkStatus();
  }
  return PlainHttpParts(options.url, plain_endpoint, path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebhookForwarder>> WebhookForwarder::Start(
    TelemetryLog* log, WebhookOptions options, const Clock* clock) {
  std::unique_ptr<HttpsClient> https;
  HttpEndpoint plain_endpoint;
  std::string path;
  CXSEC_RETURN_IF_ERROR(
      MakeReceiverClient(options, &https, &plain_endpoint, &path));
  uint64_t offset = 0;
  absl::StatusOr<std::string> cursor = ReadFileBounded(options.cursor_path, 64);
  if (cursor.ok()) {
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*cursor), &offset)) {
      return absl::DataLossError(
          absl::StrCat(options.cursor_path, ": not a byte offset"));
    }
  }
  int fd = ::open(log->path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat(log->path(), ": cannot open for webhooks"));
  }
  std::unique_ptr<WebhookForwarder> forwarder(new WebhookForwarder(
      log, std::move(options), clock, std::move(https),
      std::move(plain_endpoint), std::move(path), offset, fd));
  forwarder->thread_ = std::thread([f = forwarder.get()] { f->Loop(); });
  return forwarder;
}

absl::StatusOr<std::unique_ptr<WebhookForwarder>>
WebhookForwarder::StartFromStream(std::unique_ptr<RedisStreamConsumer> consumer,
                                  WebhookOptions options, const Clock* clock) {
  if (consumer == nullptr) {
    return absl::InvalidArgumentError("webhook: no stream consumer");
  }
  std::unique_ptr<HttpsClient> https;
  HttpEndpoint plain_endpoint;
  std::string path;
  CXSEC_RETURN_IF_ERROR(
      MakeReceiverClient(options, &https, &plain_endpoint, &path));
  std::unique_ptr<WebhookForwarder> forwarder(new WebhookForwarder(
      nullptr, std::move(options), clock, std::move(https),
      std::move(plain_endpoint), std::move(path), 0, -1));
  forwarder->stream_ = std::move(consumer);
  forwarder->thread_ = std::thread([f = forwarder.get()] { f->Loop(); });
  return forwarder;
}

WebhookForwarder::~WebhookForwarder() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void WebhookForwarder::SleepFor(absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(d),
                    [this] { return stopping_; });
}

std::string WebhookForwarder::RenderMetrics() const {
  uint64_t delivered = delivered_.load();
  uint64_t durable = log_ != nullptr ? log_->durable_bytes() : 0;
  std::string backlog =
      log_ != nullptr
          ? absl::StrCat(
                "# HELP cxsec_webhook_backlog_bytes Log bytes not yet "
                "delivered.\n"
                "# TYPE cxsec_webhook_backlog_bytes gauge\n"
                "cxsec_webhook_backlog_bytes ",
                durable > delivered ? durable - delivered : 0, "\n")
          : absl::StrCat(
                "# HELP cxsec_webhook_delivered_entries_total Stream entries "
                "delivered by this instance.\n"
                "# TYPE cxsec_webhook_delivered_entries_total counter\n"
                "cxsec_webhook_delivered_entries_total ",
                delivered, "\n");
  return absl::StrCat(
      "# HELP cxsec_webhook_failed_attempts_total Webhook deliveries that "
      "failed (retried).\n"
      "# TYPE cxsec_webhook_failed_attempts_total counter\n"
      "cxsec_webhook_failed_attempts_total ",
      failures_.load(),
      "\n"
      "# HELP cxsec_webhook_certificate_rejections_total Failed deliveries "
      "whose receiver certificate was refused.\n"
      "# TYPE cxsec_webhook_certificate_rejections_total counter\n"
      "cxsec_webhook_certificate_rejections_total ",
      certificate_rejections_.load(), "\n", backlog);
}

absl::StatusOr<unsigned> WebhookForwarder::Post(
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body) {
  if (https_ != nullptr) {
    absl::StatusOr<HttpsResponse> response =
        https_->PostWithHeaders("", "application/x-ndjson", headers, body);
    if (!response.ok()) return response.status();
    return static_cast<unsigned>(response->status);
  }
  std::vector<std::pair<std::string, std::string>> all = headers;
  all.emplace_back("Content-Type", "application/x-ndjson");
  absl::StatusOr<PlainHttpResponse> response = SendHttpRequest(
      plain_endpoint_, "POST", path_, all, body, options_.timeout, 64 * 1024);
  if (!response.ok()) return response.status();
  return response->status;
}

absl::Status WebhookForwarder::DeliverOnce(uint64_t durable) {
  uint64_t offset = delivered_.load();
  size_t want = static_cast<size_t>(
      std::min<uint64_t>(durable - offset, options_.max_batch_bytes));
  std::string body(want, '\0');
  ssize_t n = pread(fd_, body.data(), want, static_cast<off_t>(offset));
  if (n <= 0) return absl::UnavailableError("cannot read the telemetry log");
  body.resize(static_cast<size_t>(n));
  size_t end = body.rfind('\n');
  if (end == std::string::npos) {
    // One line longer than a batch: send it whole (bounded by the log's
    // own per-message limits).
    size_t line_max = 4 * 1024 * 1024;
    body.resize(
        static_cast<size_t>(std::min<uint64_t>(durable - offset, line_max)));
    n = pread(fd_, body.data(), body.size(), static_cast<off_t>(offset));
    if (n <= 0) return absl::UnavailableError("cannot read the telemetry log");
    body.resize(static_cast<size_t>(n));
    end = body.find('\n');
    if (end == std::string::npos)
      return absl::DataLossError("unterminated log line");
  }
  body.resize(end + 1);
  std::string delivery = absl::StrCat(offset);
  std::string timestamp = absl::StrCat(absl::ToUnixSeconds(clock_->Now()));
  std::string signature = WebhookSignature(
      options_.secret.Reveal(SecretAccess::Grant()), delivery, timestamp, body);
  absl::StatusOr<unsigned> status = Post({{"X-Cxsec-Delivery", delivery},
                                          {"X-Cxsec-Timestamp", timestamp},
                                          {"X-Cxsec-Signature", signature}},
                                         body);
  if (!status.ok()) return status.status();
  if (*status < 200 || *status > 299) {
    return absl::UnavailableError(
        absl::StrCat("webhook answered HTTP ", *status));
  }
  uint64_t next = offset + body.size();
  CXSEC_RETURN_IF_ERROR(WriteFileAtomically(options_.cursor_path,
                                            absl::StrCat(next, "\n"), 0600));
  delivered_.store(next);
  return absl::OkStatus();
}

absl::Status WebhookForwarder::DeliverFromStream(bool* idle) {
  *idle = false;
  if (in_hand_.empty()) {
    absl::StatusOr<std::vector<StreamEntry>> batch = stream_->Next(16);
    if (!batch.ok()) return batch.status();
    in_hand_ = *std::move(batch);
    if (in_hand_.empty()) {
      *idle = true;
      return absl::OkStatus();
    }
  }
  const StreamEntry entry = in_hand_.front();
  absl::StatusOr<std::string> delivery = StreamDeliveryId(entry.id);
  if (entry.has_record && delivery.ok()) {
    std::string body = entry.record + "\n";
    std::string timestamp = absl::StrCat(absl::ToUnixSeconds(clock_->Now()));
    std::string signature =
        WebhookSignature(options_.secret.Reveal(SecretAccess::Grant()),
                         *delivery, timestamp, body);
    absl::StatusOr<unsigned> status = Post({{"X-Cxsec-Delivery", *delivery},
                                            {"X-Cxsec-Timestamp", timestamp},
                                            {"X-Cxsec-Signature", signature}},
                                           body);
    if (!status.ok()) return status.status();  // kept in hand, retried
    if (*status < 200 || *status > 299) {
      return absl::UnavailableError(
          absl::StrCat("webhook answered HTTP ", *status));
    }
    delivered_.fetch_add(1);
  } else {
    std::fprintf(stderr,
                 "cxsec-verifier: webhook: stream entry %s skipped (%s)\n",
                 entry.id.c_str(),
                 entry.has_record ? std::string(delivery.status().message()).c_str()
                                  : "no record");
  }
  in_hand_.erase(in_hand_.begin());
  if (absl::Status acked = stream_->Ack({entry}); !acked.ok()) {
    // Delivered but not acknowledged: it comes back after the reconnect
    // and is delivered again under the same id (at-least-once).
    std::fprintf(stderr, "cxsec-verifier: webhook: XACK failed: %s\n",
                 std::string(acked.message()).c_str());
  }
  return absl::OkStatus();
}

void WebhookForwarder::Loop() {
  absl::Duration backoff = options_.initial_backoff;
  uint64_t failed_in_a_row = 0;
  const std::string receiver = ReceiverForLogs(options_.url);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    absl::Status delivered;
    if (stream_ != nullptr) {
      bool idle = false;
      delivered = DeliverFromStream(&idle);
      if (delivered.ok() && idle) continue;  // Next waited for new entries
    } else {
      uint64_t durable = log_->durable_bytes();
      if (delivered_.load() >= durable) {
        log_->WaitForDataBeyond(delivered_.load(), 200);
        continue;
      }
      delivered = DeliverOnce(durable);
    }
    if (delivered.ok()) {
      if (failed_in_a_row > 0) {
        std::fprintf(stderr,
                     "cxsec-verifier: webhook %s: delivering again after %llu "
                     "failed attempts\n",
                     receiver.c_str(),
                     static_cast<unsigned long long>(failed_in_a_row));
      }
      failed_in_a_row = 0;
      backoff = options_.initial_backoff;
      continue;
    }
    failures_.fetch_add(1);
    ++failed_in_a_row;
    // A refused certificate is Unauthenticated (https_client.h); it is
    // retried like an outage, since an operator may fix the receiver.
    if (absl::IsUnauthenticated(delivered)) {
      certificate_rejections_.fetch_add(1);
    }
    // The status names the receiver's host and the cause, never the
    // secret, the signature or the URL's path.
    std::fprintf(stderr,
                 "cxsec-verifier: webhook %s: delivery failed (attempt %llu, "
                 "retrying in %s): %s\n",
                 receiver.c_str(),
                 static_cast<unsigned long long>(failed_in_a_row),
                 absl::FormatDuration(backoff).c_str(),
                 std::string(delivered.message()).c_str());
    SleepFor(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace cxsec::verifier
