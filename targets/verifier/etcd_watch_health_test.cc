// Issue 17 item 4: a verifier instance whose etcd watch dies silently must
// notice it and stop trusting its caches. Instance A reaches a real etcd
// through a proxy that the test turns into a black hole (nothing forwarded,
// nothing closed: a dropped NAT entry or a partition); instance B reaches
// etcd directly and revokes a key meanwhile. Within A's watch deadline,
// A's /healthz fails and its telemetry answers 503 registry_catching_up,
// instead of accepting the revoked key from a stale cache forever; once
// forwarding resumes, A is healthy again and refuses the revoked key.
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "targets/verifier/http/plain_http_client.h"
#include "targets/verifier/registry/etcd_kv_store.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/black_hole_proxy.h"
#include "tests/fixtures/etcd_process.h"

namespace cxsec::verifier {
namespace {

using nlohmann::json;

constexpr char kGateway[] = "G0123456789abcdef01";

struct Answer {
  unsigned status = 0;
  json body;
};

Answer Call(uint16_t port, const std::string& ca, const std::string& method,
            const std::string& target, const std::string& bearer,
            const json& body = json()) {
  auto r = testing::HttpsRequest(port, ca, method, target, bearer,
                                 body.is_null() ? "" : body.dump());
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  return {r->status, json::parse(r->body, nullptr, false)};
}

json Batch(const std::string& id) {
  return json{{"messages",
               {{{"deviceId", "dev-1"},
                 {"messageId", id},
                 {"timestamp", 1},
                 {"payload", 1}}}}};
}

uint16_t PortOf(const std::string& url) {
  uint32_t port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(url.substr(url.rfind(':') + 1), &port)) << url;
  return static_cast<uint16_t>(port);
}

TEST(EtcdWatchHealthTest, BlackHoledWatchIsNoticedAndNothingStaleIsServed) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  // Progress notifications far more often than the deadline, as
  // docs/DESIGN.md asks of a deployment: a quiet registry is not a dead one.
  auto etcd = cxsec::testing::EtcdProcess::Start(
      dir,
      {.extra_args = {"--experimental-watch-progress-notify-interval=200ms"}});
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  ASSERT_TRUE((*etcd)->WaitUntilHealthy(absl::Seconds(15)).ok());
  auto proxy =
      cxsec::testing::BlackHoleProxy::Start(PortOf((*etcd)->client_url()));
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  auto cert = testing::MakeTestCert(dir);
  ASSERT_TRUE(cert.ok());

  const absl::Duration deadline = absl::Seconds(2);
  EtcdKvStoreOptions via_proxy;
  via_proxy.endpoint_url = absl::StrCat("http://127.0.0.1:", (*proxy)->port());
  via_proxy.prefix = "cxsec-test/";
  via_proxy.timeout = absl::Seconds(1);
  via_proxy.watch_deadline = deadline;
  auto store_a = EtcdKvStore::Connect(via_proxy);
  ASSERT_TRUE(store_a.ok()) << store_a.status();
  auto store_b = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-test/");
  ASSERT_TRUE(store_b.ok()) << store_b.status();
  auto a =
      testing::StartVerifier(std::move(*store_a), dir + "/a.ndjson", *cert);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b =
      testing::StartVerifier(std::move(*store_b), dir + "/b.ndjson", *cert);
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string admin = (*a)->admin_key;
  ASSERT_FALSE(admin.empty());
  const std::string& ca = cert->cert_file;
  const uint16_t pa = (*a)->port(), pb = (*b)->port();

