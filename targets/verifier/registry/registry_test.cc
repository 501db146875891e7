// Registry lifetime against its KvStore. Regression test for a
// heap-use-after-free found by ASan in etcd_scale_out_test: the etcd store's
// watch thread outlived the Registry and called its change listener, which
// still pointed at the destroyed Registry.
#include "targets/verifier/registry/registry.h"

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/identity/soft_key.h"
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

// Enrolment refuses an Ed25519 key of small order: under the identity
// point, R = identity and S = 0 is a valid signature of every token.
TEST(RegistryTest, AddGatewayKeyRefusesSmallOrderEd25519Keys) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  ASSERT_NE(tmp, nullptr);
  auto store = SqliteKvStore::Open(std::string(tmp) + "/small_order.db");
  ASSERT_TRUE(store.ok()) << store.status();
  FakeClock clock(absl::FromUnixSeconds(1700000000));
  Registry registry(store->get(), &clock);
  ASSERT_TRUE(registry.CreateProject("admin", {.id = "p1", .name = "P"}).ok());
  const std::string gateway = "G0123456789abcdef01";
  ASSERT_TRUE(
      registry.CreateGateway("admin", {.id = gateway, .project = "p1"}).ok());
  // SPKI of the Ed25519 identity point (y = 1).
  const std::string identity_pem =
      "-----BEGIN PUBLIC KEY-----\n"
      "MCowBQYDK2VwAyEAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
      "-----END PUBLIC KEY-----\n";
  absl::StatusOr<std::string> kid =
      registry.AddGatewayKey("admin", gateway, identity_pem, std::nullopt);
  ASSERT_FALSE(kid.ok()) << "a small-order key was enrolled as " << *kid;
  EXPECT_TRUE(absl::IsInvalidArgument(kid.status())) << kid.status();
  EXPECT_EQ(kid.status().message(),
            "publicKeyPem: Ed25519 public key has small order (1): signatures "
            "under it can be forged");
  absl::StatusOr<Gateway> stored = registry.GetGateway(gateway);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(stored->keys.empty());
  // A real Ed25519 key still enrols.
  absl::StatusOr<SoftKey> good = SoftKey::Generate(JwtAlgorithm::kEdDsa);
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(registry
                  .AddGatewayKey("admin", gateway, good->PublicKey().SpkiPem(),
                                 std::nullopt)
                  .ok());

  // A key enrolled before the check existed (written straight to the
  // store, as an old registry would have) is never handed to the verifier.
  Gateway old_gateway;
  old_gateway.id = "G0123456789abcdef02";
  old_gateway.project = "p1";
  GatewayKey weak;
  weak.kid = "weak";
  weak.public_key_pem = identity_pem;
  old_gateway.keys.push_back(weak);
  ASSERT_TRUE((*store)
                  ->Put(absl::StrCat("gateways/", old_gateway.id),
                        ToJson(old_gateway).dump())
                  .ok());
  // The gateway still loads (its tokens are refused as unsigned by a known
  // key, not answered "registry unavailable" forever), without the key.
  absl::StatusOr<Gateway> loaded = registry.GetGateway(old_gateway.id);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->keys.empty()) << "a small-order key reached the verifier";
  // The gateway can still be deleted (and created again with a good key).
  EXPECT_TRUE(registry.DeleteGateway("admin", old_gateway.id).ok());
}

}  // namespace
}  // namespace cxsec::verifier
