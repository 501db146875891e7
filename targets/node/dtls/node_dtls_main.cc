// The DTLS node application for mps2-an385 (node_dtls.elf): CoAP over
// DTLS 1.2 with TLS_PSK_WITH_AES_128_CCM_8, Mbed TLS's DTLS client talking
// to the gateway's libcoap/GnuTLS server. On boot it:
//
//   1. reads the node key area (core/device/node_key_area.h, version 2:
//      device id, DTLS PSK and epoch, DRBG seed) from its flash sector
//      (storage +0xFE000, 0x003FE000);
//   2. bumps and persists its boot counter (storage +0xFA000, two
//      sectors, the frame counter store's format) and only then seeds an
//      HMAC_DRBG (SHA-256) from seed | boot counter | device id. This is a
//      stand-in for a TRNG, not one: QEMU models no TRNG on this board
//      (docs/NODE_FIRMWARE.md, "Entropy on the DTLS node");
//   3. reads the seal key area (storage +0xF8000, 0x003F8000;
//      targets/node/mioty/node_seal_keys.h): erased or blank, readings go
//      unsealed; valid and this node's, every reading is sealed end to
//      end (docs/SEALED_READINGS.md), encrypted when the area holds an
//      encryption key, under a per-device sequence kept in two sectors at
//      storage +0xF6000 (the frame counter store's format) and persisted
//      as used before the reading is sealed; anything else is refused.
//      With CXSEC_NODE_SEAL_EPOCH_READINGS = N (a build setting, 0:
//      never) it moves to the next seal epoch every N sequences
//      (targets/node/mioty/node_seal_ratchet.h): the new keys are on
//      flash, in the other of two sectors (+0xF8000/+0xF5000), and the
//      old ones erased before a reading is sealed with them;
//   4. handshakes with the gateway as PSK identity "D<id>.<epoch>", the
//      records carried as SLIP frames over UART0 (uart_datagram_link.h),
//      retransmission timers on SysTick;
//   5. posts kReadings readings (back to back, or kReadingIntervalMs
//      apart) as CoAP CON POST /t, Content-Format CBOR,
//      payload {"v3": {"d": {"t": value}, "s": "p"}} (the bytes cxsec-node
//      posts; sealed: the envelope of {"v3": {"d": {"rs": .., "t": value,
//      "ur": ..}, "s": "p"}}, Content-Format octet-stream), each with a
//      fresh random 8-byte token, retransmitted with
//      the same message id and token until acknowledged (RFC 7252: 2 s,
//      doubling, 4 retransmits), which the gateway takes as one reading
//      within the session (transports/dtls/message_ids.h); a sealing
//      node checks the seal receipts in each 2.04's payload with its MAC
//      key (node_receipts.h) and counts readings acknowledged more than
//      CXSEC_NODE_SEAL_RECEIPT_WINDOW (3) readings ago without one as
//      unreceipted, "ur" in its next sealed readings;
//   6. sends close_notify, reports its stack and heap peaks, exits 0.
//
// Progress and errors go to the semihosting console, each line starting
// with "node_dtls: "; "node_dtls: acked reading N" means the gateway
// answered 2.04 (it had stored the message durably). A key area, seal
// key area or counter it cannot trust stops it with exit status 3 before
// anything is sent; a failed handshake or post exits with status 4.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/device/coap_message.h"
#include "core/device/node_key_area.h"
#include "core/device/reading_cbor.h"
#include "core/seal/mbedtls_seal_crypto.h"
#include "core/seal/sealed_reading.h"
#include "mbedtls/hmac_drbg.h"
#include "mbedtls/md.h"
#include "mbedtls/memory_buffer_alloc.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/ssl.h"
#include "platforms/cortex_m/board/board.h"
#include "platforms/cortex_m/semihosting/semihosting.h"
#include "targets/node/bootloader/flash_layout.h"
#include "targets/node/dtls/node_receipts.h"
#include "targets/node/dtls/uart_datagram_link.h"
#include "targets/node/mioty/frame_counter_store.h"
#include "targets/node/mioty/node_seal_keys.h"
#include "targets/node/mioty/node_seal_ratchet.h"

