// seal_payloads: readings for tools/bench/sealed_ingest.sh, one per line
// as the gateway posts them: the unsealed reading (base64url of its CBOR),
// a space, and the same reading sealed (base64url of the envelope):
// DTLS/CoAP encoding, encrypted mode, sequences 0..N-1 of one device at
// epoch 0, keys derived from a master file as `cxsec provision
// --seal-master` does. Reading i is {"t": 65536 + i} (a 4-byte CBOR
// integer, so every line has the same length): every line differs, on
// the unsealed side too, so the load client holds as many distinct
// strings for either run (wrk's Lua interns strings: a table of one
// repeated payload was one string, and its garbage collector then did
// less work for the unsealed runs than for the sealed ones).
//   seal_payloads MASTER_FILE DEVICE_ID COUNT > payloads.txt
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/deployment/telemetry_cbor.h"
#include "core/encoding/base64url.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/seal_master_secret.h"

int main(int argc, char** argv) {
  using namespace cxsec;
  if (argc != 4) {
    std::fprintf(stderr, "usage: seal_payloads MASTER_FILE DEVICE_ID COUNT\n");
    return 2;
  }
  absl::StatusOr<SecretBytes> master = seal::LoadSealMasterSecret(argv[1]);
  if (!master.ok()) {
    std::fprintf(stderr, "seal_payloads: %s\n",
                 std::string(master.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<SecretBytes> mac =
      seal::DeriveSealKey(seal::KeyBranch::kMac, *master, argv[2], 0);
  absl::StatusOr<SecretBytes> enc =
      seal::DeriveSealKey(seal::KeyBranch::kEncryption, *master, argv[2], 0);
  if (!mac.ok() || !enc.ok()) {
    std::fprintf(stderr, "seal_payloads: cannot derive the device's keys\n");
    return 1;
  }
  seal::HostSealCodec::Keys keys;
  ByteView m = mac->Reveal(SecretAccess::Grant());
  ByteView e = enc->Reveal(SecretAccess::Grant());
  if (keys.Load(0, std::span<const uint8_t>(m.data(), m.size()),
                std::span<const uint8_t>(e.data(), e.size())) !=
      seal::SealReason::kNone) {
    std::fprintf(stderr, "seal_payloads: cannot load the keys\n");
    return 1;
  }
  const long count = std::strtol(argv[3], nullptr, 10);
  for (long i = 0; i < count; ++i) {
    Bytes reading = EncodeTelemetry(false, {{"t", 65536 + i}});
    Bytes out(reading.size() + seal::kDtlsOverhead);
    auto size = seal::HostSealCodec::Seal(
        keys, seal::Transport::kDtlsCoap, seal::SealMode::kEncrypted,
        static_cast<uint32_t>(i),
        std::span<const uint8_t>(reading.data(), reading.size()),
        std::span<uint8_t>(out.data(), out.size()));
    if (!size.ok()) {
      std::fprintf(stderr, "seal_payloads: %s\n",
                   seal::SealReasonName(size.reason()));
      return 1;
    }
    std::printf("%s %s\n", Base64UrlEncode(ByteView(reading)).c_str(),
                Base64UrlEncode(ByteView(out.data(), size.value())).c_str());
  }
  return 0;
}
