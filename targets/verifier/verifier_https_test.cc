// End-to-end tests of cxsec-verifier over real HTTPS on loopback (a test
// certificate made by the openssl CLI), a real SQLite registry file and the
// real NDJSON log: registry CRUD, IAM, gateway JWT attacks, per-message
// results, de-duplication across restarts, and bad input.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/encoding/base64url.h"
#include "gtest/gtest.h"
#include "targets/verifier/registry/sqlite_kv_store.h"
#include "targets/verifier/testing/verifier_testing.h"

namespace cxsec::verifier {
namespace {

using nlohmann::json;
using testing::GatewaySigner;

constexpr char kGateway[] = "G0123456789abcdef01";
constexpr char kOtherGateway[] = "Gfedcba9876543210ff";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class VerifierHttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_EQ(std::system(("mkdir -p " + dir_).c_str()), 0);
    auto cert = testing::MakeTestCert(dir_);
    ASSERT_TRUE(cert.ok()) << cert.status();
    cert_ = *cert;
    HttpsServerOptions options;
    options.max_body_bytes = 256 * 1024;
    options.request_timeout = absl::Seconds(1);
    auto store = SqliteKvStore::Open(dir_ + "/registry.db");
    ASSERT_TRUE(store.ok()) << store.status();
    auto v = testing::StartVerifier(std::move(*store), dir_ + "/telemetry.ndjson",
                                    cert_, options);
    ASSERT_TRUE(v.ok()) << v.status();
    v_ = std::move(*v);
    ASSERT_FALSE(v_->admin_key.empty());
    admin_ = v_->admin_key;
    Expect("POST", "/v1/projects", admin_, json{{"id", "acme"}}, 201);
    Expect("POST", "/v1/projects", admin_, json{{"id", "other"}}, 201);
    Expect("POST", "/v1/gateways", admin_, json{{"id", kGateway}, {"project", "acme"}}, 201);
    Expect("POST", "/v1/gateways", admin_,
           json{{"id", kOtherGateway}, {"project", "other"}}, 201);
    json key = Enroll(signer_, kGateway, 201);
    kid_ = key["kid"];
    Expect("POST", "/v1/devices", admin_, json{{"id", "dev-1"}, {"project", "acme"}}, 201);
    Expect("POST", "/v1/devices", admin_,
           json{{"id", "dev-bound"}, {"project", "acme"}, {"gateways", {kGateway}}}, 201);
    Expect("POST", "/v1/devices", admin_, json{{"id", "dev-x"}, {"project", "other"}}, 201);
  }

