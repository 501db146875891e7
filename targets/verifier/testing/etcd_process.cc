#include "targets/verifier/testing/etcd_process.h"

#include <signal.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "targets/verifier/http/plain_http_client.h"
#include "targets/verifier/testing/verifier_testing.h"

namespace cxsec::verifier::testing {

EtcdProcess::EtcdProcess(const std::string& dir,
                         std::vector<std::string> extra_flags) {
  client_port_ = FreeLoopbackPort();
  uint16_t peer = FreeLoopbackPort();
  std::string client = url();
  std::string peer_url = absl::StrCat("http://127.0.0.1:", peer);
  std::vector<std::string> argv = {"etcd",
                                   "--data-dir",
                                   dir + "/etcd",
                                   "--listen-client-urls",
                                   client,
                                   "--advertise-client-urls",
                                   client,
                                   "--listen-peer-urls",
                                   peer_url,
                                   "--initial-advertise-peer-urls",
                                   peer_url,
                                   "--initial-cluster",
                                   "default=" + peer_url};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<cxsec::testing::ChildProcess> started =
      cxsec::testing::ChildProcess::Start(argv,
                                          {.stderr_path = dir + "/etcd.log"});
  if (started.ok()) {
    process_.emplace(std::move(*started));
  } else {
    start_status_ = started.status();
  }
}

EtcdProcess::~EtcdProcess() {
  if (process_ && process_->running()) (void)process_->SignalAndWait(SIGTERM);
}

std::string EtcdProcess::url() const {
  return absl::StrCat("http://127.0.0.1:", client_port_);
}

absl::StatusOr<std::unique_ptr<EtcdKvStore>> EtcdProcess::ConnectWhenReady(
    const std::string& prefix, absl::Duration call_timeout) {
  if (!process_) return start_status_;
  absl::Status last = absl::UnavailableError("etcd did not start");
  for (int i = 0; i < 150; ++i) {
    auto store = EtcdKvStore::Connect(url(), prefix, call_timeout);
    if (store.ok()) return store;
    last = store.status();
    usleep(100 * 1000);
  }
  return last;
}

absl::Status EtcdProcess::BulkPut(
    const std::string& prefix,
    const std::vector<std::pair<std::string, std::string>>& entries,
    size_t per_txn) {
  absl::StatusOr<HttpEndpoint> endpoint = HttpEndpoint::ParseHttpUrl(url());
  if (!endpoint.ok()) return endpoint.status();
  for (size_t begin = 0; begin < entries.size(); begin += per_txn) {
    nlohmann::json puts = nlohmann::json::array();
    for (size_t i = begin; i < entries.size() && i < begin + per_txn; ++i) {
      puts.push_back({{"requestPut",
                       {{"key", Base64StdEncode(prefix + entries[i].first)},
                        {"value", Base64StdEncode(entries[i].second)}}}});
    }
    nlohmann::json txn = {{"success", puts}};
    absl::StatusOr<PlainHttpResponse> response = SendHttpRequest(
        *endpoint, "POST", "/v3/kv/txn", {{"Content-Type", "application/json"}},
        txn.dump(), absl::Seconds(10));
    if (!response.ok()) return response.status();
    if (response->status != 200) {
      return absl::InternalError(absl::StrCat("etcd txn: HTTP ",
                                              response->status, ": ",
                                              response->body.substr(0, 200)));
    }
  }
  return absl::OkStatus();
}

}  // namespace cxsec::verifier::testing
