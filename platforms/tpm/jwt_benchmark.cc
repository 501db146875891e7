// JWT mint/verify throughput and TPM signing latency. Run through
// tools/bench/jwt.sh, which puts each figure next to BoringSSL's own rate
// (bssl-tool speed) measured in the same run.
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "core/clock.h"
#include "core/identity/soft_key.h"
#include "core/jwt/issuer.h"
#include "core/jwt/verifier.h"
#include "platforms/tpm/tpm_key.h"
#include "tests/fixtures/swtpm_fixture.h"

namespace cxsec {
namespace {

const JwtIssueOptions kOptions{.subject = "G0123456789abcdef01",
                               .audience = "project-1"};

SoftKey& Key(JwtAlgorithm alg) {
  static SoftKey* es = new SoftKey(*SoftKey::Generate(JwtAlgorithm::kEs256));
  static SoftKey* ed = new SoftKey(*SoftKey::Generate(JwtAlgorithm::kEdDsa));
  return alg == JwtAlgorithm::kEs256 ? *es : *ed;
}

void BM_MintSoft(benchmark::State& state) {
  SoftKey& key = Key(static_cast<JwtAlgorithm>(state.range(0)));
  absl::Time now = absl::Now();
  for (auto _ : state) {
    absl::StatusOr<MintedJwt> minted = MintJwt(key, kOptions, now);
    if (!minted.ok()) state.SkipWithError("mint failed");
    benchmark::DoNotOptimize(minted);
  }
}
BENCHMARK(BM_MintSoft)->Arg(static_cast<int>(JwtAlgorithm::kEs256))->ArgName("es256");
BENCHMARK(BM_MintSoft)->Arg(static_cast<int>(JwtAlgorithm::kEdDsa))->ArgName("eddsa");

// The signature alone, in-process, over the signing input of a real token
// of kOptions (same length, so the same hashing): what minting costs beyond
// it is the JWT's own overhead.
void BM_SignOnly(benchmark::State& state) {
  SoftKey& key = Key(static_cast<JwtAlgorithm>(state.range(0)));
  std::string token = MintJwt(key, kOptions, absl::Now())->token;
  std::string input = token.substr(0, token.rfind('.'));
  for (auto _ : state) {
    absl::StatusOr<Bytes> sig = key.Sign(AsBytes(input));
    if (!sig.ok()) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_SignOnly)
    ->Arg(static_cast<int>(JwtAlgorithm::kEs256))
    ->ArgName("es256");
BENCHMARK(BM_SignOnly)
    ->Arg(static_cast<int>(JwtAlgorithm::kEdDsa))
    ->ArgName("eddsa");

// One swtpm for the TPM benchmarks. Function-local statics are destroyed
// in reverse order at exit: the key's connection closes, then swtpm stops.
TpmKey* SharedTpmKey() {
  static std::unique_ptr<testing::SwtpmProcess> tpm = [] {
    auto started = testing::SwtpmProcess::Start();
    return started.ok() ? std::move(*started) : nullptr;
  }();
  static std::unique_ptr<TpmKey> key = []() -> std::unique_ptr<TpmKey> {
    if (tpm == nullptr) return nullptr;
    auto enrolled = TpmKey::Enroll(tpm->Tcti(), kTpmDefaultKeyHandle);
    if (!enrolled.ok()) return nullptr;
    return std::make_unique<TpmKey>(std::move(*enrolled));
  }();
  return key.get();
}

void BM_TpmSignBare(benchmark::State& state) {
  TpmKey* key = SharedTpmKey();
  if (key == nullptr) return state.SkipWithError("swtpm unavailable");
  Sha256Digest digest = Sha256(AsBytes("benchmark"));
  for (auto _ : state) {
    absl::StatusOr<Bytes> sig = key->SignDigest(digest);
    if (!sig.ok()) state.SkipWithError("TPM2_Sign failed");
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_TpmSignBare)->UseRealTime();

void BM_MintTpm(benchmark::State& state) {
  TpmKey* key = SharedTpmKey();
  if (key == nullptr) return state.SkipWithError("swtpm unavailable");
  absl::Time now = absl::Now();
  for (auto _ : state) {
    absl::StatusOr<MintedJwt> minted = MintJwt(*key, kOptions, now);
    if (!minted.ok()) state.SkipWithError("mint failed");
    benchmark::DoNotOptimize(minted);
  }
}
BENCHMARK(BM_MintTpm)->UseRealTime();

struct VerifySetup {
  explicit VerifySetup(JwtAlgorithm alg, size_t cache_capacity)
      : verifier({.audience = "project-1", .cache_capacity = cache_capacity},
                 SystemClock::Default()),
        keys(*DeviceKeySet::Create(kOptions.subject,
                                   {{Key(alg).SharedPublicKey(), std::nullopt}})),
        token(MintJwt(Key(alg), kOptions, absl::Now())->token) {}
  JwtVerifier verifier;
  DeviceKeySet keys;
  std::string token;
};

void BM_VerifyCold(benchmark::State& state) {
  VerifySetup setup(static_cast<JwtAlgorithm>(state.range(0)), 0);
  for (auto _ : state) {
    absl::StatusOr<VerifiedClaims> claims =
        setup.verifier.VerifyWithKeys(setup.token, setup.keys);
    if (!claims.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(claims);
  }
}
BENCHMARK(BM_VerifyCold)->Arg(static_cast<int>(JwtAlgorithm::kEs256))->ArgName("es256");
BENCHMARK(BM_VerifyCold)->Arg(static_cast<int>(JwtAlgorithm::kEdDsa))->ArgName("eddsa");

void BM_VerifyWarm(benchmark::State& state) {
  VerifySetup setup(JwtAlgorithm::kEs256, 65536);
  (void)setup.verifier.VerifyWithKeys(setup.token, setup.keys);
  for (auto _ : state) {
    absl::StatusOr<VerifiedClaims> claims =
        setup.verifier.VerifyWithKeys(setup.token, setup.keys);
    if (!claims.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(claims);
  }
}
BENCHMARK(BM_VerifyWarm);

// The signature check alone, in-process, to separate JWT overhead from
// BoringSSL's own cost: over the signing input of a real token of
// kOptions, so it hashes as many bytes as BM_VerifyCold does (a short
// stand-in input made the baseline about 0.3 us cheaper than the
// signature check inside a verification).
void BM_SignatureOnly(benchmark::State& state) {
  SoftKey& key = Key(static_cast<JwtAlgorithm>(state.range(0)));
  std::string token = MintJwt(key, kOptions, absl::Now())->token;
  std::string input = token.substr(0, token.rfind('.'));
  Bytes sig = *key.Sign(AsBytes(input));
  for (auto _ : state) {
    absl::Status status = key.PublicKey().VerifySignature(AsBytes(input), sig);
    if (!status.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(status);
  }
}
BENCHMARK(BM_SignatureOnly)->Arg(static_cast<int>(JwtAlgorithm::kEs256))->ArgName("es256");
BENCHMARK(BM_SignatureOnly)->Arg(static_cast<int>(JwtAlgorithm::kEdDsa))->ArgName("eddsa");

}  // namespace
}  // namespace cxsec
