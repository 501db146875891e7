// ARM semihosting for Cortex-M: the few calls cxsec firmware makes to the
// host it runs under (QEMU with -semihosting-config enable=on,target=native,
// or a debug probe). Header-only: each call is one BKPT instruction.
//
// Used for what a test harness needs and a UART cannot give: the exit code
// (SYS_EXIT_EXTENDED), console output that bypasses the board (SYS_WRITE0),
// and on an emulator, host files such as /dev/urandom (SYS_OPEN/READ).
//
// On hardware without a debugger attached, BKPT escalates to a HardFault:
// only emulator boards and test images may call these.
#ifndef CXSEC_PLATFORMS_CORTEX_M_SEMIHOSTING_SEMIHOSTING_H_
#define CXSEC_PLATFORMS_CORTEX_M_SEMIHOSTING_SEMIHOSTING_H_

#include <cstddef>
#include <cstdint>

namespace cxsec::semihosting {

// Operation numbers from ARM's "Semihosting for AArch32 and AArch64" v2.0.
inline constexpr uint32_t kSysOpen = 0x01;
inline constexpr uint32_t kSysClose = 0x02;
inline constexpr uint32_t kSysWrite0 = 0x04;
inline constexpr uint32_t kSysWrite = 0x05;
inline constexpr uint32_t kSysRead = 0x06;
inline constexpr uint32_t kSysExitExtended = 0x20;

// ADP_Stopped_ApplicationExit: "the program ended normally". With
// SYS_EXIT_EXTENDED its subcode is the exit status. Plain SYS_EXIT (0x18)
// on AArch32 takes no subcode (QEMU maps it to 0 or 1), which is why the
// extended call is used.
inline constexpr uint32_t kAdpStoppedApplicationExit = 0x20026;

// Call: issues semihosting operation `operation` with `argument` (a value
// or a pointer to a parameter block) and returns the host's answer.
inline int32_t Call(uint32_t operation, const void* argument) {
  register uint32_t r0 __asm__("r0") = operation;
  register const void* r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return static_cast<int32_t>(r0);
}

// WriteString: writes a NUL-terminated string to the host's console.
inline void WriteString(const char* text) { Call(kSysWrite0, text); }

// Exit: stops the program; the host (QEMU) exits with `exit_code`.
[[noreturn]] inline void Exit(int exit_code) {
  const uint32_t block[2] = {kAdpStoppedApplicationExit,
                             static_cast<uint32_t>(exit_code)};
  Call(kSysExitExtended, block);
  for (;;) {  // only reached without a semihosting host
    __asm__ volatile("wfi");
  }
}

// OpenForReading: opens the host file `path` in binary read mode; returns
// a handle, or -1.
inline int32_t OpenForReading(const char* path, size_t path_length) {
  constexpr uint32_t kModeReadBinary = 1;  // "rb" in the spec's mode table
  const uint32_t block[3] = {reinterpret_cast<uint32_t>(path), kModeReadBinary,
                             static_cast<uint32_t>(path_length)};
  return Call(kSysOpen, block);
}

// Read: reads up to `size` bytes from `handle` into `buffer`; returns how
// many bytes were NOT read (0 = all of them), or -1.
inline int32_t Read(int32_t handle, void* buffer, size_t size) {
  const uint32_t block[3] = {static_cast<uint32_t>(handle),
                             reinterpret_cast<uint32_t>(buffer),
                             static_cast<uint32_t>(size)};
  return Call(kSysRead, block);
}

// OpenForWriting: creates or truncates the host file `path` in binary
// write mode; returns a handle, or -1. (Tests use it to carry emulated
// flash from one QEMU boot to the next.)
inline int32_t OpenForWriting(const char* path, size_t path_length) {
  constexpr uint32_t kModeWriteBinary = 5;  // "wb"
  const uint32_t block[3] = {reinterpret_cast<uint32_t>(path), kModeWriteBinary,
                             static_cast<uint32_t>(path_length)};
  return Call(kSysOpen, block);
}

// Write: writes `size` bytes from `buffer` to `handle`; returns how many
// bytes were NOT written (0 = all of them).
inline int32_t Write(int32_t handle, const void* buffer, size_t size) {
  const uint32_t block[3] = {static_cast<uint32_t>(handle),
                             reinterpret_cast<uint32_t>(buffer),
                             static_cast<uint32_t>(size)};
  return Call(kSysWrite, block);
}

// Close: closes `handle`.
inline void Close(int32_t handle) {
  const uint32_t block[1] = {static_cast<uint32_t>(handle)};
  Call(kSysClose, block);
}

}  // namespace cxsec::semihosting

#endif  // CXSEC_PLATFORMS_CORTEX_M_SEMIHOSTING_SEMIHOSTING_H_
