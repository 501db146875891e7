// Microbenchmark of the verifier's per-reading work for sealed readings
// (issue 16 item 6): what a sealed reading costs on top of an unsealed one
// inside the process, without TLS, HTTP or the disk, so the figures hold
// still on a busy two-core machine where tools/bench/sealed_ingest.sh's
// wall-clock rates cannot. The baseline is the log line every accepted
// reading gets, sealed or not.
#include <benchmark/benchmark.h>

#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/deployment/telemetry_cbor.h"
#include "core/encoding/base64url.h"
#include "core/encoding/hex.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/seal_master_secret.h"
#include "nlohmann/json.hpp"
#include "targets/verifier/seal/seal_authority.h"

namespace cxsec::verifier {
namespace {

constexpr char kDevice[] = "D0011223344556610";
constexpr char kMasterHex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct Fixture {
  std::string dir;
  std::unique_ptr<SealAuthority> authority;
  std::vector<std::string> payloads;  // JSON strings, as the gateway posts
  std::string plain_payload;
};

Fixture& Shared() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    char tmpl[] = "/tmp/seal_bench.XXXXXX";
    f->dir = mkdtemp(tmpl);
    std::string master = f->dir + "/seal-master.key";
    FILE* out = std::fopen(master.c_str(), "w");
    std::fprintf(out, "%s\n", kMasterHex);
    std::fclose(out);
    chmod(master.c_str(), 0600);
    SealAuthorityOptions options;
    options.mac_master_file = master;
    f->authority = *SealAuthority::Open(options);
    SecretBytes secret = SecretBytes::CopyFrom(*HexDecode(kMasterHex));
    auto mac = seal::DeriveSealKey(seal::KeyBranch::kMac, secret, kDevice, 0);
    auto enc = seal::DeriveSealKey(seal::KeyBranch::kEncryption, secret, kDevice, 0);
    ByteView m = mac->Reveal(SecretAccess::Grant());
    ByteView e = enc->Reveal(SecretAccess::Grant());
    seal::HostSealCodec::Keys keys;
    (void)keys.Load(0, std::span<const uint8_t>(m.data(), m.size()),
                    std::span<const uint8_t>(e.data(), e.size()));
    Bytes reading = EncodeTelemetry(false, {{"t", 21500}});
    f->plain_payload = "\"" + Base64UrlEncode(ByteView(reading)) + "\"";
    Bytes sealed(reading.size() + seal::kDtlsOverhead);
    for (uint32_t i = 0; i < 1 << 20; ++i) {
      auto size = seal::HostSealCodec::Seal(
          keys, seal::Transport::kDtlsCoap, seal::SealMode::kEncrypted, i,
          std::span<const uint8_t>(reading.data(), reading.size()),
          std::span<uint8_t>(sealed.data(), sealed.size()));
      f->payloads.push_back(
          "\"" + Base64UrlEncode(ByteView(sealed.data(), size.value())) + "\"");
    }
    return f;
  }();
  return *fixture;
}

// What every accepted reading costs: its log line.
void BM_LogLineUnsealed(benchmark::State& state) {
  Fixture& f = Shared();
  for (auto _ : state) {
    nlohmann::json line = {{"gatewayId", "G1"},       {"project", "bench"},
                           {"deviceId", kDevice},     {"messageId", "m-1"},
                           {"timestamp", 1},          {"receivedAt", 2},
                           {"payloadSha256", std::string(64, 'a')}};
    std::string text = line.dump();
    text.pop_back();
    text += ",\"payload\":" + f.plain_payload + "}";
    benchmark::DoNotOptimize(text);
  }
}
BENCHMARK(BM_LogLineUnsealed);

// The sealed reading's extra work, in the order the verifier does it:
// detect and decode, open and decide, its log fields, commit, receipt.
void BM_SealedExtra(benchmark::State& state) {
  Fixture& f = Shared();
  uint32_t sequence = 0;
  for (auto _ : state) {
    const std::string& payload = f.payloads[sequence % f.payloads.size()];
    Bytes envelope;
    benchmark::DoNotOptimize(IsSealedPayload(payload, &envelope));
    SealCheck check = f.authority->Check(kDevice, "dtls", "m-1", ByteView(envelope));
    if (!check.rejection.empty()) state.SkipWithError(check.rejection.c_str());
    std::string line;
    SealAuthority::AppendLogFields(check, &line);
    benchmark::DoNotOptimize(line);
    f.authority->Commit(kDevice, check.epoch, check.sequence, check.tag);
    benchmark::DoNotOptimize(SealAuthority::Receipt(
        check.keys.get(), "dtls", check.sequence,
        seal::ReceiptVerdict::kAccepted));
    ++sequence;
  }
}
BENCHMARK(BM_SealedExtra);

}  // namespace
}  // namespace cxsec::verifier
