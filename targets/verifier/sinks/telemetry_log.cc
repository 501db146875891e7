#include "targets/verifier/sinks/telemetry_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
    log->keys_.insert(DedupKey(record.value("deviceId", ""),
                               record.value("messageId", "")));
  }
  return log;
}

TelemetryLog::~TelemetryLog() { ::close(fd_); }

uint64_t TelemetryLog::durable_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_bytes_;
}

void TelemetryLog::WaitForDataBeyond(uint64_t offset, int timeout_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return durable_bytes_ > offset; });
}

absl::StatusOr<std::vector<TelemetryLog::Outcome>> TelemetryLog::AppendDurably(
    std::vector<LogRecord> records) {
  std::vector<Outcome> outcomes(records.size(), Outcome::kDuplicate);
  std::vector<std::string> reserved;
  std::unique_lock<std::mutex> lock(mu_);
  if (!failed_.ok()) return failed_;
  bool any = false;
  for (size_t i = 0; i < records.size(); ++i) {
    if (!keys_.insert(records[i].dedup_key).second) continue;
    reserved.push_back(records[i].dedup_key);
    outcomes[i] = Outcome::kStored;
    absl::StrAppend(&pending_, records[i].line, "\n");
    any = true;
  }
  if (!any) return outcomes;
  uint64_t my_seq = ++appended_seq_;
  while (durable_seq_ < my_seq && failed_.ok()) {
    if (flushing_) {
      cv_.wait(lock);
      continue;
    }
    // Leader: write everything queued so far with one fdatasync.
    flushing_ = true;
    std::string batch;
    batch.swap(pending_);
    uint64_t batch_seq = appended_seq_;
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
    flushing_ = false;
    if (status.ok()) {
      durable_seq_ = batch_seq;
      durable_bytes_ += batch.size();
    } else {
      // The file may now hold a partial batch: stop accepting rather than
      // acknowledge anything after an unknown state (restart cuts the tail).
      failed_ = status;
    }
    cv_.notify_all();
  }
  if (!failed_.ok()) {
    for (const std::string& key : reserved) keys_.erase(key);
    return failed_;
  }
  return outcomes;
}

}  // namespace cxsec::verifier
