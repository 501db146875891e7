// RedisSealState: the sealed-readings counter state that several verifier
// instances share through Redis (telemetry_sink = redis;
// docs/SCALE_OUT.md, "Sealed readings in the append script"). The state is
// written only by the Redis sink's append script, atomically with the
// reading's stream entry and dedup key; this class only reads it, for
// the SealAuthority's cache (epoch reconstruction and early rejection), a
// device's record and the metrics.
//
//   RedisSealStateOptions options{.host = "127.0.0.1", .port = 6379};
//   auto shared = std::make_unique<RedisSealState>(std::move(options));
//   seal_options.shared_state = shared.get();
//
// One connection, opened on first use and again after an error; calls are
// serialized and block the caller for at most `io_timeout` per round trip.
#ifndef CXSEC_TARGETS_VERIFIER_SEAL_REDIS_SEAL_STATE_H_
#define CXSEC_TARGETS_VERIFIER_SEAL_REDIS_SEAL_STATE_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/secret_bytes.h"
#include "core/seal/seal_counter_state.h"
#include "targets/verifier/seal/seal_authority.h"

struct redisContext;

namespace cxsec::verifier {

// The size of one device's encoded state: a 25-byte header
// (struct '<BI4I4I4I4I8': version 1, epoch, highest sequence, window, gap
// window, gaps) and 32 tags of 8 bytes.
inline constexpr size_t kRedisSealStateSize = 25 + 32 * 8;

// DecodeRedisSealState: the state a device's key holds (`raw`, as the
// append script wrote it). DATA_LOSS for any other size or version.
[[nodiscard]] absl::StatusOr<seal::SealCounterState> DecodeRedisSealState(
    absl::string_view raw);
// EncodeRedisSealState: the inverse (tests, and a migration from a
// seal_state.json snapshot).
std::string EncodeRedisSealState(const seal::SealCounterState& state);

struct RedisSealStateOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string key_prefix = "cxsec:";  // the sink's redis_key_prefix
  std::string username;
  std::optional<SecretBytes> password;
  absl::Duration io_timeout = absl::Seconds(2);
};

class RedisSealState : public SharedSealState {
 public:
  explicit RedisSealState(RedisSealStateOptions options)
      : options_(std::move(options)) {}
  ~RedisSealState() override;
  RedisSealState(const RedisSealState&) = delete;
  RedisSealState& operator=(const RedisSealState&) = delete;

  // Load: GET PREFIX "seal:" + device id; nullopt when the device has no
  // accepted sealed reading. UNAVAILABLE when Redis cannot be reached.
  absl::StatusOr<std::optional<seal::SealCounterState>> Load(
      absl::string_view device_id) override;
  // LoadTotals: HGETALL PREFIX "seal-stats" (devices, gaps: cluster-wide).
  absl::StatusOr<Totals> LoadTotals() override;

 private:
  [[nodiscard]] absl::Status EnsureConnected();  // mu_ held
  void Disconnect();                              // mu_ held

  RedisSealStateOptions options_;
  std::mutex mu_;
  redisContext* context_ = nullptr;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SEAL_REDIS_SEAL_STATE_H_
