// KvStore on etcd v3 through its JSON HTTP gateway (/v3/kv/*, /v3/watch),
// so N verifier instances behind any TCP load balancer share one registry.
// A background watch on the key prefix tells every instance about every
// change; the registry drops its cache on each notification, which bounds
// how long a revoked key stays usable to the watch's delivery delay (on a
// connection that died silently: the watch deadline, see below).
// Read-modify-write goes through a transaction compared on the key's
// mod_revision, so concurrent instances never overwrite each other.
//
// A watch connection can die without a sign (a NAT entry expires, a
// partition drops packets, a peer vanishes without a RST): the watch asks
// etcd for progress notifications and gives up on a stream that brings
// neither an event nor a notification within `watch_deadline`, then
// reconnects from the last revision it saw. Until a new watch is in place
// ChangeFeedHealthy() is false, and the verifier answers /healthz and
// telemetry with 503 (registry_catching_up).
//
// With an https:// endpoint every request and the watch go through
// HttpsClient (transports/uplink): the CA bundle and host name are checked
// as for the gateway's uplink, and a client certificate is presented.
#ifndef CXSEC_TARGETS_VERIFIER_REGISTRY_ETCD_KV_STORE_H_
#define CXSEC_TARGETS_VERIFIER_REGISTRY_ETCD_KV_STORE_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "targets/verifier/http/plain_http_client.h"
#include "targets/verifier/registry/kv_store.h"
#include "transports/uplink/https_client.h"

namespace cxsec::verifier {

struct EtcdKvStoreOptions {
  // "http://127.0.0.1:2379", or "https://etcd.example:2379" (then
  // `ca_bundle_pem` is required).
  std::string endpoint_url;
  // All keys live under it, so one etcd can serve other tenants too.
  std::string prefix = "cxsec/";
  // Per request (and per connect of the watch).
  absl::Duration timeout = absl::Seconds(5);
  // Longest silence tolerated on the watch before it is presumed dead.
  // etcd sends progress notifications every
  // --experimental-watch-progress-notify-interval (10 minutes unless set):
  // run etcd with an interval well below this.
  absl::Duration watch_deadline = absl::Seconds(30);
  // https:// only: the CAs (PEM) etcd's certificate must chain to, and the
  // client certificate and private key (PEM) that etcd started with
  // --client-cert-auth requires.
  std::string ca_bundle_pem;
  std::string client_certificate_pem;
  std::string client_private_key_pem;
};

class EtcdKvStore final : public KvStore {
 public:
  // Connect checks that the endpoint answers as etcd v3 (over TLS: with a
  // certificate from the CA naming the URL's host), starts the watch and
  // waits up to `timeout` for it to be in place.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EtcdKvStore>> Connect(
      EtcdKvStoreOptions options);
  // Connect to a plain-HTTP `endpoint_url` with the other options' defaults.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EtcdKvStore>> Connect(
      absl::string_view endpoint_url, std::string prefix,
      absl::Duration timeout = absl::Seconds(5));
  ~EtcdKvStore() override;

  absl::StatusOr<std::optional<std::string>> Get(
      absl::string_view key) override;
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
  // True while a watch is in place and has not been silent for longer
  // than the deadline; false from start-up until the first watch is
  // created and from a watch's failure until its replacement is.
  bool ChangeFeedHealthy() const override { return watch_healthy_.load(); }

 private:
  explicit EtcdKvStore(EtcdKvStoreOptions options)
      : options_(std::move(options)) {}
  absl::StatusOr<std::string> Call(absl::string_view path,
                                   const std::string& json);
  // One watch stream until it fails, is silent too long or is cancelled.
  absl::Status Watch(const std::string& request,
                     const std::function<bool(absl::string_view)>& on_body);
  void WatchLoop();
  // Handles one watch message; false ends the stream.
  bool OnWatchMessage(absl::string_view line, bool resuming,
                      int64_t* last_revision, bool* compacted);
  void NotifyChange();

  EtcdKvStoreOptions options_;
  bool tls_ = false;
  HttpEndpoint endpoint_;             // http:// only
  HttpsClientOptions https_options_;  // https:// only
  std::mutex clients_mu_;
  std::vector<std::unique_ptr<HttpsClient>> idle_clients_;  // https:// only
  std::unique_ptr<HttpsClient> watch_client_;               // https:// only
  PlainHttpStream plain_watch_;                             // http:// only
  std::mutex listener_mu_;
  std::function<void()> on_change_;
  std::atomic<bool> watch_healthy_{false};
  std::atomic<bool> stopping_{false};
  std::thread watch_thread_;
};

// Standard (not URL-safe) base64, as etcd's JSON gateway encodes bytes.
std::string Base64StdEncode(absl::string_view data);
[[nodiscard]] absl::StatusOr<std::string> Base64StdDecode(
    absl::string_view text);

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_REGISTRY_ETCD_KV_STORE_H_
