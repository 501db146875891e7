#include "targets/verifier/sinks/telemetry_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/crypto/primitives.h"
#include "core/encoding/hex.h"
#include "core/status.h"
#include "nlohmann/json.hpp"

namespace cxsec::verifier {

// ---------------------------------------------------------------- index

DedupIndex::DedupIndex(DedupWindow window)
    : window_(window),
      // Any start works (arithmetic wraps); a large one keeps PushFront
      // while loading from going below zero.
      first_seq_(uint64_t{1} << 62),
      slots_(0, SlotHash{this}, SlotEq{this}) {
  // Slots are 32-bit sequence numbers: the window must stay below 2^32.
  window_.max_messages =
      std::clamp<uint64_t>(window_.max_messages, 1, uint64_t{1} << 31);
}

DedupIndex::KeyHash DedupIndex::HashKey(absl::string_view dedup_key) {
  Sha256Digest digest = Sha256(AsBytes(dedup_key));
  KeyHash key;
  std::copy_n(digest.begin(), key.size(), key.begin());
  return key;
}

DedupIndex::Entry DedupIndex::NewEntry(
    absl::string_view dedup_key,
    const std::optional<Sha256Digest>& payload_sha256,
    int64_t received_unix_ms) {
  return NewEntry(HashKey(dedup_key), payload_sha256, received_unix_ms);
}

DedupIndex::Entry DedupIndex::NewEntry(
    const KeyHash& key, const std::optional<Sha256Digest>& payload_sha256,
    int64_t received_unix_ms) {
  Entry entry{key, {}, payload_sha256.has_value(), received_unix_ms};
  if (payload_sha256.has_value()) {
    std::copy_n(payload_sha256->begin(), entry.payload.size(),
                entry.payload.begin());
  }
  return entry;
}

size_t DedupIndex::SlotHash::operator()(const KeyHash& key) const {
  // The key is already a uniform hash: its first bytes are the bucket hash.
  uint64_t h;
  std::memcpy(&h, key.data(), sizeof(h));
  return static_cast<size_t>(h);
}

size_t DedupIndex::SlotHash::operator()(uint32_t slot) const {
  return (*this)(index->BySlot(slot).key);
}

bool DedupIndex::SlotEq::operator()(uint32_t a, const KeyHash& b) const {
  return index->BySlot(a).key == b;
}

std::optional<uint64_t> DedupIndex::Find(const KeyHash& key) const {
  auto it = slots_.find(key);
  if (it == slots_.end()) return std::nullopt;
  return first_seq_ +
         static_cast<uint32_t>(*it - static_cast<uint32_t>(first_seq_));
}

void DedupIndex::Reserve(size_t records) {
  slots_.reserve(std::min<uint64_t>(records, window_.max_messages));
}

void DedupIndex::PopFront() {
  slots_.erase(static_cast<uint32_t>(first_seq_));
  entries_.pop_front();
  ++first_seq_;
}

uint64_t DedupIndex::PushBack(const Entry& entry) {
  while (entries_.size() >= window_.max_messages) PopFront();
  uint64_t seq = next_seq();
  entries_.push_back(entry);
  slots_.insert(static_cast<uint32_t>(seq));
  return seq;
}

bool DedupIndex::PushFront(const Entry& entry) {
  if (full() || slots_.contains(entry.key)) return false;
  entries_.push_front(entry);
  --first_seq_;
  slots_.insert(static_cast<uint32_t>(first_seq_));
  return true;
}

void DedupIndex::PopBackFrom(uint64_t seq) {
  while (!entries_.empty() && next_seq() > seq) {
    slots_.erase(static_cast<uint32_t>(next_seq() - 1));
    entries_.pop_back();
  }
}

void DedupIndex::EvictOlderThan(int64_t cutoff_unix_ms) {
  while (!entries_.empty() &&
         entries_.front().received_unix_ms < cutoff_unix_ms) {
    PopFront();
  }
}

// ------------------------------------------------------------ start-up

namespace {

// What the index needs from one stored line. The ids point into the line
// (the fast path) or into `owned_*` (lines the fast scan declined); filled
// in place, never moved, so the views stay valid.
struct RecordHeader {
  absl::string_view device_id;
  absl::string_view message_id;
  std::optional<Sha256Digest> payload_sha256;
  int64_t received_unix_ms = 0;  // 0: the line has no receivedAt
  std::string owned_device_id;
  std::string owned_message_id;
};

// 0..15 for a hex digit, -1 otherwise; a table because start-up decodes
// one digest per record of the window (millions).
constexpr std::array<int8_t, 256> kHexValue = [] {
  std::array<int8_t, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[c] = static_cast<int8_t>(hex_internal::Nibble(static_cast<char>(c)));
  return t;
}();

std::optional<Sha256Digest> DecodeDigest(absl::string_view hex) {
  Sha256Digest digest{};
  if (hex.size() != 2 * digest.size()) return std::nullopt;
  for (size_t i = 0; i < digest.size(); ++i) {
    int hi = kHexValue[static_cast<uint8_t>(hex[2 * i])];
    int lo = kHexValue[static_cast<uint8_t>(hex[2 * i + 1])];
    if ((hi | lo) < 0) return std::nullopt;
    digest[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return digest;
}

// The verifier writes its fields (sorted, escape-free for valid ids)
// before "payload", so a scan of the line's head finds them without
// parsing the payload. false: anything unusual (an escape, a legacy line
// with "payload" before "payloadSha256"); the caller parses it fully.
bool ScanHeader(absl::string_view line, RecordHeader* h) {
  bool has_device = false, has_message = false;
  const char* p = line.data();
  const char* const end = line.data() + line.size();
  auto at = [&](char c) { return p < end && *p == c; };
  // A string without escapes: memchr, as this runs over every line of
  // the window.
  auto read_string = [&](absl::string_view* out) {
    if (!at('"')) return false;
    const char* close =
        static_cast<const char*>(std::memchr(p + 1, '"', end - p - 1));
    if (close == nullptr ||
        std::memchr(p + 1, '\\', close - p - 1) != nullptr) {
      return false;
    }
    *out = absl::string_view(p + 1, close - p - 1);
    p = close + 1;
    return true;
  };
  if (!at('{')) return false;
  ++p;
  for (;;) {
    absl::string_view key;
    if (!read_string(&key) || !at(':')) return false;
    ++p;
    if (key == "payload") break;  // everything the index needs comes first
    if (at('"')) {
      absl::string_view value;
      if (!read_string(&value)) return false;
      if (key == "deviceId") {
        h->device_id = value;
        has_device = true;
      } else if (key == "messageId") {
        h->message_id = value;
        has_message = true;
      } else if (key == "payloadSha256") {
        h->payload_sha256 = DecodeDigest(value);
      }
    } else {
      const char* number = p;
      while (p < end && *p != ',' && *p != '}') {
        if (*p == '{' || *p == '[' || *p == '"') return false;
        ++p;
      }
      if (p == end || p == number) return false;
      if (key == "receivedAt" &&
          !absl::SimpleAtoi(absl::string_view(number, p - number),
                            &h->received_unix_ms)) {
        return false;
      }
    }
    if (at('}')) break;
    if (!at(',')) return false;
    ++p;
  }
  return has_device && has_message && h->payload_sha256.has_value();
}

bool ParseHeader(absl::string_view line, RecordHeader* h) {
  if (ScanHeader(line, h)) return true;
  *h = RecordHeader();
  nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
  if (record.is_discarded() || !record.is_object()) return false;
  auto device = record.find("deviceId");
  auto message = record.find("messageId");
  if (device == record.end() || !device->is_string() ||
      message == record.end() || !message->is_string()) {
    return false;
  }
  h->owned_device_id = device->get<std::string>();
  h->owned_message_id = message->get<std::string>();
  h->device_id = h->owned_device_id;
  h->message_id = h->owned_message_id;
  auto hash = record.find("payloadSha256");
  if (hash != record.end() && hash->is_string())
    h->payload_sha256 = DecodeDigest(hash->get_ref<const std::string&>());
  auto received = record.find("receivedAt");
  if (received != record.end() && received->is_number_integer())
    h->received_unix_ms = received->get<int64_t>();
  return true;
}

// The index key of a stored record: HashKey(DedupKey(device, message)),
// without building the string for ids of ordinary length.
DedupIndex::KeyHash StoredRecordKey(const RecordHeader& h) {
  char key[256];
  const size_t n = h.device_id.size() + 1 + h.message_id.size();
  if (n > sizeof(key)) {
    return DedupIndex::HashKey(DedupKey(h.device_id, h.message_id));
  }
  std::memcpy(key, h.device_id.data(), h.device_id.size());
  key[h.device_id.size()] = kDedupKeySeparator;
  std::memcpy(key + h.device_id.size() + 1, h.message_id.data(),
              h.message_id.size());
  return DedupIndex::HashKey(absl::string_view(key, n));
}

absl::Status ReadAt(int fd, const std::string& path, uint64_t offset, size_t n,
                    char* out) {
  size_t done = 0;
  while (done < n) {
    ssize_t r =
        pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      return absl::UnavailableError(absl::StrCat(
          path, ": read at offset ", offset + done,
          " failed: ", r == 0 ? "unexpected end of file" : strerror(errno)));
    }
    done += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TelemetryLog>> TelemetryLog::Open(
    const std::string& path, TelemetryLogOptions options) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot open telemetry log: ", strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat(path, ": fstat: ", strerror(e)));
  }
  size_t chunk = std::max<size_t>(options.load_chunk_bytes, 4096);
  // Cut a torn tail: find the last newline, reading backwards.
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t complete = 0;
  std::string buf;
  for (uint64_t end = size; end > 0;) {
    uint64_t start = end > chunk ? end - chunk : 0;
    buf.resize(end - start);
    if (absl::Status read = ReadAt(fd, path, start, buf.size(), buf.data());
        !read.ok()) {
      ::close(fd);
      return read;
    }
    size_t nl = buf.rfind('\n');
    if (nl != std::string::npos) {
      complete = start + nl + 1;
      break;
    }
    end = start;
  }
  if (complete != size) {
    if (ftruncate(fd, static_cast<off_t>(complete)) != 0 ||
        fdatasync(fd) != 0) {
      int e = errno;
      ::close(fd);
      return absl::UnavailableError(
          absl::StrCat(path, ": cannot cut torn tail: ", strerror(e)));
    }
  }
  std::unique_ptr<TelemetryLog> log(
      new TelemetryLog(fd, path, complete, options));
  CXSEC_RETURN_IF_ERROR(log->LoadIndex(complete, chunk));
  log->durable_seq_ = log->index_.next_seq();
  log->flusher_ = std::thread([l = log.get()] { l->FlushLoop(); });
  return log;
}

namespace {

// One record as the index needs it, parsed on the reading thread.
struct LoadedRecord {
  DedupIndex::KeyHash key;
  std::optional<Sha256Digest> payload_sha256;
  int64_t received_unix_ms;
};

// Batches of parsed records, newest first, from the thread that reads and
// parses the log to the one that fills the index; bounded, so the reader
// runs at most a few batches ahead of what the index takes.
class RecordBatches {
 public:
  static constexpr size_t kBatchRecords = 4096;
  static constexpr size_t kMaxQueued = 4;

  // Push hands over a batch; false once the consumer has stopped.
  bool Push(std::vector<LoadedRecord> batch) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stopped_ || queued_.size() < kMaxQueued; });
    if (stopped_) return false;
    queued_.push_back(std::move(batch));
    cv_.notify_all();
    return true;
  }
  // Finish: the reader has no more batches.
  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
    cv_.notify_all();
  }
  // Pop waits for the next batch; nullopt once the reader has finished and
  // everything was taken.
  std::optional<std::vector<LoadedRecord>> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return finished_ || !queued_.empty(); });
    if (queued_.empty()) return std::nullopt;
    std::vector<LoadedRecord> batch = std::move(queued_.front());
    queued_.pop_front();
    cv_.notify_all();
    return batch;
  }
  // Stop: the consumer needs no more; a waiting Push returns false.
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<LoadedRecord>> queued_;
  bool finished_ = false;
  bool stopped_ = false;
};