  json Expect(const std::string& method, const std::string& target,
              const std::string& bearer, const json& body, unsigned status) {
    auto r = testing::HttpsRequest(v_->port(), cert_.cert_file, method, target, bearer,
                                   body.is_null() ? "" : body.dump());
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return json();
    EXPECT_EQ(r->status, status) << method << " " << target << ": " << r->body;
    json parsed = json::parse(r->body, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << r->body;
    return parsed;
  }

  // Enrols `signer`'s key with a challenge and a proof made by the key,
  // as every client must; `extra` goes into the key-add body.
  json Enroll(const GatewaySigner& signer, const std::string& gateway,
              unsigned status, const json& extra = json::object(),
              const std::string& bearer = "") {
    auto r = testing::EnrollGatewayKey(v_->port(), cert_.cert_file,
                                       bearer.empty() ? admin_ : bearer,
                                       gateway, signer, extra);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return json();
    EXPECT_EQ(r->status, status) << gateway << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }

  json Batch(std::vector<std::pair<std::string, std::string>> device_and_id) {
    json messages = json::array();
    for (const auto& [device, id] : device_and_id) {
      messages.push_back({{"deviceId", device}, {"messageId", id},
                          {"timestamp", 1700000000000}, {"payload", {{"t", 21.5}}}});
    }
    return json{{"messages", messages}};
  }

  size_t LogLines() {
    std::string text = ReadAll(dir_ + "/telemetry.ndjson");
    return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  }

  std::string dir_;
  testing::TestCert cert_;
  std::unique_ptr<testing::VerifierInstance> v_;
  std::string admin_;
  GatewaySigner signer_;
  std::string kid_;
};

TEST_F(VerifierHttpsTest, HealthzIsPublic) {
  json r = Expect("GET", "/healthz", "", json(), 200);
  EXPECT_EQ(r["status"], "ok");
}

TEST_F(VerifierHttpsTest, TelemetryIsStoredDurablyOnceAndAnsweredPerMessage) {
  std::string token = signer_.Token(kGateway, "acme");
  json r = Expect("POST", "/v1/telemetry", token,
                  Batch({{"dev-1", "m1"}, {"dev-bound", "m2"}, {"dev-x", "m3"},
                         {"nobody", "m4"}}),
                  200);
  ASSERT_EQ(r["results"].size(), 4u);
  EXPECT_EQ(r["results"][0]["status"], "accepted");
  EXPECT_EQ(r["results"][1]["status"], "accepted");
  EXPECT_EQ(r["results"][2]["error"], "device_not_in_project");
  EXPECT_EQ(r["results"][3]["error"], "unknown_device");
  EXPECT_EQ(LogLines(), 2u);
  // A retry of the same ids is answered but not stored again.
  r = Expect("POST", "/v1/telemetry", token, Batch({{"dev-1", "m1"}, {"dev-1", "m5"}}), 200);
  EXPECT_EQ(r["results"][0]["status"], "duplicate");
  EXPECT_EQ(r["results"][1]["status"], "accepted");
  EXPECT_EQ(LogLines(), 3u);
  // ...also after a restart: the index is rebuilt from the log.
  v_->log.reset();
  auto reopened = TelemetryLog::Open(dir_ + "/telemetry.ndjson");
  ASSERT_TRUE(reopened.ok());
  auto outcomes = (*reopened)->AppendDurably({LogRecord{DedupKey("dev-1", "m1"), "{}"}});
  ASSERT_TRUE(outcomes.ok());
  EXPECT_EQ((*outcomes)[0], TelemetryLog::Outcome::kDuplicate);
  // Each stored line is a JSON object naming gateway, device and payload.
  for (absl::string_view line :
       absl::StrSplit(ReadAll(dir_ + "/telemetry.ndjson"), '\n', absl::SkipEmpty())) {
    json record = json::parse(line);
    EXPECT_EQ(record["gatewayId"], kGateway);
    EXPECT_EQ(record["payload"]["t"], 21.5);
  }
}

TEST_F(VerifierHttpsTest, DeviceBoundToAnotherGatewayIsRejected) {
  Expect("POST", std::string("/v1/gateways"), admin_,
         json{{"id", "G111111111111111111"}, {"project", "acme"}}, 201);
  GatewaySigner second;
  Enroll(second, "G111111111111111111", 201);
  json r = Expect("POST", "/v1/telemetry", second.Token("G111111111111111111", "acme"),
                  Batch({{"dev-bound", "b1"}, {"dev-1", "b2"}}), 200);
  EXPECT_EQ(r["results"][0]["error"], "device_not_bound_to_gateway");
  EXPECT_EQ(r["results"][1]["status"], "accepted");
}

TEST_F(VerifierHttpsTest, GatewayStateIsCheckedOnEveryRequest) {
  std::string token = signer_.Token(kGateway, "acme");
  Expect("POST", "/v1/telemetry", token, Batch({{"dev-1", "a"}}), 200);
  // Blocked: refused even though the token is cached as verified.
  Expect("PUT", std::string("/v1/gateways/") + kGateway, admin_, json{{"enabled", false}}, 200);
  json r = Expect("POST", "/v1/telemetry", token, Batch({{"dev-1", "b"}}), 403);
  EXPECT_EQ(r["error"], "gateway_blocked");
  Expect("PUT", std::string("/v1/gateways/") + kGateway, admin_, json{{"enabled", true}}, 200);
  Expect("POST", "/v1/telemetry", token, Batch({{"dev-1", "c"}}), 200);
  // Revoked key: the cached token dies with it.
  Expect("DELETE", std::string("/v1/gateways/") + kGateway + "/keys/" + kid_, admin_,
         json(), 200);
  r = Expect("POST", "/v1/telemetry", token, Batch({{"dev-1", "d"}}), 401);
  EXPECT_EQ(r["error"], "no_usable_key");
  // An expired key is refused.
  Enroll(signer_, kGateway, 201,
         json{{"expiresAt", absl::ToUnixSeconds(absl::Now()) - 10}});
  r = Expect("POST", "/v1/telemetry", signer_.Token(kGateway, "acme"),
             Batch({{"dev-1", "e"}}), 401);
  EXPECT_EQ(r["error"], "no_usable_key");
  // Unknown gateway.
  r = Expect("POST", "/v1/telemetry", signer_.Token("G999999999999999999", "acme"),
             Batch({{"dev-1", "f"}}), 401);
  EXPECT_EQ(r["error"], "unknown_gateway");
  EXPECT_EQ(LogLines(), 2u);
}

TEST_F(VerifierHttpsTest, JwtAttacksAreRefusedOverHttp) {
  int64_t now = absl::ToUnixSeconds(absl::Now());
  json claims = {{"sub", kGateway}, {"aud", "acme"}, {"iat", now}, {"exp", now + 600}};
  json es256 = {{"alg", "ES256"}, {"typ", "JWT"}};
  GatewaySigner stranger;
  std::string valid = signer_.Sign(es256, claims);
  std::vector<std::string> parts = absl::StrSplit(valid, '.');
  auto with = [&](json c, const char* key, json value) {
    if (value.is_null()) c.erase(key); else c[key] = value;
    return c;
  };
  std::vector<std::pair<std::string, std::string>> attacks = {
      {"alg none", Base64UrlEncode(json{{"alg", "none"}}.dump()) + "." + parts[1] + "."},
      {"alg HS256", Base64UrlEncode(json{{"alg", "HS256"}}.dump()) + "." + parts[1] + "." + parts[2]},
      {"signed by another key", stranger.Sign(es256, claims)},
      {"claims swapped after signing",
       parts[0] + "." + Base64UrlEncode(with(claims, "exp", now + 99999).dump()) + "." + parts[2]},
      {"wrong audience", signer_.Sign(es256, with(claims, "aud", "other"))},
      {"expired", signer_.Sign(es256, with(claims, "exp", now - 3600))},
      {"missing exp", signer_.Sign(es256, with(claims, "exp", nullptr))},
      {"nbf in the future", signer_.Sign(es256, with(claims, "nbf", now + 3600))},
      {"iat in the future", signer_.Sign(es256, with(claims, "iat", now + 3600))},
      {"other gateway's subject", signer_.Sign(es256, with(claims, "sub", kOtherGateway))},
      {"crit header", signer_.Sign(json{{"alg", "ES256"}, {"crit", {"x"}}}, claims)},
      {"kid is a path", signer_.Sign(json{{"alg", "ES256"}, {"kid", "../../etc/passwd"}}, claims)},
      {"embedded jwk header", signer_.Sign(json{{"alg", "ES256"}, {"jwk", {{"kty", "EC"}}}}, claims)},
      {"lifetime over 24h", signer_.Sign(es256, with(claims, "exp", now + 3 * 86400))},
      {"missing iat", signer_.Sign(es256, with(claims, "iat", nullptr))},
      {"alg EdDSA with an EC key", signer_.Sign(json{{"alg", "EdDSA"}}, claims)},
      {"two segments", parts[0] + "." + parts[1]},
      {"four segments", valid + ".x"},
      {"bad base64", parts[0] + ".!!!." + parts[2]},
      {"truncated signature", parts[0] + "." + parts[1] + "." + parts[2].substr(0, 20)},
      {"oversized", std::string(5000, 'a')},
      {"empty-ish", "x"},
  };
  for (const auto& [name, token] : attacks) {
    auto r = testing::HttpsRequest(v_->port(), cert_.cert_file, "POST", "/v1/telemetry",
                                   token, Batch({{"dev-1", name}}).dump());
    ASSERT_TRUE(r.ok()) << name << ": " << r.status();
    EXPECT_TRUE(r->status == 401 || r->status == 403) << name << ": " << r->body;
    json error = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(error.is_discarded()) << name;
    EXPECT_FALSE(error.value("error", "").empty()) << name;
  }
  EXPECT_EQ(LogLines(), 0u);
  Expect("POST", "/v1/telemetry", valid, Batch({{"dev-1", "ok"}}), 200);
  EXPECT_EQ(LogLines(), 1u);
}

TEST_F(VerifierHttpsTest, RolesLimitEachRoute) {
  Expect("GET", "/v1/projects", "", json(), 401);
  Expect("GET", "/v1/projects", "cxk_admin_wrong", json(), 401);
  json viewer = Expect("POST", "/v1/principals", admin_,
                       json{{"id", "watcher"}, {"role", "viewer"}}, 201);
  std::string viewer_key = viewer["apiKey"];
  Expect("GET", "/v1/projects", viewer_key, json(), 200);
  Expect("POST", "/v1/projects", viewer_key, json{{"id", "nope"}}, 403);
  json op = Expect("POST", "/v1/principals", admin_, json{{"id", "ops"}, {"role", "operator"}}, 201);
  std::string op_key = op["apiKey"];
  Expect("POST", "/v1/projects", op_key, json{{"id", "ops-made"}}, 201);
  Expect("POST", "/v1/principals", op_key, json{{"id", "x"}, {"role", "admin"}}, 403);
  Expect("POST", "/v1/principals", admin_, json{{"id", "gw"}, {"role", "gateway"}}, 400);
  // Administrators cannot post telemetry; gateway tokens can do nothing else.
  Expect("POST", "/v1/telemetry", admin_, Batch({{"dev-1", "z"}}), 403);
  std::string token = signer_.Token(kGateway, "acme");
  Expect("GET", "/v1/projects", token, json(), 403);
  Expect("POST", "/v1/devices", token, json{{"id", "evil"}, {"project", "acme"}}, 403);
  // The API key is never stored in plaintext.
  std::string db = ReadAll(dir_ + "/registry.db") + ReadAll(dir_ + "/registry.db-wal");
  EXPECT_EQ(db.find(viewer_key.substr(viewer_key.rfind('_') + 1)), std::string::npos);
  // Every registry change is audited with its principal.
  json audit = Expect("GET", "/v1/audit", admin_, json(), 200);
  bool saw_ops = false;
  for (const json& e : audit["entries"]) {
    if (e["principal"] == "ops" && e["action"] == "project.create") saw_ops = true;
    EXPECT_TRUE(e.contains("time"));
  }
  EXPECT_TRUE(saw_ops);
  Expect("GET", "/v1/audit", viewer_key, json(), 403);
}

// Issue 17 item 2: registry.write used to be enough to add one's own key
// to any gateway, mint a JWT and post telemetry as that gateway. Enrolment
// is now its own permission (gateway.enroll: admin, enroller; not
// operator) and needs a proof of possession of the new key over a
// single-use challenge.
TEST_F(VerifierHttpsTest,
       OperatorsCannotEnrolKeysAndEveryEnrolmentNeedsAProof) {
  json op = Expect("POST", "/v1/principals", admin_,
                   json{{"id", "ops"}, {"role", "operator"}}, 201);
  std::string op_key = op["apiKey"];
  GatewaySigner rogue;
  std::string keys = std::string("/v1/gateways/") + kGateway + "/keys";
  std::string challenge_path =
      std::string("/v1/gateways/") + kGateway + "/enrollment-challenge";
  // The operator can neither get a challenge nor add a key, even with a
  // proof over a challenge an administrator obtained.
  json denied = Expect("POST", challenge_path, op_key, json::object(), 403);
  EXPECT_NE(denied.value("message", "").find("gateway.enroll"),
            std::string::npos);
  json challenge = Expect("POST", challenge_path, admin_, json::object(), 201);
  std::string nonce = challenge["nonce"];
  Expect("POST", keys, op_key,
         json{{"publicKeyPem", rogue.PublicKeyPem()},
              {"proof", rogue.EnrollmentProof(kGateway, nonce)}},
         403);
  // The old request shape (no proof) is refused, for administrators too.
  json r = Expect("POST", keys, admin_,
                  json{{"publicKeyPem", rogue.PublicKeyPem()}}, 400);
  EXPECT_EQ(r["error"], "proof_missing");
  r = Expect("POST", keys, admin_,
             json{{"publicKeyPem", rogue.PublicKeyPem()}, {"proof", nullptr}},
             400);
  EXPECT_EQ(r["error"], "proof_missing");
  r = Expect("POST", keys, admin_,
             json{{"publicKeyPem", rogue.PublicKeyPem()}, {"proof", 42}}, 400);
  EXPECT_EQ(r["error"], "proof_invalid");
  // Proofs that do not show possession of this key for this gateway and
  // challenge are refused, each with its reason, and use up nothing.
  int64_t now = absl::ToUnixSeconds(absl::Now());
  auto spoiled = [&](const char* claim, json value) {
    json claims = rogue.EnrollmentClaims(kGateway, nonce);
    claims[claim] = value;
    return rogue.Sign({{"alg", "ES256"}, {"typ", "JWT"}}, claims);
  };
  GatewaySigner owner;  // another key: the admin's own, say
  std::vector<std::pair<std::string, std::string>> invalid = {
      {"signed by another key", owner.EnrollmentProof(kGateway, nonce)},
      {"wrong sub", spoiled("sub", kOtherGateway)},
      {"lifetime over 10 min", spoiled("iat", now - 1200)},
      {"expired", rogue.Sign({{"alg", "ES256"}, {"typ", "JWT"}},
                             [&] {
                               json c = rogue.EnrollmentClaims(kGateway, nonce);
                               c["iat"] = now - 1200;
                               c["exp"] = now - 900;
                               return c;
                             }())},
      {"gateway-token audience", spoiled("aud", "acme")},
      {"jkt of another key", spoiled("jkt", owner.Thumbprint())},
      {"nonce of a path", spoiled("nonce", "../../principals/admin")},
      {"a gateway token", rogue.Token(kGateway, "acme")},
      {"garbage", "\xc3\xbf\xc3\xbe.\xc3\xa9.x"},
      {"oversized", std::string(100000, 'a')},
  };
  for (const auto& [name, proof] : invalid) {
    r = Expect("POST", keys, admin_,
               json{{"publicKeyPem", rogue.PublicKeyPem()}, {"proof", proof}},
               400);
    EXPECT_EQ(r["error"], "proof_invalid") << name << ": " << r;
  }
  // A well-formed nonce nobody issued.
  r = Expect(
      "POST", keys, admin_,
      json{{"publicKeyPem", rogue.PublicKeyPem()},
           {"proof", rogue.EnrollmentProof(kGateway, std::string(43, 'A'))}},
      409);
  EXPECT_EQ(r["error"], "challenge_unknown_or_used");
  // The challenge is still good after all that; it works once.
  json proof_body = {{"publicKeyPem", rogue.PublicKeyPem()},
                     {"proof", rogue.EnrollmentProof(kGateway, nonce)}};
  json added = Expect("POST", keys, admin_, proof_body, 201);
  Expect("DELETE", keys + "/" + added["kid"].get<std::string>(), admin_, json(),
         200);
  r = Expect("POST", keys, admin_, proof_body, 409);
  EXPECT_EQ(r["error"], "challenge_unknown_or_used");
  // An enroller may enrol, and do nothing else that changes the registry.
  json enroller = Expect("POST", "/v1/principals", admin_,
                         json{{"id", "station-1"}, {"role", "enroller"}}, 201);
  std::string enroller_key = enroller["apiKey"];
  GatewaySigner fresh;
  json kid = Enroll(fresh, kGateway, 201, json::object(), enroller_key);
  Expect("DELETE", keys + "/" + kid["kid"].get<std::string>(), enroller_key,
         json(), 403);
  Expect("POST", "/v1/projects", enroller_key, json{{"id", "nope"}}, 403);
  Expect("GET", "/v1/audit", enroller_key, json(), 403);
  // Open challenges are capped per gateway (the admin's one above was used).
  for (size_t i = 0; i < kMaxOutstandingEnrollmentChallenges; ++i) {
    Expect("POST", challenge_path, admin_, json::object(), 201);
  }
  r = Expect("POST", challenge_path, admin_, json::object(), 409);
  EXPECT_EQ(r["error"], "too_many_challenges");
  Expect("POST", "/v1/gateways/G000000000000000000/enrollment-challenge",
         admin_, json::object(), 404);
  Expect("POST", "/v1/gateways/nope/enrollment-challenge", admin_,
         json::object(), 400);
  // Every key change is audited with its principal, and counted.
  json audit = Expect("GET", "/v1/audit?limit=1000", admin_, json(), 200);
  int challenges = 0, adds = 0, removes = 0;
  bool enroller_add = false;
  for (const json& e : audit["entries"]) {
    std::string action = e["action"];
    if (action == "gateway.key.challenge") ++challenges;
    if (action == "gateway.key.add") ++adds;
    if (action == "gateway.key.remove") ++removes;
    if (action == "gateway.key.add" && e["principal"] == "station-1")
      enroller_add = true;
    EXPECT_EQ(e.dump().find(nonce), std::string::npos)
        << "a nonce in the audit log";
  }
  // SetUp enrolled one key (1 challenge, 1 add).
  EXPECT_EQ(challenges,
            1 + 1 + 1 + static_cast<int>(kMaxOutstandingEnrollmentChallenges));
  EXPECT_EQ(adds, 3);
  EXPECT_EQ(removes, 1);
  EXPECT_TRUE(enroller_add);
  auto metrics = testing::HttpsRequest(v_->port(), cert_.cert_file, "GET",
                                       "/metrics", admin_, "");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(
      metrics->body.find("cxsec_gateway_key_changes_total{action=\"add\"} 3"),
      std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find(
                "cxsec_gateway_key_changes_total{action=\"remove\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics->body.find(
                "cxsec_enrollment_challenges_total{outcome=\"issued\"} 11"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("cxsec_enrollment_challenges_total{outcome="
                               "\"too_many_challenges\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics->body.find(
                "cxsec_enrollment_challenges_total{outcome=\"proof_invalid\"}"),
            std::string::npos);
}

TEST_F(VerifierHttpsTest, AuditIsNewestFirstWithCursorPaging) {
  // SetUp wrote principal.create (bootstrap), 2 projects, 2 gateways, a
  // challenge, a key and 3 devices: 10 entries. Pages of 4 walk them back,
  // newest first.
  Expect("PUT", "/v1/projects/acme", admin_, json{{"name", "renamed"}}, 200);
  std::vector<std::string> actions;
  std::string cursor;
  int pages = 0;
  do {
    json page = Expect(
        "GET",
        "/v1/audit?limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor),
        admin_, json(), 200);
    EXPECT_LE(page["entries"].size(), 4u);
    for (const json& e : page["entries"]) actions.push_back(e["action"]);
    cursor = page.value("nextCursor", "");
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(actions.size(), 11u);
  EXPECT_EQ(actions.front(), "project.update");
  EXPECT_EQ(actions.back(), "principal.create");
  // Without a limit: the default page, newest first.
  json page = Expect("GET", "/v1/audit", admin_, json(), 200);
  EXPECT_EQ(page["entries"][0]["action"], "project.update");
  EXPECT_FALSE(page.contains("nextCursor"));
  // Malformed cursors and limits are refused with 400 and a message.
  json first = Expect("GET", "/v1/audit?limit=1", admin_, json(), 200);
  std::string good = first["nextCursor"];
  for (const std::string& query :
       {std::string("limit=0"), std::string("limit=1001"),
        std::string("limit=abc"), std::string("limit="),
        std::string("limit=-1"), std::string("limit=99999999999999999999"),
        std::string("cursor="), std::string("cursor=!!!"),
        std::string("cursor=") + good + "x",
        std::string("cursor=") + Base64UrlEncode(AsBytes("audit/../projects/")),
        std::string("cursor=") + std::string(200, 'A')}) {
    json error = Expect("GET", "/v1/audit?" + query, admin_, json(), 400);
    EXPECT_EQ(error["error"], "invalid_argument") << query;
    EXPECT_FALSE(error.value("message", "").empty()) << query;
  }
}

// Error messages quote hostile input cut to a byte limit; a cut inside a
// multi-byte character made the JSON error body unserialisable, which the
// server answered with a 500 (and no reason).
TEST_F(VerifierHttpsTest, HostileUtf8InRejectedInputNeverGivesA500) {
  int64_t now = absl::ToUnixSeconds(absl::Now());
  std::string payload = Base64UrlEncode(json{
      {"sub", kGateway},
      {"aud", "acme"},
      {"iat", now},
      {"exp", now + 600}}.dump());
  std::string signature(86, 'A');
  std::string e_acute = "\xc3\xa9";
  std::string long_name = std::string(63, 'n') + e_acute;  // byte 64 splits it
  std::vector<std::pair<std::string, std::string>> headers = {
      // "alg '<first 32 bytes>' is not ES256 or EdDSA"
      {"alg_unsupported",
       "{\"alg\":\"" + std::string(31, 'A') + e_acute + "\"}"},
      // "header has member '<first 64 bytes>' twice"
      {"duplicate_member",
       "{\"alg\":\"ES256\",\"" + long_name + "\":1,\"" + long_name + "\":2}"},
  };
  for (const auto& [reason, header] : headers) {
    std::string token =
        Base64UrlEncode(header) + "." + payload + "." + signature;
    auto r = testing::HttpsRequest(v_->port(), cert_.cert_file, "POST",
                                   "/v1/telemetry", token,
                                   Batch({{"dev-1", "u"}}).dump());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 401u) << reason << ": " << r->body;
    json error = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(error.is_discarded()) << r->body;
    EXPECT_EQ(error["error"], reason);
  }
  // A raw non-UTF-8 byte in an id in the path.
  auto raw = testing::HttpsRaw(v_->port(), cert_.cert_file,
                               "GET /v1/projects/ab\xff HTTP/1.1\r\nHost: x\r\n"
                               "Authorization: Bearer " +
                                   admin_ + "\r\nConnection: close\r\n\r\n",
                               5);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->find("500"), std::string::npos) << *raw;
  EXPECT_NE(raw->find("HTTP/1.1 4"), std::string::npos) << *raw;
  Expect("GET", "/healthz", "", json(), 200);
}

// Administrators and operators manage gateways; they never post telemetry
// as one, and are told why.
TEST_F(VerifierHttpsTest, TelemetryNeedsAGatewayJwt) {
  json op = Expect("POST", "/v1/principals", admin_,
                   json{{"id", "ops"}, {"role", "operator"}}, 201);
  for (const std::string& key : {admin_, op["apiKey"].get<std::string>()}) {
    json r = Expect("POST", "/v1/telemetry", key, Batch({{"dev-1", "k"}}), 403);
    EXPECT_EQ(r["error"], "gateway_token_required") << r;
    EXPECT_NE(r.value("message", "").find("gateway JWT"), std::string::npos)
        << r;
  }
  EXPECT_EQ(LogLines(), 0u);
}

TEST_F(VerifierHttpsTest, RegistryUpdatesValidateTheirInput) {
  // Ids in paths and bodies follow the documented grammar.
  Expect("PUT", "/v1/projects/Not_A_Project", admin_, json{{"name", "x"}}, 400);
  Expect("DELETE", "/v1/projects/Not_A_Project", admin_, json(), 400);
  Expect("PUT", "/v1/gateways/G12", admin_, json{{"enabled", false}}, 400);
  Expect("DELETE", "/v1/gateways/G12", admin_, json(), 400);
  Expect("DELETE", "/v1/devices/bad%20id", admin_, json(), 400);
  Expect("POST", "/v1/projects", admin_,
         json{{"id", "big"}, {"name", std::string(257, 'n')}}, 400);
  // A device update names an existing project and well-formed gateways, once
  // each.
  Expect("PUT", "/v1/devices/dev-1", admin_, json{{"project", "missing"}}, 404);
  Expect("PUT", "/v1/devices/dev-1", admin_, json{{"project", "Bad Project"}},
         400);
  json r =
      Expect("PUT", "/v1/devices/dev-1", admin_,
             json{{"project", "acme"}, {"gateways", {"not-a-gateway"}}}, 400);
  EXPECT_NE(r.value("message", "").find("gateways[0]"), std::string::npos) << r;
  Expect("POST", "/v1/devices", admin_,
         json{{"id", "dev-twice"},
              {"project", "acme"},
              {"gateways", {kGateway, kGateway}}},
         400);
  json d = Expect("GET", "/v1/devices/dev-1", admin_, json(), 200);
  EXPECT_EQ(d["project"], "acme");
  // A gateway with a device bound to it is not deleted (the device would
  // silently become one that accepts any gateway of the project).
  r = Expect("DELETE", std::string("/v1/gateways/") + kGateway, admin_, json(),
             409);
  EXPECT_NE(r.value("message", "").find("dev-bound"), std::string::npos) << r;
  Expect("GET", std::string("/v1/gateways/") + kGateway, admin_, json(), 200);
  Expect("PUT", "/v1/devices/dev-bound", admin_, json{{"project", "acme"}},
         200);
  Expect("DELETE", std::string("/v1/gateways/") + kGateway, admin_, json(),
         200);
}

TEST_F(VerifierHttpsTest, RegistryCrudAndLimits) {
  Expect("POST", "/v1/gateways", admin_, json{{"id", "G12"}, {"project", "acme"}}, 400);
  Expect("POST", "/v1/gateways", admin_, json{{"id", kGateway}, {"project", "acme"}}, 409);
  Expect("POST", "/v1/gateways", admin_,
         json{{"id", "G222222222222222222"}, {"project", "missing"}}, 404);
  std::string keys = std::string("/v1/gateways/") + kGateway + "/keys";
  GatewaySigner k2, k3, k4;
  Enroll(k2, kGateway, 201);
  Enroll(k3, kGateway, 201);
  Enroll(k4, kGateway, 409);
  Expect("POST", keys, admin_,
         json{{"publicKeyPem", "not a key"}, {"proof", "a.b.c"}}, 400);
  json g = Expect("GET", std::string("/v1/gateways/") + kGateway, admin_, json(), 200);
  EXPECT_EQ(g["keys"].size(), 3u);
  Expect("PUT", "/v1/devices/dev-1", admin_,
         json{{"project", "acme"}, {"gateways", {kGateway}}}, 200);
  json d = Expect("GET", "/v1/devices/dev-1", admin_, json(), 200);
  EXPECT_EQ(d["gateways"][0], kGateway);
  Expect("DELETE", "/v1/projects/acme", admin_, json(), 409);
  Expect("DELETE", "/v1/devices/dev-1", admin_, json(), 200);
  Expect("GET", "/v1/devices/dev-1", admin_, json(), 404);
  json list = Expect("GET", "/v1/gateways?project=acme", admin_, json(), 200);
  EXPECT_EQ(list["gateways"].size(), 1u);
}

TEST_F(VerifierHttpsTest, BadInputGetsClearErrorsAndWritesNothing) {
  std::string token = signer_.Token(kGateway, "acme");
  auto post = [&](const std::string& body, const std::string& type) {
    auto r = testing::HttpsRequest(v_->port(), cert_.cert_file, "POST", "/v1/telemetry",
                                   token, body, type);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : testing::ClientResponse{};
  };
  EXPECT_EQ(post("{\"messages\": [", "application/json").status, 400u);
  EXPECT_EQ(post("[]", "application/json").status, 400u);
  EXPECT_EQ(post(Batch({{"dev-1", "q"}}).dump(), "text/plain").status, 415u);
  EXPECT_EQ(post(std::string(100, '[') + std::string(100, ']'), "application/json").status, 400u);
  json no_ts = {{"messages", {{{"deviceId", "dev-1"}, {"messageId", "x"}, {"payload", 1}}}}};
  testing::ClientResponse r = post(no_ts.dump(), "application/json");
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("messages[0].timestamp"), std::string::npos) << r.body;
  json many = json{{"messages", json::array()}};
  for (int i = 0; i < 501; ++i) many["messages"].push_back(Batch({{"dev-1", "n"}})["messages"][0]);
  EXPECT_EQ(post(many.dump(), "application/json").status, 400u);
  // Oversized: refused from the Content-Length alone, before the body.
  auto big = testing::HttpsRaw(
      v_->port(), cert_.cert_file,
      "POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 307200\r\n\r\n{",
      5);
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_NE(big->find("413"), std::string::npos) << *big;
  EXPECT_NE(big->find("body_too_large"), std::string::npos) << *big;
  EXPECT_EQ(LogLines(), 0u);
  // Malformed HTTP gets a 400 JSON error, not a crash.
  auto raw = testing::HttpsRaw(v_->port(), cert_.cert_file, "GARBAGE\r\n\r\n", 5);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_NE(raw->find("400"), std::string::npos) << *raw;
  // A slow client (headers never finished) is disconnected by the server.
  auto slow = testing::HttpsRaw(v_->port(), cert_.cert_file,
                                "POST /v1/telemetry HTTP/1.1\r\nHost: x\r\n", 20);
  ASSERT_TRUE(slow.ok()) << slow.status();
  // Unknown routes and methods.
  Expect("GET", "/v1/nothing", admin_, json(), 404);
  Expect("PATCH", "/v1/projects", admin_, json(), 405);
  // The server is still healthy.
  Expect("GET", "/healthz", "", json(), 200);
}

