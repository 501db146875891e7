// DTLS-PSK handshakes/s and CoAP requests/s: cxsec's DtlsServer next to
// Debian's coap-server-gnutls, measured in the same run with the same
// client (DtlsNode, libcoap GnuTLS) on loopback. Both servers run under the
// same GnuTLS priority override, so both negotiate PSK-AES-128-CCM-8.
//
// cxsec: POST /t with CBOR, decoded and handed to a sink (in memory here:
// the benchmark measures the transport, not the disk). Reference: PUT
// /example_data with the same payload (coap-server stores it), since
// coap-server has no POST resource. Run with tools/bench/dtls.sh.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "core/deployment/telemetry_cbor.h"
#include "transports/dtls/dtls_node.h"
#include "transports/dtls/dtls_server.h"
#include "transports/dtls/test_support.h"

extern char** environ;

namespace cxsec::dtls {
namespace {

constexpr char kReferencePsk[] = "cxsec-bench-psk!";  // 16 bytes, argv-safe

struct Fixture {
  SecurityConfig security = testing::TestSecurity();
  std::atomic<uint64_t> sunk{0};
  std::unique_ptr<DtlsServer> server;
  uint16_t cxsec_port = testing::FreeUdpPort();
  uint16_t reference_port = 0;  // DTLS port of coap-server (its -p + 1)
  pid_t reference_pid = -1;
  std::string cxsec_key, reference_key;

  Fixture() {
    DtlsServerOptions options;
    options.port = cxsec_port;
    options.requests_per_second = 1e9;
    options.request_burst = 1e9;
    options.max_sessions = 100000;
    server = std::make_unique<DtlsServer>(options, security.Clone());
    absl::Status started = server->Start([this](VerifiedMessage) {
      ++sunk;
      return absl::OkStatus();
    });
    if (!started.ok()) {
      std::fprintf(stderr, "cxsec server: %s\n", std::string(started.message()).c_str());
      std::abort();
    }
    cxsec_key = testing::WriteNodeKey(security, testing::DeviceId(1), 1, "bench_cxsec.key");
    NodeKey ref{testing::DeviceId(2), 0x1a2b, 1,
                SecretBytes::CopyFrom(AsBytes(std::string(kReferencePsk)))};
    reference_key = absl::StrCat(testing::TempDir(), "/bench_ref.key");
    if (!WriteFileAtomically(reference_key, FormatNodeKeyFile(ref), 0600).ok()) std::abort();

    // coap-server listens for DTLS on -p + 1; pick a pair that is free.
    uint16_t base = 0;
    for (int i = 0; i < 50 && base == 0; ++i) {
      uint16_t p = testing::FreeUdpPort();
      if (p < 65000 && p % 2 == 0) base = p;
    }
    reference_port = base + 1;
    std::string port = std::to_string(base);
    const char* argv[] = {"coap-server-gnutls", "-A", "127.0.0.1", "-p", port.c_str(),
                          "-k", kReferencePsk, "-d", "10", "-v", "0", nullptr};
    if (posix_spawnp(&reference_pid, "coap-server-gnutls", nullptr, nullptr,
                     const_cast<char**>(argv), environ) != 0) {
      std::fprintf(stderr, "cannot start coap-server-gnutls\n");
      std::abort();
    }
  }
  ~Fixture() {
    server->Stop();
    if (reference_pid > 0) {
      kill(reference_pid, SIGTERM);
      waitpid(reference_pid, nullptr, 0);
    }
  }
};

Fixture* shared_fixture = nullptr;

Fixture& Shared() {
  if (shared_fixture == nullptr) {
    shared_fixture = new Fixture();
    // Stop both servers (and reap coap-server-gnutls) when main returns.
    std::atexit([] { delete shared_fixture; });
  }
  return *shared_fixture;
}

std::unique_ptr<DtlsNode> Client(bool reference) {
  Fixture& f = Shared();
  DtlsNodeOptions options;
  options.gateway_port = reference ? f.reference_port : f.cxsec_port;
  options.key_file = reference ? f.reference_key : f.cxsec_key;
  options.bare_identity = reference;
  options.request_timeout = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<DtlsNode>> node = DtlsNode::Open(options);
  if (!node.ok()) std::abort();
  return std::move(*node);
}

absl::Status Request(DtlsNode& node, bool reference, const Bytes& payload) {
  absl::StatusOr<CoapResponse> r =
      node.Exchange(reference ? 3 /*PUT*/ : 2 /*POST*/,
                    reference ? "example_data" : "t", payload);
  if (!r.ok()) return r.status();
  if (r->code / 100 != 2) return absl::InternalError(absl::StrCat("code ", r->code));
  return absl::OkStatus();
}

// Waits (bounded) until the server answers, e.g. coap-server starting up.
void WaitReady(DtlsNode& node, bool reference, const Bytes& payload) {
  for (int i = 0; i < 50; ++i) {
    if (Request(node, reference, payload).ok()) return;
    node.DropSession();
    absl::SleepFor(absl::Milliseconds(100));
  }
  std::fprintf(stderr, "server did not become ready\n");
  std::abort();
}

// One full DTLS-PSK handshake plus one confirmable request per iteration.
void BM_Handshake(benchmark::State& state) {
  bool reference = state.range(0) == 1;
  Bytes payload = EncodeTelemetry(false, {{"t", 21500}, {"h", 40}});
  std::unique_ptr<DtlsNode> node = Client(reference);
  WaitReady(*node, reference, payload);
  for (auto _ : state) {
    node->DropSession();
    if (!Request(*node, reference, payload).ok()) {
      state.SkipWithError("request failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(reference ? "coap-server-gnutls" : "cxsec");
}
BENCHMARK(BM_Handshake)->Arg(0)->Arg(1)->UseRealTime()->MinTime(3);

// Confirmable requests, one at a time, on an established session.
void BM_Request(benchmark::State& state) {
  bool reference = state.range(0) == 1;
  Bytes payload = EncodeTelemetry(false, {{"t", 21500}, {"h", 40}});
  std::unique_ptr<DtlsNode> node = Client(reference);
  WaitReady(*node, reference, payload);
  for (auto _ : state) {
    if (!Request(*node, reference, payload).ok()) {
      state.SkipWithError("request failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(reference ? "coap-server-gnutls" : "cxsec");
}
BENCHMARK(BM_Request)->Arg(0)->Arg(1)->UseRealTime()->MinTime(3);

}  // namespace
}  // namespace cxsec::dtls