namespace {

namespace board = cxsec::board;
namespace device = cxsec::device;
namespace layout = cxsec::node::bootloader;
namespace seal = cxsec::seal;
using cxsec::node::BoardCounterFlash;
using cxsec::node::CounterReason;
using cxsec::node::DtlsTimer;
using cxsec::node::FrameCounterStore;
using cxsec::node::UartDatagramLink;

#ifndef CXSEC_NODE_DTLS_READINGS
#define CXSEC_NODE_DTLS_READINGS 5
#endif
constexpr uint32_t kReadings = CXSEC_NODE_DTLS_READINGS;
// Sequences per seal epoch (0: never ratchet): a build setting rather than
// a field of the seal key area, whose format the provisioning tool and the
// verifier side share (docs/NODE_FIRMWARE.md).
#ifndef CXSEC_NODE_SEAL_EPOCH_READINGS
#define CXSEC_NODE_SEAL_EPOCH_READINGS 0
#endif
constexpr uint32_t kSealEpochReadings = CXSEC_NODE_SEAL_EPOCH_READINGS;
// Milliseconds between two readings (0, the default: back to back). A
// node in the field reads its sensor every so often; the untrusted-gateway
// test paces its nodes so that a seal receipt has come back before the
// receipt window closes, as it would with a real interval.
#ifndef CXSEC_NODE_DTLS_READING_INTERVAL_MS
#define CXSEC_NODE_DTLS_READING_INTERVAL_MS 0
#endif
constexpr uint32_t kReadingIntervalMs = CXSEC_NODE_DTLS_READING_INTERVAL_MS;
// Readings a seal receipt may take to come back (cxsec-node's
// seal_receipt_window).
#ifndef CXSEC_NODE_SEAL_RECEIPT_WINDOW
#define CXSEC_NODE_SEAL_RECEIPT_WINDOW 3
#endif
// The largest 2.04 payload kept: the gateway sends at most 8 receipts.
constexpr size_t kAnswerMaxSize = 8 * cxsec::seal::kReceiptSize;
constexpr int kRefusedExitCode = 3;
constexpr int kFailedExitCode = 4;

// Mbed TLS's heap (MBEDTLS_MEMORY_BUFFER_ALLOC_C): the SSL context's
// record buffers (2 x about 1.1 KiB for 1 KiB records), the handshake
// state and the CCM transforms. The peak is printed on every run: 4712
// bytes in the QEMU end-to-end test, so 8 KiB leaves room.
constexpr size_t kMbedTlsHeapSize = 8 * 1024;
alignas(8) uint8_t mbedtls_heap[kMbedTlsHeapSize];

// CoAP transmission parameters (RFC 7252 4.8, ACK_RANDOM_FACTOR 1).
constexpr uint32_t kAckTimeoutMs = 2000;
constexpr int kMaxRetransmit = 4;

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

void LogHex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  char text[2 * device::kCoapTokenSize + 1];
  size_t at = 0;
  for (size_t i = 0; i < bytes.size() && i < device::kCoapTokenSize; ++i) {
    text[at++] = kDigits[bytes[i] >> 4];
    text[at++] = kDigits[bytes[i] & 0x0F];
  }
  text[at] = '\0';
  Log(text);
}

// Mbed TLS errors are negative; print them as -0xNNNN like its docs.
void LogMbedTlsError(int error) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  const uint32_t value = static_cast<uint32_t>(-error);
  char text[8] = {'-', '0', 'x'};
  for (int i = 0; i < 4; ++i)
    text[3 + i] = kDigits[(value >> (12 - 4 * i)) & 0xF];
  text[7] = '\0';
  Log(text);
}

[[noreturn]] void Stop(int exit_code, const char* what, const char* reason) {
  Log(exit_code == kRefusedExitCode ? "node_dtls: REFUSED "
                                    : "node_dtls: FAILED ");
  Log(what);
  Log(" ");
  Log(reason);
  Log("\n");
  board::Exit(exit_code);
}

[[noreturn]] void StopMbedTls(const char* what, int error) {
  Log("node_dtls: FAILED ");
  Log(what);
  Log(" ");
  LogMbedTlsError(error);
  Log("\n");
  board::Exit(kFailedExitCode);
}