TEST_F(VerifierHttpsTest, MetricsReportRequestsRejectionsLatencyAndCache) {
  std::string token = signer_.Token(kGateway, "acme");
  Expect("POST", "/v1/telemetry", token, Batch({{"dev-1", "1"}}), 200);
  Expect("POST", "/v1/telemetry", token, Batch({{"dev-x", "2"}}), 200);
  Expect("POST", "/v1/telemetry", "a.b.c", Batch({{"dev-1", "3"}}), 401);
  auto r = testing::HttpsRequest(v_->port(), cert_.cert_file, "GET", "/metrics", admin_, "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200u);
  for (const char* needle :
       {"cxsec_http_requests_total{code=\"200\"}", "cxsec_rejections_total{reason=\"bad_base64url\"} 1",
        "cxsec_rejections_total{reason=\"device_not_in_project\"} 1",
        "cxsec_verify_seconds_count 3", "cxsec_registry_cache_hit_ratio",
        "cxsec_messages_total{outcome=\"accepted\"} 1"}) {
    EXPECT_NE(r->body.find(needle), std::string::npos) << needle << "\n" << r->body;
  }
}

TEST_F(VerifierHttpsTest, ShutdownDrainsAndRefusesNewConnections) {
  Expect("GET", "/healthz", "", json(), 200);
  uint16_t port = v_->port();
  v_->server->Shutdown(absl::Seconds(5));
  EXPECT_EQ(v_->server->active_connections(), 0u);
  auto r = testing::HttpsRequest(port, cert_.cert_file, "GET", "/healthz", "", "");
  EXPECT_FALSE(r.ok());
}

// The log's flusher answers telemetry through a callback into the service;
// a service destroyed first (main() and this fixture destroy it before the
// log) must wait for those answers instead of leaving the flusher a
// dangling pointer.
TEST_F(VerifierHttpsTest, ServiceWaitsForTelemetryAnswersItStillOwes) {
  namespace http = boost::beast::http;
  v_->server.reset();  // the request below goes straight to the service
  std::promise<void> release_flusher;
  std::shared_future<void> released = release_flusher.get_future().share();
  // Holds the flusher thread, so the service's append waits behind it.
  v_->log->AppendAsync({LogRecord{DedupKey("dev-1", "blocker"), "{}"}},
                       [released](absl::StatusOr<std::vector<TelemetryLog::Outcome>>) {
                         released.wait();
                       });
  HttpRequest request{http::verb::post, "/v1/telemetry", 11};
  request.set(http::field::authorization, "Bearer " + signer_.Token(kGateway, "acme"));
  request.set(http::field::content_type, "application/json");
  request.body() = Batch({{"dev-1", "in-flight"}}).dump();
  request.prepare_payload();
  std::promise<unsigned> answered;
  std::future<unsigned> answer = answered.get_future();
  v_->service->Handle(request, [&answered](HttpResponse r) {
    answered.set_value(r.result_int());
  });
  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    v_->service.reset();
    destroyed = true;
  });
  // Only ever a false pass on a slow machine, never a false failure.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(destroyed.load()) << "service destroyed with an answer still owed";
  release_flusher.set_value();
  destroyer.join();
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(answer.get(), 200u);
}

