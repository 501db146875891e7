// The scale-out deployment of docs/SCALE_OUT.md on this machine, with real
// engines (issue 19 item 4): etcd as the registry, a Redis primary (AOF,
// appendfsync always) with one replica, three cxsec-verifier processes
// (registry = etcd, telemetry_sink = redis) behind haproxy, two gateways
// posting /v1/telemetry through haproxy, and `cxsec stream tail` consumers
// of one group reading the stream.
//
// In runs 1 and 2 the gateways are HTTPS clients with enrolled gateway
// keys that behave like cxsec-gateway's uplink (a message stays in the
// spool until the verifier answered it "accepted" or "duplicate"; "retry",
// a 503 or a broken connection keep it there, and it is sent again), so
// the test can count exactly what was acknowledged. Run 3 uses the real
// cxsec-gateway and cxsec-node binaries over DTLS.
//
// Run 1: kill -9 one verifier instance under traffic, then kill -9 and
// restart the Redis primary. Afterwards every acknowledged message is in
// the stream exactly once (by deviceId + messageId), nothing is in it
// twice, and the consumer group (which ran throughout) delivered each.
// Run 2: redis_wait_replicas = 1 and the replica stopped: messages are
// answered "retry", none is acknowledged; once the replica is back the
// gateways deliver everything, still exactly once.
//
// Run 3: two real cxsec-gateway processes with four cxsec-node processes
// each (CoAP over DTLS-PSK), the same two kills; every node's every
// reading in the stream exactly once.
//
// Each run prints `lost=N duplicates=N` with its real numbers.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/child_process.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/fixtures/redis_process.h"

