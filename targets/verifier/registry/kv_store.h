// The storage seam under the registry and IAM: a small string key-value
// store with prefix listing and change notification. SQLite (one process,
// a data directory) and etcd (N instances sharing one registry) implement
// it, so the registry logic above is written once.
#ifndef CXSEC_TARGETS_VERIFIER_REGISTRY_KV_STORE_H_
#define CXSEC_TARGETS_VERIFIER_REGISTRY_KV_STORE_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cxsec::verifier {

class KvStore {
 public:
  virtual ~KvStore() = default;
  [[nodiscard]] virtual absl::StatusOr<std::optional<std::string>> Get(
      absl::string_view key) = 0;
  [[nodiscard]] virtual absl::Status Put(absl::string_view key,
                                         absl::string_view value) = 0;
  // Returns whether the key existed.
  [[nodiscard]] virtual absl::StatusOr<bool> Delete(absl::string_view key) = 0;
  // Keys starting with `prefix`, in key order, at most `limit`.
  [[nodiscard]] virtual absl::StatusOr<
      std::vector<std::pair<std::string, std::string>>>
  List(absl::string_view prefix, size_t limit) = 0;
  // `on_change` runs (on any thread) after any change to the store that
  // this process may not have made itself, and whenever changes may have
  // been missed (e.g. a watch reconnect). Caches drop everything on it.
  // Replacing it (an empty function removes it) waits for a running
  // notification to finish, so the old listener's owner may then go away.
  virtual void SetChangeListener(std::function<void()> on_change) = 0;
  // Whether change notifications are flowing; caches must not be trusted
  // while they are not.
  virtual bool ChangeFeedHealthy() const = 0;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_REGISTRY_KV_STORE_H_