TEST(HttpsServerTlsTest, ClientCertificatesAreRequiredWhenConfigured) {
  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/mtls";
  ASSERT_EQ(std::system(("mkdir -p " + dir + "/client").c_str()), 0);
  auto server_cert = testing::MakeTestCert(dir);
  ASSERT_TRUE(server_cert.ok());
  auto client_cert = testing::MakeTestCert(dir + "/client");  // self-signed client CA
  ASSERT_TRUE(client_cert.ok());
  HttpsServerOptions options;
  options.listen_port = 0;
  options.cert_chain_file = server_cert->cert_file;
  options.private_key_file = server_cert->key_file;
  options.client_ca_file = client_cert->cert_file;
  auto server = HttpsServer::Create(options, [](const HttpRequest& r, HttpResponder respond) {
    respond(JsonResponse(r, 200, "{\"ok\":true}"));
  });
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  uint16_t port = (*server)->port();
  auto with = testing::HttpsRequestWithClientCert(port, server_cert->cert_file,
                                                  client_cert->cert_file,
                                                  client_cert->key_file, "/");
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->status, 200u);
  auto without = testing::HttpsRequestWithClientCert(port, server_cert->cert_file, "", "", "/");
  EXPECT_FALSE(without.ok());
  // A client certificate from another CA is refused too.
  auto stranger = testing::HttpsRequestWithClientCert(port, server_cert->cert_file,
                                                      server_cert->cert_file,
                                                      server_cert->key_file, "/");
  EXPECT_FALSE(stranger.ok());
}