  ASSERT_EQ(
      Call(pb, ca, "POST", "/v1/projects", admin, {{"id", "acme"}}).status,
      201u);
  ASSERT_EQ(Call(pb, ca, "POST", "/v1/gateways", admin,
                 {{"id", kGateway}, {"project", "acme"}})
                .status,
            201u);
  testing::GatewaySigner signer;
  auto enrolled = testing::EnrollGatewayKey(pb, ca, admin, kGateway, signer);
  ASSERT_TRUE(enrolled.ok()) << enrolled.status();
  ASSERT_EQ(enrolled->status, 201u) << enrolled->body;
  const std::string kid = json::parse(enrolled->body)["kid"];
  ASSERT_EQ(Call(pb, ca, "POST", "/v1/devices", admin,
                 {{"id", "dev-1"}, {"project", "acme"}})
                .status,
            201u);
  const std::string token = signer.Token(kGateway, "acme");

  // A is healthy and has the gateway, the device and the token cached.
  EXPECT_EQ(Call(pa, ca, "GET", "/healthz", "").status, 200u);
  for (int i = 0; i < 3; ++i) {
    Answer r = Call(pa, ca, "POST", "/v1/telemetry", token,
                    Batch(absl::StrCat("warm", i)));
    ASSERT_EQ(r.status, 200u) << r.body;
  }

  // The connection to etcd goes silent; B revokes the key meanwhile.
  (*proxy)->SetForwarding(false);
  ASSERT_EQ(Call(pb, ca, "DELETE",
                 absl::StrCat("/v1/gateways/", kGateway, "/keys/", kid), admin)
                .status,
            200u);

  // Within the deadline (plus slack for a loaded machine), A says it is
  // not healthy.
  absl::Time start = absl::Now();
  Answer health;
  do {
    health = Call(pa, ca, "GET", "/healthz", "");
    if (health.status != 200) break;
    usleep(50 * 1000);
  } while (absl::Now() - start < deadline + absl::Seconds(3));
  EXPECT_EQ(health.status, 503u)
      << "A still claims health with its etcd watch black-holed";
  EXPECT_EQ(health.body.value("error", ""), "registry_catching_up")
      << health.body;
  // Telemetry with the revoked key is neither accepted from a stale cache
  // nor rejected for good: the gateway is told to come back.
  Answer during =
      Call(pa, ca, "POST", "/v1/telemetry", token, Batch("during-black-hole"));
  EXPECT_EQ(during.status, 503u) << during.body;
  EXPECT_EQ(during.body.value("error", ""), "registry_catching_up")
      << during.body;
  // And it stays so while the black hole lasts (every reconnect meets it).
  usleep(static_cast<useconds_t>(absl::ToInt64Microseconds(deadline) * 3 / 2));
  EXPECT_EQ(Call(pa, ca, "GET", "/healthz", "").status, 503u);

  // Forwarding resumes: A becomes healthy again, and the first telemetry
  // it answers already knows the key is gone.
  (*proxy)->SetForwarding(true);
  start = absl::Now();
  do {
    health = Call(pa, ca, "GET", "/healthz", "");
    if (health.status == 200) break;
    usleep(50 * 1000);
  } while (absl::Now() - start < absl::Seconds(20));
  ASSERT_EQ(health.status, 200u) << "A did not recover: " << health.body;
  Answer after =
      Call(pa, ca, "POST", "/v1/telemetry", token, Batch("after-black-hole"));
  EXPECT_EQ(after.status, 401u) << "A served a revoked key: " << after.body;
  // (/metrics needs an API key, and checking one reads etcd: it cannot
  // answer through the black hole, only after it.)
  auto metrics = testing::HttpsRequest(pa, ca, "GET", "/metrics", admin, "");
  ASSERT_TRUE(metrics.ok());
  EXPECT_TRUE(absl::StrContains(metrics->body,
                                "\ncxsec_registry_change_feed_healthy 1\n"))
      << metrics->body;
  EXPECT_TRUE(absl::StrContains(
      metrics->body, "cxsec_rejections_total{reason=\"registry_catching_up\"}"))
      << metrics->body;
  Answer gateway =
      Call(pa, ca, "GET", absl::StrCat("/v1/gateways/", kGateway), admin);
  ASSERT_EQ(gateway.status, 200u);
  EXPECT_TRUE(gateway.body["keys"].empty()) << gateway.body;
}

