// Mioty frame throughput: encode and decode-and-verify per second on one
// core, for 10- and 40-byte payloads (short addressing, no MPF), next to
// the bare BoringSSL work on the same bytes in the same run: AES-128-CTR
// over the encrypted part (AES_ctr128_encrypt, key expanded once) plus
// AES-CMAC over B0 || MPDU-so-far (a CMAC_CTX initialised once and Reset per
// frame). tools/bench/mioty.sh turns the output into a table with ratios.
#include <openssl/aes.h>
#include <openssl/cipher.h>
#include <openssl/cmac.h>

#include <cstring>

#include "benchmark/benchmark.h"
#include "core/mioty/frame.h"

namespace cxsec::mioty {
namespace {

const uint8_t kRawKey[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                             0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
const Eui64 kEui = {0x70, 0xb3, 0xd5, 0x67, 0x70, 0x00, 0x12, 0x34};

MiotyNetworkKey Key() {
  return std::move(MiotyNetworkKey::FromBytes(ByteView(kRawKey, 16))).value();
}

UplinkParams Params() {
  UplinkParams params;
  params.eui = kEui;
  params.short_address = 0x1234;
  params.counter = 0x01020304;
  return params;
}

void BM_MiotyEncode(benchmark::State& state) {
  MiotyNetworkKey key = Key();
  UplinkParams params = Params();
  uint8_t payload[64] = {0};
  uint8_t out[kMaxMpduSize];
  const size_t n = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    absl::StatusOr<size_t> size =
        EncodeUplink(key, params, ByteView(payload, n), absl::MakeSpan(out));
    benchmark::DoNotOptimize(size);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MiotyEncode)->Arg(10)->Arg(40);

void BM_MiotyDecodeVerify(benchmark::State& state) {
  MiotyNetworkKey key = Key();
  uint8_t payload[64] = {0};
  const size_t n = static_cast<size_t>(state.range(0));
  Bytes mpdu = std::move(EncodeUplink(key, Params(), ByteView(payload, n))).value();
  uint8_t plain[kMaxMpduSize];
  // The gateway's per-frame path (transports/mioty): caller-owned header
  // and frame, as MiotyTransport decodes.
  FrameHeader header;
  VerifiedFrame frame;
  for (auto _ : state) {
    if (!ParseFrameHeader(mpdu, header).ok()) state.SkipWithError("bad header");
    std::optional<uint32_t> counter =
        ReconstructCounter(0x01020300u, header.counter_low24);
    absl::Status verified = VerifyUplink(key, header, kEui, *counter, mpdu,
                                         absl::MakeSpan(plain), frame);
    if (!verified.ok()) state.SkipWithError("frame did not verify");
    benchmark::DoNotOptimize(frame);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MiotyDecodeVerify)->Arg(10)->Arg(40);

// The baseline: the same AES-CTR and CMAC over the same bytes, straight on
// BoringSSL's APIs, with no parsing, checks or constant-time compare.
void BM_BareCtrCmac(benchmark::State& state) {
  AES_KEY aes;
  AES_set_encrypt_key(kRawKey, 128, &aes);
  bssl::UniquePtr<CMAC_CTX> cmac(CMAC_CTX_new());
  CMAC_Init(cmac.get(), kRawKey, 16, EVP_aes_128_cbc(), nullptr);
  const size_t n = static_cast<size_t>(state.range(0));
  uint8_t payload[64] = {0};
  Bytes mpdu =
      std::move(EncodeUplink(Key(), Params(), ByteView(payload, n))).value();
  uint8_t b0[16] = {0};
  std::memcpy(b0, kEui.data(), 8);
  b0[10] = 1, b0[11] = 2, b0[12] = 3, b0[13] = 4, b0[14] = 0xff, b0[15] = 0xff;
  const size_t encrypted_offset = 6;
  const size_t mic_offset = mpdu.size() - kMicSize;
  uint8_t plain[kMaxMpduSize];
  for (auto _ : state) {
    uint8_t tag[16];
    size_t tag_len = 0;
    CMAC_Reset(cmac.get());
    CMAC_Update(cmac.get(), b0, 16);
    CMAC_Update(cmac.get(), mpdu.data(), mic_offset);
    CMAC_Final(cmac.get(), tag, &tag_len);
    uint8_t ivec[16] = {0}, ecount[16];
    unsigned num = 0;
    std::memcpy(ivec, b0, 14);
    AES_ctr128_encrypt(mpdu.data() + encrypted_offset, plain,
                       mic_offset - encrypted_offset, &aes, ivec, ecount, &num);
    benchmark::DoNotOptimize(tag);
    benchmark::DoNotOptimize(plain);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BareCtrCmac)->Arg(10)->Arg(40);

}  // namespace
}  // namespace cxsec::mioty