// A certificate in TEST_TMPDIR/`name` and server options using it on a
// free loopback port.
struct TestServerSetup {
  testing::TestCert cert;
  HttpsServerOptions options;
};
TestServerSetup NewTestServerSetup(const std::string& name) {
  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  EXPECT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  TestServerSetup setup;
  auto cert = testing::MakeTestCert(dir);
  EXPECT_TRUE(cert.ok()) << cert.status();
  if (cert.ok()) setup.cert = *cert;
  setup.options.listen_port = 0;
  setup.options.cert_chain_file = setup.cert.cert_file;
  setup.options.private_key_file = setup.cert.key_file;
  return setup;
}

// A handler may answer from its own thread and drop the responder whenever
// it likes: the telemetry log's flusher calls it, then destroys it after
// the client already has its answer and may have shut the server down. CI
// caught that ordering as a heap-use-after-free in Asio's strand service
// (the responder held the last reference to a session's strand, outliving
// the io_context). Here the responder is kept until after the server is
// destroyed, so the old ordering fails under ASan every time.
// Issue 17, item 6: a gateway that sends another gateway's device and
// message ids first must not turn the real reading into a "duplicate":
// the same ids with another payload are a "conflict", counted, audited and
// never stored over the first. The same payload again stays a duplicate,
// also after a restart (the payload hash is in the log).
TEST_F(VerifierHttpsTest, SameIdsWithAnotherPayloadAreAConflictNotADuplicate) {
  constexpr char kIntruder[] = "G00000000000000000a";
  GatewaySigner intruder;
  Expect("POST", "/v1/gateways", admin_,
         json{{"id", kIntruder}, {"project", "acme"}}, 201);
  Enroll(intruder, kIntruder, 201);
  auto batch = [](const json& payload) {
    return json{{"messages",
                 {{{"deviceId", "dev-1"},
                   {"messageId", "m-42"},
                   {"timestamp", 1700000000000},
                   {"payload", payload}}}}};
  };
  json r = Expect("POST", "/v1/telemetry", intruder.Token(kIntruder, "acme"),
                  batch(json{{"t", -40}}), 200);
  EXPECT_EQ(r["results"][0]["status"], "accepted");
  std::string token = signer_.Token(kGateway, "acme");
  r = Expect("POST", "/v1/telemetry", token, batch(json{{"t", 21.5}}), 200);
  EXPECT_EQ(r["results"][0]["status"], "conflict");
  EXPECT_EQ(r["results"][0]["error"], "payload_differs");
  r = Expect("POST", "/v1/telemetry", intruder.Token(kIntruder, "acme"),
             batch(json{{"t", -40}}), 200);
  EXPECT_EQ(r["results"][0]["status"], "duplicate");
  EXPECT_EQ(LogLines(), 1u);
  std::string metrics = v_->service->metrics().Render(*v_->registry);
  EXPECT_NE(metrics.find("cxsec_messages_total{outcome=\"conflict\"} 1\n"),
            std::string::npos)
      << metrics;
  json audit = Expect("GET", "/v1/audit", admin_, json(), 200);
  bool audited = false;
  for (const json& entry : audit["entries"]) {
    audited |= entry["action"] == "telemetry.conflict" &&
               entry["principal"] == kGateway &&
               entry["target"] == "dev-1/m-42";
  }
  EXPECT_TRUE(audited) << audit.dump();
  // The stored line carries the hash; a restart keeps telling them apart.
  json line = json::parse(ReadAll(dir_ + "/telemetry.ndjson"));
  EXPECT_EQ(line["payloadSha256"].get<std::string>().size(), 64u);
  v_->log.reset();
  auto reopened = TelemetryLog::Open(dir_ + "/telemetry.ndjson");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto outcomes = (*reopened)->AppendDurably(
      {LogRecord{DedupKey("dev-1", "m-42"), "{}", Sha256Digest{}}});
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_EQ((*outcomes)[0], TelemetryLog::Outcome::kConflict);
}

