// Registry lifetime against its KvStore (regression test for a
// heap-use-after-free found by ASan in etcd_scale_out_test: the etcd store's
// watch thread outlived the Registry and called its change listener, which
// still pointed at the destroyed Registry), and gateway key enrolment:
// single-use, expiring, capped challenges consumed by verified proofs.
#include "targets/verifier/registry/registry.h"

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/identity/soft_key.h"
#include "core/jwt/enrollment_proof.h"
#include "gtest/gtest.h"
#include "targets/verifier/registry/api_reason.h"
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

absl::StatusOr<VerifiedEnrollmentProof> Prove(SoftKey& key,
                                              const std::string& gateway,
                                              const std::string& nonce,
                                              const Clock& clock) {
  absl::StatusOr<std::string> proof =
      MintEnrollmentProof(key, gateway, nonce, clock.Now());
  if (!proof.ok()) return proof.status();
  return VerifyEnrollmentProof(*proof, key.SharedPublicKey(), gateway, clock);
}

std::string ReasonOf(const absl::Status& status) {
  return ApiReasonOf(status).value_or("(none: " + status.ToString() + ")");
}

class RegistryEnrollmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    ASSERT_NE(tmp, nullptr);
    std::string path = absl::StrCat(
        tmp, "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".db");
    auto store = SqliteKvStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    registry_ = std::make_unique<Registry>(store_.get(), &clock_);
    ASSERT_TRUE(
        registry_->CreateProject("admin", {.id = "p1", .name = "P"}).ok());
    for (const char* id : {kGateway, kOther}) {
      ASSERT_TRUE(
          registry_->CreateGateway("admin", {.id = id, .project = "p1"}).ok());
    }
    absl::StatusOr<SoftKey> key = SoftKey::Generate(JwtAlgorithm::kEs256);
    ASSERT_TRUE(key.ok());
    key_ = std::make_unique<SoftKey>(*std::move(key));
  }
  std::string Challenge(const std::string& gateway = std::string(kGateway)) {
    absl::StatusOr<EnrollmentChallenge> c =
        registry_->IssueEnrollmentChallenge("enroller", gateway);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->nonce : std::string();
  }

  static constexpr char kGateway[] = "G0123456789abcdef01";
  static constexpr char kOther[] = "Gfedcba9876543210ff";
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<SqliteKvStore> store_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<SoftKey> key_;
};

TEST_F(RegistryEnrollmentTest, AChallengeEnrolsOneKeyOnce) {
  std::string nonce = Challenge();
  EXPECT_TRUE(IsWellFormedEnrollmentNonce(nonce)) << nonce;
  EXPECT_NE(nonce, Challenge());  // fresh every time
  absl::StatusOr<VerifiedEnrollmentProof> proof =
      Prove(*key_, kGateway, nonce, clock_);
  ASSERT_TRUE(proof.ok()) << proof.status();
  absl::StatusOr<std::string> kid =
      registry_->AddGatewayKey("enroller", *proof, std::nullopt);
  ASSERT_TRUE(kid.ok()) << kid.status();
  EXPECT_EQ(*kid, *key_->KeyId());
  absl::StatusOr<Gateway> g = registry_->GetGateway(kGateway);
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->keys.size(), 1u);
  EXPECT_EQ(g->keys[0].public_key_pem, key_->PublicKey().SpkiPem());
  // The same proof (and so the same challenge) again, for another key slot:
  // remove the key first so only the challenge can refuse it.
  ASSERT_TRUE(registry_->RemoveGatewayKey("admin", kGateway, *kid).ok());
  absl::StatusOr<std::string> again =
      registry_->AddGatewayKey("enroller", *proof, std::nullopt);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(ReasonOf(again.status()), "challenge_unknown_or_used");
  EXPECT_TRUE(absl::IsFailedPrecondition(again.status()));
}

TEST_F(RegistryEnrollmentTest, ChallengesBelongToOneGatewayAndExpire) {
  // A nonce issued for another gateway is unknown for this one.
  std::string other_nonce = Challenge(kOther);
  absl::StatusOr<VerifiedEnrollmentProof> proof =
      Prove(*key_, kGateway, other_nonce, clock_);
  ASSERT_TRUE(proof.ok());
  absl::StatusOr<std::string> kid =
      registry_->AddGatewayKey("enroller", *proof, std::nullopt);
  EXPECT_EQ(ReasonOf(kid.status()), "challenge_unknown_or_used");
  // A nonce nobody issued.
  proof = Prove(*key_, kGateway, std::string(43, 'A'), clock_);
  ASSERT_TRUE(proof.ok());
  kid = registry_->AddGatewayKey("enroller", *proof, std::nullopt);
  EXPECT_EQ(ReasonOf(kid.status()), "challenge_unknown_or_used");
  // Expired: 5 minutes later, even with a fresh proof.
  std::string nonce = Challenge();
  clock_.Advance(kEnrollmentChallengeLifetime);
  proof = Prove(*key_, kGateway, nonce, clock_);
  ASSERT_TRUE(proof.ok());
  kid = registry_->AddGatewayKey("enroller", *proof, std::nullopt);
  EXPECT_EQ(ReasonOf(kid.status()), "challenge_expired");
  EXPECT_TRUE(registry_->GetGateway(kGateway)->keys.empty());
}

