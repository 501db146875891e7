// A registry that fails for a few seconds under traffic loses nothing and
// duplicates nothing, end to end: a real HttpsUplink (SQLite spool) posts
// to an in-process verifier whose registry is a real etcd (frozen, then
// stopped and restarted) or a real SQLite file (a device record
// unreadable for a while, then its WAL locks held by another process).
// Every message goes to a device seen for the first time, so each lookup
// during a fault reaches the failing store instead of the cache. Afterwards the
// spool is empty and the telemetry log holds every message exactly once.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/jwt/enrollment_proof.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "targets/verifier/registry/etcd_kv_store.h"
#include "targets/verifier/registry/sqlite_kv_store.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/child_process.h"
#include "tests/fixtures/etcd_process.h"
#include "transports/uplink/https_uplink.h"

namespace cxsec::verifier {
namespace {

using nlohmann::json;

constexpr char kGatewayId[] = "G0123456789abcdef01";
constexpr char kProject[] = "acme";
constexpr int kMessages = 400;

std::string DeviceId(int i) { return absl::StrCat("dev-", i); }
std::string MessageId(int i) { return absl::StrCat("m-", i); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

// Provisioning runs before any fault, but a loaded machine can still
// slow one etcd write past the store's short timeout: try again, and take
// "already exists" as done (the first attempt may have landed).
absl::Status Patiently(const std::function<absl::Status()>& write) {
  absl::Status status;
  for (int attempt = 0; attempt < 5; ++attempt) {
    status = write();
    if (status.ok() || absl::IsAlreadyExists(status)) return absl::OkStatus();
  }
  return status;
}

// Registers the project, the gateway with the signer's key and one device
// per message, straight through the registry (before any traffic).
void Provision(testing::VerifierInstance& v,
               const testing::GatewaySigner& signer) {
  Registry& r = *v.registry;
  ASSERT_TRUE(Patiently([&] {
                return r.CreateProject("test", Project{kProject, ""});
              }).ok());
  ASSERT_TRUE(
      Patiently([&] {
        return r.CreateGateway("test", Gateway{kGatewayId, kProject, true, {}});
      }).ok());
  absl::StatusOr<EnrollmentChallenge> challenge =
      r.IssueEnrollmentChallenge("test", kGatewayId);
  ASSERT_TRUE(challenge.ok()) << challenge.status();
  absl::StatusOr<JwtPublicKey> key =
      JwtPublicKey::FromSpkiPem(signer.PublicKeyPem());
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<VerifiedEnrollmentProof> proof = VerifyEnrollmentProof(
      signer.EnrollmentProof(kGatewayId, challenge->nonce),
      std::make_shared<const JwtPublicKey>(*std::move(key)), kGatewayId,
      SystemClock::Default());
  ASSERT_TRUE(proof.ok()) << proof.status();
  absl::StatusOr<std::string> kid =
      r.AddGatewayKey("test", *proof, std::nullopt);
  ASSERT_TRUE(kid.ok()) << kid.status();
  for (int i = 0; i < kMessages; ++i) {
    absl::Status created = Patiently([&] {
      return r.CreateDevice("test", Device{DeviceId(i), kProject, {}});
    });
    ASSERT_TRUE(created.ok()) << created;
  }
}

// The gateway side: a real uplink with a real spool, posting to `v`.
class GatewayUplink {
 public:
  GatewayUplink(const std::string& dir, uint16_t verifier_port,
                const std::string& ca_file,
                const testing::GatewaySigner& signer)
      : token_(signer.Token(kGatewayId, kProject)) {
    std::string spool_dir = dir + "/spool";
    mkdir(spool_dir.c_str(), 0700);
    HttpsUplinkOptions options;
    options.client.url = absl::StrCat("https://127.0.0.1:", verifier_port);
    options.client.ca_bundle_pem = ReadFile(ca_file);
    // Longer than a registry call can block during the faults below, so
    // the verifier's answer (not a client timeout) decides each message.
    options.client.timeout = absl::Seconds(60);
    options.spool.path = spool_dir + "/spool.db";
    options.batch_max_messages = 5;
    options.idle_wait = absl::Milliseconds(20);
    options.backoff.initial = absl::Milliseconds(50);
    options.backoff.max = absl::Milliseconds(400);
    absl::StatusOr<HttpsUplink> uplink = HttpsUplink::Create(options);
    EXPECT_TRUE(uplink.ok()) << uplink.status();
    if (!uplink.ok()) return;
    uplink_.emplace(std::move(*uplink));
    absl::Status started = uplink_->Start([this] { return token_; });
    EXPECT_TRUE(started.ok()) << started;
  }

  // Enqueues kMessages messages, one every `interval`, on a thread.
  void StartTraffic(absl::Duration interval) {
    traffic_ = std::thread([this, interval] {
      for (int i = 0; i < kMessages; ++i) {
        VerifiedMessage m;
        m.device_id = DeviceId(i);
        m.message_id = MessageId(i);
        m.transport = "dtls";
        m.received_at = absl::Now();
        m.payload = {0xa1, 0x01, static_cast<uint8_t>(i)};
        absl::Status status = uplink_->Enqueue(std::move(m));
        EXPECT_TRUE(status.ok()) << status;
        absl::SleepFor(interval);
      }
    });
  }

  // Waits for the traffic to end and the spool to drain.
  bool Drained(absl::Duration timeout) {
    if (traffic_.joinable()) traffic_.join();
    return WaitUntil(
        [this] {
          UplinkStats s = uplink_->stats();
          return s.enqueued == kMessages && s.spooled_now == 0;
        },
        timeout);
  }

  UplinkStats stats() const { return uplink_->stats(); }
  bool ok() const { return uplink_.has_value(); }

  ~GatewayUplink() {
    if (traffic_.joinable()) traffic_.join();
  }

 private:
  std::string token_;
  std::optional<HttpsUplink> uplink_;
  std::thread traffic_;
};

// Every message is in the telemetry log exactly once, the gateway gave up
// on none, and the verifier did meet the fault (it answered "retry").
void ExpectDeliveredOnce(testing::VerifierInstance& v,
                         const GatewayUplink& gateway) {
  UplinkStats stats = gateway.stats();
  EXPECT_EQ(stats.rejected, 0)
      << "messages deleted from the spool as rejected, first reason: "
      << (stats.rejected_by_reason.empty()
              ? std::string("-")
              : stats.rejected_by_reason.begin()->first);
  std::map<std::string, int> copies;
  std::istringstream log(ReadFile(v.log->path()));
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    json record = json::parse(line, nullptr, false);
    ASSERT_TRUE(record.is_object()) << line;
    ++lines;
    ++copies[absl::StrCat(record.value("deviceId", ""), "/",
                          record.value("messageId", ""))];
  }
  int missing = 0;
  int duplicated = 0;
  for (int i = 0; i < kMessages; ++i) {
    int n = copies[absl::StrCat(DeviceId(i), "/", MessageId(i))];
    missing += n == 0 ? 1 : 0;
    duplicated += n > 1 ? 1 : 0;
  }
  EXPECT_EQ(missing, 0) << "messages lost";
  EXPECT_EQ(duplicated, 0) << "messages stored twice";
  EXPECT_EQ(lines, kMessages);
  std::string metrics = v.service->metrics().Render(*v.registry);
  EXPECT_EQ(metrics.find("cxsec_messages_total{outcome=\"retry\"} 0\n"),
            std::string::npos)
      << "the fault never reached a message: " << metrics;
  EXPECT_NE(metrics.find("cxsec_messages_total{outcome=\"retry\"}"),
            std::string::npos);
}

TEST(RegistryFaultTest, EtcdFrozenThenRestartedUnderTrafficLosesNothing) {
  std::string dir = std::getenv("TEST_TMPDIR");
  auto etcd = cxsec::testing::EtcdProcess::Start(dir);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  ASSERT_TRUE((*etcd)->WaitUntilHealthy(absl::Seconds(15)).ok());
  auto cert = testing::MakeTestCert(dir);
  ASSERT_TRUE(cert.ok()) << cert.status();
  // A short store timeout: a frozen etcd fails each lookup after 2 s.
  auto store = EtcdKvStore::Connect((*etcd)->client_url(), "cxsec-fault/",
                                    absl::Seconds(2));
  ASSERT_TRUE(store.ok()) << store.status();
  auto v = testing::StartVerifier(std::move(*store), dir + "/telemetry.ndjson",
                                  *cert);
  ASSERT_TRUE(v.ok()) << v.status();
  testing::GatewaySigner signer;
  Provision(**v, signer);
  if (HasFatalFailure()) return;
  GatewayUplink gateway(dir, (*v)->port(), cert->cert_file, signer);
  ASSERT_TRUE(gateway.ok());
  gateway.StartTraffic(absl::Milliseconds(20));  // about 8 s of traffic
  absl::SleepFor(absl::Seconds(1));
  // etcd frozen: connections hang, each lookup runs into its timeout.
  ASSERT_TRUE((*etcd)->Freeze().ok());
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE((*etcd)->Thaw().ok());
  absl::SleepFor(absl::Seconds(1));
  // etcd stopped: connections refused; then back with the same data.
  ASSERT_TRUE((*etcd)->Stop().ok());
  absl::SleepFor(absl::Seconds(2));
  ASSERT_TRUE((*etcd)->Restart().ok());
  ASSERT_TRUE(gateway.Drained(absl::Seconds(120)))
      << "spooled: " << gateway.stats().spooled_now
      << ", last error: " << gateway.stats().last_error;
  ExpectDeliveredOnce(**v, gateway);
}

TEST(RegistryFaultTest,
     SqliteLockedAndUnreadableRecordUnderTrafficLosesNothing) {
  std::string dir = std::getenv("TEST_TMPDIR");
  auto cert = testing::MakeTestCert(dir);
  ASSERT_TRUE(cert.ok()) << cert.status();
  std::string db = dir + "/registry.db";
  auto store = SqliteKvStore::Open(db);
  ASSERT_TRUE(store.ok()) << store.status();
  auto v = testing::StartVerifier(std::move(*store), dir + "/telemetry.ndjson",
                                  *cert);
  ASSERT_TRUE(v.ok()) << v.status();
  testing::GatewaySigner signer;
  Provision(**v, signer);
  if (HasFatalFailure()) return;
  GatewayUplink gateway(dir, (*v)->port(), cert->cert_file, signer);
  ASSERT_TRUE(gateway.ok());
  gateway.StartTraffic(absl::Milliseconds(25));  // about 10 s of traffic
  absl::SleepFor(absl::Seconds(1));
  // A stored record that cannot be decoded, through another connection,
  // for a device whose messages are still to come; repaired 2 s later.
  int victim = static_cast<int>(gateway.stats().enqueued) + 20;
  ASSERT_LT(victim, kMessages) << "traffic ended before the fault";
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &other), SQLITE_OK);
  sqlite3_busy_timeout(other, 5000);
  std::string key = absl::StrCat("devices/", DeviceId(victim));
  auto put = [&](const std::string& value) {
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(other, "UPDATE kv SET v = ?1 WHERE k = ?2", -1,
                                 &stmt, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(stmt, 1, value.data(), static_cast<int>(value.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, key.data(), static_cast<int>(key.size()),
                      SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE);
    EXPECT_EQ(sqlite3_changes(other), 1) << key;
    sqlite3_finalize(stmt);
  };
  put("{\"id\": truncated");
  absl::SleepFor(absl::Seconds(2));
  put(ToJson(Device{DeviceId(victim), kProject, {}}).dump());
  sqlite3_close(other);
  absl::SleepFor(absl::Milliseconds(500));
  // Another process holds the database's locks for longer than SQLite
  // retries a read (about 10 s): lookups fail with a locking error.
  auto holder = cxsec::testing::ChildProcess::Start(
      {std::getenv("SQLITE_LOCK_HOLDER"), db, "11"}, {.stdout_to_pipe = true});
  ASSERT_TRUE(holder.ok()) << holder.status();
  char held[16] = {};
  ASSERT_NE(std::fgets(held, sizeof(held), holder->stdout_pipe()), nullptr);
  ASSERT_EQ(std::string(held), "held\n");
  absl::StatusOr<int> exited = holder->Wait(absl::Seconds(30));
  ASSERT_TRUE(exited.ok()) << exited.status();
  ASSERT_TRUE(gateway.Drained(absl::Seconds(120)))
      << "spooled: " << gateway.stats().spooled_now
      << ", last error: " << gateway.stats().last_error;
  ExpectDeliveredOnce(**v, gateway);
}

}  // namespace
}  // namespace cxsec::verifier
