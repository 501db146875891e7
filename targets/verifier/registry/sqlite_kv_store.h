// KvStore on an SQLite file in WAL mode: the embedded default, so a single
// verifier needs nothing but a data directory. Only this process writes
// the file, so its own writes are the only changes (no external feed).
// Reads (the telemetry path's device and gateway lookups when the
// registry's cache misses) go through a pool of read-only connections with
// the lookup statement prepared once, so server threads read in parallel
// and no lookup parses SQL; writes and listings use the one writing
// connection.
#ifndef CXSEC_TARGETS_VERIFIER_REGISTRY_SQLITE_KV_STORE_H_
#define CXSEC_TARGETS_VERIFIER_REGISTRY_SQLITE_KV_STORE_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "targets/verifier/registry/kv_store.h"

struct sqlite3;
struct sqlite3_stmt;

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
  // A read-only connection and its prepared lookup; one caller at a time.
  struct Reader {
    ~Reader();
    sqlite3* db = nullptr;
    sqlite3_stmt* get = nullptr;
  };
  SqliteKvStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  absl::Status Error(absl::string_view what) const;
  absl::Status ReaderError(const Reader& reader, absl::string_view what) const;
  // An idle reader, or a new one when every reader is busy: the pool grows
  // to the number of threads that read at once.
  absl::StatusOr<std::unique_ptr<Reader>> TakeReader();
  void ReturnReader(std::unique_ptr<Reader> reader);
  // The database file Open opened, so no reader opens another one.
  dev_t file_device_ = 0;
  ino_t file_inode_ = 0;
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Reader>> idle_readers_;
  // Serialises the writing connection.
  std::mutex mu_;
  sqlite3* db_;
  std::string path_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_REGISTRY_SQLITE_KV_STORE_H_