// Logs written before the payload hash existed: their records have none,
// and the same ids later count as a duplicate whatever the payload (the
// documented migration rule); records with a hash are told apart.
TEST(TelemetryLogTest, RecordsWithoutAHashStayDuplicates) {
  std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/old-format.ndjson";
  {
    std::ofstream old(path);
    old << "{\"deviceId\":\"dev-1\",\"messageId\":\"old\",\"payload\":{\"t\":1}"
           "}\n";
  }
  auto log = TelemetryLog::Open(path);
  ASSERT_TRUE(log.ok()) << log.status();
  Sha256Digest a{};
  Sha256Digest b{};
  b[0] = 1;
  auto outcomes =
      (*log)->AppendDurably({LogRecord{DedupKey("dev-1", "old"), "{}", a},
                             LogRecord{DedupKey("dev-1", "new"), "{}", a},
                             LogRecord{DedupKey("dev-1", "new"), "{}", a},
                             LogRecord{DedupKey("dev-1", "new"), "{}", b}});
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_EQ((*outcomes)[0], TelemetryLog::Outcome::kDuplicate);
  EXPECT_EQ((*outcomes)[1], TelemetryLog::Outcome::kStored);
  EXPECT_EQ((*outcomes)[2], TelemetryLog::Outcome::kDuplicate);
  EXPECT_EQ((*outcomes)[3], TelemetryLog::Outcome::kConflict);
}

