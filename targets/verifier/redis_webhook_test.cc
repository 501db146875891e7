// Webhooks with the Redis sink (issue 19 item 3, second half): the webhook
// forwarders of two real cxsec-verifier processes are members of one
// consumer group on the shared stream. Every accepted message reaches the
// receiver in a signed delivery whose id derives from the stream entry;
// while the receiver refuses, entries stay pending; the instance holding
// most of them is killed with SIGKILL, and the other takes them over after
// webhook_reclaim_idle_ms and delivers them: every message accepted by the
// receiver exactly once, nothing left pending.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "targets/verifier/sinks/webhook_forwarder.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/child_process.h"
#include "tests/fixtures/redis_process.h"

namespace cxsec::verifier {
namespace {

using nlohmann::json;
using cxsec::testing::ChildProcess;
using cxsec::testing::RedisProcess;

constexpr char kBinary[] = "targets/verifier/cxsec-verifier";
constexpr char kPassword[] = "redis-pw-webhook-77";
constexpr char kSecret[] = "webhook-secret-0123456789abcdef";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A plain-HTTP webhook receiver on loopback: checks each delivery's
// signature and records the accepted ones; answers 503 while refusing.
class Receiver {
 public:
  Receiver() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen(fd_, 64);
    thread_ = std::thread([this] { Serve(); });
  }
  ~Receiver() {
    stop_.store(true);
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  void set_refusing(bool refusing) { refusing_.store(refusing); }

  struct Delivery {
    std::string id;
    std::string body;
  };
  std::vector<Delivery> accepted() {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }
  int bad_signatures() {
    std::lock_guard<std::mutex> lock(mu_);
    return bad_signatures_;
  }

 private:
  void Serve() {
    while (!stop_.load()) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{5, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      std::string data;
      char buf[8192];
      size_t header_end = std::string::npos;
      size_t content_length = 0;
      for (;;) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
        if (header_end == std::string::npos) {
          header_end = data.find("\r\n\r\n");
          if (header_end != std::string::npos) {
            content_length = Header(data.substr(0, header_end), "content-length")
                                 .empty()
                                 ? 0
                                 : std::stoul(Header(data.substr(0, header_end),
                                                     "content-length"));
          }
        }
        if (header_end != std::string::npos &&
            data.size() >= header_end + 4 + content_length)
          break;
      }
      std::string status = "200 OK";
      if (header_end == std::string::npos) {
        status = "400 Bad Request";
      } else if (refusing_.load()) {
        status = "503 Service Unavailable";
      } else {
        std::string headers = data.substr(0, header_end);
        std::string body = data.substr(header_end + 4, content_length);
        std::string id = Header(headers, "x-cxsec-delivery");
        absl::Status verified = VerifyWebhookSignature(
            AsBytes(kSecret), id, Header(headers, "x-cxsec-timestamp"),
            Header(headers, "x-cxsec-signature"), body, absl::Now());
        std::lock_guard<std::mutex> lock(mu_);
        if (verified.ok()) {
          accepted_.push_back({id, body});
        } else {
          ++bad_signatures_;
          status = "401 Unauthorized";
        }
      }
      std::string answer = absl::StrCat("HTTP/1.1 ", status,
                                        "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      (void)!write(c, answer.data(), answer.size());
      close(c);
    }
  }
  static std::string Header(const std::string& headers, const std::string& name) {
    for (absl::string_view line : absl::StrSplit(headers, "\r\n")) {
      size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      if (absl::AsciiStrToLower(line.substr(0, colon)) == name) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
    return "";
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> refusing_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Delivery> accepted_;
  int bad_signatures_ = 0;
};

class RedisWebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::getenv("TEST_TMPDIR");
    auto cert = testing::MakeTestCert(dir_);
    ASSERT_TRUE(cert.ok()) << cert.status();
    cert_ = *cert;
    std::ofstream(dir_ + "/redis.pass") << kPassword << "\n";
    chmod((dir_ + "/redis.pass").c_str(), 0600);
    std::ofstream(dir_ + "/hook.key") << kSecret << "\n";
    chmod((dir_ + "/hook.key").c_str(), 0600);
    auto redis = RedisProcess::Start(
        dir_, {.extra_args = {"--requirepass", kPassword}, .password = kPassword});
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    ASSERT_TRUE(redis_->WaitUntilReady(absl::Seconds(15)).ok());
  }

  // Starts instance `i` (own SQLite registry) and provisions the project,
  // the gateway with `signer_`'s key and the device on it.
  void StartInstance(int i) {
    ports_[i] = testing::FreeLoopbackPort();
    std::string name = absl::StrCat("v", i);
    std::string config = absl::StrCat(dir_, "/", name, ".conf");
    std::ofstream(config) << "data_dir = " << dir_ << "/" << name
                          << "\nlisten = 127.0.0.1:" << ports_[i]
                          << "\ntls_cert = " << cert_.cert_file
                          << "\ntls_key = " << cert_.key_file
                          << "\ntelemetry_sink = redis"
                          << "\nredis_address = 127.0.0.1:" << redis_->port()
                          << "\nredis_password_file = " << dir_ << "/redis.pass"
                          << "\nwebhook_url = http://127.0.0.1:" << receiver_.port() << "/hook"
                          << "\nwebhook_allow_plain_http = true"
                          << "\nwebhook_secret_file = " << dir_ << "/hook.key"
                          << "\nwebhook_reclaim_idle_ms = 1000\n";
    chmod(config.c_str(), 0600);
    std::string err = absl::StrCat(dir_, "/", name, ".stderr");
    auto child = ChildProcess::Start({kBinary, "--config=" + config},
                                     {.stdout_path = dir_ + "/" + name + ".stdout",
                                      .stderr_path = err});
    ASSERT_TRUE(child.ok()) << child.status();
    verifiers_[i].emplace(std::move(*child));
    bool listening = false;
    for (int n = 0; n < 200 && !listening; ++n) {
      listening = ReadAll(err).find("listening") != std::string::npos;
      if (!listening) usleep(100 * 1000);
    }
    ASSERT_TRUE(listening) << ReadAll(err);
    std::string admin = ReadAll(dir_ + "/" + name + "/bootstrap-admin.key");
    while (!admin.empty() && admin.back() == '\n') admin.pop_back();
    auto call = [&](const std::string& target, const json& body) {
      auto r = testing::HttpsRequest(ports_[i], cert_.cert_file, "POST", target,
                                     admin, body.dump());
      return r.ok() ? r->status : 0u;
    };
    ASSERT_EQ(call("/v1/projects", json{{"id", "acme"}}), 201u);
    ASSERT_EQ(call("/v1/gateways", json{{"id", "G0123456789abcdef01"}, {"project", "acme"}}),
              201u);
    auto enrolled = testing::EnrollGatewayKey(ports_[i], cert_.cert_file, admin,
                                              "G0123456789abcdef01", signer_);
    ASSERT_TRUE(enrolled.ok()) << enrolled.status();
    ASSERT_EQ(enrolled->status, 201u) << enrolled->body;
    ASSERT_EQ(call("/v1/devices", json{{"id", "dev-1"}, {"project", "acme"}}), 201u);
  }

  void Post(int i, int from, int to) {
    json messages = json::array();
    for (int m = from; m < to; ++m) {
      messages.push_back({{"deviceId", "dev-1"},
                          {"messageId", absl::StrCat("m", m)},
                          {"timestamp", 1},
                          {"payload", {{"n", m}}}});
    }
    auto r = testing::HttpsRequest(ports_[i], cert_.cert_file, "POST", "/v1/telemetry",
                                   signer_.Token("G0123456789abcdef01", "acme"),
                                   json{{"messages", messages}}.dump());
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200u) << r->body;
    const json answer = json::parse(r->body);
    for (const json& result : answer["results"]) {
      ASSERT_EQ(result["status"], "accepted") << result.dump();
    }
  }

