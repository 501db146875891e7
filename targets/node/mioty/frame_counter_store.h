// FrameCounterStore: the node's persisted Mioty frame counter on NOR flash.
// A counter is written as used *before* the frame that carries it is sent,
// so after any crash or power loss the node resumes above every counter it
// may have put on the air: the gateway never sees a counter twice (it
// would drop the frame as a replay) and no AES-CTR keystream is reused.
//
// Layout: `sector_count` (2) erase sectors, each an append-only log of
// 8-byte records, counter (LE) then its complement (LE); an erased slot
// reads all 0xFF. The newest counter is the largest valid record in either
// sector. When the active sector is full, the other one is erased and the
// record goes to its first slot, so the largest counter always survives
// in one sector while the other is being erased. A torn record (power lost
// mid-write) fails its complement check and is skipped: its counter was
// never sent. Records present but none valid is corruption, refused
// rather than read as a fresh node (which would restart at 0 and replay).
//
// Device-side, over any flash that NOR-behaves (the board's FlashRead/
// FlashWrite/FlashErase through BoardCounterFlash, a fake in host tests):
//
//   FrameCounterStore<BoardCounterFlash> store(flash, kOffset, kSectorSize);
//   if (store.Load() != CounterReason::kNone) ...
//   auto counter = store.ReserveNext();   // persisted before it returns
//   if (counter.ok()) send(frame with counter.value());
#ifndef CXSEC_TARGETS_NODE_MIOTY_FRAME_COUNTER_STORE_H_
#define CXSEC_TARGETS_NODE_MIOTY_FRAME_COUNTER_STORE_H_

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/device/result.h"
#include "platforms/cortex_m/board/board.h"

namespace cxsec::node {

// CounterFlash: offsets relative to the board's storage region; NOR rules
// (erase to 0xFF, write only erased bytes, write unit 4 bytes or less).
template <class F>
concept CounterFlash = requires(F& flash, uint32_t offset,
                                std::span<uint8_t> out,
                                std::span<const uint8_t> data, uint32_t size) {
  { flash.Read(offset, out) } -> std::same_as<board::BoardStatus>;
  { flash.Write(offset, data) } -> std::same_as<board::BoardStatus>;
  { flash.Erase(offset, size) } -> std::same_as<board::BoardStatus>;
};

// BoardCounterFlash: the board layer's storage flash.
struct BoardCounterFlash {
  board::BoardStatus Read(uint32_t offset, std::span<uint8_t> out) {
    return board::FlashRead(offset, out);
  }
  board::BoardStatus Write(uint32_t offset, std::span<const uint8_t> data) {
    return board::FlashWrite(offset, data);
  }
  board::BoardStatus Erase(uint32_t offset, uint32_t size) {
    return board::FlashErase(offset, size);
  }
};

// CounterReason: an extend-only list (core/device/result.h).
enum class [[nodiscard]] CounterReason : uint8_t{
    kNone = 0,
    kFlashReadFailed = 1,
    kFlashWriteFailed = 2,  // write or erase: the counter was not persisted
    kCorrupt = 3,           // records present, none valid
    kExhausted = 4,         // the 32-bit counter is used up: re-key the node
    kNotLoaded = 5,         // ReserveNext before a successful Load
};

constexpr const char* CounterReasonName(CounterReason reason) {
  switch (reason) {
    case CounterReason::kNone:
      return "ok";
    case CounterReason::kFlashReadFailed:
      return "flash_read_failed";
    case CounterReason::kFlashWriteFailed:
      return "flash_write_failed";
    case CounterReason::kCorrupt:
      return "counter_corrupt";
    case CounterReason::kExhausted:
      return "counter_exhausted";
    case CounterReason::kNotLoaded:
      return "counter_not_loaded";
  }
  return "unknown";
}

inline constexpr uint32_t kCounterRecordSize = 8;
inline constexpr uint32_t kCounterSectorCount = 2;

// EncodeCounterRecord: the 8 bytes a record holds (also for host tools
// that preload a counter into QEMU's flash).
constexpr std::array<uint8_t, kCounterRecordSize> EncodeCounterRecord(
    uint32_t counter) {
  const uint32_t complement = ~counter;
  return {static_cast<uint8_t>(counter),
          static_cast<uint8_t>(counter >> 8),
          static_cast<uint8_t>(counter >> 16),
          static_cast<uint8_t>(counter >> 24),
          static_cast<uint8_t>(complement),
          static_cast<uint8_t>(complement >> 8),
          static_cast<uint8_t>(complement >> 16),
          static_cast<uint8_t>(complement >> 24)};
}

template <CounterFlash Flash>
class FrameCounterStore {
 public:
  // `offset`: the first of kCounterSectorCount sectors of `sector_size`
  // bytes (a multiple of kCounterRecordSize).
  FrameCounterStore(Flash& flash, uint32_t offset, uint32_t sector_size)
      : flash_(flash), offset_(offset), sector_size_(sector_size) {}