TEST(HttpsServerLifetimeTest, ResponderMayOutliveTheServer) {
  TestServerSetup setup = NewTestServerSetup("lifetime");
  std::mutex mu;
  std::vector<HttpResponder> kept;
  std::vector<std::thread> answerers;
  auto server = HttpsServer::Create(setup.options, [&](const HttpRequest& r, HttpResponder respond) {
    HttpResponse response = JsonResponse(r, 200, "{\"ok\":true}");
    std::lock_guard<std::mutex> lock(mu);
    answerers.emplace_back([&mu, &kept, respond = std::move(respond),
                            response = std::move(response)]() mutable {
      respond(std::move(response));
      std::lock_guard<std::mutex> lock(mu);
      kept.push_back(std::move(respond));
    });
  });
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  for (int i = 0; i < 3; ++i) {
    auto r = testing::HttpsRequest((*server)->port(), setup.cert.cert_file, "GET", "/", "", "");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200u);
  }
  server->reset();
  for (std::thread& t : answerers) t.join();
  ASSERT_EQ(kept.size(), 3u);
  kept.clear();  // the last references to the sessions' executors go here
}

// Answering after the server has shut down is harmless: nobody reads the
// answer, and nothing touches freed memory.
TEST(HttpsServerLifetimeTest, LateAnswerAfterShutdownIsDropped) {
  TestServerSetup setup = NewTestServerSetup("late");
  std::mutex mu;
  std::condition_variable arrived;
  std::optional<HttpResponder> parked;
  std::optional<HttpResponse> parked_response;
  auto server = HttpsServer::Create(setup.options, [&](const HttpRequest& r, HttpResponder respond) {
    std::lock_guard<std::mutex> lock(mu);
    parked = std::move(respond);
    parked_response = JsonResponse(r, 200, "{}");
    arrived.notify_all();
  });
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  uint16_t port = (*server)->port();
  std::thread client([&] {
    auto r = testing::HttpsRequest(port, setup.cert.cert_file, "GET", "/", "", "");
    EXPECT_FALSE(r.ok());  // the server went away before answering
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(arrived.wait_for(lock, std::chrono::seconds(10),
                                 [&] { return parked.has_value(); }));
  }
  (*server)->Shutdown(absl::Milliseconds(100));
  server->reset();
  client.join();
  (*parked)(std::move(*parked_response));
  parked.reset();
}

TEST(HttpsServerTlsTest, KeyFileReadableByOthersIsRefused) {
  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/loosekey";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  auto cert = testing::MakeTestCert(dir);
  ASSERT_TRUE(cert.ok());
  chmod(cert->key_file.c_str(), 0644);
  HttpsServerOptions options;
  options.listen_port = 0;
  options.cert_chain_file = cert->cert_file;
  options.private_key_file = cert->key_file;
  auto server = HttpsServer::Create(options, [](const HttpRequest& r, HttpResponder respond) {
    respond(JsonResponse(r, 200, "{}"));
  });
  ASSERT_FALSE(server.ok());
  EXPECT_NE(std::string(server.status().message()).find("key.pem"), std::string::npos)
      << server.status();
}

}  // namespace
}  // namespace cxsec::verifier
