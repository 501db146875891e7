// A test build of the bootloader (bootloader_power_cut_test.elf): the same
// RunBootloader as bootloader.elf, over the board's flash wrapped in
// PowerCutSwapFlash. The operation to cut power after comes from the host
// file "cut_after" (decimal; absent: never), read over semihosting, so one
// image serves every cut point of boot_power_cut_qemu_test.sh.
#include <cstdint>

#include "platforms/cortex_m/semihosting/semihosting.h"
#include "targets/node/bootloader/board_swap_flash.h"
#include "targets/node/bootloader/bootloader_run.h"
#include "targets/node/bootloader/power_cut_swap_flash.h"

namespace {

uint32_t ReadCutAfter() {
  static constexpr char kPath[] = "cut_after";
  const int32_t handle =
      cxsec::semihosting::OpenForReading(kPath, sizeof(kPath) - 1);
  if (handle < 0) return 0;
  char text[12] = {};
  const int32_t missing =
      cxsec::semihosting::Read(handle, text, sizeof(text) - 1);
  cxsec::semihosting::Close(handle);
  if (missing < 0) return 0;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') break;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  return value;
}

}  // namespace

int main() {
  cxsec::node::bootloader::BoardSwapFlash board;
  cxsec::node::bootloader::PowerCutSwapFlash<
      cxsec::node::bootloader::BoardSwapFlash>
      flash(board, ReadCutAfter());
  cxsec::node::bootloader::RunBootloader(flash);
}