namespace cxsec::verifier {
namespace {

using nlohmann::json;
using cxsec::testing::ChildProcess;
using cxsec::testing::EtcdProcess;
using cxsec::testing::RedisProcess;

constexpr char kVerifier[] = "targets/verifier/cxsec-verifier";
constexpr char kCli[] = "tools/cxsec";
constexpr char kGatewayBinary[] = "targets/gateway/cxsec-gateway";
constexpr char kNodeBinary[] = "targets/node/cxsec-node";
constexpr char kPriorityFile[] = "transports/dtls/gnutls_psk_ccm8.conf";
constexpr int kInstances = 3;
constexpr int kDevices = 8;
const char* const kGateways[] = {"G0123456789abcdef01", "G0123456789abcdef02"};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Haproxy() {
  for (const char* p : {"/usr/sbin/haproxy", "/usr/bin/haproxy"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

// A message a gateway must deliver.
struct Message {
  std::string device;
  std::string id;
};

// One gateway's uplink: a spool of messages, kept until acknowledged.
class Gateway {
 public:
  Gateway(std::string id, std::string token) : id_(std::move(id)), token_(std::move(token)) {}

  void Enqueue(Message m) {
    std::lock_guard<std::mutex> lock(mu_);
    spool_.push_back(std::move(m));
  }
  size_t spooled() {
    std::lock_guard<std::mutex> lock(mu_);
    return spool_.size();
  }

  // Sends up to `batch` spooled messages once; returns false if the request
  // failed as a whole (connection, HTTP status other than 200).
  bool SendOnce(uint16_t port, const std::string& ca, size_t batch) {
    std::vector<Message> sending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < batch && !spool_.empty(); ++i) {
        sending.push_back(spool_.front());
        spool_.pop_front();
      }
    }
    if (sending.empty()) return true;
    json messages = json::array();
    for (const Message& m : sending) {
      messages.push_back({{"deviceId", m.device},
                          {"messageId", m.id},
                          {"timestamp", 1},
                          {"payload", {{"m", m.id}}}});
    }
    auto r = testing::HttpsRequest(port, ca, "POST", "/v1/telemetry", token_,
                                   json{{"messages", messages}}.dump());
    std::vector<Message> keep;
    bool whole = r.ok() && r->status == 200;
    std::map<std::string, std::string> verdicts;
    if (whole) {
      json answer = json::parse(r->body, nullptr, false);
      if (answer.is_object() && answer.contains("results")) {
        for (const json& result : answer["results"]) {
          verdicts[result.value("messageId", "")] = result.value("status", "");
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (!r.ok()) {
      ++connection_failures_;
    } else if (r->status != 200) {
      ++http_failures_[r->status];
    }
    for (const Message& m : sending) {
      const std::string& v = verdicts[m.id];
      if (v == "accepted" || v == "duplicate") {
        acked_.insert(m.device + "/" + m.id);
        ++verdict_counts_[v];
      } else {
        if (whole) ++verdict_counts_[v.empty() ? "(none)" : v];
        spool_.push_back(m);  // kept: sent again later
      }
    }
    return whole;
  }

  std::set<std::string> acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  std::string Summary() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string s = absl::StrCat(id_, ": acked=", acked_.size(),
                                 " spooled=", spool_.size(),
                                 " connection_failures=", connection_failures_);
    for (const auto& [status, n] : http_failures_) absl::StrAppend(&s, " http", status, "=", n);
    for (const auto& [v, n] : verdict_counts_) absl::StrAppend(&s, " ", v, "=", n);
    return s;
  }
  int verdicts(const std::string& v) {
    std::lock_guard<std::mutex> lock(mu_);
    return verdict_counts_[v];
  }

 private:
  std::string id_, token_;
  std::mutex mu_;
  std::deque<Message> spool_;
  std::set<std::string> acked_;
  int connection_failures_ = 0;
  std::map<unsigned, int> http_failures_;
  std::map<std::string, int> verdict_counts_;
};

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", info->name());
    ASSERT_EQ(std::system(absl::StrCat("mkdir -p '", dir_, "'").c_str()), 0);
    haproxy_ = Haproxy();
    ASSERT_FALSE(haproxy_.empty())
        << "haproxy is not installed (tools/setup/install-deps.sh installs it)";
    auto cert = testing::MakeTestCert(dir_);
    ASSERT_TRUE(cert.ok()) << cert.status();
    cert_ = *cert;

    auto etcd = EtcdProcess::Start(
        dir_, {.extra_args = {"--experimental-watch-progress-notify-interval=5s"}});
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = std::move(*etcd);
    ASSERT_TRUE(etcd_->WaitUntilHealthy(absl::Seconds(15)).ok());

    auto primary = RedisProcess::Start(dir_);
    ASSERT_TRUE(primary.ok()) << primary.status();
    primary_ = std::move(*primary);
    ASSERT_TRUE(primary_->WaitUntilReady(absl::Seconds(15)).ok());
    auto replica = RedisProcess::Start(
        dir_, {.extra_args = {"--replicaof", "127.0.0.1",
                              absl::StrCat(primary_->port())}});
    ASSERT_TRUE(replica.ok()) << replica.status();
    replica_ = std::move(*replica);
    ASSERT_TRUE(replica_->WaitUntilReady(absl::Seconds(15)).ok());
    ASSERT_TRUE(WaitReplicaOnline(absl::Seconds(15)));
  }

  bool WaitReplicaOnline(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      auto info = primary_->Command({"INFO", "replication"});
      if (info.ok() && info->find("state=online") != std::string::npos) return true;
      usleep(50 * 1000);
    }
    return false;
  }

  // Starts the three instances (the first bootstraps the admin key into
  // etcd, the others share it) and haproxy in front of them.
  void StartCluster(const std::string& extra_config) {
    for (int i = 0; i < kInstances; ++i) {
      ports_[i] = testing::FreeLoopbackPort();
      std::string name = absl::StrCat("v", i);
      std::string config = absl::StrCat(dir_, "/", name, ".conf");
      std::ofstream(config) << "data_dir = " << dir_ << "/" << name
                            << "\nlisten = 127.0.0.1:" << ports_[i]
                            << "\ntls_cert = " << cert_.cert_file
                            << "\ntls_key = " << cert_.key_file
                            << "\nregistry = etcd"
                            << "\netcd_endpoints = " << etcd_->client_url()
                            << "\netcd_prefix = scale/"
                            << "\ntelemetry_sink = redis"
                            << "\nredis_address = 127.0.0.1:" << primary_->port()
                            << "\nredis_timeout_ms = 500"
                            << "\ndedup_window_seconds = 3600\n"
                            << extra_config;
      chmod(config.c_str(), 0600);
      ASSERT_NO_FATAL_FAILURE(StartInstance(i, config));
    }
    lb_port_ = testing::FreeLoopbackPort();
    std::string cfg = dir_ + "/haproxy.cfg";
    std::ofstream out(cfg);
    // TLS passes through (mode tcp): clients verify the verifiers' own
    // certificate. Health checks are GET /healthz over TLS every 200 ms;
    // a connection refused by a dead instance is redispatched.
    out << "global\n  maxconn 512\n"
        << "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 10s\n"
        << "  timeout server 10s\n  retries 3\n  option redispatch\n"
        << "frontend verifiers_in\n  bind 127.0.0.1:" << lb_port_ << "\n"
        << "  default_backend verifiers\n"
        << "backend verifiers\n  balance roundrobin\n"
        << "  option httpchk GET /healthz\n  http-check expect status 200\n";
    for (int i = 0; i < kInstances; ++i) {
      out << "  server v" << i << " 127.0.0.1:" << ports_[i]
          << " check check-ssl verify none inter 200 fall 1 rise 2\n";
    }
    out.close();
    auto lb = ChildProcess::Start({haproxy_, "-db", "-f", cfg},
                                  {.stdout_path = dir_ + "/haproxy.out",
                                   .stderr_path = dir_ + "/haproxy.err"});
    ASSERT_TRUE(lb.ok()) << lb.status();
    haproxy_process_.emplace(std::move(*lb));
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
      auto r = testing::HttpsRequest(lb_port_, cert_.cert_file, "GET", "/healthz", "", "");
      up = r.ok() && r->status == 200;
      if (!up) usleep(100 * 1000);
    }
    ASSERT_TRUE(up) << ReadAll(dir_ + "/haproxy.err");
  }

