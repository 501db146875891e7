#include "transports/uplink/https_uplink.h"

#include <algorithm>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/synchronization/mutex.h"
#include "core/encoding/base64url.h"
#include "transports/uplink/telemetry_wire.h"

namespace cxsec {

struct HttpsUplink::State {
  HttpsUplinkOptions options;
  std::unique_ptr<SqliteSpool> spool;
  std::unique_ptr<HttpsClient> client;
  BearerTokenSource tokens;
  std::thread sender;

  mutable absl::Mutex mutex;
  absl::CondVar wake;  // new message, or Stop
  bool started ABSL_GUARDED_BY(mutex) = false;
  bool stopping ABSL_GUARDED_BY(mutex) = false;
  bool pending ABSL_GUARDED_BY(mutex) = false;  // Enqueue since last Peek
  UplinkStats stats ABSL_GUARDED_BY(mutex);
  // Messages per batch now: halved while the verifier refuses batches
  // whole (400/413), doubled back after each answered batch. Sender only.
  size_t batch_limit = 0;
  // Rejection log lines: at most kRejectionLogsPerMinute a minute, the
  // rest counted and summed up in the next window's first line, so that a
  // misregistered device is visible at the gateway without flooding it.
  // Sender only.
  static constexpr int kRejectionLogsPerMinute = 10;
  absl::Time rejection_window_start = absl::InfinitePast();
  int rejection_logs_in_window = 0;
  int64_t rejection_logs_suppressed = 0;

  void LogRejection(const TelemetryResult& r) {
    absl::Time now = absl::Now();
    if (now - rejection_window_start >= absl::Minutes(1)) {
      if (rejection_logs_suppressed > 0) {
        std::fprintf(stderr,
                     "cxsec uplink: %lld more rejections in the last minute "
                     "not logged (counts on SIGTERM and in the stats)\n",
                     static_cast<long long>(rejection_logs_suppressed));
      }
      rejection_window_start = now;
      rejection_logs_in_window = 0;
      rejection_logs_suppressed = 0;
    }
    if (rejection_logs_in_window >= kRejectionLogsPerMinute) {
      ++rejection_logs_suppressed;
      return;
    }
    ++rejection_logs_in_window;
    // Ids and reasons come from the network: escaped and cut short.
    auto excerpt = [](absl::string_view text) {
      return absl::CHexEscape(text.substr(0, 64));
    };
    std::fprintf(stderr,
                 "cxsec uplink: the verifier rejected message %s of device %s "
                 "for good: %s (check that the device is registered at the "
                 "verifier under this id)\n",
                 excerpt(r.message_id).c_str(), excerpt(r.device_id).c_str(),
                 excerpt(r.reason.empty() ? "unspecified" : r.reason).c_str());
  }

  void Fail(ExponentialBackoff& backoff, const absl::Status& status) {
    absl::Duration wait = backoff.NextDelay();
    bool first = false;
    {
      absl::MutexLock lock(&mutex);
      ++stats.failed_attempts;
      first = stats.last_error.empty();
      stats.last_error = std::string(status.message());
    }
    // One line when the cloud becomes unreachable, not one per retry.
    if (first) {
      std::fprintf(stderr,
                   "cxsec uplink: %s; messages stay spooled, retrying with "
                   "backoff\n",
                   std::string(status.message()).c_str());
    }
    Sleep(wait);
  }

  void Sleep(absl::Duration wait) {
    if (options.sleeper) {
      options.sleeper(wait);
      return;
    }
    absl::MutexLock lock(&mutex);
    absl::Time deadline = absl::Now() + wait;
    while (!stopping && absl::Now() < deadline) {
      wake.WaitWithDeadline(&mutex, deadline);
    }
  }

  bool Stopping() {
    absl::MutexLock lock(&mutex);
    return stopping;
  }

  // What one SendOnce achieved.
  enum class Sent {
    kEmpty,       // nothing spooled
    kProgress,    // at least one message left the queue
    kNoProgress,  // answered, but every message is to be retried
    kSplit,       // refused whole: send a smaller batch at once
  };

