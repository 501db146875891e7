#include "targets/verifier/sinks/telemetry_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/encoding/hex.h"
#include "nlohmann/json.hpp"

namespace cxsec::verifier {

std::string DedupKey(absl::string_view device_id, absl::string_view message_id) {
  // '\n' cannot occur in either id (both are validated), so it separates.
  return absl::StrCat(device_id, "\n", message_id);
}

absl::StatusOr<std::unique_ptr<TelemetryLog>> TelemetryLog::Open(
    const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot open telemetry log: ", strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat(path, ": fstat: ", strerror(errno)));
  }
  std::string content(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = pread(fd, content.data() + done, content.size() - done,
                      static_cast<off_t>(done));
    if (n <= 0) {
      ::close(fd);
      return absl::UnavailableError(absl::StrCat(path, ": read failed"));
    }
    done += static_cast<size_t>(n);
  }
  size_t complete = content.rfind('\n');
  complete = complete == std::string::npos ? 0 : complete + 1;
  if (complete != content.size()) {
    if (ftruncate(fd, static_cast<off_t>(complete)) != 0 || fdatasync(fd) != 0) {
      ::close(fd);
      return absl::UnavailableError(absl::StrCat(path, ": cannot cut torn tail"));
    }
    content.resize(complete);
  }
  std::unique_ptr<TelemetryLog> log(new TelemetryLog(fd, path, complete));
  for (absl::string_view line : absl::StrSplit(content, '\n', absl::SkipEmpty())) {
    nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.is_object()) continue;
    std::optional<Sha256Digest> digest;
    auto hash = record.find("payloadSha256");
    if (hash != record.end() && hash->is_string()) {
      absl::StatusOr<Bytes> bytes = HexDecodeExact(
          hash->get_ref<const std::string&>(), 32, "payloadSha256");
      if (bytes.ok()) {
        digest.emplace();
        std::copy(bytes->begin(), bytes->end(), digest->begin());
      }
    }
    log->keys_.insert_or_assign(
        DedupKey(record.value("deviceId", ""), record.value("messageId", "")),
        digest);
  }
  log->flusher_ = std::thread([l = log.get()] { l->FlushLoop(); });
  return log;
}

TelemetryLog::~TelemetryLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  ::close(fd_);
}

uint64_t TelemetryLog::durable_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_bytes_;
}

void TelemetryLog::WaitForDataBeyond(uint64_t offset, int timeout_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return durable_bytes_ > offset; });
}

void TelemetryLog::AppendAsync(std::vector<LogRecord> records, AppendCallback done) {
  Waiter waiter;
  waiter.outcomes.assign(records.size(), Outcome::kDuplicate);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.ok()) {
      absl::Status failed = failed_;
      // Outside the lock would be nicer, but the callback only builds a
      // response; it does not call back into the log.
      done(failed);
      return;
    }
    for (size_t i = 0; i < records.size(); ++i) {
      auto [stored, inserted] =
          keys_.try_emplace(records[i].dedup_key, records[i].payload_sha256);
      if (!inserted) {
        bool differs = stored->second.has_value() &&
                       records[i].payload_sha256.has_value() &&
                       *stored->second != *records[i].payload_sha256;
        waiter.outcomes[i] = differs ? Outcome::kConflict : Outcome::kDuplicate;
        continue;
      }
      waiter.reserved_keys.push_back(records[i].dedup_key);
      waiter.outcomes[i] = Outcome::kStored;
      absl::StrAppend(&pending_, records[i].line, "\n");
    }
    if (!waiter.reserved_keys.empty()) {
      waiter.done = std::move(done);
      waiters_.push_back(std::move(waiter));
      work_cv_.notify_one();
      return;
    }
  }
  done(std::move(waiter.outcomes));  // all duplicates: nothing to write
}

absl::StatusOr<std::vector<TelemetryLog::Outcome>> TelemetryLog::AppendDurably(
    std::vector<LogRecord> records) {
  std::mutex m;
  std::condition_variable cv;
  std::optional<absl::StatusOr<std::vector<Outcome>>> result;
  AppendAsync(std::move(records), [&](absl::StatusOr<std::vector<Outcome>> r) {
    std::lock_guard<std::mutex> lock(m);
    result = std::move(r);
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return result.has_value(); });
  return std::move(*result);
}

void TelemetryLog::FlushLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !waiters_.empty(); });
    if (waiters_.empty() && stopping_) return;
    // Everything queued while the previous fdatasync ran goes in one batch.
    std::string batch;
    batch.swap(pending_);
    std::vector<Waiter> group;
    group.swap(waiters_);
    lock.unlock();
    absl::Status status;
    size_t done = 0;
    while (done < batch.size()) {
      ssize_t n = ::write(fd_, batch.data() + done, batch.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        status = absl::UnavailableError(
            absl::StrCat(path_, ": write failed: ", strerror(errno)));
        break;
      }
      done += static_cast<size_t>(n);
    }
    if (status.ok() && fdatasync(fd_) != 0) {
      status = absl::UnavailableError(
          absl::StrCat(path_, ": fdatasync failed: ", strerror(errno)));
    }
    lock.lock();
    if (status.ok()) {
      durable_bytes_ += batch.size();
    } else {
      // The file may now hold a partial batch: stop accepting rather than
      // acknowledge anything after an unknown state (restart cuts the tail).
      failed_ = status;
      for (const Waiter& w : group) {
        for (const std::string& key : w.reserved_keys) keys_.erase(key);
      }
      // Records queued behind the failure are refused too.
      for (const Waiter& w : waiters_) {
        for (const std::string& key : w.reserved_keys) keys_.erase(key);
        group.push_back(Waiter{w.done, {}, {}});
      }
      waiters_.clear();
      pending_.clear();
    }
    cv_.notify_all();
    lock.unlock();
    for (Waiter& w : group) {
      if (status.ok()) {
        w.done(std::move(w.outcomes));
      } else {
        w.done(status);
      }
    }
    lock.lock();
  }
}

}  // namespace cxsec::verifier
