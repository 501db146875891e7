// The verifier's per-device counter state for sealed readings
// (docs/SEALED_READINGS.md, "The verifier as counter authority"): the
// current key epoch, the highest accepted sequence, a replay window that
// remembers the tag of each recently accepted sequence, and the count of
// sequences skipped (gaps). Pure logic on a small value type, no heap, no
// Abseil: the verifier loads a device's state, calls Apply on a copy for a
// reading whose tag already verified, and stores the copy in the same
// durable step as the reading only if the verdict says so: the verifier's
// SealAuthority (targets/verifier/seal), and with the Redis sink a Lua port
// of the same logic checked against this one (redis_seal_state_test).
//
//   SealCounterState next = stored;
//   SealVerdict verdict = ApplySealedReading(next, epoch, sequence, tag);
//   if (verdict == SealVerdict::kAccepted) store(reading, next);  // atomic
//
// Deduplication is by (device, epoch, sequence), never by a message id a
// gateway chose; the tag tells an honest retry (the same sealed bytes:
// same tag) from a reused sequence with other bytes (an alarm).
#ifndef CXSEC_CORE_SEAL_SEAL_COUNTER_STATE_H_
#define CXSEC_CORE_SEAL_SEAL_COUNTER_STATE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/seal/sealed_reading.h"

namespace cxsec::seal {

// How many sequences below the highest accepted one may still arrive late
// (reordered on DTLS/CoAP, or a retry) and be told apart.
inline constexpr uint32_t kReplayWindowSize = 32;

// SealVerdict: what the verifier answers for a reading whose tag verified
// (a bad tag is SealReason::kTagMismatch from Open, before any of this).
// An extend-only list; kAccepted (0) is the only verdict that changes
// state.
enum class SealVerdict : uint8_t {
  kAccepted = 0,          // new (epoch, sequence): store it
  kDuplicate = 1,         // the same sealed reading again: an honest retry
  kReplayedSequence = 2,  // below the replay window: cannot be told apart
  kSequenceReused = 3,    // seen sequence, other bytes: an alarm
  kStaleEpoch = 4,        // an epoch before the device's current one
};

// SealVerdictName: a short, stable name for verdicts, metrics and logs.
constexpr const char* SealVerdictName(SealVerdict verdict) {
  switch (verdict) {
    case SealVerdict::kAccepted:
      return "accepted";
    case SealVerdict::kDuplicate:
      return "duplicate";
    case SealVerdict::kReplayedSequence:
      return "replayed_sequence";
    case SealVerdict::kSequenceReused:
      return "sequence_reused";
    case SealVerdict::kStaleEpoch:
      return "stale_epoch";
  }
  return "unknown";
}

// SealCounterState: one device's state. A value type: copy, apply, store.
struct SealCounterState {
  uint32_t epoch = 0;
  bool has_accepted = false;  // false: nothing accepted in this epoch yet
  uint32_t highest_sequence = 0;
  // Bit i set: sequence highest_sequence - i was accepted, and tags[...]
  // holds its tag (slot = sequence % kReplayWindowSize).
  uint32_t window = 0;
  std::array<std::array<uint8_t, kTagSize>, kReplayWindowSize> tags{};
  // Bit i set: sequence highest_sequence - i was skipped and counted in
  // `gaps`, so a late arrival of it takes its gap back.
  uint32_t gap_window = 0;
  // Sequences skipped so far, counted when a later one is accepted within
  // an epoch (the first reading of an epoch claims no gap). Never reset.
  uint64_t gaps = 0;
};

namespace counter_internal {
inline bool SameTag(const std::array<uint8_t, kTagSize>& a,
                    std::span<const uint8_t> b) {
  // Tags are not secret once sent; no constant time needed.
  for (size_t i = 0; i < kTagSize; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}
inline void StoreTag(SealCounterState& state, uint32_t sequence,
                     std::span<const uint8_t> tag) {
  auto& slot = state.tags[sequence % kReplayWindowSize];
  for (size_t i = 0; i < kTagSize; ++i) slot[i] = tag[i];
}
}  // namespace counter_internal

// ApplySealedReading decides the verdict for a reading of `epoch` (already
// reconstructed, see ReconstructEpoch) and `sequence` whose 8-byte `tag`
// verified, and on kAccepted updates `state` (only then). A later epoch
// starts a fresh window: each epoch's sequences are their own space.
inline SealVerdict ApplySealedReading(SealCounterState& state, uint32_t epoch,
                                      uint32_t sequence,
                                      std::span<const uint8_t, kTagSize> tag) {
  using namespace counter_internal;
  if (epoch < state.epoch) return SealVerdict::kStaleEpoch;
  if (epoch > state.epoch || !state.has_accepted) {
    state.epoch = epoch;
    state.has_accepted = true;
    state.highest_sequence = sequence;
    state.window = 1;
    state.gap_window = 0;
    StoreTag(state, sequence, tag);
    return SealVerdict::kAccepted;
  }
  if (sequence > state.highest_sequence) {
    const uint32_t ahead = sequence - state.highest_sequence;
    state.gaps += ahead - 1;
    const bool shifted_out = ahead >= kReplayWindowSize;
    state.window = shifted_out ? 0 : state.window << ahead;
    state.gap_window = shifted_out ? 0 : state.gap_window << ahead;
    // The skipped sequences highest+1 .. sequence-1 are bits 1 .. ahead-1.
    const uint32_t skipped_bits =
        shifted_out ? ~uint32_t{1} : ((uint32_t{1} << ahead) - 2);
    state.gap_window |= skipped_bits;
    state.window |= 1;
    state.highest_sequence = sequence;
    StoreTag(state, sequence, tag);
    return SealVerdict::kAccepted;
  }
  const uint32_t behind = state.highest_sequence - sequence;
  if (behind >= kReplayWindowSize) return SealVerdict::kReplayedSequence;
  const uint32_t bit = uint32_t{1} << behind;
  if (state.window & bit) {
    return SameTag(state.tags[sequence % kReplayWindowSize], tag)
               ? SealVerdict::kDuplicate
               : SealVerdict::kSequenceReused;
  }
  // A late reading inside the window: if it was counted as a gap, it takes
  // that gap back.
  state.window |= bit;
  if (state.gap_window & bit) {
    state.gap_window &= ~bit;
    --state.gaps;
  }
  StoreTag(state, sequence, tag);
  return SealVerdict::kAccepted;
}

}  // namespace cxsec::seal

#endif  // CXSEC_CORE_SEAL_SEAL_COUNTER_STATE_H_
