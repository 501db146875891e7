// KvStore on etcd v3 through its JSON HTTP gateway (/v3/kv/*, /v3/watch),
// so N verifier instances behind any TCP load balancer share one registry.
// A background watch on the key prefix tells every instance about every
// change; the registry drops its cache on each notification, which bounds
// how long a revoked key stays usable to the watch's delivery delay.
// Read-modify-write goes through a transaction compared on the key's
// mod_revision, so concurrent instances never overwrite each other.
#ifndef CXSEC_TARGETS_VERIFIER_REGISTRY_ETCD_KV_STORE_H_
#define CXSEC_TARGETS_VERIFIER_REGISTRY_ETCD_KV_STORE_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "targets/verifier/http/plain_http_client.h"
#include "targets/verifier/registry/kv_store.h"

namespace cxsec::verifier {

class EtcdKvStore final : public KvStore {
 public:
  // `endpoint_url`: "http://127.0.0.1:2379". All keys live under `prefix`
  // (e.g. "cxsec/"), so one etcd can serve other tenants too.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EtcdKvStore>> Connect(
      absl::string_view endpoint_url, std::string prefix,
      absl::Duration timeout = absl::Seconds(5));
  ~EtcdKvStore() override;

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override;
  absl::Status Put(absl::string_view key, absl::string_view value) override;
  absl::StatusOr<bool> Delete(absl::string_view key) override;
  // version = the key's mod_revision ("0" when absent); PutIfUnchanged is
  // one /v3/kv/txn: compare MOD == version, then put.
  absl::StatusOr<KvRead> GetForUpdate(absl::string_view key) override;
  absl::StatusOr<bool> PutIfUnchanged(absl::string_view key,
                                      absl::string_view value,
                                      const KvRead& read) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListPage(
      absl::string_view prefix, absl::string_view after, KvOrder order,
      size_t limit) override;
  void SetChangeListener(std::function<void()> on_change) override;
  bool ChangeFeedHealthy() const override { return watch_healthy_.load(); }

 private:
  EtcdKvStore(HttpEndpoint endpoint, std::string prefix, absl::Duration timeout)
      : endpoint_(std::move(endpoint)), prefix_(std::move(prefix)), timeout_(timeout) {}
  absl::StatusOr<std::string> Call(absl::string_view path, const std::string& json);
  void WatchLoop();
  void NotifyChange();

  HttpEndpoint endpoint_;
  std::string prefix_;
  absl::Duration timeout_;
  std::mutex listener_mu_;
  std::function<void()> on_change_;
  std::atomic<bool> watch_healthy_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> watch_fd_{-1};
  std::thread watch_thread_;
};

// Standard (not URL-safe) base64, as etcd's JSON gateway encodes bytes.
std::string Base64StdEncode(absl::string_view data);
[[nodiscard]] absl::StatusOr<std::string> Base64StdDecode(absl::string_view text);

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_REGISTRY_ETCD_KV_STORE_H_
