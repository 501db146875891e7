// The storage seam under the registry and IAM: a small string key-value
// store with prefix listing and change notification. SQLite (one process,
// a data directory) and etcd (N instances sharing one registry) implement
// it, so the registry logic above is written once.
#ifndef CXSEC_TARGETS_VERIFIER_REGISTRY_KV_STORE_H_
#define CXSEC_TARGETS_VERIFIER_REGISTRY_KV_STORE_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cxsec::verifier {

enum class KvOrder { kAscending, kDescending };

// A read for a later conditional write: the value (nullopt: absent) and
// the store's opaque token for this state of the key (etcd: mod_revision).
struct KvRead {
  std::optional<std::string> value;
  std::string version;
};

// PrefixSuccessor is the smallest key greater than every key starting
// with `prefix` (byte-wise), or nullopt when there is none (an empty
// prefix, or one of 0xff bytes only).
inline std::optional<std::string> PrefixSuccessor(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

class KvStore {
 public:
  virtual ~KvStore() = default;
  [[nodiscard]] virtual absl::StatusOr<std::optional<std::string>> Get(
      absl::string_view key) = 0;
  [[nodiscard]] virtual absl::Status Put(absl::string_view key,
                                         absl::string_view value) = 0;
  // Returns whether the key existed.
  [[nodiscard]] virtual absl::StatusOr<bool> Delete(absl::string_view key) = 0;
  // GetForUpdate reads `key` for PutIfUnchanged.
  [[nodiscard]] virtual absl::StatusOr<KvRead> GetForUpdate(
      absl::string_view key) = 0;
  // PutIfUnchanged writes `value` only if `key` is still as `read` saw it
  // (absent, if it was), atomically against every writer of the store, of
  // any process. Returns false, writing nothing, when it changed since:
  // the caller reads again and redoes its change. This is what keeps one
  // verifier instance from undoing another's block or key revocation.
  [[nodiscard]] virtual absl::StatusOr<bool> PutIfUnchanged(
      absl::string_view key, absl::string_view value, const KvRead& read) = 0;
  // One page of the keys starting with `prefix`, in `order` (byte-wise
  // key order), at most `limit`: those strictly after `after` in that
  // order, or from the first when `after` is empty. Pages are chained by
  // passing the last key of one page as `after` of the next, so a listing
  // of any length is read in bounded pieces.
  [[nodiscard]] virtual absl::StatusOr<
      std::vector<std::pair<std::string, std::string>>>
  ListPage(absl::string_view prefix, absl::string_view after, KvOrder order,
           size_t limit) = 0;
  // The first `limit` keys starting with `prefix`, in key order.
  [[nodiscard]] absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
  List(absl::string_view prefix, size_t limit) {
    return ListPage(prefix, "", KvOrder::kAscending, limit);
  }
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

// ForEachKv calls `visit` with every key and value under `prefix`, in key
// order, reading `page_size` keys per store call, until `visit` returns
// false. Keys that exist for the whole walk are each seen exactly once.
[[nodiscard]] inline absl::Status ForEachKv(
    KvStore& store, absl::string_view prefix, size_t page_size,
    const std::function<bool(const std::string& key, const std::string& value)>&
        visit) {
  if (page_size == 0)
    return absl::InvalidArgumentError("ForEachKv: page size 0");
  std::string after;
  for (;;) {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> page =
        store.ListPage(prefix, after, KvOrder::kAscending, page_size);
    if (!page.ok()) return page.status();
    for (const auto& [key, value] : *page) {
      if (!visit(key, value)) return absl::OkStatus();
    }
    if (page->size() < page_size) return absl::OkStatus();
    // A store that does not move forward would loop here forever.
    if (!after.empty() && page->back().first <= after) {
      return absl::InternalError("key-value store listing does not advance");
    }
    after = page->back().first;
  }
}

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_REGISTRY_KV_STORE_H_
