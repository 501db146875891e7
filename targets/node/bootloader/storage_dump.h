// Test support for QEMU runs across a reset: writes the node's whole
// storage region (flash_layout.h) to the host file "flash.bin" over
// semihosting, so the next QEMU start can preload it (QEMU keeps no flash
// across runs). Emulator/test images only: semihosting faults on a board
// without a debugger.
#ifndef CXSEC_TARGETS_NODE_BOOTLOADER_STORAGE_DUMP_H_
#define CXSEC_TARGETS_NODE_BOOTLOADER_STORAGE_DUMP_H_

#include <cstdint>

#include "platforms/cortex_m/semihosting/semihosting.h"
#include "targets/node/bootloader/flash_layout.h"

namespace cxsec::node::bootloader {

// DumpStorageToHost: true when the whole region was written.
inline bool DumpStorageToHost() {
  static constexpr char kPath[] = "flash.bin";
  const int32_t handle = semihosting::OpenForWriting(kPath, sizeof(kPath) - 1);
  if (handle < 0) return false;
  const bool written =
      semihosting::Write(handle,
                         reinterpret_cast<const void*>(kStorageBaseAddress),
                         kStorageSize) == 0;
  semihosting::Close(handle);
  return written;
}

}  // namespace cxsec::node::bootloader

#endif  // CXSEC_TARGETS_NODE_BOOTLOADER_STORAGE_DUMP_H_
