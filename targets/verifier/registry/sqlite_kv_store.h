// KvStore on an SQLite file in WAL mode: the embedded default, so a single
// verifier needs nothing but a data directory. Only this process writes
// the file, so its own writes are the only changes (no external feed).
#ifndef CXSEC_TARGETS_VERIFIER_REGISTRY_SQLITE_KV_STORE_H_
#define CXSEC_TARGETS_VERIFIER_REGISTRY_SQLITE_KV_STORE_H_

#include <memory>
#include <mutex>
#include <string>

#include "targets/verifier/registry/kv_store.h"

struct sqlite3;

namespace cxsec::verifier {

class SqliteKvStore final : public KvStore {
 public:
  // Opens (creating if needed, mode 0600) the database at `path`.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SqliteKvStore>> Open(
      const std::string& path);
  ~SqliteKvStore() override;

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override;
  absl::Status Put(absl::string_view key, absl::string_view value) override;
  absl::StatusOr<bool> Delete(absl::string_view key) override;
  // The version is the value itself: one statement compares and writes, so
  // the check is atomic, and equal content is an equal starting point.
  absl::StatusOr<KvRead> GetForUpdate(absl::string_view key) override;
  absl::StatusOr<bool> PutIfUnchanged(absl::string_view key,
                                      absl::string_view value,
                                      const KvRead& read) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListPage(
      absl::string_view prefix, absl::string_view after, KvOrder order,
      size_t limit) override;
  void SetChangeListener(std::function<void()>) override {}
  bool ChangeFeedHealthy() const override { return true; }

 private:
  SqliteKvStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  absl::Status Error(absl::string_view what) const;
  std::mutex mu_;
  sqlite3* db_;
  std::string path_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_REGISTRY_SQLITE_KV_STORE_H_
