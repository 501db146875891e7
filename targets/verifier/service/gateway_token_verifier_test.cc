// Unit tests of RegistryGatewayTokenVerifier on a real SQLite registry:
// a re-used token is answered without reading the registry, and every
// change of the gateway (key revoked, key expired, blocked, deleted,
// changed by another instance as etcd's watch reports it) is effective on
// the very next request even though the token is cached.
#include "targets/verifier/service/gateway_token_verifier.h"

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/identity/soft_key.h"
#include "core/jwt/enrollment_proof.h"
#include "core/jwt/issuer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "targets/verifier/registry/registry.h"
#include "targets/verifier/registry/sqlite_kv_store.h"

namespace cxsec::verifier {
namespace {

constexpr char kGateway[] = "G0123456789abcdef01";
constexpr char kProject[] = "p1";

// A SQLite store that counts reads of gateway documents and, like
// EtcdKvStore, keeps the change listener, so a test can play the part of
// another instance: write behind this registry's back, then notify (what
// etcd's watch does) or not, and take the change feed down.
class CountingStore : public KvStore {
 public:
  explicit CountingStore(std::unique_ptr<SqliteKvStore> inner)
      : inner_(std::move(inner)) {}
  absl::StatusOr<std::optional<std::string>> Get(
      absl::string_view key) override {
    if (absl::StartsWith(key, "gateways/")) gateway_reads.fetch_add(1);
    return inner_->Get(key);
  }
  absl::Status Put(absl::string_view key, absl::string_view value) override {
    return inner_->Put(key, value);
  }
  absl::StatusOr<bool> Delete(absl::string_view key) override {
    return inner_->Delete(key);
  }
  absl::StatusOr<KvRead> GetForUpdate(absl::string_view key) override {
    return inner_->GetForUpdate(key);
  }
  absl::StatusOr<bool> PutIfUnchanged(absl::string_view key,
                                      absl::string_view value,
                                      const KvRead& read) override {
    return inner_->PutIfUnchanged(key, value, read);
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListPage(
      absl::string_view prefix, absl::string_view after, KvOrder order,
      size_t limit) override {
    return inner_->ListPage(prefix, after, order, limit);
  }
  void SetChangeListener(std::function<void()> on_change) override {
    listener_ = std::move(on_change);
  }
  bool ChangeFeedHealthy() const override { return healthy.load(); }

  // Another instance sets the gateway's `enabled`, directly in the store.
  void WriteEnabledBehindTheRegistrysBack(const std::string& gateway,
                                          bool enabled) {
    std::string key = absl::StrCat("gateways/", gateway);
    absl::StatusOr<std::optional<std::string>> doc = inner_->Get(key);
    ASSERT_TRUE(doc.ok() && doc->has_value());
    nlohmann::json j = nlohmann::json::parse(**doc);
    j["enabled"] = enabled;
    ASSERT_TRUE(inner_->Put(key, j.dump()).ok());
  }
  // What EtcdKvStore's watch thread does when it sees a change.
  void NotifyChange() {
    if (listener_) listener_();
  }

  std::atomic<int> gateway_reads{0};
  std::atomic<bool> healthy{true};

 private:
  std::unique_ptr<SqliteKvStore> inner_;
  std::function<void()> listener_;
};

class GatewayTokenVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    ASSERT_NE(tmp, nullptr);
    auto sqlite = SqliteKvStore::Open(absl::StrCat(
        tmp, "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        ".db"));
    ASSERT_TRUE(sqlite.ok()) << sqlite.status();
    store_ = std::make_unique<CountingStore>(std::move(*sqlite));
    registry_ = std::make_unique<Registry>(store_.get(), &clock_);
    ASSERT_TRUE(
        registry_->CreateProject("admin", {.id = kProject, .name = ""}).ok());
    ASSERT_TRUE(
        registry_->CreateGateway("admin", {.id = kGateway, .project = kProject})
            .ok());
    auto key = SoftKey::Generate(JwtAlgorithm::kEs256);
    ASSERT_TRUE(key.ok());
    key_ = std::make_unique<SoftKey>(*std::move(key));
    kid_ = Enrol(*key_, std::nullopt);
    tokens_ = std::make_unique<RegistryGatewayTokenVerifier>(registry_.get(),
                                                             &clock_);
  }

  std::string Enrol(SoftKey& key, std::optional<int64_t> expires_at) {
    absl::StatusOr<EnrollmentChallenge> challenge =
        registry_->IssueEnrollmentChallenge("admin", kGateway);
    EXPECT_TRUE(challenge.ok()) << challenge.status();
    if (!challenge.ok()) return "";
    absl::StatusOr<std::string> proof =
        MintEnrollmentProof(key, kGateway, challenge->nonce, clock_.Now());
    EXPECT_TRUE(proof.ok()) << proof.status();
    if (!proof.ok()) return "";
    absl::StatusOr<VerifiedEnrollmentProof> verified =
        VerifyEnrollmentProof(*proof, key.SharedPublicKey(), kGateway, clock_);
    EXPECT_TRUE(verified.ok()) << verified.status();
    if (!verified.ok()) return "";
    absl::StatusOr<std::string> kid =
        registry_->AddGatewayKey("admin", *verified, expires_at);
    EXPECT_TRUE(kid.ok()) << kid.status();
    return kid.ok() ? *kid : "";
  }

  std::string Token(SoftKey& key) {
    absl::StatusOr<MintedJwt> minted =
        MintJwt(key, {.subject = kGateway, .audience = kProject}, clock_.Now());
    EXPECT_TRUE(minted.ok()) << minted.status();
    return minted.ok() ? minted->token : "";
  }

  // Gateway lookups through the registry (its cache or the store).
  uint64_t RegistryReads() const {
    return registry_->cache_hits() + registry_->cache_misses();
  }

  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<CountingStore> store_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<SoftKey> key_;
  std::string kid_;
  std::unique_ptr<RegistryGatewayTokenVerifier> tokens_;
};

TEST_F(GatewayTokenVerifierTest, CacheHitReadsNothingFromTheRegistry) {
  std::string token = Token(*key_);
  GatewayAuthResult first = tokens_->Verify(token);
  ASSERT_TRUE(first.status.ok()) << first.status << " " << first.reason;
  EXPECT_EQ(first.gateway.id, kGateway);
  const uint64_t registry_reads = RegistryReads();
  const int store_reads = store_->gateway_reads.load();
  for (int i = 0; i < 10; ++i) {
    GatewayAuthResult again = tokens_->Verify(token);
    ASSERT_TRUE(again.status.ok()) << again.status;
    EXPECT_EQ(again.gateway.id, kGateway);
    EXPECT_EQ(again.gateway.project, kProject);
  }
  // No registry lookup means no gateway copy and no key set built either:
  // both come from the registry's answer.
  EXPECT_EQ(RegistryReads(), registry_reads);
  EXPECT_EQ(store_->gateway_reads.load(), store_reads);

  // A new token of the same gateway needs its signature checked, but the
  // gateway's snapshot is still current: no registry read for it either.
  clock_.Advance(absl::Seconds(1));
  std::string fresh = Token(*key_);
  ASSERT_NE(fresh, token);
  GatewayAuthResult other = tokens_->Verify(fresh);
  ASSERT_TRUE(other.status.ok()) << other.status;
  EXPECT_EQ(RegistryReads(), registry_reads);
}

TEST_F(GatewayTokenVerifierTest, RevokedKeyRefusesTheCachedTokenAtOnce) {
  std::string token = Token(*key_);
  ASSERT_TRUE(tokens_->Verify(token).status.ok());
  ASSERT_TRUE(tokens_->Verify(token).status.ok());
  ASSERT_TRUE(registry_->RemoveGatewayKey("admin", kGateway, kid_).ok());
  GatewayAuthResult r = tokens_->Verify(token);
  EXPECT_TRUE(absl::IsUnauthenticated(r.status)) << r.status;
  EXPECT_EQ(r.reason, "no_usable_key");
}

TEST_F(GatewayTokenVerifierTest, RevokingOneOfTwoKeysRefusesOnlyItsTokens) {
  auto second = SoftKey::Generate(JwtAlgorithm::kEdDsa);
  ASSERT_TRUE(second.ok());
  std::string second_kid = Enrol(*second, std::nullopt);
  std::string token = Token(*key_);
  std::string second_token = Token(*second);
  ASSERT_TRUE(tokens_->Verify(token).status.ok());
  ASSERT_TRUE(tokens_->Verify(second_token).status.ok());
  ASSERT_TRUE(registry_->RemoveGatewayKey("admin", kGateway, second_kid).ok());
  EXPECT_TRUE(tokens_->Verify(token).status.ok());
  GatewayAuthResult r = tokens_->Verify(second_token);
  EXPECT_TRUE(absl::IsUnauthenticated(r.status)) << r.status;
  EXPECT_EQ(r.reason, "alg_key_mismatch");  // only the ES256 key is left
}

TEST_F(GatewayTokenVerifierTest,
       BlockedGatewayIsRefusedAtOnceAndUnblockedAccepted) {
  std::string token = Token(*key_);
  ASSERT_TRUE(tokens_->Verify(token).status.ok());
  ASSERT_TRUE(registry_->SetGatewayEnabled("admin", kGateway, false).ok());
  GatewayAuthResult r = tokens_->Verify(token);
  EXPECT_TRUE(absl::IsPermissionDenied(r.status)) << r.status;
  EXPECT_EQ(r.reason, "gateway_blocked");
  ASSERT_TRUE(registry_->SetGatewayEnabled("admin", kGateway, true).ok());
  EXPECT_TRUE(tokens_->Verify(token).status.ok());
}

TEST_F(GatewayTokenVerifierTest, DeletedGatewayIsRefusedAtOnce) {
  std::string token = Token(*key_);
  ASSERT_TRUE(tokens_->Verify(token).status.ok());
  ASSERT_TRUE(registry_->DeleteGateway("admin", kGateway).ok());
  GatewayAuthResult r = tokens_->Verify(token);
  EXPECT_TRUE(absl::IsUnauthenticated(r.status)) << r.status;
  EXPECT_EQ(r.reason, "unknown_gateway");
}

TEST_F(GatewayTokenVerifierTest,
       ExpiredKeyRefusesTheCachedTokenWithoutARegistryChange) {
  auto expiring = SoftKey::Generate(JwtAlgorithm::kEs256);
  ASSERT_TRUE(expiring.ok());
  Enrol(*expiring, absl::ToUnixSeconds(clock_.Now()) + 60);
  std::string token = Token(*expiring);
  ASSERT_TRUE(tokens_->Verify(token).status.ok());
  clock_.Advance(absl::Seconds(61));
  GatewayAuthResult r = tokens_->Verify(token);
  EXPECT_TRUE(absl::IsUnauthenticated(r.status)) << r.status;
  EXPECT_EQ(r.reason, "signature_invalid");  // only the other key is usable
}

// Another instance blocks the gateway; etcd's watch reports it.
TEST_F(GatewayTokenVerifierTest, ChangeReportedByTheStoreIsEffectiveAtOnce) {
  std::string token = Token(*key_);
  ASSERT_TRUE(tokens_->Verify(token).status.ok());
  store_->WriteEnabledBehindTheRegistrysBack(kGateway, false);
  store_->NotifyChange();
  GatewayAuthResult r = tokens_->Verify(token);
  EXPECT_EQ(r.reason, "gateway_blocked") << r.status;
  store_->WriteEnabledBehindTheRegistrysBack(kGateway, true);
  store_->NotifyChange();
  EXPECT_TRUE(tokens_->Verify(token).status.ok());
}

// While the change feed is down nothing cached is trusted: every request
// reads the registry, and so sees a change nobody was told about.
TEST_F(GatewayTokenVerifierTest,
       NothingCachedIsTrustedWhileTheChangeFeedIsDown) {
  std::string token = Token(*key_);
  ASSERT_TRUE(tokens_->Verify(token).status.ok());
  store_->healthy = false;
  const int store_reads = store_->gateway_reads.load();
  ASSERT_TRUE(tokens_->Verify(token).status.ok());
  ASSERT_TRUE(tokens_->Verify(token).status.ok());
  EXPECT_EQ(store_->gateway_reads.load(), store_reads + 2);
  store_->WriteEnabledBehindTheRegistrysBack(kGateway,
                                             false);  // no notification
  GatewayAuthResult r = tokens_->Verify(token);
  EXPECT_EQ(r.reason, "gateway_blocked") << r.status;
}

TEST_F(GatewayTokenVerifierTest, MalformedTokensAreRefusedWithTheirReason) {
  GatewayAuthResult r = tokens_->Verify("a.b.c");
  EXPECT_TRUE(absl::IsUnauthenticated(r.status)) << r.status;
  EXPECT_EQ(r.reason, "bad_base64url");
  // A token naming a gateway the registry does not have.
  absl::StatusOr<MintedJwt> unknown =
      MintJwt(*key_, {.subject = "G999999999999999999", .audience = kProject},
              clock_.Now());
  ASSERT_TRUE(unknown.ok());
  r = tokens_->Verify(unknown->token);
  EXPECT_EQ(r.reason, "unknown_gateway");
  // Signed by a key the gateway does not have.
  auto stranger = SoftKey::Generate(JwtAlgorithm::kEs256);
  ASSERT_TRUE(stranger.ok());
  r = tokens_->Verify(Token(*stranger));
  EXPECT_EQ(r.reason, "signature_invalid");
}

}  // namespace
}  // namespace cxsec::verifier
