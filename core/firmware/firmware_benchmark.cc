// Benchmarks the bootloader verifier on a 1 MiB image (P-256 and Ed25519)
// with an 8 KiB read buffer, next to its parts measured in the same binary:
// SHA-256 over the same bytes in 8 KiB blocks and one signature verify.
// BM_PeakStack runs the verifier on a painted 256 KiB thread stack and
// reports how much of it was touched (the read buffer is static, so the
// figure is the verifier's own stack, BoringSSL's callees included), and
// the signature check alone the same way: the part that is BoringSSL's.
// tools/bench/firmware.sh prints these beside `bssl-tool speed`.
#include <pthread.h>
#include <sys/mman.h>

#include <array>
#include <cstring>
#include <memory>

#include "benchmark/benchmark.h"
#include "core/firmware/host_image_verifier.h"
#include "core/firmware/image_writer.h"
#include "core/firmware/signing_key.h"

namespace cxsec::firmware {
namespace {

constexpr size_t kBodySize = 1 << 20;
constexpr size_t kBufferSize = 8 << 10;

struct Fixture {
  std::unique_ptr<SigningKey> key;
  TrustedKey trusted;
  Bytes image;
  Bytes zero_digest_signature;  // over 32 zero bytes, for the bare check
};

const Fixture& GetFixture(SignatureAlgorithm algorithm) {
  static Fixture fixtures[2];
  Fixture& f = fixtures[algorithm == SignatureAlgorithm::kEd25519 ? 1 : 0];
  if (!f.key) {
    f.key = std::make_unique<SigningKey>(SigningKey::Generate(algorithm).value());
    f.trusted = f.key->ToTrustedKey().value();
    Bytes body(kBodySize);
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<uint8_t>(i * 31);
    SignOptions options;
    options.version = {1, 0, 0, 0};
    options.security_counter = 1;
    f.image = BuildSignedImage(body, options, *f.key).value();
    f.zero_digest_signature =
        f.key->SignDigest(std::array<uint8_t, 32>{}).value();
  }
  return f;
}

uint8_t g_buffer[kBufferSize];

void BM_VerifyImage(benchmark::State& state) {
  const auto algorithm = static_cast<SignatureAlgorithm>(state.range(0));
  const Fixture& f = GetFixture(algorithm);
  for (auto _ : state) {
    VerifyOutcome outcome = VerifyImage(MemoryImageSource(f.image),
                                        absl::MakeConstSpan(&f.trusted, 1),
                                        VerifyOptions{}, absl::MakeSpan(g_buffer));
    if (!outcome.ok()) state.SkipWithError(RejectReasonText(outcome.reason));
    benchmark::DoNotOptimize(outcome);
  }
  state.SetBytesProcessed(state.iterations() * f.image.size());
  state.SetLabel(algorithm == SignatureAlgorithm::kEd25519 ? "ed25519" : "ecdsa-p256");
}
BENCHMARK(BM_VerifyImage)
    ->Arg(static_cast<int>(SignatureAlgorithm::kEcdsaP256))
    ->Arg(static_cast<int>(SignatureAlgorithm::kEd25519))
    ->Unit(benchmark::kMicrosecond);

// The hashing part alone: the same bytes, the same 8 KiB block size.
void BM_Sha256Image8KiBBlocks(benchmark::State& state) {
  const Fixture& f = GetFixture(SignatureAlgorithm::kEd25519);
  uint8_t digest[32];
  for (auto _ : state) {
    SHA256_CTX sha;
    SHA256_Init(&sha);
    for (size_t offset = 0; offset < f.image.size(); offset += kBufferSize) {
      size_t n = std::min(kBufferSize, f.image.size() - offset);
      std::memcpy(g_buffer, f.image.data() + offset, n);  // as the read callback
      SHA256_Update(&sha, g_buffer, n);
    }
    SHA256_Final(digest, &sha);
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(state.iterations() * f.image.size());
}
BENCHMARK(BM_Sha256Image8KiBBlocks)->Unit(benchmark::kMicrosecond);

// One signature verify over a digest, as the verifier does it.
void BM_SignatureVerify(benchmark::State& state) {
  const auto algorithm = static_cast<SignatureAlgorithm>(state.range(0));
  const Fixture& f = GetFixture(algorithm);
  std::array<uint8_t, 32> digest{};
  Bytes signature = f.key->SignDigest(digest).value();
  for (auto _ : state) {
    const std::span<const uint8_t> public_key(f.trusted.public_key.data(),
                                              f.trusted.public_key_size);
    const SignatureCheck check =
        algorithm == SignatureAlgorithm::kEd25519
            ? BoringSslFirmwareCrypto::VerifyEd25519(public_key, digest,
                                                     signature)
            : BoringSslFirmwareCrypto::VerifyEcdsaP256(public_key, digest,
                                                       signature);
    if (check != SignatureCheck::kValid) state.SkipWithError("signature failed");
  }
  state.SetLabel(algorithm == SignatureAlgorithm::kEd25519 ? "ed25519" : "ecdsa-p256");
}
BENCHMARK(BM_SignatureVerify)
    ->Arg(static_cast<int>(SignatureAlgorithm::kEcdsaP256))
    ->Arg(static_cast<int>(SignatureAlgorithm::kEd25519))
    ->Unit(benchmark::kMicrosecond);

constexpr size_t kStackSize = 256 << 10;
constexpr uint8_t kPaint = 0xa5;

struct StackProbe {
  SignatureAlgorithm algorithm;
  bool signature_only = false;
  bool ok = false;
};

// The signature check alone, straight on the backend, as the verifier
// calls it: the floor under the verifier's own figure.
void* RunSignatureOnThread(void* arg) {
  auto* probe = static_cast<StackProbe*>(arg);
  const Fixture& f = GetFixture(probe->algorithm);
  const std::array<uint8_t, 32> digest{};
  const Bytes& signature = f.zero_digest_signature;
  const std::span<const uint8_t> public_key(f.trusted.public_key.data(),
                                            f.trusted.public_key_size);
  probe->ok =
      (probe->algorithm == SignatureAlgorithm::kEd25519
           ? BoringSslFirmwareCrypto::VerifyEd25519(public_key, digest,
                                                    signature)
           : BoringSslFirmwareCrypto::VerifyEcdsaP256(
                 public_key, digest, signature)) == SignatureCheck::kValid;
  return nullptr;
}

void* RunVerifyOnThread(void* arg) {
  auto* probe = static_cast<StackProbe*>(arg);
  if (static_cast<int>(probe->algorithm) == 0) {  // empty thread: overhead
    probe->ok = true;
    return nullptr;
  }
  const Fixture& f = GetFixture(probe->algorithm);
  VerifyOutcome outcome = VerifyImage(MemoryImageSource(f.image),
                                      absl::MakeConstSpan(&f.trusted, 1),
                                      VerifyOptions{}, absl::MakeSpan(g_buffer));
  probe->ok = outcome.ok();
  return nullptr;
}

// Arguments: the algorithm (0: an empty thread, to subtract) and whether
// to run the signature check alone (1) instead of the whole verify (0).
void BM_PeakStack(benchmark::State& state) {
  const auto algorithm = static_cast<SignatureAlgorithm>(state.range(0));
  const bool signature_only = state.range(1) != 0;
  if (state.range(0) != 0) GetFixture(algorithm);  // build outside the thread
  size_t peak = 0;
  for (auto _ : state) {
    void* stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    std::memset(stack, kPaint, kStackSize);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, kStackSize);
    StackProbe probe{algorithm, signature_only};
    pthread_t thread;
    pthread_create(&thread, &attr,
                   signature_only ? RunSignatureOnThread : RunVerifyOnThread,
                   &probe);
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);
    const auto* bytes = static_cast<const uint8_t*>(stack);
    size_t untouched = 0;
    while (untouched < kStackSize && bytes[untouched] == kPaint) ++untouched;
    // Thread start-up (TLS, pthread frame) is part of the figure, so it
    // overstates the verifier slightly.
    peak = kStackSize - untouched;
    munmap(stack, kStackSize);
    if (!probe.ok) state.SkipWithError("verify failed");
  }
  state.counters["peak_stack_bytes"] = static_cast<double>(peak);
  state.counters["read_buffer_bytes"] = static_cast<double>(kBufferSize);
  state.SetLabel(state.range(0) == 0 ? "empty thread"
                 : algorithm == SignatureAlgorithm::kEd25519 ? "ed25519" : "ecdsa-p256");
}
BENCHMARK(BM_PeakStack)
    ->Args({0, 0})  // thread start-up alone, to subtract
    ->Args({static_cast<int>(SignatureAlgorithm::kEcdsaP256), 0})
    ->Args({static_cast<int>(SignatureAlgorithm::kEd25519), 0})
    ->Args({static_cast<int>(SignatureAlgorithm::kEcdsaP256), 1})
    ->Args({static_cast<int>(SignatureAlgorithm::kEd25519), 1})
    ->Iterations(1);

}  // namespace
}  // namespace cxsec::firmware
