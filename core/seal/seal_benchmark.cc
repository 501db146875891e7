// Sealing cost per reading on the host, next to the bare BoringSSL work a
// seal stands for, on the same bytes in the same run:
//   DTLS/CoAP MAC-only   vs  EVP_AEAD AES-128-CCM (M=8, L=2) tag over the
//                            same associated data (context set up once);
//   DTLS/CoAP encrypted  vs  that CCM call plus AES_ctr128_encrypt of the body;
//   Mioty MAC-only       vs  AES_CMAC-equivalent CMAC_CTX (Reset per reading);
//   Mioty encrypted      vs  AES_ctr128_encrypt + that CMAC.
// Open (verify + decrypt) is measured the same way. tools/bench/seal.sh
// prints the table with ratios.
#include <openssl/aead.h>
#include <openssl/aes.h>
#include <openssl/cipher.h>
#include <openssl/cmac.h>

#include <array>
#include <cstring>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/sealed_reading.h"

namespace cxsec::seal {
namespace {

const uint8_t kKey[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                          0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};

void LoadKeys(DeviceSealKeys<BoringSslSealCrypto>& keys) {
  if (keys.Load(3, std::span<const uint8_t>(kKey, 16),
                std::span<const uint8_t>(kKey, 16)) != SealReason::kNone) {
    std::abort();
  }
}

Transport TransportOf(int64_t arg) {
  return arg == 0 ? Transport::kDtlsCoap : Transport::kMioty;
}

// Args: transport (0 DTLS, 1 Mioty), mode (0 MAC-only, 1 encrypted), size.
void BM_Seal(benchmark::State& state) {
  DeviceSealKeys<BoringSslSealCrypto> keys;
  LoadKeys(keys);
  const Transport transport = TransportOf(state.range(0));
  const SealMode mode =
      state.range(1) == 0 ? SealMode::kMacOnly : SealMode::kEncrypted;
  const size_t n = static_cast<size_t>(state.range(2));
  std::vector<uint8_t> body(n, 0x5a), out(SealedSize(transport, n));
  uint32_t sequence = 0;
  for (auto _ : state) {
    auto sealed =
        HostSealCodec::Seal(keys, transport, mode, ++sequence, body, out);
    benchmark::DoNotOptimize(sealed);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_added"] = static_cast<double>(out.size() - n);
}

void BM_Open(benchmark::State& state) {
  DeviceSealKeys<BoringSslSealCrypto> keys;
  LoadKeys(keys);
  const Transport transport = TransportOf(state.range(0));
  const SealMode mode =
      state.range(1) == 0 ? SealMode::kMacOnly : SealMode::kEncrypted;
  const size_t n = static_cast<size_t>(state.range(2));
  std::vector<uint8_t> body(n, 0x5a), sealed(SealedSize(transport, n)),
      plain(n + 1);
  if (!HostSealCodec::Seal(keys, transport, mode, 7, body, sealed).ok()) {
    std::abort();
  }
  for (auto _ : state) {
    SealedEnvelope envelope;
    if (ParseSealedEnvelope(transport, sealed, envelope) != SealReason::kNone) {
      std::abort();
    }
    auto epoch = ReconstructEpoch(3, envelope.epoch_low4);
    auto opened =
        HostSealCodec::Open(keys.mac_key(), &keys.enc_key(), transport,
                            envelope, epoch.value(), 7, plain);
    if (!opened.ok()) std::abort();
    benchmark::DoNotOptimize(plain.data());
  }
  state.SetItemsProcessed(state.iterations());
}

// The bare BoringSSL calls a seal of the same shape makes necessary.
void BM_BareBoringSsl(benchmark::State& state) {
  const Transport transport = TransportOf(state.range(0));
  const bool encrypt = state.range(1) != 0;
  const size_t n = static_cast<size_t>(state.range(2));
  AES_KEY aes;
  AES_set_encrypt_key(kKey, 128, &aes);
  bssl::ScopedEVP_AEAD_CTX ccm;
  EVP_AEAD_CTX_init(ccm.get(), EVP_aead_aes_128_ccm_bluetooth_8(), kKey, 16, 8,
                    nullptr);
  bssl::UniquePtr<CMAC_CTX> cmac(CMAC_CTX_new());
  CMAC_Init(cmac.get(), kKey, 16, EVP_aes_128_cbc(), nullptr);
  const size_t header = transport == Transport::kDtlsCoap ? 5 : 1;
  std::vector<uint8_t> body(n, 0x5a), out(header + n + 8, 0x20);
  uint8_t nonce[13] = {1};
  uint8_t first[16] = {2};
  for (auto _ : state) {
    if (encrypt && n > 0) {
      uint8_t counter[16] = {1};
      uint8_t keystream[16];
      unsigned int used = 0;
      AES_ctr128_encrypt(body.data(), out.data() + header, n, &aes, counter,
                         keystream, &used);
    }
    if (transport == Transport::kDtlsCoap) {
      size_t tag_size = 0;
      EVP_AEAD_CTX_seal(ccm.get(), out.data() + header + n, &tag_size, 8, nonce,
                        13, nullptr, 0, out.data(), header + n);
    } else {
      uint8_t tag[16];
      size_t tag_size = 0;
      CMAC_Reset(cmac.get());
      CMAC_Update(cmac.get(), first, 16);
      CMAC_Update(cmac.get(), out.data(), header + n);
      CMAC_Final(cmac.get(), tag, &tag_size);
      std::memcpy(out.data() + header + n, tag, 8);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int transport : {0, 1}) {
    for (int mode : {0, 1}) {
      for (int size : {12, 40, 200}) b->Args({transport, mode, size});
    }
  }
}

BENCHMARK(BM_Seal)->Apply(Shapes);
BENCHMARK(BM_Open)->Apply(Shapes);
BENCHMARK(BM_BareBoringSsl)->Apply(Shapes);

}  // namespace
}  // namespace cxsec::seal
