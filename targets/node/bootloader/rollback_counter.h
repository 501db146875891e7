// The anti-rollback counter record in the node's boot state sector: the
// lowest security counter (MCUboot SEC_CNT) an image must carry to boot.
// Device-side and host-side (the bootloader reads it; host tools write
// the QEMU test's boot state file), so no Abseil, heap or exceptions.
//
// Record, 16 bytes little-endian at kBootStateOffset:
//   magic "CXRB" (0x42525843) | counter | ~counter | 0xFFFFFFFF (reserved)
// An erased record (all 0xFF) is a factory-fresh node: counter 0. Anything
// else that does not check out is corrupt, and the bootloader refuses to
// boot rather than guess a counter (fail closed).
//
//   auto counter = DecodeRollbackCounter(record);
//   if (!counter.ok()) refuse(RollbackCounterReasonName(counter.reason()));
#ifndef CXSEC_TARGETS_NODE_BOOTLOADER_ROLLBACK_COUNTER_H_
#define CXSEC_TARGETS_NODE_BOOTLOADER_ROLLBACK_COUNTER_H_

#include <array>
#include <cstdint>

#include "core/device/result.h"
#include "core/firmware/image_format.h"

namespace cxsec::node::bootloader {

inline constexpr uint32_t kRollbackCounterMagic = 0x42525843;  // "CXRB"
inline constexpr uint32_t kRollbackCounterRecordSize = 16;
using RollbackCounterRecord = std::array<uint8_t, kRollbackCounterRecordSize>;

// RollbackCounterReason: why no counter could be read. Extend-only.
enum class RollbackCounterReason : uint8_t {
  kNone = 0,
  kUnreadable = 1,  // the flash read failed
  kCorrupt = 2,     // neither erased nor a valid record
};

constexpr const char* RollbackCounterReasonName(RollbackCounterReason reason) {
  switch (reason) {
    case RollbackCounterReason::kNone:
      return "ok";
    case RollbackCounterReason::kUnreadable:
      return "rollback_counter_unreadable";
    case RollbackCounterReason::kCorrupt:
      return "rollback_counter_corrupt";
  }
  return "unknown";
}

using RollbackCounterResult =
    device::Result<uint32_t, RollbackCounterReason>;

// DecodeRollbackCounter: the stored counter, 0 when erased.
inline RollbackCounterResult DecodeRollbackCounter(
    const RollbackCounterRecord& record) {
  bool erased = true;
  for (uint8_t byte : record) erased = erased && byte == firmware::kFlashErased;
  if (erased) return RollbackCounterResult::Success(0);
  const uint32_t magic = firmware::LoadLe32(record.data());
  const uint32_t counter = firmware::LoadLe32(record.data() + 4);
  const uint32_t complement = firmware::LoadLe32(record.data() + 8);
  if (magic != kRollbackCounterMagic || complement != ~counter) {
    return RollbackCounterResult::Failure(RollbackCounterReason::kCorrupt);
  }
  return RollbackCounterResult::Success(counter);
}

// EncodeRollbackCounter: the record that stores `counter`.
constexpr RollbackCounterRecord EncodeRollbackCounter(uint32_t counter) {
  RollbackCounterRecord record{};
  firmware::StoreLe32(record.data(), kRollbackCounterMagic);
  firmware::StoreLe32(record.data() + 4, counter);
  firmware::StoreLe32(record.data() + 8, ~counter);
  firmware::StoreLe32(record.data() + 12, 0xFFFFFFFFu);
  return record;
}

}  // namespace cxsec::node::bootloader

#endif  // CXSEC_TARGETS_NODE_BOOTLOADER_ROLLBACK_COUNTER_H_