  void StartInstance(int i, const std::string& config) {
    std::string err = absl::StrCat(dir_, "/v", i, ".stderr");
    auto child = ChildProcess::Start({kVerifier, "--config=" + config},
                                     {.stdout_path = absl::StrCat(dir_, "/v", i, ".stdout"),
                                      .stderr_path = err});
    ASSERT_TRUE(child.ok()) << child.status();
    verifiers_[i].emplace(std::move(*child));
    bool listening = false;
    for (int n = 0; n < 200 && !listening; ++n) {
      listening = ReadAll(err).find("listening") != std::string::npos;
      if (!listening) usleep(100 * 1000);
    }
    ASSERT_TRUE(listening) << ReadAll(err);
  }

  // Through haproxy: a project, two gateways with enrolled keys, devices.
  void Provision() {
    std::string admin = ReadAll(dir_ + "/v0/bootstrap-admin.key");
    while (!admin.empty() && admin.back() == '\n') admin.pop_back();
    ASSERT_FALSE(admin.empty());
    auto call = [&](const std::string& target, const json& body) {
      auto r = testing::HttpsRequest(lb_port_, cert_.cert_file, "POST", target,
                                     admin, body.dump());
      EXPECT_TRUE(r.ok()) << r.status();
      return r.ok() ? r->status : 0u;
    };
    ASSERT_EQ(call("/v1/projects", json{{"id", "acme"}}), 201u);
    for (const char* g : kGateways) {
      ASSERT_EQ(call("/v1/gateways", json{{"id", g}, {"project", "acme"}}), 201u);
      signers_.emplace_back(std::make_unique<testing::GatewaySigner>());
      auto enrolled = testing::EnrollGatewayKey(lb_port_, cert_.cert_file, admin,
                                                g, *signers_.back());
      ASSERT_TRUE(enrolled.ok()) << enrolled.status();
      ASSERT_EQ(enrolled->status, 201u) << enrolled->body;
      gateways_.emplace_back(std::make_unique<Gateway>(
          g, signers_.back()->Token(g, "acme")));
    }
    for (int d = 0; d < kDevices; ++d) {
      ASSERT_EQ(call("/v1/devices", json{{"id", absl::StrCat("dev-", d)},
                                         {"project", "acme"}}),
                201u);
    }
  }

