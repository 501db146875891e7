// Fuzzes the verifier's view of a sealed reading from an untrusted
// gateway: parsing, epoch reconstruction, and opening with fixed keys must
// never crash or read out of bounds; the parsed parts must tile the input;
// and anything that opens must re-seal to exactly the received bytes (one
// encoding per reading, nothing accepted that the node did not seal).
//
// Input: byte 0 picks the transport (even: DTLS/CoAP, odd: Mioty), bytes
// 1..4 the Mioty packet counter (big-endian), the rest is the envelope.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/sealed_reading.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec::seal;
  if (size < 5) return 0;
  static DeviceSealKeys<BoringSslSealCrypto>* const keys = [] {
    auto* k = new DeviceSealKeys<BoringSslSealCrypto>();
    std::array<uint8_t, 32> master{};
    for (size_t i = 0; i < master.size(); ++i) master[i] = uint8_t(i);
    const std::array<uint8_t, 8> device = {0x00, 0x11, 0x22, 0x33,
                                           0x44, 0x55, 0x66, 0x77};
    std::array<uint8_t, 16> mac{}, enc{};
    if (DeriveInitialKey<BoringSslSealCrypto>(KeyBranch::kMac, master, device,
                                              mac) != SealReason::kNone ||
        DeriveInitialKey<BoringSslSealCrypto>(
            KeyBranch::kEncryption, master, device, enc) != SealReason::kNone ||
        k->Load(0, mac, enc) != SealReason::kNone) {
      std::abort();
    }
    return k;
  }();
  const Transport transport =
      (data[0] & 1) ? Transport::kMioty : Transport::kDtlsCoap;
  const uint32_t counter = (uint32_t{data[1]} << 24) |
                           (uint32_t{data[2]} << 16) |
                           (uint32_t{data[3]} << 8) | data[4];
  const std::span<const uint8_t> bytes(data + 5, size - 5);
  SealedEnvelope envelope;
  if (ParseSealedEnvelope(transport, bytes, envelope) != SealReason::kNone) {
    return 0;
  }
  if (envelope.authenticated.data() != bytes.data() ||
      envelope.authenticated.size() + envelope.tag.size() != bytes.size() ||
      envelope.tag.size() != kTagSize || envelope.body.size() > kMaxBodySize ||
      envelope.body.data() + envelope.body.size() != envelope.tag.data()) {
    std::abort();
  }
  auto epoch = ReconstructEpoch(0, envelope.epoch_low4);
  if (!epoch.ok() || epoch.value() != envelope.epoch_low4) std::abort();
  const uint32_t sequence =
      transport == Transport::kDtlsCoap ? envelope.sequence : counter;
  static uint8_t plain[kMaxBodySize];
  auto opened =
      HostSealCodec::Open(keys->mac_key(), &keys->enc_key(), transport,
                          envelope, epoch.value(), sequence, plain);
  if (!opened.ok()) return 0;
  if (epoch.value() != 0) std::abort();  // keys exist for epoch 0 only
  static uint8_t again[kMaxBodySize + kDtlsOverhead];
  auto resealed = HostSealCodec::Seal(
      *keys, transport, envelope.mode, sequence,
      std::span<const uint8_t>(plain, opened.value()), again);
  if (!resealed.ok() || resealed.value() != bytes.size() ||
      std::memcmp(again, bytes.data(), bytes.size()) != 0) {
    std::abort();
  }
  return 0;
}
