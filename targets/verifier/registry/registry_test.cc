// Registry lifetime against its KvStore. Regression test for a
// heap-use-after-free found by ASan in etcd_scale_out_test: the etcd store's
// watch thread outlived the Registry and called its change listener, which
// still pointed at the destroyed Registry.
#include "targets/verifier/registry/registry.h"

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.h"
#include "gtest/gtest.h"
#include "targets/verifier/registry/sqlite_kv_store.h"

namespace cxsec::verifier {
namespace {

// A real SQLite store that keeps the listener, like EtcdKvStore does, so
// the test can fire it the way the watch thread would.
class ListenerKeepingStore : public KvStore {
 public:
  explicit ListenerKeepingStore(std::unique_ptr<SqliteKvStore> inner)
      : inner_(std::move(inner)) {}
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override {
    return inner_->Get(key);
  }
  absl::Status Put(absl::string_view key, absl::string_view value) override {
    return inner_->Put(key, value);
  }
  absl::StatusOr<bool> Delete(absl::string_view key) override {
    return inner_->Delete(key);
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListPage(
      absl::string_view prefix, absl::string_view after, KvOrder order,
      size_t limit) override {
    return inner_->ListPage(prefix, after, order, limit);
  }
  void SetChangeListener(std::function<void()> on_change) override {
    listener = std::move(on_change);
  }
  bool ChangeFeedHealthy() const override { return true; }

  std::function<void()> listener;

 private:
  std::unique_ptr<SqliteKvStore> inner_;
};

TEST(RegistryTest, UnregistersItsChangeListenerWhenDestroyed) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  ASSERT_NE(tmp, nullptr);
  auto sqlite = SqliteKvStore::Open(std::string(tmp) + "/registry.db");
  ASSERT_TRUE(sqlite.ok()) << sqlite.status();
  ListenerKeepingStore store(std::move(*sqlite));
  FakeClock clock(absl::FromUnixSeconds(1700000000));
  {
    Registry registry(&store, &clock);
    ASSERT_TRUE(static_cast<bool>(store.listener));
    store.listener();  // a change while the registry lives is fine
  }
  // Without the unregistration, this call (the watch thread's next
  // notification) ran InvalidateCache on freed memory.
  EXPECT_FALSE(static_cast<bool>(store.listener));
}

}  // namespace
}  // namespace cxsec::verifier