  // SendOnce sends one batch of at most `batch_limit` messages. An error
  // is a failure to be retried with backoff (network, 401, 5xx, spool).
  absl::StatusOr<Sent> SendOnce() {
    {
      absl::MutexLock lock(&mutex);
      pending = false;
    }
    const absl::Time started = absl::Now();
    absl::StatusOr<std::vector<SpooledMessage>> batch =
        spool->Peek(batch_limit, options.batch_max_bytes);
    if (!batch.ok()) return batch.status();
    if (batch->empty()) return Sent::kEmpty;
    std::vector<VerifiedMessage> messages;
    messages.reserve(batch->size());
    absl::flat_hash_map<std::string, int64_t> sequence_of;
    for (const SpooledMessage& row : *batch) {
      sequence_of[absl::StrCat(row.message.device_id, "/",
                               row.message.message_id)] = row.sequence;
      messages.push_back(row.message);
    }
    absl::StatusOr<std::string> token = tokens();
    if (!token.ok()) {
      return absl::UnauthenticatedError(absl::StrCat(
          "no bearer token for the verifier: ", token.status().message()));
    }
    std::string body = EncodeTelemetryBatch(messages);
    const absl::Time built = absl::Now();
    absl::StatusOr<HttpsResponse> response =
        client->Post("/v1/telemetry", *token, "application/json", body);
    const absl::Time answered = absl::Now();
    if (!response.ok()) return response.status();
    if (response->status == 400 || response->status == 413) {
      return Refused(*batch, *response);
    }
    if (response->status != 200) {
      return absl::UnavailableError(absl::StrCat(
          "verifier answered HTTP ", response->status, " to a batch of ",
          messages.size()));
    }
    absl::StatusOr<std::vector<TelemetryResult>> results =
        DecodeTelemetryResults(response->body);
    if (!results.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "verifier's answer unusable: ", results.status().message()));
    }
    // The verifier took the batch's size: grow back towards the limit.
    batch_limit = std::min(options.batch_max_messages, batch_limit * 2);
    std::vector<int64_t> done;
    std::vector<std::pair<int64_t, const TelemetryResult*>> conflicts;
    std::vector<const TelemetryResult*> receipted;
    UplinkStats delta;
    for (const TelemetryResult& r : *results) {
      if (!r.verdict_known) ++delta.unknown_verdicts;
      // Verifiers before issue 17 answered a registry outage with
      // "rejected"/"registry_unavailable": a transient fault, not final.
      bool transient = r.verdict == TelemetryVerdict::kRetry ||
                       (r.verdict == TelemetryVerdict::kRejected &&
                        r.reason == "registry_unavailable");
      if (transient) continue;
      auto it = sequence_of.find(absl::StrCat(r.device_id, "/", r.message_id));
      if (it == sequence_of.end()) continue;  // not ours: ignore, never ack
      int64_t sequence = it->second;
      sequence_of.erase(it);
      switch (r.verdict) {
        case TelemetryVerdict::kAccepted:
          ++delta.accepted;
          done.push_back(sequence);
          if (!r.receipt.empty()) receipted.push_back(&r);
          break;
        case TelemetryVerdict::kDuplicate:
          ++delta.duplicates;
          done.push_back(sequence);
          if (!r.receipt.empty()) receipted.push_back(&r);
          break;
        case TelemetryVerdict::kRejected:
          LogRejection(r);
          ++delta.rejected;
          ++delta.rejected_by_reason[r.reason.empty() ? "unspecified"
                                                      : r.reason];
          done.push_back(sequence);
          break;
        case TelemetryVerdict::kConflict:
          conflicts.emplace_back(sequence, &r);
          break;
        case TelemetryVerdict::kRetry:
          break;
      }
    }
    absl::Status removed = spool->Remove(done);
    if (!removed.ok()) return removed;
    if (options.on_receipt) {
      for (const TelemetryResult* r : receipted) {
        absl::StatusOr<Bytes> receipt = Base64UrlDecode(r->receipt);
        if (!receipt.ok()) continue;
        options.on_receipt(r->device_id, *std::move(receipt));
        ++delta.receipts;
      }
    }
    for (const auto& [sequence, result] : conflicts) {
      absl::Status set_aside =
          SetAside(sequence, result->device_id, result->message_id, "conflict");
      if (!set_aside.ok()) return set_aside;
      ++delta.conflicts;
    }
    bool progress = !done.empty() || !conflicts.empty();
    const absl::Time acknowledged = absl::Now();
    absl::MutexLock lock(&mutex);
    ++stats.batches_sent;
    stats.messages_sent += static_cast<int64_t>(messages.size());
    stats.build_us += absl::ToInt64Microseconds(built - started);
    stats.round_trip_us += absl::ToInt64Microseconds(answered - built);
    stats.acknowledge_us += absl::ToInt64Microseconds(acknowledged - answered);
    stats.accepted += delta.accepted;
    stats.duplicates += delta.duplicates;
    stats.rejected += delta.rejected;
    stats.conflicts += delta.conflicts;
    stats.receipts += delta.receipts;
    stats.unknown_verdicts += delta.unknown_verdicts;
    for (const auto& [reason, count] : delta.rejected_by_reason) {
      stats.rejected_by_reason[reason] += count;
    }
    if (progress && !stats.last_error.empty()) {
      stats.last_error.clear();
      std::fprintf(stderr, "cxsec uplink: verifier reachable again\n");
    }
    return progress ? Sent::kProgress : Sent::kNoProgress;
  }

  // Refused handles a 400 or 413 for the whole batch: the verifier refuses
  // a batch with one bad entry, or one too large. Halve the batch until
  // the verifier takes it or one message is left; that one will never be
  // taken, so it goes to the dead-letter table instead of blocking every
  // later message.
  absl::StatusOr<Sent> Refused(const std::vector<SpooledMessage>& batch,
                               const HttpsResponse& response) {
    {
      absl::MutexLock lock(&mutex);
      ++stats.batches_sent;
      ++stats.refused_batches;
    }
    if (batch.size() > 1) {
      batch_limit = batch.size() / 2;
      return Sent::kSplit;
    }
    const VerifiedMessage& m = batch.front().message;
    std::string reason =
        absl::StrCat("http_", response.status, ":", ErrorCodeOf(response.body));
    absl::Status set_aside =
        SetAside(batch.front().sequence, m.device_id, m.message_id, reason);
    if (!set_aside.ok()) return set_aside;
    batch_limit = std::min<size_t>(options.batch_max_messages, 2);
    return Sent::kProgress;
  }

  // SetAside moves one message to the dead-letter table, counted and
  // logged (ids and the verifier's error code only: never payload bytes).
  absl::Status SetAside(int64_t sequence, const std::string& device_id,
                        const std::string& message_id,
                        const std::string& reason) {
    absl::Status moved = spool->SetAside({sequence}, reason);
    if (!moved.ok()) return moved;
    int64_t total = 0;
    {
      absl::MutexLock lock(&mutex);
      total = ++stats.set_aside;
    }
    std::fprintf(stderr,
                 "cxsec uplink: message %s of device %s set aside (%s): the "
                 "verifier will not take it; it stays in the dead_letters "
                 "table of %s (%lld set aside since start)\n",
                 Printable(message_id).c_str(), Printable(device_id).c_str(),
                 reason.c_str(), options.spool.path.c_str(),
                 static_cast<long long>(total));
    return absl::OkStatus();
  }

  // Printable: ids come from nodes; keep a log line one line of ASCII.
  static std::string Printable(absl::string_view text) {
    std::string out;
    for (char c : text.substr(0, 64)) {
      out.push_back(c > 0x20 && c < 0x7f ? c : '?');
    }
    return out;
  }

  // ErrorCodeOf: the "error" code of a verifier's JSON error body, as
  // [a-z0-9_] only (it goes into a log line and the dead-letter table).
  static std::string ErrorCodeOf(absl::string_view body) {
    constexpr absl::string_view kKey = "\"error\":\"";
    size_t at = body.find(kKey);
    std::string code;
    if (at != absl::string_view::npos) {
      for (char c : body.substr(at + kKey.size(), 64)) {
        if (c == '"') break;
        bool plain =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        code.push_back(plain ? c : '_');
      }
    }
    return code.empty() ? "unspecified" : code;
  }

  void Run() {
    ExponentialBackoff backoff(options.backoff, options.jitter_seed);
    while (!Stopping()) {
      absl::StatusOr<Sent> sent = SendOnce();
      if (!sent.ok()) {
        client->Close();
        Fail(backoff, sent.status());
        continue;
      }
      switch (*sent) {
        case Sent::kEmpty: {
          absl::MutexLock lock(&mutex);
          if (!pending && !stopping) {
            wake.WaitWithTimeout(&mutex, options.idle_wait);
          }
          break;
        }
        case Sent::kProgress:
        case Sent::kSplit:
          backoff.Reset();
          break;
        case Sent::kNoProgress:
          // The verifier answered but kept everything for later ("retry"):
          // back off as for a failure instead of spinning.
          Fail(backoff, absl::UnavailableError(
                            "verifier asked to retry the whole batch"));
          break;
      }
    }
  }
};