TEST_F(RegistryEnrollmentTest, AtMostEightOpenChallengesPerGateway) {
  for (size_t i = 0; i < kMaxOutstandingEnrollmentChallenges; ++i) Challenge();
  absl::StatusOr<EnrollmentChallenge> ninth =
      registry_->IssueEnrollmentChallenge("enroller", kGateway);
  ASSERT_FALSE(ninth.ok());
  EXPECT_EQ(ReasonOf(ninth.status()), "too_many_challenges");
  // Another gateway is not affected; once they expire, new ones are issued
  // and the expired ones are swept from the store.
  Challenge(kOther);
  clock_.Advance(kEnrollmentChallengeLifetime + absl::Seconds(1));
  Challenge();
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> rows =
      store_->List(absl::StrCat("enrollment-challenges/", kGateway, "/"), 100);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 1u);
  // Unknown and malformed gateways get no challenge.
  EXPECT_TRUE(absl::IsNotFound(
      registry_->IssueEnrollmentChallenge("enroller", "G000000000000000000")
          .status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      registry_->IssueEnrollmentChallenge("enroller", "../principals")
          .status()));
}

TEST_F(RegistryEnrollmentTest, ARefusedKeyDoesNotUseUpItsChallenge) {
  std::string first = Challenge();
  ASSERT_TRUE(registry_
                  ->AddGatewayKey("enroller",
                                  *Prove(*key_, kGateway, first, clock_),
                                  std::nullopt)
                  .ok());
  // The same key again is refused by the gateway's own check...
  std::string second = Challenge();
  absl::StatusOr<std::string> dup = registry_->AddGatewayKey(
      "enroller", *Prove(*key_, kGateway, second, clock_), std::nullopt);
  EXPECT_TRUE(absl::IsAlreadyExists(dup.status())) << dup.status();
  // ...and the challenge still serves another key.
  absl::StatusOr<SoftKey> other = SoftKey::Generate(JwtAlgorithm::kEdDsa);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(registry_
                  ->AddGatewayKey("enroller",
                                  *Prove(*other, kGateway, second, clock_),
                                  std::nullopt)
                  .ok());
  // Every change is in the audit log, the nonce nowhere in it.
  absl::StatusOr<AuditPage> audit = registry_->ListAudit("", 100);
  ASSERT_TRUE(audit.ok());
  int challenges = 0, adds = 0;
  for (const nlohmann::json& e : audit->entries) {
    if (e["action"] == "gateway.key.challenge") ++challenges;
    if (e["action"] == "gateway.key.add") ++adds;
    EXPECT_EQ(e.dump().find(second), std::string::npos);
  }
  EXPECT_EQ(challenges, 2);
  EXPECT_EQ(adds, 2);
}

// Deleting a gateway takes its open challenges with it.
TEST_F(RegistryEnrollmentTest, DeletingAGatewayDropsItsChallenges) {
  std::string nonce = Challenge();
  ASSERT_TRUE(registry_->DeleteGateway("admin", kGateway).ok());
  ASSERT_TRUE(
      registry_->CreateGateway("admin", {.id = kGateway, .project = "p1"})
          .ok());
  absl::StatusOr<std::string> kid = registry_->AddGatewayKey(
      "enroller", *Prove(*key_, kGateway, nonce, clock_), std::nullopt);
  EXPECT_EQ(ReasonOf(kid.status()), "challenge_unknown_or_used");
}

// Enrolment refuses an Ed25519 key of small order: under the identity
// point, R = identity and S = 0 is a valid signature of every token. The
// key cannot even be parsed into the proof AddGatewayKey needs.
TEST(RegistryTest, EnrolmentRefusesSmallOrderEd25519Keys) {
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
  absl::StatusOr<JwtPublicKey> weak_key =
      JwtPublicKey::FromSpkiPem(identity_pem);
  ASSERT_FALSE(weak_key.ok());
  EXPECT_EQ(weak_key.status().message(),
            "Ed25519 public key has small order (1): signatures under it can "
            "be forged");
  // A real Ed25519 key still enrols.
  absl::StatusOr<SoftKey> good = SoftKey::Generate(JwtAlgorithm::kEdDsa);
  ASSERT_TRUE(good.ok());
  absl::StatusOr<EnrollmentChallenge> challenge =
      registry.IssueEnrollmentChallenge("admin", gateway);
  ASSERT_TRUE(challenge.ok()) << challenge.status();
  absl::StatusOr<VerifiedEnrollmentProof> proof =
      Prove(*good, gateway, challenge->nonce, clock);
  ASSERT_TRUE(proof.ok()) << proof.status();
  EXPECT_TRUE(registry.AddGatewayKey("admin", *proof, std::nullopt).ok());

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