// What the node keeps from its key area (the raw area is wiped at once).
struct DtlsCredentials {
  // "D" + 16 hex digits + "." + up to 10 digits.
  std::array<char, 1 + 16 + 1 + 10 + 1> identity{};
  size_t identity_length = 0;
  std::array<uint8_t, 16> psk{};
  // seed (32) | boot counter (4, LE) | device id (8)
  std::array<uint8_t, 32 + 4 + 8> drbg_input{};
  // The seal key area must belong to the same device.
  std::array<uint8_t, 8> device_id{};
};

// Static: no heap, and a small stack.
DtlsCredentials credentials;
BoardCounterFlash counter_flash;
FrameCounterStore<BoardCounterFlash> boot_counter(
    counter_flash, layout::kDtlsBootCounterOffset, layout::kSectorSize);
// Sealed readings: the keys, and the sequence store (only loaded when
// sealing: an unsealed node's sectors there may be blank).
seal::DeviceSealKeys<seal::MbedTlsSealCrypto> seal_keys;
FrameCounterStore<BoardCounterFlash> seal_sequence(
    counter_flash, layout::kDtlsSealSequenceOffset, layout::kSectorSize);
cxsec::node::NodeSealRatchet<seal::MbedTlsSealCrypto, BoardCounterFlash>
    seal_ratchet(counter_flash, layout::kSealKeyAreaOffset,
                 layout::kSealKeyRatchetOffset, layout::kSectorSize,
                 kSealEpochReadings);
cxsec::node::NodeReceiptTracker<seal::MbedTlsSealCrypto> seal_receipts(
    CXSEC_NODE_SEAL_RECEIPT_WINDOW);
mbedtls_hmac_drbg_context drbg;
mbedtls_ssl_config ssl_config;
mbedtls_ssl_context ssl;
UartDatagramLink link;
DtlsTimer timer;

