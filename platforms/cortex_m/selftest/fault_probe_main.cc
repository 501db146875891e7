// A firmware image that faults on purpose (an undefined instruction, the
// same trap Mbed TLS's allocator uses when it finds its heap corrupted).
// :fault_probe_qemu_test checks that the board's fault handler reports it
// and exits with status 127, so a crashing image fails its test at once
// instead of hanging until the timeout.
#include "platforms/cortex_m/board/console.h"

int main() {
  cxsec::board::ConsoleWriteLine(
      "fault_probe: executing an undefined instruction");
  __builtin_trap();
}
