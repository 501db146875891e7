// dtls_scaling: the gateway rows of the scaling section
// (tools/bench/scaling.sh gateway). How the DTLS transport's memory and
// handshake rate grow with the number of sessions it holds.
//
//   dtls_scaling --provision DIR --devices 64
//       writes DIR/security.txt and DIR/node-<i>.key (mode 0600)
//   dtls_scaling --dir DIR --gateway 127.0.0.1:PORT --pid PID
//       --levels 100,1000,10000 --probe 1000 --threads 8
//
// For each level N, in increasing order, it opens sessions until N are
// held (each: a DTLS-PSK handshake and one confirmable POST /t, as a node
// that has just booted), leaves them idle, reads the gateway's VmRSS from
// /proc/PID/status, and then times --probe further handshakes (open, one
// POST, close) while the N sessions stay open: the handshake rate at N
// concurrent sessions. Prints one line per level:
//   level=N fill_per_s=R rss_kb=K base_rss_kb=B probe_per_s=P failed=F
// The nodes share --devices identities (the gateway runs with
// max_sessions_per_identity = 0); a session costs the gateway the same
// whichever identity it carries.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
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

// VmRSS of `pid` in KiB, or -1.
long RssKb(const std::string& pid) {
  std::ifstream status("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      long kb = -1;
      std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kb)) return kb;
    }
  }
  return -1;
}

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
      {"pid", true, "the gateway's process id (its RSS is read)", "PID"},
      {"levels", true, "session counts, increasing (default 100,1000,10000)", "LIST"},
      {"probe", true, "handshakes timed at each level (default 1000)", "N"},
      {"threads", true, "client threads (default 8)", "N"},
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
  std::string pid = cl.Value("pid", "");
  std::string gateway = cl.Value("gateway", "127.0.0.1:5684");
  size_t colon = gateway.rfind(':');
  int port = 0;
  if (dir.empty() || pid.empty() || colon == std::string::npos ||
      !absl::SimpleAtoi(gateway.substr(colon + 1), &port)) {
    std::fprintf(stderr, "dtls_scaling: need --dir, --pid and --gateway host:port\n");
    return 2;
  }
  std::vector<long> levels;
  for (absl::string_view s : absl::StrSplit(cl.Value("levels", "100,1000,10000"), ',')) {
    long n = 0;
    if (!absl::SimpleAtoi(s, &n) || n <= 0 || (!levels.empty() && n <= levels.back())) {
      std::fprintf(stderr, "dtls_scaling: --levels must increase\n");
      return 2;
    }
    levels.push_back(n);
  }
  absl::StatusOr<long long> probe = cl.IntValue("probe", 1000, 1, 1000000);
  absl::StatusOr<long long> threads = cl.IntValue("threads", 8, 1, 256);
  if (!probe.ok() || !threads.ok()) return 2;

  std::atomic<long> failed{0};
  // One session: a node that handshakes and posts one reading.
  auto open_session = [&](long i) -> std::unique_ptr<DtlsNode> {
    DtlsNodeOptions options;
    options.gateway_host = gateway.substr(0, colon);
    options.gateway_port = static_cast<uint16_t>(port);
    options.key_file = absl::StrCat(dir, "/node-", i % *devices, ".key");
    options.request_timeout = absl::Seconds(20);
    absl::StatusOr<std::unique_ptr<DtlsNode>> node = DtlsNode::Open(options);
    if (!node.ok()) {
      ++failed;
      return nullptr;
    }
    absl::Status posted = (*node)->PostReading(false, 20000);
    if (!posted.ok()) {
      if (failed++ < 5) {
        std::fprintf(stderr, "dtls_scaling: %s\n", std::string(posted.message()).c_str());
      }
      return nullptr;
    }
    return std::move(*node);
  };
  // Runs count(i) for i in [from, to) on the client threads.
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

  std::vector<std::unique_ptr<DtlsNode>> held;
  std::mutex held_mutex;
  const long base_rss = RssKb(pid);
  for (long level : levels) {
    const long before = static_cast<long>(held.size());
    const absl::Time t0 = absl::Now();
    parallel(before, level, [&](long i) {
      std::unique_ptr<DtlsNode> node = open_session(i);
      if (node == nullptr) return;
      std::lock_guard<std::mutex> lock(held_mutex);
      held.push_back(std::move(node));
    });
    const double fill_s = absl::ToDoubleSeconds(absl::Now() - t0);
    absl::SleepFor(absl::Seconds(1));  // let the gateway settle before reading RSS
    const long rss = RssKb(pid);
    const absl::Time p0 = absl::Now();
    std::atomic<long> probed{0};
    parallel(0, *probe, [&](long i) {
      if (open_session(1000000 + i) != nullptr) ++probed;  // closed on return
    });
    const double probe_s = absl::ToDoubleSeconds(absl::Now() - p0);
    std::printf(
        "level=%ld held=%zu fill_per_s=%.1f rss_kb=%ld base_rss_kb=%ld probe_per_s=%.1f "
        "probe_ok=%ld failed=%ld\n",
        level, held.size(), (static_cast<double>(held.size()) - before) / fill_s, rss, base_rss,
        probed.load() / probe_s, probed.load(), failed.load());
    std::fflush(stdout);
  }
  return 0;
}
