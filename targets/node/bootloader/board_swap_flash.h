// The boot flow's SwapFlash (targets/node/boot/boot_flash.h) on a board:
// each FlashArea at its place in the storage region (flash_layout.h),
// reached through the board interface. The bootloader composes the boot
// state machine with it; bounds are checked here, so a bad offset from
// the state machine is an error, never a write outside its area.
#ifndef CXSEC_TARGETS_NODE_BOOTLOADER_BOARD_SWAP_FLASH_H_
#define CXSEC_TARGETS_NODE_BOOTLOADER_BOARD_SWAP_FLASH_H_

#include <cstdint>
#include <span>

#include "platforms/cortex_m/board/board.h"
#include "targets/node/boot/boot_flash.h"
#include "targets/node/bootloader/flash_layout.h"

namespace cxsec::node::bootloader {

class BoardSwapFlash {
 public:
  uint32_t AreaSize(boot::FlashArea area) const {
    switch (area) {
      case boot::FlashArea::kPrimary:
        return kPrimarySlotSize;
      case boot::FlashArea::kSecondary:
        return kSecondarySlotSize;
      case boot::FlashArea::kScratch:
        return kScratchSize;
      case boot::FlashArea::kBootState:
      case boot::FlashArea::kBootStateBackup:
        return kSectorSize;
    }
    return 0;
  }
  uint32_t SectorSize() const { return kSectorSize; }

  boot::FlashStatus Read(boot::FlashArea area, uint32_t offset,
                         std::span<uint8_t> out) {
    if (!Inside(area, offset, out.size())) return boot::FlashStatus::kError;
    return From(board::FlashRead(Base(area) + offset, out));
  }
  boot::FlashStatus Write(boot::FlashArea area, uint32_t offset,
                          std::span<const uint8_t> data) {
    if (!Inside(area, offset, data.size())) return boot::FlashStatus::kError;
    return From(board::FlashWrite(Base(area) + offset, data));
  }
  boot::FlashStatus Erase(boot::FlashArea area, uint32_t offset,
                          uint32_t size) {
    if (!Inside(area, offset, size)) return boot::FlashStatus::kError;
    return From(board::FlashErase(Base(area) + offset, size));
  }

 private:
  static uint32_t Base(boot::FlashArea area) {
    switch (area) {
      case boot::FlashArea::kPrimary:
        return kPrimarySlotOffset;
      case boot::FlashArea::kSecondary:
        return kSecondarySlotOffset;
      case boot::FlashArea::kScratch:
        return kScratchOffset;
      case boot::FlashArea::kBootState:
        return kBootStateOffset;
      case boot::FlashArea::kBootStateBackup:
        return kBootStateBackupOffset;
    }
    return 0;
  }
  bool Inside(boot::FlashArea area, uint32_t offset, size_t size) const {
    const uint32_t area_size = AreaSize(area);
    return offset <= area_size && size <= area_size - offset;
  }
  static boot::FlashStatus From(board::BoardStatus status) {
    return status == board::BoardStatus::kOk ? boot::FlashStatus::kOk
                                             : boot::FlashStatus::kError;
  }
};

static_assert(boot::SwapFlash<BoardSwapFlash>);

}  // namespace cxsec::node::bootloader

#endif  // CXSEC_TARGETS_NODE_BOOTLOADER_BOARD_SWAP_FLASH_H_