  // Starts the gateways' senders: each enqueues `per_gateway` new messages
  // at a steady pace and keeps sending its spool until stopped.
  void StartTraffic(int per_gateway) {
    for (size_t g = 0; g < gateways_.size(); ++g) {
      senders_.emplace_back([this, g, per_gateway] {
        Gateway& gw = *gateways_[g];
        int made = 0;
        while (!stop_.load()) {
          for (int k = 0; k < 4 && made < per_gateway; ++k, ++made) {
            gw.Enqueue({absl::StrCat("dev-", (made + g) % kDevices),
                        absl::StrCat("g", g, "-m", made)});
          }
          if (!gw.SendOnce(lb_port_, cert_.cert_file, 8)) usleep(100 * 1000);
          usleep(10 * 1000);
        }
      });
    }
  }
  void StopTraffic() {
    stop_.store(true);
    for (std::thread& t : senders_) t.join();
    senders_.clear();
  }

  size_t Acked() {
    size_t n = 0;
    for (auto& g : gateways_) n += g->acked().size();
    return n;
  }
  size_t Spooled() {
    size_t n = 0;
    for (auto& g : gateways_) n += g->spooled();
    return n;
  }
  // Waits until every gateway has generated and delivered everything.
  bool WaitDrained(size_t total, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (Acked() == total && Spooled() == 0) return true;
      usleep(50 * 1000);
    }
    return false;
  }

  // deviceId/messageId of every entry in the stream, with its count.
  std::map<std::string, int> StreamContents(RedisProcess& redis) {
    std::map<std::string, int> seen;
    std::string from = "-";
    for (;;) {
      auto page = redis.Command({"XRANGE", "cxsec:telemetry", from, "+", "COUNT", "500"});
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      std::vector<std::string> items = absl::StrSplit(*page, '\n');
      // id, then field, value pairs: project, deviceId, messageId,
      // record (4 pairs).
      size_t entries = 0;
      std::string last;
      for (size_t i = 0; i + 9 <= items.size(); i += 9) {
        last = items[i];
        std::string device, id;
        for (size_t f = i + 1; f < i + 9; f += 2) {
          if (items[f] == "deviceId") device = items[f + 1];
          if (items[f] == "messageId") id = items[f + 1];
        }
        ++seen[device + "/" + id];
        ++entries;
      }
      if (entries < 500) break;
      from = "(" + last;
    }
    return seen;
  }

  // Starts a `cxsec stream tail` consumer of group "scale-out".
  ChildProcess StartConsumer(const std::string& name) {
    auto child = ChildProcess::Start(
        {kCli, "stream", "tail", "--redis",
         absl::StrCat("127.0.0.1:", primary_->port()), "--group", "scale-out",
         "--consumer", name, "--block-ms", "200", "--reclaim-idle-ms", "2000"},
        {.stdout_path = dir_ + "/" + name + ".out",
         .stderr_path = dir_ + "/" + name + ".err"});
    EXPECT_TRUE(child.ok()) << child.status();
    return std::move(*child);
  }
  // deviceId/messageId of each line a consumer printed.
  std::vector<std::string> Delivered(const std::string& name) {
    std::vector<std::string> out;
    for (absl::string_view line : absl::StrSplit(ReadAll(dir_ + "/" + name + ".out"), '\n')) {
      if (line.empty()) continue;
      json record = json::parse(line, nullptr, false);
      EXPECT_TRUE(record.is_object()) << line;
      if (!record.is_object()) continue;
      out.push_back(record.value("deviceId", "") + "/" + record.value("messageId", ""));
    }
    return out;
  }

  // Checks the stream against what the gateways acknowledged; prints and
  // returns lost, duplicates.
  std::pair<int, int> CheckStream(const std::string& run) {
    std::map<std::string, int> stream = StreamContents(*primary_);
    std::set<std::string> acked;
    for (auto& g : gateways_) {
      std::set<std::string> a = g->acked();
      acked.insert(a.begin(), a.end());
    }
    int lost = 0, duplicates = 0;
    for (const std::string& m : acked) {
      if (stream.count(m) == 0) ++lost;
    }
    for (const auto& [m, n] : stream) duplicates += n - 1;
    std::printf("%s: acked=%zu stream=%zu lost=%d duplicates=%d\n", run.c_str(),
                acked.size(), stream.size(), lost, duplicates);
    for (auto& g : gateways_) std::printf("  %s\n", g->Summary().c_str());
    std::fflush(stdout);
    return {lost, duplicates};
  }

