// The Mioty node application for mps2-an385 (node_mioty.elf). On boot it:
//
//   1. reads the node key area (core/device/node_key_area.h) from its
//      flash sector (storage +0xFE000, 0x003FE000) and expands the Mioty
//      network key with Mbed TLS; the raw key is wiped at once;
//   2. loads the persisted frame counter (frame_counter_store.h, storage
//      +0xFC000, two sectors);
//   3. sends kReadings readings of its synthetic sensor: a counter that
//      starts above the last reading of the previous boot (the frame
//      counter), each as CBOR {"n": value} in a TS-UNB frame (shared
//      codec), SLIP-framed on UART0; the counter is persisted before each
//      frame is written;
//   4. reports its stack peak and exits 0 (QEMU ends; on hardware it would
//      sleep until the next reading instead).
//
// UART0 carries only SLIP frames, so the host bridge can read it as is;
// progress and errors go to the semihosting console, every line starting
// with "node_mioty: ". A key area or counter it cannot trust stops the
// node with exit status 3 before anything is sent.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/device/node_key_area.h"
#include "core/mioty/frame_codec.h"
#include "core/mioty/mbedtls_mioty_crypto.h"
#include "platforms/cortex_m/board/board.h"
#include "platforms/cortex_m/semihosting/semihosting.h"
#include "targets/node/bootloader/flash_layout.h"
#include "targets/node/mioty/frame_counter_store.h"
#include "targets/node/mioty/mioty_uplink.h"

namespace {

namespace board = cxsec::board;
namespace device = cxsec::device;
namespace mioty = cxsec::mioty;
namespace layout = cxsec::node::bootloader;
using cxsec::node::BoardCounterFlash;
using cxsec::node::BoardUartLink;
using cxsec::node::CounterReason;
using cxsec::node::FrameCounterStore;
using cxsec::node::MiotyUplink;

#ifndef CXSEC_NODE_MIOTY_READINGS
#define CXSEC_NODE_MIOTY_READINGS 5
#endif
constexpr uint32_t kReadings = CXSEC_NODE_MIOTY_READINGS;
constexpr int kRefusedExitCode = 3;

void Log(const char* text) { cxsec::semihosting::WriteString(text); }

void LogDecimal(uint32_t value) {
  char digits[11];
  size_t at = sizeof(digits) - 1;
  digits[at] = '\0';
  do {
    digits[--at] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  Log(digits + at);
}

[[noreturn]] void Refuse(const char* what, const char* reason) {
  Log("node_mioty: REFUSED ");
  Log(what);
  Log(" ");
  Log(reason);
  Log("\n");
  board::Exit(kRefusedExitCode);
}

// Static: the node has no heap and its stack stays small.
mioty::NetworkKey<mioty::MbedTlsMiotyCrypto> network_key;
BoardCounterFlash counter_flash;
BoardUartLink uart_link;
FrameCounterStore<BoardCounterFlash> counter_store(counter_flash,
                                                   layout::kMiotyCounterOffset,
                                                   layout::kSectorSize);

mioty::UplinkParams LoadKeyArea() {
  std::array<uint8_t, device::kNodeKeyAreaMaxSize> raw;
  if (board::FlashRead(layout::kNodeKeyAreaOffset, raw) !=
      board::BoardStatus::kOk) {
    Refuse("key_area", "flash_read_failed");
  }
  device::NodeKeyArea area;
  const device::KeyAreaReason parsed = device::ParseNodeKeyArea(raw, area);
  for (uint8_t& byte : raw) *static_cast<volatile uint8_t*>(&byte) = 0;
  if (parsed != device::KeyAreaReason::kNone) {
    Refuse("key_area", device::KeyAreaReasonName(parsed));
  }
  const mioty::FrameReason loaded = network_key.Load(area.mioty_network_key);
  mioty::UplinkParams params;
  params.eui = area.mioty_eui;
  params.short_address = area.mioty_short_address;
  params.long_addressing = area.mioty_long_addressing;
  device::WipeNodeKeyArea(area);
  if (loaded != mioty::FrameReason::kNone) {
    Refuse("key_area", mioty::FrameReasonName(loaded));
  }
  return params;
}

}  // namespace

int main() {
  Log("node_mioty: starting on ");
  Log(board::BoardName());
  Log("\n");
  const mioty::UplinkParams params = LoadKeyArea();
  Log(params.long_addressing
          ? "node_mioty: key area loaded, long addressing\n"
          : "node_mioty: key area loaded, short addressing\n");
  const CounterReason loaded = counter_store.Load();
  if (loaded != CounterReason::kNone) {
    Refuse("frame_counter", cxsec::node::CounterReasonName(loaded));
  }
  if (counter_store.last_used()) {
    Log("node_mioty: last used frame counter ");
    LogDecimal(*counter_store.last_used());
    Log("\n");
  } else {
    Log("node_mioty: fresh frame counter\n");
  }

  MiotyUplink<mioty::MbedTlsMiotyCrypto, BoardCounterFlash, BoardUartLink>
      uplink(network_key, params, counter_store, uart_link);
  for (uint32_t i = 0; i < kReadings; ++i) {
    // The synthetic sensor reads the frame counter it is about to use, so
    // readings stay distinct across reboots.
    const uint32_t reading =
        counter_store.last_used() ? *counter_store.last_used() + 1 : 0;
    std::array<uint8_t, 9> payload;
    const auto sent =
        uplink.Send(cxsec::node::ReadingPayload(reading, payload));
    if (!sent.ok()) {
      Refuse("send",
             sent.reason() == cxsec::node::UplinkReason::kCounterNotPersisted
                 ? cxsec::node::CounterReasonName(uplink.store_reason())
                 : cxsec::node::UplinkReasonName(sent.reason()));
    }
    Log("node_mioty: sent reading ");
    LogDecimal(reading);
    Log(" with frame counter ");
    LogDecimal(sent.value());
    Log("\n");
  }
  const board::StackUsage stack = board::MeasureStackUsage();
  Log("node_mioty: stack peak ");
  LogDecimal(stack.peak_used_bytes);
  Log(" of ");
  LogDecimal(stack.size_bytes);
  Log(" bytes\n");
  Log("node_mioty: done\n");
  board::Exit(0);
}
