// dtls_scaling: the gateway rows of the scaling section
// (tools/bench/scaling.sh gateway). How the DTLS transport's memory and
// handshake rate grow with the number of sessions it holds.
//
//   dtls_scaling --provision DIR --devices 64
//       writes DIR/security.txt and DIR/node-<i>.key (mode 0600)
//   dtls_scaling --dir DIR --gateway 127.0.0.1:PORT --hold N --first I
//       opens N sessions (each: a DTLS-PSK handshake and one confirmable
//       POST /t, as a node that has just booted), prints
//       "held=N failed=F seconds=S", and keeps them open, idle, until its
//       standard input closes
//   dtls_scaling --dir DIR --gateway 127.0.0.1:PORT --probe M
//       times M further handshakes (open, one POST, close) and prints
//       "probe_ok=N failed=F per_s=R"
// libcoap's client waits with select(), so one process cannot use file
// descriptors past FD_SETSIZE (1024) and each node has a socket of its
// own (and an epoll and a timer fd: three per node): the script spreads
// the held sessions over holders of 300. The
// nodes share --devices identities (the gateway runs with
// max_sessions_per_identity = 0); a session costs the gateway the same
// whichever identity it carries.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "core/cli/command_line.h"
#include "core/deployment/deployment_keys.h"
#include "core/deployment/node_key_file.h"
#include "core/deployment/security_file.h"
#include "platforms/posix/files.h"
#include "transports/dtls/dtls_node.h"

namespace {

using cxsec::dtls::DtlsNode;
using cxsec::dtls::DtlsNodeOptions;

int Provision(const std::string& dir, int devices) {
  cxsec::SecurityConfig security;
  security.pan_id = 0x1a2b;
  security.master_secret = *cxsec::SecretBytes::Random(cxsec::kMasterSecretBytes);
  security.epoch = 1;
  if (!cxsec::WriteFileAtomically(dir + "/security.txt", cxsec::FormatSecurityFile(security),
                                  0600)
           .ok()) {
    return 1;
  }
  for (int i = 0; i < devices; ++i) {
    std::string id = absl::StrFormat("D%016X", 0x5CA1E000 + i);
    cxsec::NodeKey key{id, security.pan_id, 1,
                       *cxsec::DeriveDevicePsk(security.MasterFor(1), id, 1)};
    if (!cxsec::WriteFileAtomically(absl::StrCat(dir, "/node-", i, ".key"),
                                    cxsec::FormatNodeKeyFile(key), 0600)
             .ok()) {
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cxsec::CommandLine cl({
      {"provision", true, "write security.txt and node keys into DIR and exit", "DIR"},
      {"devices", true, "identities to provision / use (default 64)", "N"},
      {"dir", true, "directory written by --provision", "DIR"},
      {"gateway", true, "gateway DTLS address host:port", "ADDR"},
      {"hold", true, "sessions to open and hold (at most 1000)", "N"},
      {"first", true, "index of the first node (picks its identity)", "I"},
      {"probe", true, "handshakes to time instead of holding", "M"},
      {"threads", true, "client threads (default 2)", "N"},
  });
  if (absl::Status parsed = cl.Parse(argc - 1, argv + 1); !parsed.ok()) {
    std::fprintf(stderr, "dtls_scaling: %s\n%s", std::string(parsed.message()).c_str(),
                 cl.Usage().c_str());
    return 2;
  }
  absl::StatusOr<long long> devices = cl.IntValue("devices", 64, 1, 100000);
  if (!devices.ok()) return 2;
  if (cl.Has("provision")) return Provision(cl.Value("provision", ""), static_cast<int>(*devices));

  std::string dir = cl.Value("dir", "");
  std::string gateway = cl.Value("gateway", "127.0.0.1:5684");
  size_t colon = gateway.rfind(':');
  int port = 0;
  if (dir.empty() || colon == std::string::npos ||
      !absl::SimpleAtoi(gateway.substr(colon + 1), &port)) {
    std::fprintf(stderr, "dtls_scaling: need --dir and --gateway host:port\n");
    return 2;
  }
  absl::StatusOr<long long> hold = cl.IntValue("hold", 0, 0, 1000);
  absl::StatusOr<long long> first = cl.IntValue("first", 0, 0, 100000000);
  absl::StatusOr<long long> probe = cl.IntValue("probe", 0, 0, 1000000);
  absl::StatusOr<long long> threads = cl.IntValue("threads", 2, 1, 64);
  if (!hold.ok() || !first.ok() || !probe.ok() || !threads.ok()) return 2;

  std::atomic<long> failed{0};
  // One session: a node that handshakes and posts one reading.
  auto open_session = [&](long i) -> std::unique_ptr<DtlsNode> {
    DtlsNodeOptions options;
    options.gateway_host = gateway.substr(0, colon);
    options.gateway_port = static_cast<uint16_t>(port);
    options.key_file = absl::StrCat(dir, "/node-", i % *devices, ".key");
    absl::StatusOr<std::unique_ptr<DtlsNode>> node = DtlsNode::Open(options);
    absl::Status posted = node.ok() ? (*node)->PostReading(false, 20000) : node.status();
    if (!posted.ok()) {
      if (failed++ < 5) {
        std::fprintf(stderr, "dtls_scaling: %s\n", std::string(posted.message()).c_str());
      }
      return nullptr;
    }
    return std::move(*node);
  };
  // Runs body(i) for i in [from, to) on the client threads.
  auto parallel = [&](long from, long to, auto&& body) {
    std::atomic<long> next{from};
    std::vector<std::thread> pool;
    for (long t = 0; t < *threads; ++t) {
      pool.emplace_back([&]() {
        for (long i; (i = next++) < to;) body(i);
      });
    }
    for (std::thread& t : pool) t.join();
  };

  const absl::Time t0 = absl::Now();
  if (*probe > 0) {
    std::atomic<long> ok{0};
    parallel(0, *probe, [&](long i) {
      if (open_session(*first + i) != nullptr) ++ok;  // closed on return
    });
    std::printf("probe_ok=%ld failed=%ld per_s=%.1f\n", ok.load(), failed.load(),
                ok.load() / absl::ToDoubleSeconds(absl::Now() - t0));
    return 0;
  }
  std::vector<std::unique_ptr<DtlsNode>> held;
  std::mutex held_mutex;
  parallel(*first, *first + *hold, [&](long i) {
    std::unique_ptr<DtlsNode> node = open_session(i);
    if (node == nullptr) return;
    std::lock_guard<std::mutex> lock(held_mutex);
    held.push_back(std::move(node));
  });
  std::printf("held=%zu failed=%ld seconds=%.3f\n", held.size(), failed.load(),
              absl::ToDoubleSeconds(absl::Now() - t0));
  std::fflush(stdout);
  char c;
  while (std::fread(&c, 1, 1, stdin) == 1) {
  }
  return 0;
}
