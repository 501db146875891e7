// dtls_load: the end-to-end benchmark's node side. One thread per
// provisioned DTLS device posts readings back to back (closed loop, one
// outstanding request per node, as a real node behaves) to a running
// cxsec-gateway for --seconds, and prints what the gateway acknowledged
// and the node-observed latency (CoAP request -> 2.04, which includes the
// gateway's durable spool commit):
//   acked=N failed=F seconds=S p50_ms=X p99_ms=Y
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/cli/command_line.h"
#include "transports/dtls/dtls_node.h"

int main(int argc, char** argv) {
  cxsec::CommandLine cl({
      {"gateway", true, "gateway DTLS address host:port", "ADDR"},
      {"keys", true, "comma-separated node key files (cxsec provision)", "FILES"},
      {"seconds", true, "how long to post (default 10)", "S"},
  });
  if (absl::Status parsed = cl.Parse(argc - 1, argv + 1); !parsed.ok()) {
    std::fprintf(stderr, "dtls_load: %s\n%s", std::string(parsed.message()).c_str(),
                 cl.Usage().c_str());
    return 2;
  }
  std::string gateway = cl.Value("gateway", "127.0.0.1:5684");
  size_t colon = gateway.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(gateway.substr(colon + 1), &port)) {
    std::fprintf(stderr, "dtls_load: --gateway must be host:port\n");
    return 2;
  }
  absl::StatusOr<long long> seconds = cl.IntValue("seconds", 10, 1, 3600);
  if (!seconds.ok()) return 2;
  std::vector<std::string> keys = absl::StrSplit(cl.Value("keys", ""), ',', absl::SkipEmpty());
  if (keys.empty()) {
    std::fprintf(stderr, "dtls_load: --keys is empty\n");
    return 2;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(*seconds);
  std::atomic<long long> acked{0}, failed{0};
  std::vector<std::vector<double>> latencies(keys.size());
  std::vector<std::thread> threads;
  const absl::Time started = absl::Now();
  for (size_t i = 0; i < keys.size(); ++i) {
    threads.emplace_back([&, i]() {
      cxsec::dtls::DtlsNodeOptions options;
      options.gateway_host = gateway.substr(0, colon);
      options.gateway_port = static_cast<uint16_t>(port);
      options.key_file = keys[i];
      absl::StatusOr<std::unique_ptr<cxsec::dtls::DtlsNode>> node =
          cxsec::dtls::DtlsNode::Open(options);
      if (!node.ok()) {
        std::fprintf(stderr, "dtls_load: %s\n", std::string(node.status().message()).c_str());
        ++failed;
        return;
      }
      for (int n = 0; absl::Now() < deadline; ++n) {
        absl::Time t0 = absl::Now();
        absl::Status posted = (*node)->PostReading(false, 20000 + n % 1000);
        if (posted.ok()) {
          ++acked;
          latencies[i].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
        } else {
          ++failed;
          std::fprintf(stderr, "dtls_load: post failed: %s\n",
                       std::string(posted.message()).c_str());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  double elapsed = absl::ToDoubleSeconds(absl::Now() - started);
  std::vector<double> all;
  for (const auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf("acked=%lld failed=%lld seconds=%.2f p50_ms=%.2f p99_ms=%.2f\n",
              acked.load(), failed.load(), elapsed, pct(0.50), pct(0.99));
  return 0;
}
