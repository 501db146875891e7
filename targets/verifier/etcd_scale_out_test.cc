// Scale-out: a real etcd (started here on free loopback ports) and two
// verifier instances sharing it. A key revoked through instance A must be
// refused by instance B within a second, through B's watch-driven cache
// invalidation (B had the gateway and the token cached before). An
// enrolment challenge issued by one instance is usable once, through any.
// Read-modify-write of a gateway through one instance never undoes a
// change another instance made in between (a block, a key revocation).
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/clock.h"
#include "core/jwt/enrollment_proof.h"
#include "gtest/gtest.h"
#include "targets/verifier/registry/etcd_kv_store.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/etcd_process.h"

namespace cxsec::verifier {
namespace {

using nlohmann::json;

json Call(uint16_t port, const std::string& ca, const std::string& method,
          const std::string& target, const std::string& bearer, const json& body,
          unsigned* status) {
  auto r = testing::HttpsRequest(port, ca, method, target, bearer,
                                 body.is_null() ? "" : body.dump());
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return json();
  *status = r->status;
  return json::parse(r->body, nullptr, false);
}

TEST(EtcdScaleOutTest, KeyRevokedThroughOneInstanceIsRefusedByTheOther) {
  std::string dir = std::getenv("TEST_TMPDIR");
  auto etcd = cxsec::testing::EtcdProcess::Start(dir);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  ASSERT_TRUE((*etcd)->WaitUntilHealthy(absl::Seconds(15)).ok());
  auto cert = testing::MakeTestCert(dir);
  ASSERT_TRUE(cert.ok());
  auto store_a = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-test/",
                                      absl::Seconds(2));
  ASSERT_TRUE(store_a.ok()) << store_a.status();
  auto store_b = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-test/");
  ASSERT_TRUE(store_b.ok()) << store_b.status();
  auto a = testing::StartVerifier(std::move(*store_a), dir + "/a.ndjson", *cert);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = testing::StartVerifier(std::move(*store_b), dir + "/b.ndjson", *cert);
  ASSERT_TRUE(b.ok()) << b.status();
  // Only the first instance bootstraps an admin: they share principals.
  std::string admin = (*a)->admin_key;
  ASSERT_FALSE(admin.empty());
  EXPECT_TRUE((*b)->admin_key.empty());
  const std::string& ca = cert->cert_file;
  uint16_t pa = (*a)->port(), pb = (*b)->port();
  unsigned status = 0;
  Call(pa, ca, "POST", "/v1/projects", admin, json{{"id", "acme"}}, &status);
  ASSERT_EQ(status, 201u);
  Call(pa, ca, "POST", "/v1/gateways", admin,
       json{{"id", "G0123456789abcdef01"}, {"project", "acme"}}, &status);
  ASSERT_EQ(status, 201u);
  testing::GatewaySigner signer;
  auto enrolled =
      testing::EnrollGatewayKey(pa, ca, admin, "G0123456789abcdef01", signer);
  ASSERT_TRUE(enrolled.ok()) << enrolled.status();
  ASSERT_EQ(enrolled->status, 201u) << enrolled->body;
  json key = json::parse(enrolled->body);
  Call(pa, ca, "POST", "/v1/devices", admin, json{{"id", "dev-1"}, {"project", "acme"}},
       &status);
  ASSERT_EQ(status, 201u);
  std::string token = signer.Token("G0123456789abcdef01", "acme");
  auto batch = [](const std::string& id) {
    return json{{"messages",
                 {{{"deviceId", "dev-1"}, {"messageId", id}, {"timestamp", 1}, {"payload", 1}}}}};
  };
  // B accepts (and now caches the gateway and the verified token).
  for (int i = 0; i < 3; ++i) {
    Call(pb, ca, "POST", "/v1/telemetry", token, batch(absl::StrCat("warm", i)), &status);
    ASSERT_EQ(status, 200u);
  }
  // Revoke through A; B must refuse within one second.
  Call(pa, ca, "DELETE", "/v1/gateways/G0123456789abcdef01/keys/" + key["kid"].get<std::string>(),
       admin, json(), &status);
  ASSERT_EQ(status, 200u);
  absl::Time deadline = absl::Now() + absl::Seconds(1);
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    Call(pb, ca, "POST", "/v1/telemetry", token, batch(absl::StrCat("after", i)), &status);
    refused = status == 401;
    if (!refused && absl::Now() > deadline) break;
    if (!refused) usleep(10 * 1000);
  }
  EXPECT_TRUE(refused) << "instance B still accepted a key revoked through A";
  // The audit log written through A is visible through B, newest first.
  json audit = Call(pb, ca, "GET", "/v1/audit", admin, json(), &status);
  ASSERT_EQ(status, 200u);
  EXPECT_EQ(audit["entries"].front()["action"], "gateway.key.remove");
}

