// Microbenchmarks of core primitives. Run through tools/bench/core.sh, which
// prints them next to bssl-tool's SHA-256 rate from the same run.
#include <openssl/base64.h>

#include "benchmark/benchmark.h"
#include "core/crypto/primitives.h"
#include "core/encoding/base64url.h"

namespace cxsec {
namespace {

void BM_Base64UrlDecode(benchmark::State& state) {
  Bytes raw(static_cast<size_t>(state.range(0)), 0x5a);
  std::string text = Base64UrlEncode(raw);
  for (auto _ : state) {
    absl::StatusOr<Bytes> decoded = Base64UrlDecode(text);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Base64UrlDecode)->Arg(64)->Arg(8192);

// Baseline: BoringSSL's own (standard-alphabet, padded) base64 decoder on
// the same data, in the same process.
void BM_BoringSslBase64Decode(benchmark::State& state) {
  Bytes raw(static_cast<size_t>(state.range(0)), 0x5a);
  size_t encoded_size = 0;
  EVP_EncodedLength(&encoded_size, raw.size());
  std::string text(encoded_size, '\0');
  size_t written = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(text.data()),
                                   raw.data(), raw.size());
  text.resize(written);
  Bytes out(raw.size() + 3);
  for (auto _ : state) {
    size_t out_size = 0;
    benchmark::DoNotOptimize(EVP_DecodeBase64(
        out.data(), &out_size, out.size(),
        reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BoringSslBase64Decode)->Arg(64)->Arg(8192);

void BM_Sha256(benchmark::State& state) {
  Bytes data(static_cast<size_t>(state.range(0)), 0x11);
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(8192);

void BM_ConstantTimeEquals(benchmark::State& state) {
  Bytes a(32, 1), b(32, 1);
  for (auto _ : state) benchmark::DoNotOptimize(ConstantTimeEquals(a, b));
}
BENCHMARK(BM_ConstantTimeEquals);

}  // namespace
}  // namespace cxsec
