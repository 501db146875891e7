// Start-up code for cxsec firmware on mps2-an385 (Cortex-M3): the vector
// table, the reset handler, fault handlers, the stack paint and the few
// C/C++ runtime hooks a bare-metal image without heap or exceptions needs.
//
// Reset sequence: paint the stack below the reset handler's frame, copy
// .data from flash to RAM, zero .bss, board::Init(), run static
// constructors (.preinit_array, .init_array), call main(), and hand its
// return value to board::Exit. Linker symbols come from mps2_an385.ld.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "platforms/cortex_m/board/board.h"
#include "platforms/cortex_m/semihosting/semihosting.h"

extern "C" {
// From mps2_an385.ld.
extern uint32_t __stack_limit[];
extern uint32_t __stack_top[];
extern uint32_t __data_load_start[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];
extern void (*__preinit_array_start[])();
extern void (*__preinit_array_end[])();
extern void (*__init_array_start[])();
extern void (*__init_array_end[])();

int main();
[[noreturn]] void Reset_Handler();
[[noreturn]] void cxsec_fault_handler();
[[noreturn]] void cxsec_fault_report();
void cxsec_systick_handler();  // board.cc
}

namespace {

// A word unlikely to be a real stack value (not 0, not an address, not
// 0xFFFFFFFF), so the paint's edge marks the deepest write.
constexpr uint32_t kStackPaint = 0xC5AC5AC5u;

// Exit status when the CPU faults, distinct from a self-test's own codes.
constexpr int kFaultExitCode = 127;

}  // namespace

// Paints from the stack's bottom up to just below the current frame;
// noinline so its own frame sits above (in use) rather than in the paint.
__attribute__((noinline)) static void PaintStack() {
  volatile uint32_t* word = __stack_limit;
  // 64 bytes of margin for this function's own frame.
  const auto* end = reinterpret_cast<volatile uint32_t*>(
      reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) - 64);
  while (word < end) *word++ = kStackPaint;
}

extern "C" [[noreturn]] void Reset_Handler() {
  PaintStack();
  std::memcpy(__data_start, __data_load_start,
              reinterpret_cast<uintptr_t>(__data_end) -
                  reinterpret_cast<uintptr_t>(__data_start));
  std::memset(__bss_start, 0,
              reinterpret_cast<uintptr_t>(__bss_end) -
                  reinterpret_cast<uintptr_t>(__bss_start));
  cxsec::board::Init();
  for (auto* ctor = __preinit_array_start; ctor < __preinit_array_end; ++ctor)
    (*ctor)();
  for (auto* ctor = __init_array_start; ctor < __init_array_end; ++ctor)
    (*ctor)();
  cxsec::board::Exit(main());
}

// Any fault or unexpected exception: say so on the semihosting console
// (the UART may be what faulted) and stop with kFaultExitCode.
extern "C" [[noreturn]] void cxsec_fault_report() {
  cxsec::semihosting::WriteString("cxsec: CPU fault or unexpected exception\n");
  cxsec::semihosting::Exit(kFaultExitCode);
}

// The fault entry point first moves SP back to the top of the stack: the
// fault may be a stack overflow, and the report needs a stack that works.
// Nothing returns from here, so discarding the old stack is fine.
extern "C" [[noreturn]] __attribute__((naked)) void cxsec_fault_handler() {
  __asm__ volatile(
      "ldr r0, =__stack_top\n"
      "mov sp, r0\n"
      "b cxsec_fault_report\n"
      ".ltorg\n");
}

namespace cxsec::board {

StackUsage MeasureStackUsage() {
  const uint32_t* word = __stack_limit;
  while (word < __stack_top && *word == kStackPaint) ++word;
  const auto size =
      static_cast<uint32_t>(reinterpret_cast<uintptr_t>(__stack_top) -
                            reinterpret_cast<uintptr_t>(__stack_limit));
  const auto used =
      static_cast<uint32_t>(reinterpret_cast<uintptr_t>(__stack_top) -
                            reinterpret_cast<uintptr_t>(word));
  return StackUsage{.size_bytes = size, .peak_used_bytes = used};
}

}  // namespace cxsec::board

// The vector table: initial stack pointer, then the 15 Cortex-M3 system
// exceptions, then the AN385's 32 device interrupts (none used yet).
// Placed at address 0 by the linker script, where the M3 looks at reset.
using ExceptionHandler = void (*)();

extern "C" __attribute__((section(".isr_vector"), used))
const ExceptionHandler cxsec_vector_table[16 + 32] = {
    reinterpret_cast<ExceptionHandler>(__stack_top),
    Reset_Handler,
    cxsec_fault_handler,  // NMI
    cxsec_fault_handler,  // HardFault
    cxsec_fault_handler,  // MemManage
    cxsec_fault_handler,  // BusFault
    cxsec_fault_handler,  // UsageFault
    nullptr,              // reserved
    nullptr,              // reserved
    nullptr,              // reserved
    nullptr,              // reserved
    cxsec_fault_handler,  // SVCall
    cxsec_fault_handler,  // DebugMonitor
    nullptr,              // reserved
    cxsec_fault_handler,  // PendSV
    cxsec_systick_handler,
    // Device interrupts 0..31: none are enabled, so any that fires is a bug.
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
    cxsec_fault_handler,
};

// C and C++ runtime hooks. The firmware has no heap, no exceptions and never
// returns from main except to exit, so these are deliberately minimal.
extern "C" {

// No heap: anything that reaches malloc gets NULL (newlib asks _sbrk).
void* _sbrk(ptrdiff_t) { return reinterpret_cast<void*>(-1); }

// Destructors of static objects would run at exit; firmware never exits
// back to anything, so registering them is a no-op.
void* __dso_handle = nullptr;
int __aeabi_atexit(void*, void (*)(void*), void*) { return 0; }
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }

// A pure virtual call is a bug; treat it like a fault.
[[noreturn]] void __cxa_pure_virtual() { cxsec_fault_handler(); }

}  // extern "C"
