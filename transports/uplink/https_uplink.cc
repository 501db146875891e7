#include "transports/uplink/https_uplink.h"

#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
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

  // SendOnce sends one batch. Returns OK when the verifier answered (even
  // if some verdicts were "retry"), with *progress telling whether any
  // message left the spool; *empty when there was nothing to send.
  absl::Status SendOnce(bool* empty, bool* progress) {
    *empty = false;
    *progress = false;
    {
      absl::MutexLock lock(&mutex);
      pending = false;
    }
    absl::StatusOr<std::vector<SpooledMessage>> batch =
        spool->Peek(options.batch_max_messages, options.batch_max_bytes);
    if (!batch.ok()) return batch.status();
    if (batch->empty()) {
      *empty = true;
      return absl::OkStatus();
    }
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
    absl::StatusOr<HttpsResponse> response = client->Post(
        "/v1/telemetry", *token, "application/json",
        EncodeTelemetryBatch(messages));
    if (!response.ok()) return response.status();
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
    std::vector<int64_t> done;
    UplinkStats delta;
    for (const TelemetryResult& r : *results) {
      if (r.verdict == TelemetryVerdict::kRetry) continue;
      auto it = sequence_of.find(absl::StrCat(r.device_id, "/", r.message_id));
      if (it == sequence_of.end()) continue;  // not ours: ignore, never ack
      done.push_back(it->second);
      sequence_of.erase(it);
      switch (r.verdict) {
        case TelemetryVerdict::kAccepted:
          ++delta.accepted;
          break;
        case TelemetryVerdict::kDuplicate:
          ++delta.duplicates;
          break;
        case TelemetryVerdict::kRejected:
          ++delta.rejected;
          ++delta.rejected_by_reason[r.reason.empty() ? "unspecified"
                                                      : r.reason];
          break;
        case TelemetryVerdict::kRetry:
          break;
      }
    }
    absl::Status removed = spool->Remove(done);
    if (!removed.ok()) return removed;
    *progress = !done.empty();
    absl::MutexLock lock(&mutex);
    ++stats.batches_sent;
    stats.accepted += delta.accepted;
    stats.duplicates += delta.duplicates;
    stats.rejected += delta.rejected;
    for (const auto& [reason, count] : delta.rejected_by_reason) {
      stats.rejected_by_reason[reason] += count;
    }
    if (*progress && !stats.last_error.empty()) {
      stats.last_error.clear();
      std::fprintf(stderr, "cxsec uplink: verifier reachable again\n");
    }
    return absl::OkStatus();
  }

  void Run() {
    ExponentialBackoff backoff(options.backoff, options.jitter_seed);
    while (!Stopping()) {
      bool empty = false;
      bool progress = false;
      absl::Status status = SendOnce(&empty, &progress);
      if (!status.ok()) {
        client->Close();
        Fail(backoff, status);
        continue;
      }
      if (empty) {
        absl::MutexLock lock(&mutex);
        if (!pending && !stopping) {
          wake.WaitWithTimeout(&mutex, options.idle_wait);
        }
        continue;
      }
      if (progress) {
        backoff.Reset();
      } else {
        // The verifier answered but kept everything for later ("retry"):
        // back off as for a failure instead of spinning.
        Fail(backoff, absl::UnavailableError(
                          "verifier asked to retry the whole batch"));
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