// Issue 17 item 2: challenges live in etcd, so one issued through A serves
// an enrolment through B, exactly once: the same proof sent to both
// instances at once adds the key once and is refused once.
TEST(EtcdScaleOutTest, ChallengeFromOneInstanceIsUsableOnceThroughEither) {
  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/challenge";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  auto etcd = cxsec::testing::EtcdProcess::Start(dir);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  ASSERT_TRUE((*etcd)->WaitUntilHealthy(absl::Seconds(15)).ok());
  auto cert = testing::MakeTestCert(dir);
  ASSERT_TRUE(cert.ok());
  auto store_a = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-test/");
  ASSERT_TRUE(store_a.ok()) << store_a.status();
  auto store_b = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-test/");
  ASSERT_TRUE(store_b.ok()) << store_b.status();
  auto a =
      testing::StartVerifier(std::move(*store_a), dir + "/ca.ndjson", *cert);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b =
      testing::StartVerifier(std::move(*store_b), dir + "/cb.ndjson", *cert);
  ASSERT_TRUE(b.ok()) << b.status();
  std::string admin = (*a)->admin_key;
  const std::string& ca = cert->cert_file;
  uint16_t pa = (*a)->port(), pb = (*b)->port();
  const std::string gateway = "G0123456789abcdef01";
  unsigned status = 0;
  Call(pa, ca, "POST", "/v1/projects", admin, json{{"id", "acme"}}, &status);
  ASSERT_EQ(status, 201u);
  Call(pa, ca, "POST", "/v1/gateways", admin,
       json{{"id", gateway}, {"project", "acme"}}, &status);
  ASSERT_EQ(status, 201u);
  auto challenge = [&](uint16_t port) {
    json c = Call(port, ca, "POST",
                  "/v1/gateways/" + gateway + "/enrollment-challenge", admin,
                  json::object(), &status);
    EXPECT_EQ(status, 201u) << c;
    return c.value("nonce", "");
  };
  // Issued by A, used through B; then again through A: already used.
  testing::GatewaySigner first;
  json body = {{"publicKeyPem", first.PublicKeyPem()},
               {"proof", first.EnrollmentProof(gateway, challenge(pa))}};
  Call(pb, ca, "POST", "/v1/gateways/" + gateway + "/keys", admin, body,
       &status);
  EXPECT_EQ(status, 201u);
  json kid =
      Call(pa, ca, "GET", "/v1/gateways/" + gateway, admin, json(), &status);
  ASSERT_EQ(kid["keys"].size(), 1u);
  Call(pa, ca, "DELETE",
       "/v1/gateways/" + gateway + "/keys/" +
           kid["keys"][0]["kid"].get<std::string>(),
       admin, json(), &status);
  ASSERT_EQ(status, 200u);
  json again = Call(pa, ca, "POST", "/v1/gateways/" + gateway + "/keys", admin,
                    body, &status);
  EXPECT_EQ(status, 409u);
  EXPECT_EQ(again.value("error", ""), "challenge_unknown_or_used");
  // One proof, both instances at once, several rounds: exactly one wins.
  for (int round = 0; round < 5; ++round) {
    testing::GatewaySigner key;
    json race = {{"publicKeyPem", key.PublicKeyPem()},
                 {"proof", key.EnrollmentProof(
                               gateway, challenge(round % 2 ? pa : pb))}};
    auto post = [&](uint16_t port) {
      auto r = testing::HttpsRequest(port, ca, "POST",
                                     "/v1/gateways/" + gateway + "/keys", admin,
                                     race.dump());
      return r.ok() ? *r : testing::ClientResponse{};
    };
    auto via_a = std::async(std::launch::async, post, pa);
    auto via_b = std::async(std::launch::async, post, pb);
    testing::ClientResponse ra = via_a.get(), rb = via_b.get();
    std::multiset<unsigned> statuses = {ra.status, rb.status};
    EXPECT_EQ(statuses, (std::multiset<unsigned>{201u, 409u}))
        << "round " << round << ": A " << ra.status << " " << ra.body << "; B "
        << rb.status << " " << rb.body;
    json g =
        Call(pa, ca, "GET", "/v1/gateways/" + gateway, admin, json(), &status);
    ASSERT_EQ(g["keys"].size(), 1u) << g;
    Call(pa, ca, "DELETE",
         "/v1/gateways/" + gateway + "/keys/" +
             g["keys"][0]["kid"].get<std::string>(),
         admin, json(), &status);
    ASSERT_EQ(status, 200u);
  }
}

