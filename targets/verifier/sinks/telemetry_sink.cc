#include "targets/verifier/sinks/telemetry_sink.h"

#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"

namespace cxsec::verifier {

std::string DedupKey(absl::string_view device_id,
                     absl::string_view message_id) {
  return absl::StrCat(device_id, absl::string_view(&kDedupKeySeparator, 1),
                      message_id);
}

absl::StatusOr<std::vector<TelemetrySink::Outcome>>
TelemetrySink::AppendDurably(std::vector<LogRecord> records) {
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

}  // namespace cxsec::verifier