  std::string dir_, haproxy_;
  testing::TestCert cert_;
  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<RedisProcess> primary_, replica_;
  uint16_t ports_[kInstances] = {};
  uint16_t lb_port_ = 0;
  std::optional<ChildProcess> verifiers_[kInstances];
  std::optional<ChildProcess> haproxy_process_;
  std::vector<std::unique_ptr<testing::GatewaySigner>> signers_;
  std::vector<std::unique_ptr<Gateway>> gateways_;
  std::vector<std::thread> senders_;
  std::atomic<bool> stop_{false};
};

TEST_F(ScaleOutTest, VerifierKilledAndRedisPrimaryRestartedLoseNothing) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(""));
  ASSERT_NO_FATAL_FAILURE(Provision());
  ChildProcess c1 = StartConsumer("c1");
  ChildProcess c2 = StartConsumer("c2");
  constexpr int kPerGateway = 400;
  const size_t total = kPerGateway * 2;
  StartTraffic(kPerGateway);

  auto wait_acked = [&](size_t n) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (Acked() < n && absl::Now() < deadline) usleep(20 * 1000);
    return Acked() >= n;
  };
  ASSERT_TRUE(wait_acked(total / 4));
  // kill -9 one instance under traffic. Frozen first for 300 ms, so that
  // requests haproxy sent it are in flight when it dies: their gateways
  // see the connection break and send those messages again.
  kill(verifiers_[1]->pid(), SIGSTOP);
  usleep(300 * 1000);
  ASSERT_TRUE(verifiers_[1]->SignalAndWait(SIGKILL).ok());
  verifiers_[1].reset();
  std::printf("killed verifier v1 at acked=%zu\n", Acked());
  ASSERT_TRUE(wait_acked(total / 2));
  // kill -9 the Redis primary, then restart it from its AOF.
  ASSERT_TRUE(primary_->Kill().ok());
  std::printf("killed redis primary at acked=%zu\n", Acked());
  usleep(300 * 1000);
  ASSERT_TRUE(primary_->Restart().ok());
  std::printf("redis primary back at acked=%zu\n", Acked());
  std::fflush(stdout);

  bool drained = WaitDrained(total, absl::Seconds(40));
  StopTraffic();
  auto [lost, duplicates] = CheckStream("kill -9 verifier + redis primary restart");
  EXPECT_TRUE(drained) << "not every message was delivered";
  EXPECT_EQ(Acked(), total);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(duplicates, 0);
  // The replica followed the restarted primary.
  EXPECT_TRUE(WaitReplicaOnline(absl::Seconds(15)));

  // The consumer group delivered every entry; twice only where Redis
  // went down between delivery and XACK (at-least-once).
  std::map<std::string, int> stream = StreamContents(*primary_);
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::multiset<std::string> delivered;
  for (;;) {
    delivered.clear();
    for (const char* c : {"c1", "c2"}) {
      for (std::string& m : Delivered(c)) delivered.insert(std::move(m));
    }
    size_t missing = 0;
    for (const auto& [m, n] : stream) missing += delivered.count(m) == 0;
    if (missing == 0 || absl::Now() > deadline) break;
    usleep(100 * 1000);
  }
  auto pending = primary_->Command({"XPENDING", "cxsec:telemetry", "scale-out"});
  ASSERT_TRUE(c1.SignalAndWait(SIGTERM).ok());
  ASSERT_TRUE(c2.SignalAndWait(SIGTERM).ok());
  int undelivered = 0, redelivered = 0;
  for (const auto& [m, n] : stream) {
    size_t times = delivered.count(m);
    if (times == 0) ++undelivered;
    if (times > 1) redelivered += static_cast<int>(times - 1);
  }
  std::printf("consumers: delivered=%zu undelivered=%d redelivered=%d (c1=%zu c2=%zu)\n",
              delivered.size(), undelivered, redelivered, Delivered("c1").size(),
              Delivered("c2").size());
  EXPECT_EQ(undelivered, 0) << ReadAll(dir_ + "/c1.err") << ReadAll(dir_ + "/c2.err");
  // Redelivery can only come from the batch each consumer held when Redis
  // died (at most 100 entries each).
  EXPECT_LE(redelivered, 200);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->substr(0, pending->find('\n')), "0");
  std::printf("lost=%d duplicates=%d\n", lost, duplicates);
}

