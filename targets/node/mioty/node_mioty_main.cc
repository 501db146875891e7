// The Mioty node application for mps2-an385 (node_mioty.elf). On boot it:
//
//   1. reads the node key area (core/device/node_key_area.h) from its
//      flash sector (storage +0xFE000, 0x003FE000) and expands the Mioty
//      network key with Mbed TLS; the raw key is wiped at once;
//   2. reads the seal key area (node_seal_keys.h, storage +0xF8000,
//      0x003F8000): erased or blank, readings go unsealed; valid and this
//      node's, every reading is sealed end to end (docs/SEALED_READINGS.md)
//      under the frame counter, encrypted when the area holds an
//      encryption key; anything else is refused. With
//      CXSEC_NODE_SEAL_EPOCH_READINGS = N (a build setting, 0: never) the
//      node moves to the next seal epoch on its own every N frame
//      counters (node_seal_ratchet.h): the new keys are on flash, in the
//      other of two sectors (+0xF8000/+0xF5000), and the old ones erased
//      before a reading is sealed with them;
//   3. loads the persisted frame counter (frame_counter_store.h, storage
//      +0xFC000, two sectors);
//   4. sends kReadings readings of its synthetic sensor: a counter that
//      starts above the last reading of the previous boot (the frame
//      counter), each as CBOR {"n": value} (or its sealed envelope) in a
//      TS-UNB frame (shared codec), SLIP-framed on UART0; the counter is
//      persisted before each frame is written, and before the reading is
//      sealed under it;
//   5. reports its stack peak and exits 0 (QEMU ends; on hardware it would
//      sleep until the next reading instead).
//
// UART0 carries only SLIP frames, so the host bridge can read it as is;
// progress and errors go to the semihosting console, every line starting
// with "node_mioty: ". A key area or counter it cannot trust stops the
// node with exit status 3 before anything is sent; so does a seal key
// area that is present but invalid or another device's.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/device/node_key_area.h"
#include "core/mioty/frame_codec.h"
#include "core/mioty/mbedtls_mioty_crypto.h"
#include "core/seal/mbedtls_seal_crypto.h"
#include "core/seal/sealed_reading.h"
#include "platforms/cortex_m/board/board.h"
#include "platforms/cortex_m/semihosting/semihosting.h"
#include "targets/node/bootloader/flash_layout.h"
#include "targets/node/mioty/frame_counter_store.h"
#include "targets/node/mioty/mioty_uplink.h"
#include "targets/node/mioty/node_seal_keys.h"
#include "targets/node/mioty/node_seal_ratchet.h"

namespace {

namespace board = cxsec::board;
namespace device = cxsec::device;
namespace mioty = cxsec::mioty;
namespace seal = cxsec::seal;
namespace layout = cxsec::node::bootloader;
using cxsec::node::BoardCounterFlash;
using cxsec::node::BoardUartLink;
using cxsec::node::CounterReason;
using cxsec::node::FrameCounterStore;
using cxsec::node::MiotyUplink;
using cxsec::node::NodeSealLoad;
using cxsec::node::NodeSealReason;

#ifndef CXSEC_NODE_MIOTY_READINGS
#define CXSEC_NODE_MIOTY_READINGS 5
#endif
constexpr uint32_t kReadings = CXSEC_NODE_MIOTY_READINGS;
// Frame counters per seal epoch (0: the node never ratchets): a build
// setting rather than a field of the seal key area, whose format the
// provisioning tool and the verifier side share (docs/NODE_FIRMWARE.md).
#ifndef CXSEC_NODE_SEAL_EPOCH_READINGS
#define CXSEC_NODE_SEAL_EPOCH_READINGS 0
#endif
constexpr uint32_t kSealEpochReadings = CXSEC_NODE_SEAL_EPOCH_READINGS;
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
seal::DeviceSealKeys<seal::MbedTlsSealCrypto> seal_keys;
cxsec::node::NodeSealRatchet<seal::MbedTlsSealCrypto, BoardCounterFlash>
    seal_ratchet(counter_flash, layout::kSealKeyAreaOffset,
                 layout::kSealKeyRatchetOffset, layout::kSectorSize,
                 kSealEpochReadings);
// The node key area's device id: the seal key area must carry the same.
std::array<uint8_t, 8> device_id{};

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
  device_id = area.device_id;
  device::WipeNodeKeyArea(area);
  if (loaded != mioty::FrameReason::kNone) {
    Refuse("key_area", mioty::FrameReasonName(loaded));
  }
  return params;
}

// LoadSealKeys: true when readings are to be sealed (and how).
bool LoadSealKeys(seal::SealMode& mode) {
  const NodeSealLoad load = seal_ratchet.Load(device_id, seal_keys);
  if (load.reason == NodeSealReason::kAbsent) {
    Log("node_mioty: no seal key area, readings unsealed\n");
    return false;
  }
  if (load.reason != NodeSealReason::kNone) {
    Refuse("seal_key_area", load.Detail());
  }
  mode = load.mode;
  Log(mode == seal::SealMode::kEncrypted
          ? "node_mioty: sealing readings, encrypted, seal epoch "
          : "node_mioty: sealing readings, mac only, seal epoch ");
  LogDecimal(load.epoch);
  Log("\n");
  if (kSealEpochReadings != 0) {
    Log("node_mioty: seal epoch ");
    LogDecimal(load.epoch);
    Log(" began at sequence ");
    LogDecimal(seal_ratchet.epoch_start());
    Log(", the next after ");
    LogDecimal(kSealEpochReadings);
    Log(" readings\n");
  }
  return true;
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
  seal::SealMode seal_mode = seal::SealMode::kMacOnly;
  const bool sealing = LoadSealKeys(seal_mode);
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
    const std::span<const uint8_t> cbor =
        cxsec::node::ReadingPayload(reading, payload);
    std::array<uint8_t, 9 + seal::kMiotyOverhead> sealed_payload;
    seal::SealReason seal_reason = seal::SealReason::kNone;
    NodeSealReason ratchet_reason = NodeSealReason::kNone;
    // Sealed under the frame's own counter, which SendComposed has
    // persisted as used before it asks for the payload.
    const auto sent =
        sealing ? uplink.SendComposed([&](uint32_t counter) {
          // The epoch moves before sealing, its keys persisted first.
          bool advanced = false;
          ratchet_reason =
              seal_ratchet.AdvanceIfDue(seal_keys, counter, advanced);
          if (ratchet_reason != NodeSealReason::kNone) {
            return std::span<const uint8_t>();
          }
          if (advanced) {
            Log("node_mioty: seal epoch ");
            LogDecimal(seal_keys.epoch());
            Log(" from sequence ");
            LogDecimal(counter);
            Log(", the old keys erased\n");
          }
          const auto sealed = seal::NodeSealCodec::Seal(
              seal_keys, seal::Transport::kMioty, seal_mode, counter, cbor,
              sealed_payload);
          if (!sealed.ok()) {
            seal_reason = sealed.reason();
            return std::span<const uint8_t>();
          }
          return std::span<const uint8_t>(sealed_payload.data(),
                                           sealed.value());
        })
                : uplink.Send(cbor);
    if (!sent.ok()) {
      Refuse("send",
             sent.reason() == cxsec::node::UplinkReason::kCounterNotPersisted
                 ? cxsec::node::CounterReasonName(uplink.store_reason())
             : sent.reason() == cxsec::node::UplinkReason::kComposeFailed
                 ? (ratchet_reason != NodeSealReason::kNone
                        ? cxsec::node::NodeSealReasonName(ratchet_reason)
                        : seal::SealReasonName(seal_reason))
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