void LoadKeyArea() {
  std::array<uint8_t, device::kNodeKeyAreaMaxSize> raw;
  if (board::FlashRead(layout::kNodeKeyAreaOffset, raw) !=
      board::BoardStatus::kOk) {
    Stop(kRefusedExitCode, "key_area", "flash_read_failed");
  }
  device::NodeKeyArea area;
  const device::KeyAreaReason parsed = device::ParseNodeKeyArea(raw, area);
  mbedtls_platform_zeroize(raw.data(), raw.size());
  if (parsed != device::KeyAreaReason::kNone) {
    Stop(kRefusedExitCode, "key_area", device::KeyAreaReasonName(parsed));
  }
  if (!area.has_dtls) {
    device::WipeNodeKeyArea(area);
    Stop(kRefusedExitCode, "key_area", "no_dtls_key");
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  size_t at = 0;
  credentials.identity[at++] = 'D';
  for (uint8_t byte : area.device_id) {
    credentials.identity[at++] = kHex[byte >> 4];
    credentials.identity[at++] = kHex[byte & 0x0F];
  }
  credentials.identity[at++] = '.';
  char digits[10];
  size_t count = 0;
  for (uint32_t epoch = area.dtls_epoch; epoch != 0; epoch /= 10) {
    digits[count++] = static_cast<char>('0' + epoch % 10);
  }
  while (count > 0) credentials.identity[at++] = digits[--count];
  credentials.identity[at] = '\0';
  credentials.identity_length = at;
  credentials.psk = area.dtls_psk;
  for (size_t i = 0; i < area.drbg_seed.size(); ++i) {
    credentials.drbg_input[i] = area.drbg_seed[i];
  }
  for (size_t i = 0; i < area.device_id.size(); ++i) {
    credentials.drbg_input[36 + i] = area.device_id[i];
  }
  credentials.device_id = area.device_id;
  device::WipeNodeKeyArea(area);
}

// LoadSealKeys: true when readings are to be sealed (and how); then the
// sequence store is loaded too.
bool LoadSealKeys(seal::SealMode& mode) {
  const cxsec::node::NodeSealLoad load =
      seal_ratchet.Load(credentials.device_id, seal_keys);
  if (load.reason == cxsec::node::NodeSealReason::kAbsent) {
    Log("node_dtls: no seal key area, readings unsealed\n");
    return false;
  }
  if (load.reason != cxsec::node::NodeSealReason::kNone) {
    Stop(kRefusedExitCode, "seal_key_area", load.Detail());
  }
  const CounterReason loaded = seal_sequence.Load();
  if (loaded != CounterReason::kNone) {
    Stop(kRefusedExitCode, "seal_sequence",
         cxsec::node::CounterReasonName(loaded));
  }
  mode = load.mode;
  Log(mode == seal::SealMode::kEncrypted
          ? "node_dtls: sealing readings, encrypted, seal epoch "
          : "node_dtls: sealing readings, mac only, seal epoch ");
  LogDecimal(load.epoch);
  Log(", next sequence ");
  LogDecimal(seal_sequence.last_used() ? *seal_sequence.last_used() + 1 : 0);
  Log("\n");
  if (kSealEpochReadings != 0) {
    Log("node_dtls: seal epoch ");
    LogDecimal(load.epoch);
    Log(" began at sequence ");
    LogDecimal(seal_ratchet.epoch_start());
    Log(", the next after ");
    LogDecimal(kSealEpochReadings);
    Log(" readings\n");
  }
  return true;
}

// SeedDrbg: the boot counter goes to flash first, so a reset after this
// point can never replay this boot's random bytes.
uint32_t SeedDrbg() {
  const CounterReason loaded = boot_counter.Load();
  if (loaded != CounterReason::kNone) {
    Stop(kRefusedExitCode, "boot_counter",
         cxsec::node::CounterReasonName(loaded));
  }
  const auto reserved = boot_counter.ReserveNext();
  if (!reserved.ok()) {
    Stop(kRefusedExitCode, "boot_counter",
         cxsec::node::CounterReasonName(reserved.reason()));
  }
  const uint32_t boot = reserved.value();
  for (size_t i = 0; i < 4; ++i) {
    credentials.drbg_input[32 + i] = static_cast<uint8_t>(boot >> (8 * i));
  }
  mbedtls_hmac_drbg_init(&drbg);
  const int seeded = mbedtls_hmac_drbg_seed_buf(
      &drbg, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
      credentials.drbg_input.data(), credentials.drbg_input.size());
  mbedtls_platform_zeroize(credentials.drbg_input.data(),
                           credentials.drbg_input.size());
  if (seeded != 0) StopMbedTls("drbg_seed", seeded);
  return boot;
}

void Random(std::span<uint8_t> out) {
  const int drawn = mbedtls_hmac_drbg_random(&drbg, out.data(), out.size());
  if (drawn != 0) StopMbedTls("drbg", drawn);
}

void Handshake() {
  mbedtls_ssl_config_init(&ssl_config);
  mbedtls_ssl_init(&ssl);
  int ret = mbedtls_ssl_config_defaults(&ssl_config, MBEDTLS_SSL_IS_CLIENT,
                                        MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0) StopMbedTls("ssl_config", ret);
  static const int kCipherSuites[] = {MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8, 0};
  mbedtls_ssl_conf_ciphersuites(&ssl_config, kCipherSuites);
  mbedtls_ssl_conf_min_version(&ssl_config, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_rng(&ssl_config, mbedtls_hmac_drbg_random, &drbg);
  // Handshake flights: 1 s, doubling up to 16 s (RFC 6347's defaults).
  mbedtls_ssl_conf_handshake_timeout(&ssl_config, 1000, 16000);
  ret = mbedtls_ssl_conf_psk(
      &ssl_config, credentials.psk.data(), credentials.psk.size(),
      reinterpret_cast<const unsigned char*>(credentials.identity.data()),
      credentials.identity_length);
  // Mbed TLS keeps its own copy of the PSK.
  mbedtls_platform_zeroize(credentials.psk.data(), credentials.psk.size());
  if (ret != 0) StopMbedTls("ssl_psk", ret);
  ret = mbedtls_ssl_setup(&ssl, &ssl_config);
  if (ret != 0) StopMbedTls("ssl_setup", ret);
  mbedtls_ssl_set_bio(&ssl, &link, UartDatagramLink::Send, nullptr,
                      UartDatagramLink::ReceiveTimeout);
  mbedtls_ssl_set_timer_cb(&ssl, &timer, DtlsTimer::SetDelay,
                           DtlsTimer::GetDelay);
  do {
    ret = mbedtls_ssl_handshake(&ssl);
  } while (ret == MBEDTLS_ERR_SSL_WANT_READ ||
           ret == MBEDTLS_ERR_SSL_WANT_WRITE);
  if (ret != 0) StopMbedTls("handshake", ret);
  Log("node_dtls: handshake done, ");
  Log(mbedtls_ssl_get_ciphersuite(&ssl));
  Log(", ");
  Log(mbedtls_ssl_get_version(&ssl));
  Log("\n");
}

// LateAnswer: called with the payload of a 2.04 that answers an earlier
// post, which arrives while the node waits for a later one: when the
// gateway was slow, the node retransmitted, and the gateway answers both
// the original and the retransmission; the node goes on after the first.
using LateAnswer = void (*)(std::span<const uint8_t> payload);

// Post sends one CON POST and waits for its answer, retransmitting the
// same message on each ACK timeout. Returns the response code; the
// response's payload (at most `answer.size()` bytes of it) goes to
// `answer`, its size to `answer_size`. A 2.04 piggybacked on the ACK of
// an earlier message id goes to `late_answer` (if not null).
uint8_t Post(uint16_t message_id,
             std::span<const uint8_t, device::kCoapTokenSize> token,
             std::span<const uint8_t> payload, uint16_t content_format,
             std::span<uint8_t> answer, size_t& answer_size,
             LateAnswer late_answer) {
  answer_size = 0;
  // Keeps the payload of the response that is returned.
  auto keep_payload = [&](std::span<const uint8_t> message) {
    const auto body = cxsec::node::FindCoapPayload(message);
    if (!body) return;
    answer_size = body->size() < answer.size() ? body->size() : answer.size();
    std::copy_n(body->begin(), answer_size, answer.begin());
  };
  std::array<uint8_t, 96> request;
  const size_t request_size = device::EncodeCoapPost(
      message_id, token, "t", payload, request, content_format);
  if (request_size == 0) Stop(kFailedExitCode, "post", "encode");
  uint32_t timeout = kAckTimeoutMs;
  bool acknowledged = false;  // an empty ACK: the answer comes separately
  for (int transmission = 0; transmission <= kMaxRetransmit; ++transmission) {
    if (!acknowledged) {
      const int written = mbedtls_ssl_write(&ssl, request.data(), request_size);
      if (written < 0) StopMbedTls("ssl_write", written);
    }
    const uint64_t deadline = board::MonotonicMilliseconds() + timeout;
    for (;;) {
      const uint64_t now = board::MonotonicMilliseconds();
      if (now >= deadline) break;
      mbedtls_ssl_conf_read_timeout(&ssl_config,
                                    static_cast<uint32_t>(deadline - now));
      std::array<uint8_t, 64 + kAnswerMaxSize> response;
      const int read = mbedtls_ssl_read(&ssl, response.data(), response.size());
      if (read == MBEDTLS_ERR_SSL_TIMEOUT ||
          read == MBEDTLS_ERR_SSL_WANT_READ) {
        continue;
      }
      if (read <= 0) StopMbedTls("ssl_read", read);
      device::CoapHeader header;
      if (device::ParseCoapHeader(
              std::span(response.data(), static_cast<size_t>(read)), header) !=
          device::CoapReason::kNone) {
        continue;  // not CoAP: ignore, as RFC 7252 4.2 allows
      }
      const bool same_token =
          header.token_length == device::kCoapTokenSize &&
          std::equal(token.begin(), token.end(), header.token.begin());
      if (header.type == device::kCoapAck && header.message_id == message_id) {
        if (header.code == 0) {
          acknowledged = true;
          continue;
        }
        if (same_token) {
          keep_payload(std::span(response.data(), static_cast<size_t>(read)));
          return header.code;
        }
      } else if (header.type == device::kCoapAck &&
                 header.code == device::CoapCode(2, 4) &&
                 late_answer != nullptr) {
        const auto body = cxsec::node::FindCoapPayload(
            std::span(response.data(), static_cast<size_t>(read)));
        if (body && !body->empty()) late_answer(*body);
      } else if ((header.type == device::kCoapConfirmable ||
                  header.type == device::kCoapNonConfirmable) &&
                 same_token) {
        if (header.type == device::kCoapConfirmable) {
          std::array<uint8_t, 4> ack;
          const size_t n = device::EncodeCoapEmptyAck(header.message_id, ack);
          const int written = mbedtls_ssl_write(&ssl, ack.data(), n);
          if (written < 0) StopMbedTls("ssl_write", written);
        }
        keep_payload(std::span(response.data(), static_cast<size_t>(read)));
        return header.code;
      } else if (header.type == device::kCoapReset &&
                 header.message_id == message_id) {
        Stop(kFailedExitCode, "post", "reset");
      }
    }
    timeout *= 2;
  }
  Stop(kFailedExitCode, "post", "no_answer");
}

// Pause sleeps `milliseconds` on the board clock (each SysTick interrupt
// wakes the core from WFI, so QEMU does not spin a host CPU meanwhile).
void Pause(uint32_t milliseconds) {
  const uint64_t until = board::MonotonicMilliseconds() + milliseconds;
  while (board::MonotonicMilliseconds() < until) __asm__ volatile("wfi");
}

// ReceiptsInLateAnswer: a late 2.04 (LateAnswer) may carry the receipts
// the gateway took from its box for this device: they are checked and
// counted as any others (a receipt already settled changes nothing), so
// a retransmission does not make a receipted reading look unreceipted.
void ReceiptsInLateAnswer(std::span<const uint8_t> payload) {
  seal_receipts.OnAnswer(seal_keys.mac_key(), seal_keys.epoch(), payload);
}

// HeapPeak: Mbed TLS's allocator zeroes its buffer at init and never
// clears freed blocks, so the highest non-zero byte bounds the peak.
size_t HeapPeak() {
  size_t top = kMbedTlsHeapSize;
  while (top > 0 && mbedtls_heap[top - 1] == 0) --top;
  return top;
}

}  // namespace

int main() {
  Log("node_dtls: starting on ");
  Log(board::BoardName());
  Log("\n");
  mbedtls_memory_buffer_alloc_init(mbedtls_heap, sizeof(mbedtls_heap));
  LoadKeyArea();
  Log("node_dtls: key area loaded, identity ");
  Log(credentials.identity.data());
  Log("\n");
  seal::SealMode seal_mode = seal::SealMode::kMacOnly;
  const bool sealing = LoadSealKeys(seal_mode);
  const uint32_t boot = SeedDrbg();
  Log("node_dtls: boot ");
  LogDecimal(boot);
  Log(", DRBG seeded from the key area seed and the boot counter\n");
  Handshake();

  std::array<uint8_t, 2> message_id_bytes;
  Random(message_id_bytes);
  uint16_t message_id =
      static_cast<uint16_t>((message_id_bytes[0] << 8) | message_id_bytes[1]);
  for (uint32_t i = 0; i < kReadings; ++i) {
    if (i != 0 && kReadingIntervalMs != 0) Pause(kReadingIntervalMs);
    // The synthetic sensor: a temperature in m°C that moves with the boot
    // and the reading, so readings differ across reboots.
    const int32_t reading =
        21000 + static_cast<int32_t>((boot * kReadings + i) % 1000);
    std::array<uint8_t, cxsec::node::kSealedReadingCborMaxSize> payload;
    std::span<const uint8_t> body;
    uint16_t content_format = device::kCoapContentFormatCbor;
    std::array<uint8_t,
               cxsec::node::kSealedReadingCborMaxSize + seal::kDtlsOverhead>
        sealed_payload;
    uint32_t sealed_sequence = 0;
    if (!sealing) {
      const size_t payload_size =
          device::EncodeReadingCbor("t", reading, /*event=*/false, payload);
      if (payload_size == 0) Stop(kFailedExitCode, "reading", "encode");
      body = std::span<const uint8_t>(payload.data(), payload_size);
    } else {
      // The sequence is on flash as used before anything is sealed under
      // it: a reset from here on loses this reading (a gap the verifier
      // counts) but never seals two readings under one sequence. A
      // retransmission below resends these same sealed bytes.
      const auto sequence = seal_sequence.ReserveNext();
      if (!sequence.ok()) {
        Stop(kRefusedExitCode, "seal_sequence",
             cxsec::node::CounterReasonName(sequence.reason()));
      }
      sealed_sequence = sequence.value();
      // The epoch moves before sealing, its keys persisted first.
      bool advanced = false;
      const cxsec::node::NodeSealReason ratcheted =
          seal_ratchet.AdvanceIfDue(seal_keys, sealed_sequence, advanced);
      if (ratcheted != cxsec::node::NodeSealReason::kNone) {
        Stop(kRefusedExitCode, "seal_epoch",
             cxsec::node::NodeSealReasonName(ratcheted));
      }
      if (advanced) {
        Log("node_dtls: seal epoch ");
        LogDecimal(seal_keys.epoch());
        Log(" from sequence ");
        LogDecimal(sealed_sequence);
        Log(", the old keys erased\n");
      }
      uint32_t newly_unreceipted = 0;
      const cxsec::node::ReceiptFields fields =
          seal_receipts.NextReadingFields(seal_keys.epoch(),
                                          newly_unreceipted);
      if (newly_unreceipted != 0) {
        Log("node_dtls: ");
        LogDecimal(newly_unreceipted);
        Log(" sealed reading(s) acknowledged by the gateway without a "
            "receipt: unreceipted (");
        LogDecimal(fields.unreceipted);
        Log(" so far)\n");
      }
      const size_t payload_size =
          cxsec::node::EncodeSealedReadingCbor("t", reading, fields, payload);
      if (payload_size == 0) Stop(kFailedExitCode, "reading", "encode");
      const auto sealed = seal::NodeSealCodec::Seal(
          seal_keys, seal::Transport::kDtlsCoap, seal_mode, sealed_sequence,
          std::span<const uint8_t>(payload.data(), payload_size),
          sealed_payload);
      if (!sealed.ok()) {
        Stop(kFailedExitCode, "seal", seal::SealReasonName(sealed.reason()));
      }
      body = std::span<const uint8_t>(sealed_payload.data(), sealed.value());
      content_format = device::kCoapContentFormatOctetStream;
    }
    std::array<uint8_t, device::kCoapTokenSize> token;
    Random(token);
    std::array<uint8_t, kAnswerMaxSize> answer;
    size_t answer_size = 0;
    const uint8_t code =
        Post(message_id++, token, body, content_format, answer, answer_size,
             sealing ? ReceiptsInLateAnswer : nullptr);
    if (code != device::CoapCode(2, 4)) {
      Log("node_dtls: post of reading ");
      LogDecimal(static_cast<uint32_t>(reading));
      Log(" answered ");
      LogDecimal(code >> 5);
      Log(".");
      LogDecimal((code & 0x1F) / 10);
      LogDecimal((code & 0x1F) % 10);
      Log("\n");
      Stop(kFailedExitCode, "post", "refused");
    }
    Log("node_dtls: acked reading ");
    LogDecimal(static_cast<uint32_t>(reading));
    Log(" token ");
    LogHex(token);
    Log("\n");
    if (sealing) {
      seal_receipts.OnAcknowledged(seal_keys.epoch(), sealed_sequence);
      seal_receipts.OnAnswer(seal_keys.mac_key(), seal_keys.epoch(),
                             std::span(answer.data(), answer_size));
    }
  }
  mbedtls_ssl_close_notify(&ssl);
  mbedtls_ssl_free(&ssl);
  mbedtls_ssl_config_free(&ssl_config);
  mbedtls_hmac_drbg_free(&drbg);
  Log("node_dtls: datagrams sent ");
  LogDecimal(link.sent());
  Log(", received ");
  LogDecimal(link.received());
  Log("\n");
  const board::StackUsage stack = board::MeasureStackUsage();
  Log("node_dtls: stack peak ");
  LogDecimal(stack.peak_used_bytes);
  Log(" of ");
  LogDecimal(stack.size_bytes);
  Log(" bytes, Mbed TLS heap peak ");
  LogDecimal(static_cast<uint32_t>(HeapPeak()));
  Log(" of ");
  LogDecimal(kMbedTlsHeapSize);
  Log(" bytes\n");
  if (sealing) {
    const cxsec::node::NodeReceiptCounters& counted = seal_receipts.counters();
    Log("node_dtls: seal receipts acknowledged=");
    LogDecimal(counted.acknowledged);
    Log(" receipted=");
    LogDecimal(counted.receipted);
    Log(" unreceipted=");
    LogDecimal(counted.unreceipted);
    Log(" bad_receipts=");
    LogDecimal(counted.bad_receipts);
    Log(" stale_receipts=");
    LogDecimal(counted.stale_receipts);
    Log(" unchecked=");
    LogDecimal(counted.unchecked);
    Log(" highest_receipted=");
    if (counted.highest_receipted < 0) {
      Log("-1");
    } else {
      LogDecimal(static_cast<uint32_t>(counted.highest_receipted));
    }
    Log("\n");
  }
  Log("node_dtls: done\n");
  board::Exit(0);
}
