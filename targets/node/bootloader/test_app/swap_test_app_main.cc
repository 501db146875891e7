// The application of the bootloader's swap tests across resets: linked
// like test_app (runs from the primary slot, no board library, no .data
// or .bss). It prints "app: running", confirms itself through
// image_confirm.h when built with CXSEC_SWAP_TEST_APP_CONFIRMS=1 (the
// call a real application makes once it works), then writes the whole
// emulated storage region to the host file "flash.bin" over semihosting
// and exits 0. The test boots QEMU again with that file preloaded, which
// is how a reset keeps the flash contents under QEMU.
#include <cstdint>
#include <span>

#include "platforms/cortex_m/semihosting/semihosting.h"
#include "targets/node/boot/boot_flash.h"
#include "targets/node/boot/image_confirm.h"
#include "targets/node/bootloader/flash_layout.h"
#include "targets/node/bootloader/storage_dump.h"

#ifndef CXSEC_SWAP_TEST_APP_CONFIRMS
#error "build with CXSEC_SWAP_TEST_APP_CONFIRMS=0 or 1"
#endif

namespace {

namespace boot = cxsec::node::boot;
namespace layout = cxsec::node::bootloader;

// The primary slot, memory-mapped as QEMU's storage region is: the only
// area an application's confirm call touches.
class MappedPrimarySlot {
 public:
  uint32_t AreaSize(boot::FlashArea area) const {
    return area == boot::FlashArea::kPrimary ? layout::kPrimarySlotSize : 0;
  }
  uint32_t SectorSize() const { return layout::kSectorSize; }
  boot::FlashStatus Read(boot::FlashArea area, uint32_t offset,
                         std::span<uint8_t> out) {
    if (!Inside(area, offset, out.size())) return boot::FlashStatus::kError;
    for (size_t i = 0; i < out.size(); ++i) out[i] = Byte(offset + i);
    return boot::FlashStatus::kOk;
  }
  boot::FlashStatus Write(boot::FlashArea area, uint32_t offset,
                          std::span<const uint8_t> data) {
    if (!Inside(area, offset, data.size())) return boot::FlashStatus::kError;
    for (size_t i = 0; i < data.size(); ++i) {
      if (Byte(offset + i) != 0xFF) return boot::FlashStatus::kError;  // NOR
    }
    for (size_t i = 0; i < data.size(); ++i) Byte(offset + i) = data[i];
    return boot::FlashStatus::kOk;
  }
  boot::FlashStatus Erase(boot::FlashArea, uint32_t, uint32_t) {
    return boot::FlashStatus::kError;  // an application never erases it
  }

 private:
  bool Inside(boot::FlashArea area, uint32_t offset, size_t size) const {
    return area == boot::FlashArea::kPrimary &&
           offset <= layout::kPrimarySlotSize &&
           size <= layout::kPrimarySlotSize - offset;
  }
  static volatile uint8_t& Byte(uint32_t offset) {
    return *reinterpret_cast<volatile uint8_t*>(layout::kPrimarySlotAddress +
                                                offset);
  }
};

static_assert(boot::SwapFlash<MappedPrimarySlot>);

}  // namespace

extern "C" {
extern uint32_t __app_stack_top[];  // test_app.ld
[[noreturn]] void AppReset();
}

extern "C" [[noreturn]] void AppReset() {
  cxsec::semihosting::WriteString("app: running\n");
  if (CXSEC_SWAP_TEST_APP_CONFIRMS) {
    MappedPrimarySlot slot;
    if (!boot::ConfirmRunningImage(slot).ok()) {
      cxsec::semihosting::WriteString("app: confirm FAILED\n");
      cxsec::semihosting::Exit(3);
    }
    cxsec::semihosting::WriteString("app: confirmed\n");
  }
  if (!cxsec::node::bootloader::DumpStorageToHost()) {
    cxsec::semihosting::WriteString("app: flash dump FAILED\n");
    cxsec::semihosting::Exit(3);
  }
  cxsec::semihosting::Exit(0);
}

using ExceptionHandler = void (*)();

extern "C" __attribute__((section(".app_vectors"), used))
const ExceptionHandler app_vector_table[2] = {
    reinterpret_cast<ExceptionHandler>(__app_stack_top),
    AppReset,
};