  // messageId -> how many accepted deliveries carried it.
  std::map<std::string, int> Delivered() {
    std::map<std::string, int> count;
    for (const Receiver::Delivery& d : receiver_.accepted()) {
      for (absl::string_view line : absl::StrSplit(d.body, '\n')) {
        if (line.empty()) continue;
        json record = json::parse(line, nullptr, false);
        EXPECT_TRUE(record.is_object()) << line;
        if (record.is_object()) ++count[record.value("messageId", "")];
      }
    }
    return count;
  }
  bool WaitDelivered(size_t n, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (Delivered().size() >= n) return true;
      usleep(50 * 1000);
    }
    return false;
  }

  std::string dir_;
  testing::TestCert cert_;
  testing::GatewaySigner signer_;
  Receiver receiver_;
  std::unique_ptr<RedisProcess> redis_;
  uint16_t ports_[2] = {};
  std::optional<ChildProcess> verifiers_[2];
};

TEST_F(RedisWebhookTest, DeliveredOnceAndTakenOverFromAKilledInstance) {
  ASSERT_NO_FATAL_FAILURE(StartInstance(0));
  ASSERT_NO_FATAL_FAILURE(StartInstance(1));
  for (int b = 0; b < 5; ++b) {
    ASSERT_NO_FATAL_FAILURE(Post(b % 2, b * 10, b * 10 + 10));
  }
  ASSERT_TRUE(WaitDelivered(50, absl::Seconds(20)))
      << Delivered().size() << ReadAll(dir_ + "/v0.stderr");
  EXPECT_EQ(receiver_.bad_signatures(), 0);
  // Delivery ids: distinct, one per entry, as StreamDeliveryId maps them.
  auto entries = redis_->Command({"XRANGE", "cxsec:telemetry", "-", "+"});
  ASSERT_TRUE(entries.ok());
  std::set<std::string> expected_ids;
  for (absl::string_view item : absl::StrSplit(*entries, '\n')) {
    if (item.find('-') != absl::string_view::npos && item.find('{') == absl::string_view::npos &&
        absl::ascii_isdigit(static_cast<unsigned char>(item.front()))) {
      auto id = StreamDeliveryId(item);
      if (id.ok()) expected_ids.insert(*id);
    }
  }
  std::set<std::string> seen_ids;
  for (const auto& d : receiver_.accepted()) seen_ids.insert(d.id);
  EXPECT_EQ(seen_ids, expected_ids);

  // The receiver refuses: new entries are taken by the forwarders and stay
  // pending at them.
  receiver_.set_refusing(true);
  for (int b = 5; b < 9; ++b) {
    ASSERT_NO_FATAL_FAILURE(Post(b % 2, b * 10, b * 10 + 10));
    usleep(100 * 1000);
  }
  // Kill the instance that holds the most pending entries.
  std::string victim_name;
  long long victim_pending = 0;
  for (int n = 0; n < 50 && victim_pending == 0; ++n) {
    auto pending = redis_->Command({"XPENDING", "cxsec:telemetry", "cxsec-webhook"});
    ASSERT_TRUE(pending.ok()) << pending.status();
    std::vector<std::string> parts = absl::StrSplit(*pending, '\n');
    for (size_t k = 3; k + 1 < parts.size(); k += 2) {
      long long count = 0;
      if (absl::SimpleAtoi(parts[k + 1], &count) && count > victim_pending) {
        victim_pending = count;
        victim_name = parts[k];
      }
    }
    if (victim_pending == 0) usleep(100 * 1000);
  }
  ASSERT_GT(victim_pending, 0);
  int victim = victim_name.find(absl::StrCat(":", ports_[0])) != std::string::npos ? 0 : 1;
  ASSERT_NE(victim_name.find(absl::StrCat(":", ports_[victim])), std::string::npos)
      << victim_name;
  ASSERT_TRUE(verifiers_[victim]->SignalAndWait(SIGKILL).ok());
  std::printf("killed v%d holding %lld pending webhook entries\n", victim, victim_pending);
  receiver_.set_refusing(false);

  ASSERT_TRUE(WaitDelivered(90, absl::Seconds(30)))
      << Delivered().size() << ReadAll(dir_ + absl::StrCat("/v", 1 - victim, ".stderr"));
  std::map<std::string, int> delivered = Delivered();
  for (int m = 0; m < 90; ++m) {
    EXPECT_EQ(delivered[absl::StrCat("m", m)], 1) << "m" << m;
  }
  EXPECT_EQ(delivered.size(), 90u);
  EXPECT_EQ(receiver_.bad_signatures(), 0);
  // Acknowledged after delivery: nothing left pending in the group.
  bool drained = false;
  for (int n = 0; n < 50 && !drained; ++n) {
    auto pending = redis_->Command({"XPENDING", "cxsec:telemetry", "cxsec-webhook"});
    drained = pending.ok() && pending->substr(0, pending->find('\n')) == "0";
    if (!drained) usleep(100 * 1000);
  }
  EXPECT_TRUE(drained);
}

}  // namespace
}  // namespace cxsec::verifier