// A real EtcdKvStore that runs `interleave` once, when armed, just after
// reading a document under `interleave_prefix` (default: gateways): the
// other instance's update lands exactly between this instance's read and
// its write, every run.
class InterleavingStore : public KvStore {
 public:
  explicit InterleavingStore(std::unique_ptr<KvStore> inner)
      : inner_(std::move(inner)) {}
  absl::StatusOr<std::optional<std::string>> Get(
      absl::string_view key) override {
    auto r = inner_->Get(key);
    MaybeInterleave(key);
    return r;
  }
  absl::Status Put(absl::string_view key, absl::string_view value) override {
    return inner_->Put(key, value);
  }
  absl::StatusOr<bool> Delete(absl::string_view key) override {
    return inner_->Delete(key);
  }
  absl::StatusOr<KvRead> GetForUpdate(absl::string_view key) override {
    auto r = inner_->GetForUpdate(key);
    MaybeInterleave(key);
    return r;
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
    inner_->SetChangeListener(std::move(on_change));
  }
  bool ChangeFeedHealthy() const override {
    return inner_->ChangeFeedHealthy();
  }

  std::function<void()> interleave;
  std::string interleave_prefix = "gateways/";

 private:
  void MaybeInterleave(absl::string_view key) {
    if (!absl::StartsWith(key, interleave_prefix) || !interleave) return;
    std::function<void()> run = std::move(interleave);
    interleave = nullptr;
    run();
  }
  std::unique_ptr<KvStore> inner_;
};

absl::StatusOr<std::string> EnrolThrough(Registry& registry,
                                         const std::string& gateway,
                                         const testing::GatewaySigner& signer) {
  absl::StatusOr<EnrollmentChallenge> challenge =
      registry.IssueEnrollmentChallenge("test", gateway);
  if (!challenge.ok()) return challenge.status();
  absl::StatusOr<JwtPublicKey> key =
      JwtPublicKey::FromSpkiPem(signer.PublicKeyPem());
  if (!key.ok()) return key.status();
  absl::StatusOr<VerifiedEnrollmentProof> proof = VerifyEnrollmentProof(
      signer.EnrollmentProof(gateway, challenge->nonce),
      std::make_shared<const JwtPublicKey>(*std::move(key)), gateway,
      SystemClock::Default());
  if (!proof.ok()) return proof.status();
  return registry.AddGatewayKey("test", *proof, std::nullopt);
}

// Issue 17 item 4: before etcd transactions, instance B read the gateway,
// A blocked it or revoked a key, and B's write of its stale copy undid
// that. Now B's write is compared on mod_revision, fails, and B redoes its
// change on A's version.
TEST(EtcdScaleOutTest, ConcurrentGatewayUpdatesNeverUndoEachOther) {
  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/rmw";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  auto etcd = cxsec::testing::EtcdProcess::Start(dir);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  ASSERT_TRUE((*etcd)->WaitUntilHealthy(absl::Seconds(15)).ok());
  auto store_a = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-test/");
  ASSERT_TRUE(store_a.ok()) << store_a.status();
  auto store_b = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-test/");
  ASSERT_TRUE(store_b.ok()) << store_b.status();
  InterleavingStore b_store(std::move(*store_b));
  Registry a(store_a->get(), &SystemClock::Default());
  Registry b(&b_store, &SystemClock::Default());
  const std::string gateway = "G0123456789abcdef01";
  ASSERT_TRUE(a.CreateProject("test", {.id = "acme", .name = ""}).ok());
  ASSERT_TRUE(a.CreateGateway("test", {.id = gateway, .project = "acme"}).ok());
  testing::GatewaySigner k1, k2, k3;
  absl::StatusOr<std::string> kid1 = EnrolThrough(a, gateway, k1);
  ASSERT_TRUE(kid1.ok()) << kid1.status();

  // B revokes k1 while A blocks the gateway: both must hold.
  b_store.interleave = [&] {
    ASSERT_TRUE(a.SetGatewayEnabled("test", gateway, false).ok());
  };
  ASSERT_TRUE(b.RemoveGatewayKey("test", gateway, *kid1).ok());
  absl::StatusOr<Gateway> g = a.GetGateway(gateway);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(g->enabled) << "B's key revocation undid A's block";
  EXPECT_TRUE(g->keys.empty());

  // B unblocks while A revokes a key: the revocation must stick.
  absl::StatusOr<std::string> kid2 = EnrolThrough(a, gateway, k2);
  ASSERT_TRUE(kid2.ok()) << kid2.status();
  b_store.interleave = [&] {
    ASSERT_TRUE(a.RemoveGatewayKey("test", gateway, *kid2).ok());
  };
  ASSERT_TRUE(b.SetGatewayEnabled("test", gateway, true).ok());
  g = a.GetGateway(gateway);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->enabled);
  EXPECT_TRUE(g->keys.empty())
      << "B's unblock brought back a key A had revoked";

  // B enrols a key while A blocks: both the key and the block stay.
  b_store.interleave = [&] {
    ASSERT_TRUE(a.SetGatewayEnabled("test", gateway, false).ok());
  };
  absl::StatusOr<std::string> kid3 = EnrolThrough(b, gateway, k3);
  ASSERT_TRUE(kid3.ok()) << kid3.status();
  g = a.GetGateway(gateway);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->enabled);
  ASSERT_EQ(g->keys.size(), 1u);
  EXPECT_EQ(g->keys[0].kid, *kid3);

  // Create-if-absent: a device created through A in between B's check and
  // B's write is not overwritten by B's.
  b_store.interleave_prefix = "devices/";
  b_store.interleave = [&] {
    ASSERT_TRUE(a.CreateDevice(
                     "test", {.id = "dev-1", .project = "acme", .gateways = {}})
                    .ok());
  };
  absl::Status again = b.CreateDevice(
      "test", {.id = "dev-1", .project = "acme", .gateways = {gateway}});
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  absl::StatusOr<Device> d = a.GetDevice("dev-1");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->gateways.empty());
}