// ReadRecordsNewestFirst reads the log's first `size` bytes backwards in
// chunks and hands every record line, parsed, to `out`, newest first,
// until the file's start or until `out` is stopped. Lines that are not
// records are skipped (they stay in the file).
absl::Status ReadRecordsNewestFirst(int fd, const std::string& path,
                                    uint64_t size, size_t chunk_bytes,
                                    RecordBatches& out) {
  std::vector<LoadedRecord> batch;
  batch.reserve(RecordBatches::kBatchRecords);
  std::string buf;  // the log's bytes [buf_start, buf_start + buf.size())
  uint64_t buf_start = size;
  size_t end = 0;  // lines at or after buf_start + end are done
  for (;;) {
    // The line before `end` (whose newline is at end - 1) starts after the
    // previous newline, or at the file's start.
    size_t from = std::string::npos;
    if (end >= 2) {
      const void* nl = memrchr(buf.data(), '\n', end - 1);
      if (nl != nullptr) from = static_cast<const char*>(nl) - buf.data();
    }
    if (from == std::string::npos && buf_start > 0) {
      uint64_t start = buf_start > chunk_bytes ? buf_start - chunk_bytes : 0;
      std::string more(buf_start - start, '\0');
      CXSEC_RETURN_IF_ERROR(ReadAt(fd, path, start, more.size(), more.data()));
      more.append(buf, 0, end);
      end = more.size();
      buf.swap(more);
      buf_start = start;
      continue;
    }
    if (end == 0) break;  // the start of the file
    size_t line_start = from == std::string::npos ? 0 : from + 1;
    absl::string_view line(buf.data() + line_start, end - 1 - line_start);
    end = line_start;
    if (line.empty()) continue;
    RecordHeader h;
    if (!ParseHeader(line, &h)) continue;  // not a record; kept in the file
    batch.push_back(
        LoadedRecord{StoredRecordKey(h), h.payload_sha256, h.received_unix_ms});
    if (batch.size() == RecordBatches::kBatchRecords) {
      if (!out.Push(std::move(batch))) return absl::OkStatus();
      batch = std::vector<LoadedRecord>();
      batch.reserve(RecordBatches::kBatchRecords);
    }
  }
  if (!batch.empty()) out.Push(std::move(batch));
  return absl::OkStatus();
}

}  // namespace

