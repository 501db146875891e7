// The board interface (platforms/cortex_m/board/board.h) for QEMU's
// mps2-an385: CMSDK UART0 for the console, the top 1 MiB of code memory as
// emulated NOR flash, SysTick for the millisecond clock, and the host's
// /dev/urandom over semihosting as the entropy source (QEMU models no TRNG
// for this board; a real board must use its hardware TRNG instead).
#include "platforms/cortex_m/board/board.h"

#include <cstdint>
#include <cstring>
#include <span>

#include "platforms/cortex_m/mps2_an385/cmsdk_uart.h"
#include "platforms/cortex_m/semihosting/semihosting.h"

extern "C" {
extern uint8_t __storage_start[];  // mps2_an385.ld
extern uint8_t __storage_end[];
void cxsec_systick_handler();
}

namespace cxsec::board {
namespace {

// The AN385 FPGA image clocks the CPU and peripherals at 25 MHz (QEMU
// models the same frequency for SysTick).
constexpr uint32_t kCpuClockHz = 25'000'000;
constexpr uint32_t kConsoleBaud = 115'200;

constexpr mps2::CmsdkUart kConsoleUart(mps2::kUart0Base);

// Emulated NOR flash: 4 KiB sectors, word-sized writes (strict on purpose,
// so code that forgets alignment fails here and not only on hardware).
constexpr uint32_t kFlashEraseUnit = 4096;
constexpr uint32_t kFlashWriteUnit = 4;
constexpr uint8_t kErasedByte = 0xFF;

// SysTick registers (ARMv7-M architecture reference, B3.3).
volatile uint32_t& kSysTickControl =
    *reinterpret_cast<volatile uint32_t*>(0xE000E010);
volatile uint32_t& kSysTickReload =
    *reinterpret_cast<volatile uint32_t*>(0xE000E014);
volatile uint32_t& kSysTickCurrent =
    *reinterpret_cast<volatile uint32_t*>(0xE000E018);
constexpr uint32_t kSysTickEnable = 1u << 0;
constexpr uint32_t kSysTickInterrupt = 1u << 1;
constexpr uint32_t kSysTickCpuClock = 1u << 2;

volatile uint64_t milliseconds_since_init = 0;

uint32_t StorageSize() {
  return static_cast<uint32_t>(__storage_end - __storage_start);
}

bool InStorage(uint32_t offset, size_t size) {
  return offset <= StorageSize() && size <= StorageSize() - offset;
}

}  // namespace

void Init() {
  kConsoleUart.Enable(kCpuClockHz / kConsoleBaud);
  kSysTickReload = kCpuClockHz / 1000 - 1;
  kSysTickCurrent = 0;
  kSysTickControl = kSysTickEnable | kSysTickInterrupt | kSysTickCpuClock;
}

const char* BoardName() { return "mps2-an385"; }

void UartWrite(std::span<const uint8_t> bytes) {
  for (uint8_t byte : bytes) kConsoleUart.WriteByte(byte);
}

size_t UartRead(std::span<uint8_t> out) {
  size_t count = 0;
  while (count < out.size()) {
    auto byte = kConsoleUart.TryReadByte();
    if (!byte) break;
    out[count++] = *byte;
  }
  return count;
}

FlashGeometry StorageGeometry() {
  return FlashGeometry{.size_bytes = StorageSize(),
                       .erase_unit_bytes = kFlashEraseUnit,
                       .write_unit_bytes = kFlashWriteUnit};
}

BoardStatus FlashRead(uint32_t offset, std::span<uint8_t> out) {
  if (!InStorage(offset, out.size())) return BoardStatus::kOutOfRange;
  std::memcpy(out.data(), __storage_start + offset, out.size());
  return BoardStatus::kOk;
}

BoardStatus FlashWrite(uint32_t offset, std::span<const uint8_t> data) {
  if (!InStorage(offset, data.size())) return BoardStatus::kOutOfRange;
  if (offset % kFlashWriteUnit != 0 || data.size() % kFlashWriteUnit != 0) {
    return BoardStatus::kMisaligned;
  }
  uint8_t* target = __storage_start + offset;
  for (size_t i = 0; i < data.size(); ++i) {
    if (target[i] != kErasedByte) return BoardStatus::kNotErased;
  }
  std::memcpy(target, data.data(), data.size());
  return BoardStatus::kOk;
}

BoardStatus FlashErase(uint32_t offset, uint32_t size) {
  if (!InStorage(offset, size)) return BoardStatus::kOutOfRange;
  if (offset % kFlashEraseUnit != 0 || size % kFlashEraseUnit != 0) {
    return BoardStatus::kMisaligned;
  }
  std::memset(__storage_start + offset, kErasedByte, size);
  return BoardStatus::kOk;
}

uint64_t MonotonicMilliseconds() {
  // A 64-bit read is two loads on the M3; read until the SysTick handler
  // did not change the value in between.
  uint64_t first;
  uint64_t second;
  do {
    first = milliseconds_since_init;
    second = milliseconds_since_init;
  } while (first != second);
  return first;
}

BoardStatus EntropyFill(std::span<uint8_t> out) {
  static constexpr char kHostRandom[] = "/dev/urandom";
  static int32_t handle = -1;  // kept open: one SYS_OPEN per boot
  if (handle < 0) {
    handle = semihosting::OpenForReading(kHostRandom, sizeof(kHostRandom) - 1);
    if (handle < 0) return BoardStatus::kUnavailable;
  }
  if (semihosting::Read(handle, out.data(), out.size()) != 0)
    return BoardStatus::kDeviceError;
  return BoardStatus::kOk;
}

[[noreturn]] void Exit(int exit_code) { semihosting::Exit(exit_code); }

}  // namespace cxsec::board

extern "C" void cxsec_systick_handler() {
  cxsec::board::milliseconds_since_init =
      cxsec::board::milliseconds_since_init + 1;
}
