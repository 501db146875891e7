// A real etcd for tests: started on free loopback ports with its data in a
// test directory, stopped with SIGTERM when the object goes away. Tests of
// anything that runs on the etcd registry store use it instead of a fake.
#ifndef CXSEC_TARGETS_VERIFIER_TESTING_ETCD_PROCESS_H_
#define CXSEC_TARGETS_VERIFIER_TESTING_ETCD_PROCESS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "targets/verifier/registry/etcd_kv_store.h"
#include "tests/fixtures/child_process.h"

namespace cxsec::verifier::testing {

class EtcdProcess {
 public:
  // Starts etcd with its data in `dir`/etcd and its log in `dir`/etcd.log.
  // Extra flags (e.g. "--max-txn-ops=1000") go after the standard ones.
  explicit EtcdProcess(const std::string& dir,
                       std::vector<std::string> extra_flags = {});
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  std::string url() const;
  // Connects a store under `prefix` once etcd answers; bounded to 15 s.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<EtcdKvStore>> ConnectWhenReady(
      const std::string& prefix = "cxsec-test/",
      absl::Duration call_timeout = absl::Seconds(2));
  // Writes `entries` under `prefix` in transactions of `per_txn` puts, the
  // quick way to give a test a registry that grew over years.
  [[nodiscard]] absl::Status BulkPut(
      const std::string& prefix,
      const std::vector<std::pair<std::string, std::string>>& entries,
      size_t per_txn = 128);

 private:
  std::optional<cxsec::testing::ChildProcess> process_;
  absl::Status start_status_;
  uint16_t client_port_ = 0;
};

}  // namespace cxsec::verifier::testing

#endif  // CXSEC_TARGETS_VERIFIER_TESTING_ETCD_PROCESS_H_
