// Test support: a SwapFlash (targets/node/boot/boot_flash.h) that cuts
// power in QEMU. It forwards every operation to the board's flash, prints
// "bootloader: flash operation N" after each write or erase, and after
// operation `cut_after` (0: never) writes the storage region to the host
// (storage_dump.h) and stops QEMU with kPowerCutExitCode, as if power had
// gone right after that operation. The next QEMU start preloads the dump:
// that is a reset after a power cut at that exact point.
#ifndef CXSEC_TARGETS_NODE_BOOTLOADER_POWER_CUT_SWAP_FLASH_H_
#define CXSEC_TARGETS_NODE_BOOTLOADER_POWER_CUT_SWAP_FLASH_H_

#include <cstdint>
#include <span>

#include "platforms/cortex_m/semihosting/semihosting.h"
#include "targets/node/boot/boot_flash.h"
#include "targets/node/bootloader/storage_dump.h"

namespace cxsec::node::bootloader {

inline constexpr int kPowerCutExitCode = 42;

template <boot::SwapFlash Inner>
class PowerCutSwapFlash {
 public:
  PowerCutSwapFlash(Inner& inner, uint32_t cut_after)
      : inner_(inner), cut_after_(cut_after) {}

  uint32_t AreaSize(boot::FlashArea area) const {
    return inner_.AreaSize(area);
  }
  uint32_t SectorSize() const { return inner_.SectorSize(); }
  boot::FlashStatus Read(boot::FlashArea area, uint32_t offset,
                         std::span<uint8_t> out) {
    return inner_.Read(area, offset, out);
  }
  boot::FlashStatus Write(boot::FlashArea area, uint32_t offset,
                          std::span<const uint8_t> data) {
    return After(inner_.Write(area, offset, data));
  }
  boot::FlashStatus Erase(boot::FlashArea area, uint32_t offset,
                          uint32_t size) {
    return After(inner_.Erase(area, offset, size));
  }

 private:
  boot::FlashStatus After(boot::FlashStatus status) {
    ++operations_;
    char line[48] = "bootloader: flash operation ";
    size_t length = sizeof("bootloader: flash operation ") - 1;
    char digits[10];
    size_t count = 0;
    uint32_t value = operations_;
    do {
      digits[count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (count > 0) line[length++] = digits[--count];
    line[length++] = '\n';
    line[length] = '\0';
    semihosting::WriteString(line);
    if (operations_ == cut_after_) {
      semihosting::WriteString(
          DumpStorageToHost() ? "bootloader: POWER CUT\n"
                              : "bootloader: POWER CUT, flash dump FAILED\n");
      semihosting::Exit(kPowerCutExitCode);
    }
    return status;
  }

  Inner& inner_;
  uint32_t cut_after_;
  uint32_t operations_ = 0;
};

}  // namespace cxsec::node::bootloader

#endif  // CXSEC_TARGETS_NODE_BOOTLOADER_POWER_CUT_SWAP_FLASH_H_
