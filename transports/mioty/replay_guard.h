// ReplayGuard: per-device replay protection for Mioty uplinks, persisted so
// that it survives kill -9, power loss and restarts.
//
// For each EUI-64 it keeps the highest accepted 32-bit packet counter and a
// bitmap of which of the `window` counters below it were accepted. A frame
// is accepted when its counter is above the highest by at most `max_jump`,
// or (window > 0 only) less than `window` below it and not yet seen. With
// the default window 0, anything at or below the highest is a replay.
//
// A device the guard has no state for (a new or roaming gateway, a wiped
// state directory) used to be taken at whatever counter it sent, so every
// frame it had ever sent could be replayed once to such a gateway. The key
// store now gives each device a minimum counter (MiotyDevice::min_counter):
// the guard refuses counters below it, whatever its state, and rebuilds the
// first frame's upper counter bits from it.
//
// The state of each device lives in <dir>/<eui>.counter, replaced with
// WriteFileAtomically (temp file, fsync, rename, directory fsync) before a
// frame is handed on, so a frame that was ever delivered can never be
// delivered again, whatever moment the process dies at. A state file that
// cannot be parsed fails closed: that device's frames are refused until an
// operator looks.
//
//   CXSEC_ASSIGN_OR_RETURN(ReplayState state, guard.State(eui));
//   CXSEC_ASSIGN_OR_RETURN(ReplayState next, guard.Admit(state, counter));
//   CXSEC_RETURN_IF_ERROR(guard.Commit(eui, next));
#ifndef CXSEC_TRANSPORTS_MIOTY_REPLAY_GUARD_H_
#define CXSEC_TRANSPORTS_MIOTY_REPLAY_GUARD_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/mioty/frame.h"

namespace cxsec::mioty {

struct ReplayPolicy {
  // Counters accepted out of order below the highest (0..63).
  uint32_t window = 0;
  // Largest accepted step above the highest counter. At most 2^23: the
  // counter's upper 8 bits are rebuilt as the value nearest the highest,
  // so larger steps cannot be told apart from old frames anyway.
  uint32_t max_jump = 1u << 16;
};

inline constexpr uint32_t kMaxReplayWindow = 63;
inline constexpr uint32_t kMaxReplayJump = 1u << 23;

// ReplayState: what the guard knows of one device.
struct ReplayState {
  std::optional<uint32_t> highest;  // none before the first frame
  uint64_t seen = 0;  // bit k: counter highest - k was accepted

  bool operator==(const ReplayState&) const = default;
};

class ReplayGuard {
 public:
  // Open uses (and creates, mode 0700) `dir` for the state files.
  [[nodiscard]] static absl::StatusOr<ReplayGuard> Open(std::string dir,
                                                        ReplayPolicy policy);

  const ReplayPolicy& policy() const { return policy_; }

  // State returns a device's state, reading its file on first use.
  [[nodiscard]] absl::StatusOr<ReplayState> State(const Eui64& eui);

  // Admit decides on `counter` given `state` and the device's minimum
  // counter from the key store: the next state, or an error naming why
  // (below the minimum, replayed counter, jump too large). A state below the
  // minimum is stale (the minimum was raised after it was written) and
  // counts as no state: the first counter at or above the minimum is taken,
  // as the first frame of a device is. Pure; persists nothing.
  [[nodiscard]] absl::StatusOr<ReplayState> Admit(
      const ReplayState& state, uint32_t counter,
      uint32_t min_counter = 0) const;

  // ReferenceCounter: the counter a frame's 24 low bits are rebuilt around
  // (ReconstructCounter): the last accepted one, or, with no state or a
  // stale one, the one just below the minimum; nullopt with neither.
  static std::optional<uint32_t> ReferenceCounter(const ReplayState& state,
                                                  uint32_t min_counter);

  // Commit persists `state` for `eui` (crash-safe) and then remembers it.
  // If persisting fails the remembered state is unchanged.
  [[nodiscard]] absl::Status Commit(const Eui64& eui, const ReplayState& state);

  // PathFor names the state file of `eui`.
  std::string PathFor(const Eui64& eui) const;

  // Encode/Decode the state file's one line.
  static std::string EncodeState(const ReplayState& state);
  [[nodiscard]] static absl::StatusOr<ReplayState> DecodeState(
      absl::string_view text, absl::string_view source);

 private:
  ReplayGuard(std::string dir, ReplayPolicy policy)
      : dir_(std::move(dir)), policy_(policy) {}

  std::string dir_;
  ReplayPolicy policy_;
  absl::flat_hash_map<uint64_t, ReplayState> cache_;
};

}  // namespace cxsec::mioty

#endif  // CXSEC_TRANSPORTS_MIOTY_REPLAY_GUARD_H_