  // Load scans both sectors for the newest counter and the next free slot.
  CounterReason Load() {
    loaded_ = false;
    last_used_.reset();
    bool any_record = false;
    uint32_t free_slot[kCounterSectorCount] = {};
    for (uint32_t sector = 0; sector < kCounterSectorCount; ++sector) {
      free_slot[sector] = SlotsPerSector();
      for (uint32_t slot = 0; slot < SlotsPerSector(); ++slot) {
        std::array<uint8_t, kCounterRecordSize> record;
        if (flash_.Read(SlotOffset(sector, slot), record) !=
            board::BoardStatus::kOk) {
          return CounterReason::kFlashReadFailed;
        }
        if (IsErased(record)) {
          free_slot[sector] = slot;
          break;
        }
        any_record = true;
        const std::optional<uint32_t> value = DecodeRecord(record);
        if (value && (!last_used_ || *value > *last_used_)) {
          last_used_ = *value;
          active_sector_ = sector;
        }
      }
    }
    if (any_record && !last_used_) return CounterReason::kCorrupt;
    if (!last_used_) active_sector_ = 0;
    next_slot_ = free_slot[active_sector_];
    loaded_ = true;
    return CounterReason::kNone;
  }

  // last_used: the newest persisted counter (nullopt on a fresh node).
  std::optional<uint32_t> last_used() const { return last_used_; }

  // ReserveNext persists the next counter as used and returns it; only
  // then may a frame carry it. On failure nothing may be sent.
  device::Result<uint32_t, CounterReason> ReserveNext() {
    using Outcome = device::Result<uint32_t, CounterReason>;
    if (!loaded_) return Outcome::Failure(CounterReason::kNotLoaded);
    uint32_t next = 0;
    if (last_used_) {
      if (*last_used_ == UINT32_MAX) {
        return Outcome::Failure(CounterReason::kExhausted);
      }
      next = *last_used_ + 1;
    }
    if (next_slot_ >= SlotsPerSector()) {
      const uint32_t other = (active_sector_ + 1) % kCounterSectorCount;
      if (flash_.Erase(SectorOffset(other), sector_size_) !=
          board::BoardStatus::kOk) {
        return Outcome::Failure(CounterReason::kFlashWriteFailed);
      }
      active_sector_ = other;
      next_slot_ = 0;
    }
    const std::array<uint8_t, kCounterRecordSize> record =
        EncodeCounterRecord(next);
    const uint32_t slot = next_slot_++;  // a failed write spoils the slot
    if (flash_.Write(SlotOffset(active_sector_, slot), record) !=
        board::BoardStatus::kOk) {
      return Outcome::Failure(CounterReason::kFlashWriteFailed);
    }
    last_used_ = next;
    return Outcome::Success(next);
  }

 private:
  uint32_t SlotsPerSector() const { return sector_size_ / kCounterRecordSize; }
  uint32_t SectorOffset(uint32_t sector) const {
    return offset_ + sector * sector_size_;
  }
  uint32_t SlotOffset(uint32_t sector, uint32_t slot) const {
    return SectorOffset(sector) + slot * kCounterRecordSize;
  }
  static bool IsErased(std::span<const uint8_t> record) {
    for (uint8_t byte : record) {
      if (byte != 0xFF) return false;
    }
    return true;
  }
  static std::optional<uint32_t> DecodeRecord(
      std::span<const uint8_t, kCounterRecordSize> record) {
    auto load = [&](size_t at) {
      return uint32_t{record[at]} | (uint32_t{record[at + 1]} << 8) |
             (uint32_t{record[at + 2]} << 16) |
             (uint32_t{record[at + 3]} << 24);
    };
    const uint32_t value = load(0);
    if (load(4) != ~value) return std::nullopt;
    return value;
  }

  Flash& flash_;
  uint32_t offset_;
  uint32_t sector_size_;
  bool loaded_ = false;
  std::optional<uint32_t> last_used_;
  uint32_t active_sector_ = 0;
  uint32_t next_slot_ = 0;
};

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_MIOTY_FRAME_COUNTER_STORE_H_