TEST_F(ScaleOutTest, ReplicaDownMeansRetryAndNothingAcknowledgedIsLost) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(
      "redis_wait_replicas = 1\nredis_wait_timeout_ms = 1000\n"));
  ASSERT_NO_FATAL_FAILURE(Provision());
  constexpr int kPerGateway = 120;
  const size_t total = kPerGateway * 2;
  StartTraffic(kPerGateway);
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (Acked() < total / 4 && absl::Now() < deadline) usleep(20 * 1000);
  ASSERT_GE(Acked(), total / 4);

  ASSERT_TRUE(replica_->Stop().ok());
  size_t acked_at_stop = Acked();
  // Batches in flight when the replica went may still be confirmed; after
  // that, nothing is acknowledged while it is down.
  usleep(1500 * 1000);
  size_t acked_settled = Acked();
  usleep(3000 * 1000);
  size_t acked_while_down = Acked();
  int retries = 0;
  for (auto& g : gateways_) retries += g->verdicts("retry");
  std::printf("replica down: acked %zu -> %zu -> %zu, retry verdicts=%d\n",
              acked_at_stop, acked_settled, acked_while_down, retries);
  EXPECT_EQ(acked_while_down, acked_settled) << "acknowledged without a replica";
  EXPECT_GT(retries, 0);
  EXPECT_GT(Spooled(), 0u);

  ASSERT_TRUE(replica_->Restart().ok());
  ASSERT_TRUE(WaitReplicaOnline(absl::Seconds(15)));
  bool drained = WaitDrained(total, absl::Seconds(40));
  StopTraffic();
  auto [lost, duplicates] = CheckStream("replica down, redis_wait_replicas = 1");
  EXPECT_TRUE(drained);
  EXPECT_EQ(Acked(), total);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(duplicates, 0);
  // On the replica too, once it caught up.
  std::map<std::string, int> on_replica;
  for (int i = 0; i < 50; ++i) {
    on_replica = StreamContents(*replica_);
    if (on_replica.size() == total) break;
    usleep(100 * 1000);
  }
  EXPECT_EQ(on_replica.size(), total);
  std::printf("lost=%d duplicates=%d\n", lost, duplicates);
}