// etcd's current revision, read directly.
int64_t CurrentRevision(const HttpEndpoint& etcd) {
  auto r = SendHttpRequest(etcd, "POST", "/v3/kv/range", {},
                           R"({"key":"AA=="})", absl::Seconds(5));
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return 0;
  json answer = json::parse(r->body, nullptr, false);
  int64_t revision = 0;
  EXPECT_TRUE(absl::SimpleAtoi(answer["header"]["revision"].get<std::string>(),
                               &revision))
      << r->body;
  return revision;
}

// A watch that comes back after etcd compacted away the revision it would
// resume from cannot replay what it missed: it drops every cache and
// starts from now, healthy again (not stuck retrying the lost revision).
TEST(EtcdWatchHealthTest, ResumeFromACompactedRevisionDropsAllAndRecovers) {
  const std::string dir =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/compacted");
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  auto etcd = cxsec::testing::EtcdProcess::Start(
      dir,
      {.extra_args = {"--experimental-watch-progress-notify-interval=200ms"}});
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  ASSERT_TRUE((*etcd)->WaitUntilHealthy(absl::Seconds(15)).ok());
  auto endpoint = HttpEndpoint::ParseHttpUrl((*etcd)->client_url());
  ASSERT_TRUE(endpoint.ok());
  auto proxy = cxsec::testing::BlackHoleProxy::Start(endpoint->port);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EtcdKvStoreOptions via_proxy;
  via_proxy.endpoint_url = absl::StrCat("http://127.0.0.1:", (*proxy)->port());
  via_proxy.prefix = "cxsec-test/";
  via_proxy.timeout = absl::Seconds(1);
  via_proxy.watch_deadline = absl::Seconds(2);
  auto a = EtcdKvStore::Connect(via_proxy);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-test/");
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*a)->ChangeFeedHealthy());
  std::atomic<int> drops{0};
  (*a)->SetChangeListener([&drops] { drops.fetch_add(1); });
  ASSERT_TRUE((*b)->Put("k", "before").ok());
  absl::Time start = absl::Now();
  while (drops.load() == 0 && absl::Now() - start < absl::Seconds(5)) {
    usleep(10 * 1000);
  }
  ASSERT_GT(drops.load(), 0);
  // A hears progress notifications up to here; then its connection dies.
  usleep(600 * 1000);
  (*proxy)->SetForwarding(false);
  start = absl::Now();
  while ((*a)->ChangeFeedHealthy() && absl::Now() - start < absl::Seconds(6)) {
    usleep(20 * 1000);
  }
  ASSERT_FALSE((*a)->ChangeFeedHealthy());
  // Meanwhile: changes, then a compaction that removes their history.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*b)->Put("k", absl::StrCat("during", i)).ok());
  }
  auto compacted = SendHttpRequest(
      *endpoint, "POST", "/v3/kv/compaction", {},
      json{{"revision", absl::StrCat(CurrentRevision(*endpoint))}}.dump(),
      absl::Seconds(5));
  ASSERT_TRUE(compacted.ok() && compacted->status == 200);
  drops.store(0);
  (*proxy)->SetForwarding(true);
  start = absl::Now();
  while (!(*a)->ChangeFeedHealthy() &&
         absl::Now() - start < absl::Seconds(20)) {
    usleep(20 * 1000);
  }
  ASSERT_TRUE((*a)->ChangeFeedHealthy()) << "A never recovered";
  EXPECT_GT(drops.load(), 0) << "A trusted its cache across a lost history";
  // It stays in place (the compacted revision is not asked for again).
  usleep(1500 * 1000);
  EXPECT_TRUE((*a)->ChangeFeedHealthy());
  auto value = (*a)->Get("k");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value_or(""), "during4");
  (*a)->SetChangeListener(nullptr);
}

}  // namespace
}  // namespace cxsec::verifier