HttpsUplink::HttpsUplink(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
HttpsUplink::HttpsUplink(HttpsUplink&&) noexcept = default;
HttpsUplink& HttpsUplink::operator=(HttpsUplink&& other) noexcept {
  if (this != &other) {
    Stop();
    state_ = std::move(other.state_);
  }
  return *this;
}
HttpsUplink::~HttpsUplink() { Stop(); }

absl::StatusOr<HttpsUplink> HttpsUplink::Create(HttpsUplinkOptions options) {
  if (options.batch_max_messages == 0 || options.batch_max_bytes == 0) {
    return absl::InvalidArgumentError("uplink: batch limits must be positive");
  }
  if (options.spool.path.empty()) {
    return absl::InvalidArgumentError("uplink: no spool path");
  }
  // Building the client checks the URL, the CA bundle and the pins now,
  // so a bad config fails at start-up rather than at the first send.
  absl::StatusOr<std::unique_ptr<HttpsClient>> client =
      HttpsClient::Create(options.client);
  if (!client.ok()) return client.status();
  auto state = std::make_unique<State>();
  state->options = std::move(options);
  state->client = *std::move(client);
  return HttpsUplink(std::move(state));
}

absl::Status HttpsUplink::Start(BearerTokenSource tokens) {
  if (!state_) return absl::FailedPreconditionError("uplink: moved from");
  if (!tokens) {
    return absl::InvalidArgumentError(
        "uplink: Start needs a bearer token source");
  }
  {
    absl::MutexLock lock(&state_->mutex);
    if (state_->started) {
      return absl::FailedPreconditionError("uplink: already started");
    }
  }
  absl::StatusOr<std::unique_ptr<SqliteSpool>> spool =
      SqliteSpool::Open(state_->options.spool);
  if (!spool.ok()) return spool.status();
  state_->spool = *std::move(spool);
  state_->tokens = std::move(tokens);
  {
    absl::MutexLock lock(&state_->mutex);
    state_->started = true;
    state_->stopping = false;
    state_->stats = UplinkStats();
  }
  State* state = state_.get();
  state_->batch_limit = state_->options.batch_max_messages;
  state_->sender = std::thread([state] { state->Run(); });
  return absl::OkStatus();
}

absl::Status HttpsUplink::Enqueue(VerifiedMessage message) {
  if (!state_) return absl::FailedPreconditionError("uplink: moved from");
  {
    absl::MutexLock lock(&state_->mutex);
    if (!state_->started || state_->stopping) {
      return absl::FailedPreconditionError("uplink: not started");
    }
  }
  absl::Status status = state_->spool->Insert(message);
  absl::MutexLock lock(&state_->mutex);
  if (status.ok()) {
    ++state_->stats.enqueued;
    state_->pending = true;
    state_->wake.Signal();
  } else if (absl::IsResourceExhausted(status)) {
    ++state_->stats.refused_full;
  }
  return status;
}

void HttpsUplink::Stop() {
  if (!state_) return;
  {
    absl::MutexLock lock(&state_->mutex);
    if (!state_->started) return;
    state_->stopping = true;
    state_->wake.SignalAll();
  }
  if (state_->sender.joinable()) state_->sender.join();
  absl::MutexLock lock(&state_->mutex);
  state_->started = false;
}

UplinkStats HttpsUplink::stats() const {
  if (!state_) return UplinkStats();
  UplinkStats stats;
  {
    absl::MutexLock lock(&state_->mutex);
    stats = state_->stats;
  }
  if (state_->spool) stats.spooled_now = state_->spool->Count();
  return stats;
}

}  // namespace cxsec
