// Polling driver for the Arm CMSDK APB UART, as found on the MPS2 boards
// and in QEMU's mps2-an385 (UART0 at 0x40004000). Header-only: a handful
// of register accesses that inline into the board code. No interrupts, no
// FIFO (the CMSDK UART has a one-byte buffer each way).
//
//   CmsdkUart uart(kUart0Base);
//   uart.Enable(kPeripheralClockHz / 115200);
//   uart.WriteByte('x');
#ifndef CXSEC_PLATFORMS_CORTEX_M_MPS2_AN385_CMSDK_UART_H_
#define CXSEC_PLATFORMS_CORTEX_M_MPS2_AN385_CMSDK_UART_H_

#include <cstdint>
#include <optional>

namespace cxsec::mps2 {

inline constexpr uintptr_t kUart0Base = 0x40004000;

// CmsdkUart: one UART at `base`. Register layout from the CMSDK technical
// reference: DATA +0x0, STATE +0x4, CTRL +0x8, BAUDDIV +0x10.
class CmsdkUart {
 public:
  explicit constexpr CmsdkUart(uintptr_t base) : base_(base) {}

  // Enable: sets the baud divider (at least 16) and turns on TX and RX.
  void Enable(uint32_t baud_divider) const {
    Register(kBaudDiv) = baud_divider < 16 ? 16 : baud_divider;
    Register(kCtrl) = kCtrlTxEnable | kCtrlRxEnable;
  }

  // WriteByte: waits until the transmit buffer is free, then sends `byte`.
  void WriteByte(uint8_t byte) const {
    while ((Register(kState) & kStateTxFull) != 0) {
    }
    Register(kData) = byte;
  }

  // TryReadByte: the received byte, if one is waiting.
  std::optional<uint8_t> TryReadByte() const {
    if ((Register(kState) & kStateRxFull) == 0) return std::nullopt;
    return static_cast<uint8_t>(Register(kData) & 0xFF);
  }

 private:
  static constexpr uintptr_t kData = 0x00;
  static constexpr uintptr_t kState = 0x04;
  static constexpr uintptr_t kCtrl = 0x08;
  static constexpr uintptr_t kBaudDiv = 0x10;
  static constexpr uint32_t kStateTxFull = 1u << 0;
  static constexpr uint32_t kStateRxFull = 1u << 1;
  static constexpr uint32_t kCtrlTxEnable = 1u << 0;
  static constexpr uint32_t kCtrlRxEnable = 1u << 1;

  volatile uint32_t& Register(uintptr_t offset) const {
    return *reinterpret_cast<volatile uint32_t*>(base_ + offset);
  }

  uintptr_t base_;
};

}  // namespace cxsec::mps2

#endif  // CXSEC_PLATFORMS_CORTEX_M_MPS2_AN385_CMSDK_UART_H_
