// The node's bootloader image (bootloader.elf): RunBootloader
// (bootloader_run.h, which says what a boot does) over the board's flash.
#include "targets/node/bootloader/board_swap_flash.h"
#include "targets/node/bootloader/bootloader_run.h"

int main() {
  cxsec::node::bootloader::BoardSwapFlash flash;
  cxsec::node::bootloader::RunBootloader(flash);
}
