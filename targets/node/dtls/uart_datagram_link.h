// The DTLS node's datagram link: each DTLS record datagram travels over
// UART0 as one SLIP frame (core/device/slip.h); the host end
// (udp_uart_bridge) turns frames into UDP datagrams to the gateway's DTLS
// port and datagrams from it back into frames. Plugged into Mbed TLS with
// mbedtls_ssl_set_bio(ssl, &link, UartDatagramLink::Send, nullptr,
// UartDatagramLink::ReceiveTimeout); the timeout is measured on the
// board's monotonic clock (SysTick on mps2-an385).
//
// Also DtlsTimer, the mbedtls_ssl_set_timer_cb pair (set_delay,
// get_delay) on the same clock: Mbed TLS retransmits handshake flights
// when it fires.
#ifndef CXSEC_TARGETS_NODE_DTLS_UART_DATAGRAM_LINK_H_
#define CXSEC_TARGETS_NODE_DTLS_UART_DATAGRAM_LINK_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/device/slip.h"
#include "mbedtls/ssl.h"
#include "platforms/cortex_m/board/board.h"

namespace cxsec::node {

// The largest datagram either way: a DTLS record header (13) and an
// expansion of CCM_8 (8 explicit nonce + 8 tag) around at most
// MBEDTLS_SSL_OUT_CONTENT_LEN bytes; larger frames are dropped whole.
inline constexpr size_t kMaxDatagram = 13 + 16 + 1024;

class UartDatagramLink {
 public:
  // Send: the f_send callback. One call is one datagram.
  static int Send(void* context, const unsigned char* data, size_t size) {
    auto* link = static_cast<UartDatagramLink*>(context);
    if (size > kMaxDatagram) return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    const size_t n = device::SlipEncode(std::span(data, size), link->wire_);
    if (n == 0) return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    board::UartWrite(std::span<const uint8_t>(link->wire_.data(), n));
    ++link->sent_;
    return static_cast<int>(size);
  }

  // ReceiveTimeout: the f_recv_timeout callback. Waits up to `timeout_ms`
  // (0: Mbed TLS's "no timeout", capped at kMaxWaitMs here) for one whole
  // frame; MBEDTLS_ERR_SSL_TIMEOUT if none came. A datagram longer than
  // `size` is cut to `size`, as a UDP socket would, and Mbed TLS drops it.
  static int ReceiveTimeout(void* context, unsigned char* out, size_t size,
                            uint32_t timeout_ms) {
    auto* link = static_cast<UartDatagramLink*>(context);
    const uint64_t wait = timeout_ms == 0 ? kMaxWaitMs : timeout_ms;
    const uint64_t deadline = board::MonotonicMilliseconds() + wait;
    for (;;) {
      uint8_t byte;
      if (board::UartRead(std::span(&byte, 1)) == 1) {
        const device::SlipEvent event = link->decoder_.Push(byte);
        if (event == device::SlipEvent::kOversize ||
            event == device::SlipEvent::kBadEscape) {
          ++link->dropped_;
        } else if (event == device::SlipEvent::kFrame) {
          const std::span<const uint8_t> frame = link->decoder_.frame();
          const size_t n = frame.size() < size ? frame.size() : size;
          for (size_t i = 0; i < n; ++i) out[i] = frame[i];
          ++link->received_;
          return static_cast<int>(n);
        }
        continue;  // more bytes may be waiting: no clock read per byte
      }
      if (board::MonotonicMilliseconds() >= deadline) {
        return MBEDTLS_ERR_SSL_TIMEOUT;
      }
    }
  }

  uint32_t sent() const { return sent_; }
  uint32_t received() const { return received_; }
  uint32_t dropped() const { return dropped_; }

 private:
  static constexpr uint64_t kMaxWaitMs = 60000;
  device::SlipDecoder<kMaxDatagram> decoder_;
  std::array<uint8_t, device::SlipEncodedSizeMax(kMaxDatagram)> wire_{};
  uint32_t sent_ = 0;
  uint32_t received_ = 0;
  uint32_t dropped_ = 0;
};

// DtlsTimer: Mbed TLS's DTLS timer on the board clock.
class DtlsTimer {
 public:
  static void SetDelay(void* context, uint32_t intermediate_ms,
                       uint32_t final_ms) {
    auto* timer = static_cast<DtlsTimer*>(context);
    timer->start_ = board::MonotonicMilliseconds();
    timer->intermediate_ms_ = intermediate_ms;
    timer->final_ms_ = final_ms;
  }

  // -1: cancelled; 0: running; 1: intermediate delay passed; 2: final.
  static int GetDelay(void* context) {
    const auto* timer = static_cast<const DtlsTimer*>(context);
    if (timer->final_ms_ == 0) return -1;
    const uint64_t elapsed = board::MonotonicMilliseconds() - timer->start_;
    if (elapsed >= timer->final_ms_) return 2;
    if (elapsed >= timer->intermediate_ms_) return 1;
    return 0;
  }

 private:
  uint64_t start_ = 0;
  uint32_t intermediate_ms_ = 0;
  uint32_t final_ms_ = 0;
};

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_DTLS_UART_DATAGRAM_LINK_H_