// The same races without a scripted interleaving: two instances hammer one
// gateway at once (A blocks and unblocks, B adds and removes keys), then
// each instance makes one last change; both are in the final document.
TEST(EtcdScaleOutTest, ConcurrentUpdatesThroughTwoInstancesAllSurvive) {
  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/rmw-stress";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  auto etcd = cxsec::testing::EtcdProcess::Start(dir);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  ASSERT_TRUE((*etcd)->WaitUntilHealthy(absl::Seconds(15)).ok());
  auto store_a = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-test/");
  ASSERT_TRUE(store_a.ok()) << store_a.status();
  auto store_b = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-test/");
  ASSERT_TRUE(store_b.ok()) << store_b.status();
  Registry a(store_a->get(), &SystemClock::Default());
  Registry b(store_b->get(), &SystemClock::Default());
  const std::string gateway = "G0123456789abcdef01";
  ASSERT_TRUE(a.CreateProject("test", {.id = "acme", .name = ""}).ok());
  ASSERT_TRUE(a.CreateGateway("test", {.id = gateway, .project = "acme"}).ok());
  std::atomic<int> lost{0};
  auto blocker = std::async(std::launch::async, [&] {
    for (int i = 0; i < 40; ++i) {
      if (!a.SetGatewayEnabled("test", gateway, i % 2 == 1).ok()) ++lost;
    }
  });
  auto enroller = std::async(std::launch::async, [&] {
    for (int i = 0; i < 10; ++i) {
      testing::GatewaySigner key;
      absl::StatusOr<std::string> kid = EnrolThrough(b, gateway, key);
      if (!kid.ok() || !b.RemoveGatewayKey("test", gateway, *kid).ok()) ++lost;
    }
  });
  blocker.get();
  enroller.get();
  EXPECT_EQ(lost.load(), 0);
  // The blocker's last write was "enabled" (i = 39); every key was removed.
  absl::StatusOr<Gateway> g = a.GetGateway(gateway);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->keys.empty());
  // Now one last change each, at once: the block and a new key both stay.
  testing::GatewaySigner last;
  auto block = std::async(std::launch::async, [&] {
    return a.SetGatewayEnabled("test", gateway, false);
  });
  auto add = std::async(std::launch::async,
                        [&] { return EnrolThrough(b, gateway, last); });
  ASSERT_TRUE(block.get().ok());
  absl::StatusOr<std::string> kid = add.get();
  ASSERT_TRUE(kid.ok()) << kid.status();
  g = b.GetGateway(gateway);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->enabled);
  ASSERT_EQ(g->keys.size(), 1u);
  EXPECT_EQ(g->keys[0].kid, *kid);
}

}  // namespace
}  // namespace cxsec::verifier