absl::Status TelemetryLog::LoadIndex(uint64_t size, size_t chunk_bytes) {
  // Newest first, so only the window's worth of the log is read; a newer
  // record of a key wins over an older one (as appends would have had it).
  const DedupWindow& window = index_.window();
  const bool by_age = window.max_age > absl::ZeroDuration();
  const int64_t cutoff =
      by_age ? absl::ToUnixMillis(clock_->Now() - window.max_age) : 0;
  // Stored lines are over 128 bytes (the fields before the payload alone
  // are), so this bounds the records the log holds; reserving up front
  // spares the index its rehashes, each of which reads every entry again.
  index_.Reserve(size / 128);
  // Reading and parsing the lines (hashing each key) is about half of the
  // work and filling the index the other half: a thread of its own reads
  // while this one fills, so start-up takes the longer of the two.
  RecordBatches batches;
  absl::Status read_status;
  std::thread reader([&] {
    read_status =
        ReadRecordsNewestFirst(fd_, path_, size, chunk_bytes, batches);
    batches.Finish();
  });
  bool done = false;  // the window is full, or the records got too old
  while (!done) {
    std::optional<std::vector<LoadedRecord>> batch = batches.Pop();
    if (!batch.has_value()) break;
    for (const LoadedRecord& r : *batch) {
      if (index_.full() || (by_age && r.received_unix_ms < cutoff)) {
        done = true;
        break;
      }
      index_.PushFront(
          DedupIndex::NewEntry(r.key, r.payload_sha256, r.received_unix_ms));
    }
  }
  batches.Stop();
  reader.join();
  // A read error past the records the index needed does not matter.
  return done ? absl::OkStatus() : read_status;
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

size_t TelemetryLog::dedup_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return index_.size();
}

