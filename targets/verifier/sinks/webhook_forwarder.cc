#include "targets/verifier/sinks/webhook_forwarder.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/crypto/primitives.h"
#include "core/encoding/hex.h"
#include "core/status.h"
#include "platforms/posix/files.h"

namespace cxsec::verifier {

std::string WebhookSignature(ByteView secret, absl::string_view timestamp,
                             absl::string_view body) {
  std::string signed_text = absl::StrCat(timestamp, ".", body);
  Sha256Digest mac = HmacSha256(secret, AsBytes(signed_text));
  return absl::StrCat("v1=", HexEncode(ByteView(mac.data(), mac.size())));
}

absl::Status VerifyWebhookSignature(ByteView secret, absl::string_view timestamp_header,
                                    absl::string_view signature_header,
                                    absl::string_view body, absl::Time now,
                                    absl::Duration tolerance) {
  int64_t ts = 0;
  if (!absl::SimpleAtoi(timestamp_header, &ts)) {
    return absl::UnauthenticatedError("X-Cxsec-Timestamp is not a number");
  }
  if (absl::AbsDuration(now - absl::FromUnixSeconds(ts)) > tolerance) {
    return absl::UnauthenticatedError("X-Cxsec-Timestamp is outside the tolerance (replay?)");
  }
  std::string expected = WebhookSignature(secret, timestamp_header, body);
  if (expected.size() != signature_header.size() ||
      !ConstantTimeEquals(AsBytes(expected), AsBytes(signature_header))) {
    return absl::UnauthenticatedError("X-Cxsec-Signature does not match");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WebhookForwarder>> WebhookForwarder::Start(
    TelemetryLog* log, WebhookOptions options, const Clock* clock) {
  if (options.secret.size() < 16) {
    return absl::InvalidArgumentError("webhook secret must be at least 16 bytes");
  }
  absl::string_view rest = options.url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook URL '", options.url, "' must start with http://"));
  }
  size_t slash = rest.find('/');
  std::string path = slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  absl::StatusOr<HttpEndpoint> endpoint =
      HttpEndpoint::ParseHttpUrl(absl::StrCat("http://", rest.substr(0, slash)));
  if (!endpoint.ok()) return endpoint.status();
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
    return absl::UnavailableError(absl::StrCat(log->path(), ": cannot open for webhooks"));
  }
  std::unique_ptr<WebhookForwarder> forwarder(new WebhookForwarder(
      log, std::move(options), clock, *endpoint, path, offset, fd));
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
  ::close(fd_);
}

void WebhookForwarder::SleepFor(absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stopping_; });
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
    body.resize(static_cast<size_t>(std::min<uint64_t>(durable - offset, line_max)));
    n = pread(fd_, body.data(), body.size(), static_cast<off_t>(offset));
    if (n <= 0) return absl::UnavailableError("cannot read the telemetry log");
    body.resize(static_cast<size_t>(n));
    end = body.find('\n');
    if (end == std::string::npos) return absl::DataLossError("unterminated log line");
  }
  body.resize(end + 1);
  std::string timestamp = absl::StrCat(absl::ToUnixSeconds(clock_->Now()));
  std::string signature =
      WebhookSignature(options_.secret.Reveal(SecretAccess::Grant()), timestamp, body);
  absl::StatusOr<PlainHttpResponse> response = SendHttpRequest(
      endpoint_, "POST", path_,
      {{"Content-Type", "application/x-ndjson"},
       {"X-Cxsec-Timestamp", timestamp},
       {"X-Cxsec-Signature", signature},
       {"X-Cxsec-Delivery", absl::StrCat(offset)}},
      body, options_.timeout, 64 * 1024);
  if (!response.ok()) return response.status();
  if (response->status < 200 || response->status > 299) {
    return absl::UnavailableError(absl::StrCat("webhook answered HTTP ", response->status));
  }
  uint64_t next = offset + body.size();
  CXSEC_RETURN_IF_ERROR(
      WriteFileAtomically(options_.cursor_path, absl::StrCat(next, "\n"), 0600));
  delivered_.store(next);
  return absl::OkStatus();
}

void WebhookForwarder::Loop() {
  absl::Duration backoff = options_.initial_backoff;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    uint64_t durable = log_->durable_bytes();
    if (delivered_.load() >= durable) {
      log_->WaitForDataBeyond(delivered_.load(), 200);
      continue;
    }
    absl::Status delivered = DeliverOnce(durable);
    if (delivered.ok()) {
      backoff = options_.initial_backoff;
      continue;
    }
    failures_.fetch_add(1);
    SleepFor(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace cxsec::verifier
