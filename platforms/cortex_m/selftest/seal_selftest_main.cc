// A firmware image that runs sealed readings (core/seal/sealed_reading.h)
// on the Cortex-M3 with the node's Mbed TLS backend against the known
// answers of docs/SEALED_READINGS.md (tools/seal/seal_vectors.py): seal on
// DTLS/CoAP at epoch 1, ratchet to epoch 2 on the node's own, seal on Mioty,
// open both, refuse a flipped bit. Proves the device-side header builds
// for and runs on the node (no Abseil, no BoringSSL: the firmware rule
// refuses them), and is what docs/NODE_FIRMWARE.md measures its flash on.
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "core/seal/mbedtls_seal_crypto.h"
#include "core/seal/seal_key_area.h"
#include "core/seal/sealed_reading.h"
#include "platforms/cortex_m/board/console.h"

namespace {

using cxsec::board::ConsoleWrite;
using cxsec::board::ConsoleWriteLine;
using namespace cxsec::seal;

// Known answers (core/seal/testdata/known_answers.txt).
constexpr uint8_t kMacKeyEpoch1[] = {0xf1, 0x4b, 0x06, 0xd3, 0x5d, 0x99,
                                     0xb5, 0xcd, 0x0c, 0x90, 0xf2, 0xfa,
                                     0x6c, 0x01, 0x7c, 0xdd};
constexpr uint8_t kEncKeyEpoch1[] = {0x77, 0x04, 0x16, 0x20, 0x91, 0x34,
                                     0x04, 0x50, 0xad, 0xe6, 0x18, 0x65,
                                     0x86, 0x31, 0x19, 0x59};
constexpr uint8_t kMacKeyEpoch2[] = {0xc8, 0x1e, 0xf0, 0x80, 0xab, 0xea,
                                     0x4d, 0x0c, 0x68, 0x23, 0xd5, 0x31,
                                     0x9b, 0x8f, 0x6c, 0x94};
constexpr uint8_t kEncKeyEpoch2[] = {0x01, 0x3e, 0xb3, 0xae, 0x1b, 0xe1,
                                     0x31, 0xb2, 0xd1, 0xb6, 0x37, 0x9e,
                                     0x1d, 0xa5, 0x73, 0x23};
constexpr uint8_t kDtlsSealedEpoch1[] = {
    0x31, 0x01, 0x02, 0x03, 0x04, 0x05, 0xed, 0x9c, 0x36, 0xc4, 0xed,
    0xab, 0x99, 0x14, 0xf9, 0x92, 0x45, 0x5d, 0xc3, 0xf7, 0x20, 0xb9,
    0x1e, 0xf7, 0xf3, 0x46, 0x8f, 0xe3, 0xf5, 0x71, 0x4d, 0x5f, 0xc2,
    0x7e, 0x1c, 0xbc, 0x5d, 0x50, 0x57, 0xd2, 0x59, 0x51, 0xe5, 0x08,
    0xd2, 0x77, 0x9b, 0x60, 0xd9, 0x66, 0xaa, 0x43, 0x5a};
constexpr uint8_t kMiotySealedEpoch2[] = {
    0x32, 0xc5, 0x5c, 0xd0, 0xd0, 0x13, 0x8b, 0x1b, 0x05, 0x0e,
    0x97, 0x94, 0xe3, 0x27, 0x4c, 0xfc, 0x69, 0x0f, 0xf2, 0x08,
    0x6c, 0x52, 0x81, 0x66, 0x96, 0x24, 0xe4, 0x07, 0x94, 0xf8,
    0xc9, 0xf4, 0xc2, 0x61, 0x59, 0x2f, 0x94, 0x46, 0xfe, 0xe9,
    0x00, 0x65, 0xae, 0xef, 0xc1, 0xe4, 0x54, 0x9f, 0x9a};
// A seal key area holding the epoch-2 keys (CRC from zlib).
constexpr uint8_t kSealKeyAreaEpoch2[] = {
    0x43, 0x58, 0x53, 0x4b, 0x01, 0x01, 0x38, 0x00, 0x00, 0x11, 0x22, 0x33,
    0x44, 0x55, 0x66, 0x77, 0x02, 0x00, 0x00, 0x00, 0xc8, 0x1e, 0xf0, 0x80,
    0xab, 0xea, 0x4d, 0x0c, 0x68, 0x23, 0xd5, 0x31, 0x9b, 0x8f, 0x6c, 0x94,
    0x01, 0x3e, 0xb3, 0xae, 0x1b, 0xe1, 0x31, 0xb2, 0xd1, 0xb6, 0x37, 0x9e,
    0x1d, 0xa5, 0x73, 0x23, 0x70, 0x72, 0x74, 0x21};
constexpr uint32_t kDtlsSequence = 16909060;
constexpr uint32_t kMiotyCounter = 28036591;

bool Check(std::string_view name, bool ok, SealReason reason) {
  ConsoleWrite("seal_selftest: ");
  ConsoleWrite(name);
  ConsoleWrite(ok ? " ok" : " FAILED: ");
  ConsoleWriteLine(ok ? "" : SealReasonName(reason));
  return ok;
}

bool Same(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// The known-answer body: bytes 0, 1, ..., 39.
uint8_t body[40];
uint8_t sealed[64];
uint8_t opened[64];
DeviceSealKeys<MbedTlsSealCrypto> keys;

bool OpenAndTamper(std::string_view name, Transport transport, size_t size,
                   uint32_t counter) {
  SealedEnvelope envelope;
  SealReason reason = ParseSealedEnvelope(
      transport, std::span<const uint8_t>(sealed, size), envelope);
  auto epoch = ReconstructEpoch(1, envelope.epoch_low4);
  const uint32_t sequence =
      transport == Transport::kDtlsCoap ? envelope.sequence : counter;
  auto result = NodeSealCodec::Open(keys.mac_key(), &keys.enc_key(), transport,
                                    envelope, epoch.value(), sequence, opened);
  bool passed = Check(name,
                      reason == SealReason::kNone && result.ok() &&
                          Same(std::span(opened, result.value()), body),
                      result.reason());
  sealed[size / 2] ^= 0x01;
  result = NodeSealCodec::Open(keys.mac_key(), &keys.enc_key(), transport,
                               envelope, epoch.value(), sequence, opened);
  sealed[size / 2] ^= 0x01;
  passed =
      Check("flipped bit refused", result.reason() == SealReason::kTagMismatch,
            result.reason()) &&
      passed;
  return passed;
}

}  // namespace

int main() {
  for (size_t i = 0; i < sizeof(body); ++i) body[i] = static_cast<uint8_t>(i);
  bool passed = true;

  SealReason reason = keys.Load(1, kMacKeyEpoch1, kEncKeyEpoch1);
  auto dtls =
      NodeSealCodec::Seal(keys, Transport::kDtlsCoap, SealMode::kEncrypted,
                          kDtlsSequence, body, sealed);
  passed = Check("dtls_encrypted known answer",
                 reason == SealReason::kNone && dtls.ok() &&
                     Same(std::span(sealed, dtls.value()), kDtlsSealedEpoch1),
                 dtls.reason()) &&
           passed;
  passed = OpenAndTamper("dtls_encrypted opens", Transport::kDtlsCoap,
                         dtls.value(), 0) &&
           passed;

  reason = keys.Advance();
  passed = Check("ratchet to epoch 2",
                 reason == SealReason::kNone && keys.epoch() == 2 &&
                     Same(keys.mac_key().raw(), kMacKeyEpoch2) &&
                     Same(keys.enc_key().raw(), kEncKeyEpoch2),
                 reason) &&
           passed;

  SealKeyArea area;
  const auto parsed = ParseSealKeyArea(kSealKeyAreaEpoch2, area);
  passed = Check("seal key area holds the epoch 2 keys",
                 parsed == cxsec::device::KeyAreaReason::kNone &&
                     area.epoch == keys.epoch() && area.has_enc_key &&
                     Same(area.mac_key, keys.mac_key().raw()) &&
                     Same(area.enc_key, keys.enc_key().raw()),
                 SealReason::kNone) &&
           passed;
  WipeSealKeyArea(area);

  auto mioty =
      NodeSealCodec::Seal(keys, Transport::kMioty, SealMode::kEncrypted,
                          kMiotyCounter, body, sealed);
  passed = Check("mioty_encrypted known answer",
                 mioty.ok() &&
                     Same(std::span(sealed, mioty.value()), kMiotySealedEpoch2),
                 mioty.reason()) &&
           passed;
  passed = OpenAndTamper("mioty_encrypted opens", Transport::kMioty,
                         mioty.value(), kMiotyCounter) &&
           passed;

  ConsoleWriteLine(passed ? "seal_selftest: PASS" : "seal_selftest: FAIL");
  return passed ? 0 : 1;
}