void TelemetryLog::WaitForDataBeyond(uint64_t offset, int timeout_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return durable_bytes_ > offset; });
}

void TelemetryLog::AppendAsync(std::vector<LogRecord> records,
                               AppendCallback done) {
  Waiter waiter;
  waiter.outcomes.assign(records.size(), Outcome::kDuplicate);
  // Hashing outside the lock keeps the critical section short.
  std::vector<DedupIndex::Entry> entries;
  entries.reserve(records.size());
  int64_t now_ms = absl::ToUnixMillis(clock_->Now());
  for (const LogRecord& r : records) {
    entries.push_back(
        DedupIndex::NewEntry(r.dedup_key, r.payload_sha256, now_ms));
  }
  bool must_wait = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const DedupWindow& window = index_.window();
    if (window.max_age > absl::ZeroDuration()) {
      index_.EvictOlderThan(absl::ToUnixMillis(clock_->Now() - window.max_age));
    }
    for (size_t i = 0; i < records.size(); ++i) {
      if (std::optional<uint64_t> seq = index_.Find(entries[i].key)) {
        const DedupIndex::Entry& stored = index_.At(*seq);
        bool differs = stored.has_payload && entries[i].has_payload &&
                       stored.payload != entries[i].payload;
        waiter.outcomes[i] = differs ? Outcome::kConflict : Outcome::kDuplicate;
        // Still being written by another call: this answer waits for that
        // write, so a failed write can never have been called a duplicate.
        if (*seq >= durable_seq_) must_wait = true;
        continue;
      }
      index_.PushBack(entries[i]);
      waiter.outcomes[i] = Outcome::kStored;
      must_wait = true;
      absl::StrAppend(&pending_, records[i].line, "\n");
    }
    if (must_wait) {
      waiter.done = std::move(done);
      waiters_.push_back(std::move(waiter));
      work_cv_.notify_one();
      return;
    }
  }
  done(std::move(waiter.outcomes));  // all duplicates of durable records
}

