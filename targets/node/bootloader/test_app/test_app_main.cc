// A tiny application for the bootloader's QEMU tests: linked to run from
// the primary slot (test_app.ld), it prints "app: running" over
// semihosting and exits 0. Self-contained on purpose (its own two-entry
// vector table, no board library, no .data or .bss), so the bootloader's
// hand-over (VTOR, MSP, branch) is the only thing it depends on.
#include "platforms/cortex_m/semihosting/semihosting.h"

extern "C" {
extern uint32_t __app_stack_top[];  // test_app.ld
[[noreturn]] void AppReset();
}

extern "C" [[noreturn]] void AppReset() {
  cxsec::semihosting::WriteString("app: running\n");
  cxsec::semihosting::Exit(0);
}

using ExceptionHandler = void (*)();

// Initial MSP and reset handler; the bootloader reads both from here.
extern "C" __attribute__((section(".app_vectors"), used))
const ExceptionHandler app_vector_table[2] = {
    reinterpret_cast<ExceptionHandler>(__app_stack_top),
    AppReset,
};