// Run 3: the real thing at the edge. Two cxsec-gateway processes (software
// identity keys enrolled with `cxsec jwt enroll-proof`) posting through
// haproxy, each with four cxsec-node processes over CoAP/DTLS-PSK (keys
// from `cxsec provision`) sending one reading a second. Under that load a
// verifier is killed with kill -9 and the Redis primary is killed and
// restarted. Every node must exit 0 (each reading acknowledged by its
// gateway, which spools it durably), and the stream must end up holding
// every reading exactly once: the gateways' spools carry them through the
// outages.
TEST_F(ScaleOutTest, RealGatewaysWithDtlsNodesLoseNothing) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(""));
  std::string admin = ReadAll(dir_ + "/v0/bootstrap-admin.key");
  while (!admin.empty() && admin.back() == '\n') admin.pop_back();
  auto call = [&](const std::string& target, const json& body) {
    auto r = testing::HttpsRequest(lb_port_, cert_.cert_file, "POST", target,
                                   admin, body.dump());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : testing::ClientResponse{};
  };
  // Runs a `cxsec` command to completion; returns its stdout.
  auto cli = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kCli};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out = dir_ + "/cli.out";
    auto child = ChildProcess::Start(argv, {.stdout_path = out,
                                            .stderr_path = dir_ + "/cli.err"});
    EXPECT_TRUE(child.ok());
    absl::StatusOr<int> status = child->Wait(absl::Seconds(30));
    EXPECT_TRUE(status.ok() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << absl::StrJoin(args, " ") << ": " << ReadAll(dir_ + "/cli.err");
    return ReadAll(out);
  };
  ASSERT_EQ(call("/v1/projects", json{{"id", "acme"}}).status, 201u);

  constexpr int kNodesPerGateway = 4;
  constexpr int kPosts = 12;
  std::vector<std::string> devices;
  for (int d = 0; d < 2 * kNodesPerGateway; ++d) {
    devices.push_back(absl::StrCat("D00000000000000", absl::Hex(d, absl::kZeroPad2)));
  }
  cli({"provision", "--out", dir_ + "/deploy", "--devices", absl::StrJoin(devices, ",")});

  std::vector<ChildProcess> gateway_processes;
  std::vector<uint16_t> dtls_ports;
  for (int g = 0; g < 2; ++g) {
    std::string id = kGateways[g];
    std::string gdir = absl::StrCat(dir_, "/gw", g);
    ASSERT_EQ(call("/v1/gateways", json{{"id", id}, {"project", "acme"}}).status, 201u);
    cli({"keygen", "--alg", "ES256", "--out", gdir});
    auto challenge = call("/v1/gateways/" + id + "/enrollment-challenge", json::object());
    ASSERT_EQ(challenge.status, 201u) << challenge.body;
    std::string nonce = json::parse(challenge.body)["nonce"];
    std::string proof = cli({"jwt", "enroll-proof", "--key", gdir + "/private_key.pem",
                             "--gateway", id, "--challenge", nonce});
    while (!proof.empty() && proof.back() == '\n') proof.pop_back();
    auto enrolled = call("/v1/gateways/" + id + "/keys",
                         json{{"publicKeyPem", ReadAll(gdir + "/public_key.pem")},
                              {"proof", proof}});
    ASSERT_EQ(enrolled.status, 201u) << enrolled.body;
    for (int d = g * kNodesPerGateway; d < (g + 1) * kNodesPerGateway; ++d) {
      ASSERT_EQ(call("/v1/devices", json{{"id", devices[d]},
                                         {"project", "acme"},
                                         {"gateways", {id}}})
                    .status,
                201u);
    }
    ASSERT_EQ(std::system(absl::StrCat("mkdir -p -m 0700 '", gdir, "/spool'").c_str()), 0);
    uint16_t dtls_port = testing::FreeLoopbackPort();
    dtls_ports.push_back(dtls_port);
    std::string config = gdir + "/gateway.conf";
    std::ofstream(config) << "gateway_id = " << id << "\nproject_id = acme"
                          << "\nidentity = software\nkey_file = " << gdir
                          << "/private_key.pem\ncloud_url = https://127.0.0.1:" << lb_port_
                          << "\nca_bundle = " << cert_.cert_file
                          << "\nspool_dir = " << gdir << "/spool\nrun_as_root = true"
                          << "\nsecurity_file = " << dir_ << "/deploy/security.txt"
                          << "\ndtls_listen = 127.0.0.1:" << dtls_port
                          << "\ndtls_priority_file = " << kPriorityFile << "\n";
    chmod(config.c_str(), 0600);
    auto gw = ChildProcess::Start({kGatewayBinary, "--config=" + config},
                                  {.stdout_path = gdir + "/gateway.out",
                                   .stderr_path = gdir + "/gateway.err"});
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_processes.push_back(std::move(*gw));
    bool ready = false;
    for (int n = 0; n < 300 && !ready; ++n) {
      ready = ReadAll(gdir + "/gateway.out").find("ready") != std::string::npos;
      if (!ready) usleep(100 * 1000);
    }
    ASSERT_TRUE(ready) << ReadAll(gdir + "/gateway.err");
  }
  ChildProcess c1 = StartConsumer("c1");

  std::vector<ChildProcess> nodes;
  for (int d = 0; d < 2 * kNodesPerGateway; ++d) {
    std::string config = absl::StrCat(dir_, "/node-", d, ".conf");
    std::ofstream(config) << "device_id = " << devices[d] << "\ntransport = dtls"
                          << "\ngateway = 127.0.0.1:" << dtls_ports[d / kNodesPerGateway]
                          << "\nkey_file = " << dir_ << "/deploy/devices/" << devices[d]
                          << ".key\ninterval_seconds = 1\npost_count = " << kPosts << "\n";
    chmod(config.c_str(), 0600);
    auto node = ChildProcess::Start({kNodeBinary, "--config=" + config},
                                    {.stdout_path = absl::StrCat(dir_, "/node-", d, ".out"),
                                     .stderr_path = absl::StrCat(dir_, "/node-", d, ".err")});
    ASSERT_TRUE(node.ok()) << node.status();
    nodes.push_back(std::move(*node));
  }
  auto stream_size = [&] {
    auto n = primary_->Command({"XLEN", "cxsec:telemetry"});
    long long v = -1;
    return n.ok() && absl::SimpleAtoi(*n, &v) ? v : -1;
  };
  absl::SleepFor(absl::Seconds(kPosts / 3));
  std::printf("nodes: kill -9 verifier v1 at stream=%lld\n", stream_size());
  kill(verifiers_[1]->pid(), SIGSTOP);
  usleep(300 * 1000);
  ASSERT_TRUE(verifiers_[1]->SignalAndWait(SIGKILL).ok());
  absl::SleepFor(absl::Seconds(kPosts / 3));
  std::printf("nodes: kill -9 redis primary at stream=%lld\n", stream_size());
  std::fflush(stdout);
  ASSERT_TRUE(primary_->Kill().ok());
  usleep(500 * 1000);
  ASSERT_TRUE(primary_->Restart().ok());

  for (size_t d = 0; d < nodes.size(); ++d) {
    absl::StatusOr<int> exit = nodes[d].Wait(absl::Seconds(kPosts + 30));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0)
        << devices[d] << ": " << ReadAll(absl::StrCat(dir_, "/node-", d, ".err"));
  }
  const long long expected = 2 * kNodesPerGateway * kPosts;
  // The outages were seen: the verifiers' sinks lost their connection.
  int lost_connections = 0;
  for (int i = 0; i < kInstances; ++i) {
    std::string log = ReadAll(absl::StrCat(dir_, "/v", i, ".stderr"));
    for (size_t at = log.find("connection lost"); at != std::string::npos;
         at = log.find("connection lost", at + 1)) {
      ++lost_connections;
    }
  }
  std::printf("nodes: redis sink connections lost and re-made: %d\n", lost_connections);
  absl::Time deadline = absl::Now() + absl::Seconds(40);
  while (stream_size() < expected && absl::Now() < deadline) usleep(100 * 1000);

  std::map<std::string, int> stream = StreamContents(*primary_);
  std::map<std::string, int> per_device;
  int duplicates = 0;
  for (const auto& [m, n] : stream) {
    duplicates += n - 1;
    ++per_device[m.substr(0, m.find('/'))];
  }
  int lost = 0;
  for (const std::string& d : devices) lost += std::max(0, kPosts - per_device[d]);
  std::printf("real gateways: readings=%lld stream=%zu lost=%d duplicates=%d\n",
              expected, stream.size(), lost, duplicates);
  EXPECT_EQ(lost, 0) << ReadAll(dir_ + "/gw0/gateway.err") << ReadAll(dir_ + "/gw1/gateway.err");
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(static_cast<long long>(stream.size()), expected);
  // The consumer, running through the Redis restart, delivered them all.
  std::set<std::string> delivered;
  deadline = absl::Now() + absl::Seconds(15);
  while (absl::Now() < deadline) {
    std::vector<std::string> lines = Delivered("c1");
    delivered = std::set<std::string>(lines.begin(), lines.end());
    if (delivered.size() >= stream.size()) break;
    usleep(100 * 1000);
  }
  ASSERT_TRUE(c1.SignalAndWait(SIGTERM).ok());
  size_t undelivered = 0;
  for (const auto& [m, n] : stream) undelivered += delivered.count(m) == 0;
  EXPECT_EQ(undelivered, 0u);
  for (ChildProcess& gw : gateway_processes) {
    absl::StatusOr<int> exit = gw.SignalAndWait(SIGTERM);
    EXPECT_TRUE(exit.ok());
  }
  std::printf("lost=%d duplicates=%d\n", lost, duplicates);
}

}  // namespace
}  // namespace cxsec::verifier