absl::Status TelemetryLog::WriteBatch(const std::string& batch) {
  // Only the flusher thread writes, and durable_bytes_ changes only here,
  // so reading it without the lock is safe on this thread.
  if (tail_dirty_) {
    // A failed write may have left part of a batch (never acknowledged):
    // cut it before appending, or it would sit in the middle of the log.
    if (ftruncate(fd_, static_cast<off_t>(durable_bytes_)) != 0 ||
        fdatasync(fd_) != 0) {
      return absl::UnavailableError(
          absl::StrCat(path_, ": cannot cut back to ", durable_bytes_,
                       " bytes after a failed write: ", strerror(errno)));
    }
    tail_dirty_ = false;
  }
  size_t done = 0;
  while (done < batch.size()) {
    ssize_t n = ::write(fd_, batch.data() + done, batch.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      tail_dirty_ = true;
      return absl::UnavailableError(absl::StrCat(
          path_, ": write failed: ", n == 0 ? "no progress" : strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  if (fdatasync(fd_) != 0) {
    // After a failed fdatasync the kernel may have dropped the dirty
    // pages: what this batch wrote is of unknown state, so it goes too.
    tail_dirty_ = true;
    return absl::UnavailableError(
        absl::StrCat(path_, ": fdatasync failed: ", strerror(errno)));
  }
  return absl::OkStatus();
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
    uint64_t group_end_seq = index_.next_seq();
    lock.unlock();
    absl::Status status = batch.empty() ? absl::OkStatus() : WriteBatch(batch);
    lock.lock();
    if (status.ok()) {
      durable_bytes_ += batch.size();
      durable_seq_ = group_end_seq;
    } else {
      std::fprintf(stderr, "cxsec-verifier: telemetry log: %s\n",
                   std::string(status.message()).c_str());
      // Everything reserved since the last durable batch is this group's or
      // queued behind it: forget those keys and fail those calls, so their
      // retries are stored. The next call tries the disk again.
      index_.PopBackFrom(durable_seq_);
      for (Waiter& w : waiters_) group.push_back(std::move(w));
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
    if (status.ok() && after_durable_) after_durable_(durable_bytes());
    lock.lock();
  }
}

}  // namespace cxsec::verifier
