// Scale-out: a real etcd (started here on free loopback ports) and two
// verifier instances sharing it. A key revoked through instance A must be
// refused by instance B within a second, through B's watch-driven cache
// invalidation (B had the gateway and the token cached before). An
// enrolment challenge issued by one instance is usable once, through any.
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

}  // namespace
}  // namespace cxsec::verifier
