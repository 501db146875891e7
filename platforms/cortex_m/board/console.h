// Console text output for node firmware, on top of board::UartWrite: plain
// strings, decimal and hex numbers, hex dumps. Header-only and heap-free
// because it sits in every image; newlib's printf would pull in malloc and
// stdio buffers (and newlib-nano's has no %zu or 64-bit numbers).
//
//   ConsoleWrite("stack peak ");
//   ConsoleWriteDecimal(usage.peak_used_bytes);
//   ConsoleWriteLine(" bytes");
#ifndef CXSEC_PLATFORMS_CORTEX_M_BOARD_CONSOLE_H_
#define CXSEC_PLATFORMS_CORTEX_M_BOARD_CONSOLE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "platforms/cortex_m/board/board.h"

namespace cxsec::board {

// ConsoleWrite: writes `text` as is.
inline void ConsoleWrite(std::string_view text) {
  UartWrite(
      std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

// ConsoleWriteLine: writes `text` and a newline.
inline void ConsoleWriteLine(std::string_view text) {
  ConsoleWrite(text);
  ConsoleWrite("\n");
}

// ConsoleWriteDecimal: writes `value` in decimal, no padding.
inline void ConsoleWriteDecimal(uint64_t value) {
  char digits[20];  // 2^64 - 1 has 20 decimal digits
  size_t count = 0;
  do {
    digits[sizeof(digits) - 1 - count] = static_cast<char>('0' + value % 10);
    value /= 10;
    ++count;
  } while (value != 0);
  ConsoleWrite(std::string_view(digits + sizeof(digits) - count, count));
}

// ConsoleWriteHex: writes `bytes` as lower-case hex, two digits each.
inline void ConsoleWriteHex(std::span<const uint8_t> bytes) {
  constexpr char kDigits[] = "0123456789abcdef";
  for (uint8_t byte : bytes) {
    const char pair[2] = {kDigits[byte >> 4], kDigits[byte & 0xF]};
    ConsoleWrite(std::string_view(pair, 2));
  }
}

}  // namespace cxsec::board

#endif  // CXSEC_PLATFORMS_CORTEX_M_BOARD_CONSOLE_H_
