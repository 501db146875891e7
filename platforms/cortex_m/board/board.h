// The board interface: everything a node app or bootloader needs from the
// hardware, and nothing else. Device code includes only this header; the
// build links exactly one implementation (a board library such as
// //platforms/cortex_m/mps2_an385:board), like a facade and its backend, so
// there is no #ifdef per board in app code.
//
// Porting to another board means implementing every function below in a
// library of its own (see docs/NODE_FIRMWARE.md): a UART, a region of flash
// for firmware slots and node state, a millisecond clock and an entropy
// source. The start-up code (vector table, reset handler, linker script)
// lives beside that implementation and calls Init() before main().
//
//   #include "platforms/cortex_m/board/board.h"
//   namespace board = cxsec::board;
//   board::UartWrite(bytes);
//   if (board::FlashErase(0, 4096) != board::BoardStatus::kOk) ...
//
// No function here allocates, throws or blocks for longer than the hardware
// takes, and none is safe to call from an interrupt handler unless it says so.
#ifndef CXSEC_PLATFORMS_CORTEX_M_BOARD_BOARD_H_
#define CXSEC_PLATFORMS_CORTEX_M_BOARD_BOARD_H_

#include <cstddef>
#include <cstdint>
#include <span>

namespace cxsec::board {

// BoardStatus: the outcome of a fallible board call. An extend-only list:
// values are never renumbered, so logs from old firmware stay readable.
enum class [[nodiscard]] BoardStatus : uint8_t{
    kOk = 0,
    kOutOfRange = 1,   // offset/size outside the storage region
    kMisaligned = 2,   // not a multiple of the erase or write unit
    kNotErased = 3,    // a flash write over bytes that are not erased
    kUnavailable = 4,  // the board has no such device (e.g. no entropy source)
    kDeviceError = 5,  // the device reported a failure
};

// BoardStatusName: a short, stable name for logs ("ok", "out_of_range", ...).
constexpr const char* BoardStatusName(BoardStatus status) {
  switch (status) {
    case BoardStatus::kOk:
      return "ok";
    case BoardStatus::kOutOfRange:
      return "out_of_range";
    case BoardStatus::kMisaligned:
      return "misaligned";
    case BoardStatus::kNotErased:
      return "not_erased";
    case BoardStatus::kUnavailable:
      return "unavailable";
    case BoardStatus::kDeviceError:
      return "device_error";
  }
  return "unknown";
}

// Init: brings up the clock tick and the UART. The board's reset handler
// calls it once before main(); app code does not.
void Init();

// BoardName: a short identifier such as "mps2-an385", for logs.
const char* BoardName();

// UartWrite: sends `bytes` on the console/radio-modem UART, blocking until
// every byte is queued in the transmitter.
void UartWrite(std::span<const uint8_t> bytes);

// UartRead: copies the bytes the UART has already received into `out`,
// without waiting; returns how many (0 when none are pending).
size_t UartRead(std::span<uint8_t> out);

// FlashGeometry: the storage region's size and its erase and write units.
// Offsets passed to the Flash* calls are relative to the region's start.
struct FlashGeometry {
  uint32_t size_bytes;
  uint32_t erase_unit_bytes;  // FlashErase works on whole units
  uint32_t write_unit_bytes;  // FlashWrite offsets and sizes are multiples
};

// StorageGeometry: the geometry of the flash region that firmware slots
// and node state live in (not the flash the running code sits in).
FlashGeometry StorageGeometry();

// FlashRead: copies out.size() bytes at `offset` into `out`.
BoardStatus FlashRead(uint32_t offset, std::span<uint8_t> out);

// FlashWrite: programs `data` at `offset`. Like NOR flash, the bytes must be
// erased first (kNotErased otherwise); offset and size must be multiples
// of the write unit.
BoardStatus FlashWrite(uint32_t offset, std::span<const uint8_t> data);

// FlashErase: erases `size` bytes at `offset` (both multiples of the erase
// unit); erased bytes read as 0xFF.
BoardStatus FlashErase(uint32_t offset, uint32_t size);

// MonotonicMilliseconds: milliseconds since Init(); never goes backwards,
// does not wrap in the device's lifetime. Safe from interrupt handlers.
uint64_t MonotonicMilliseconds();

// EntropyFill: fills `out` with bytes from the board's true random source,
// or fails (kUnavailable, kDeviceError) and leaves `out` unspecified. A
// board without a sound source must fail here, never return weak bytes.
BoardStatus EntropyFill(std::span<uint8_t> out);

// StackUsage: the main stack's size and the most of it ever used. The
// start-up code paints the stack with a pattern; the peak is where the
// pattern stops. A measurement, not a guarantee: code paths not yet run
// may go deeper.
struct StackUsage {
  uint32_t size_bytes;
  uint32_t peak_used_bytes;
};
StackUsage MeasureStackUsage();

// Exit: ends the program with `exit_code` (0 = success). Under QEMU or a
// debugger this reaches the host as the exit status; on hardware it resets.
[[noreturn]] void Exit(int exit_code);

}  // namespace cxsec::board

#endif  // CXSEC_PLATFORMS_CORTEX_M_BOARD_BOARD_H_
