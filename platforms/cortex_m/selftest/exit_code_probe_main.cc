// A firmware image that only exits with status 3. The QEMU harness's own
// test (qemu_harness_test.sh) boots it to show that an image's exit status
// reaches the host unchanged and that a non-zero status fails a test.
#include "platforms/cortex_m/board/console.h"

int main() {
  cxsec::board::ConsoleWriteLine("exit_code_probe: exiting with 3");
  return 3;
}
