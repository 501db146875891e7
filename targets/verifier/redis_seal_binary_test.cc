// Sealed readings with `telemetry_sink = redis` (issue 19 item 2, issue 16
// item 3): two real cxsec-verifier processes on one real redis-server,
// each with its own registry, share the per-device counter state through
// Redis. The same sealed reading posted to both at once is stored exactly
// once (one "accepted", one "duplicate"); a reading the other instance
// never saw, below the window the first one moved, is refused as
// replayed_sequence by the shared state even though the second instance's
// cache would have taken it; a device at epoch 17 (beyond what 4 epoch
// bits reconstruct from 0) is still opened by an instance that never saw
// it and by one restarted after SIGKILL, which load its state from Redis.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/encoding/base64url.h"
#include "core/encoding/hex.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/seal_master_secret.h"
#include "gtest/gtest.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/child_process.h"
#include "tests/fixtures/redis_process.h"

namespace cxsec::verifier {
namespace {

using nlohmann::json;
using cxsec::testing::ChildProcess;
using cxsec::testing::RedisProcess;
using seal::HostSealCodec;

constexpr char kBinary[] = "targets/verifier/cxsec-verifier";
constexpr char kMaster[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kDevice[] = "D0011223344556677";
constexpr char kGateway[] = "G0123456789abcdef01";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A node's sealing keys at `epoch`, derived as `cxsec provision` does.
Bytes Seal(uint32_t epoch, uint32_t sequence, const std::string& reading) {
  SecretBytes master = SecretBytes::CopyFrom(*HexDecode(kMaster));
  auto mac = seal::DeriveSealKey(seal::KeyBranch::kMac, master, kDevice, epoch);
  auto enc =
      seal::DeriveSealKey(seal::KeyBranch::kEncryption, master, kDevice, epoch);
  ByteView m = mac->Reveal(SecretAccess::Grant());
  ByteView e = enc->Reveal(SecretAccess::Grant());
  HostSealCodec::Keys keys;
  EXPECT_EQ(keys.Load(epoch, std::span<const uint8_t>(m.data(), m.size()),
                      std::span<const uint8_t>(e.data(), e.size())),
            seal::SealReason::kNone);
  Bytes out(reading.size() + 16);
  auto size = HostSealCodec::Seal(
      keys, seal::Transport::kDtlsCoap, seal::SealMode::kEncrypted, sequence,
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(reading.data()),
                               reading.size()),
      std::span<uint8_t>(out.data(), out.size()));
  EXPECT_TRUE(size.ok());
  out.resize(size.value());
  return out;
}

struct Instance {
  std::string name;
  uint16_t port = 0;
  std::string admin;
  std::optional<ChildProcess> process;
};

class RedisSealBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    ASSERT_EQ(std::system(absl::StrCat("mkdir -p '", dir_, "'").c_str()), 0);
    auto cert = testing::MakeTestCert(dir_);
    ASSERT_TRUE(cert.ok()) << cert.status();
    cert_ = *cert;
    master_ = dir_ + "/seal-master.key";
    std::ofstream(master_) << kMaster << "\n";
    chmod(master_.c_str(), 0600);
    auto redis = RedisProcess::Start(dir_);
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    ASSERT_TRUE(redis_->WaitUntilReady(absl::Seconds(15)).ok());
  }

  // Starts (or restarts) `in`; on its first start also creates the
  // project, the gateway (the same key everywhere) and the device.
  void Start(Instance& in, bool first) {
    if (first) in.port = testing::FreeLoopbackPort();
    std::string config = dir_ + "/" + in.name + ".conf";
    std::ofstream(config) << "data_dir = " << dir_ << "/" << in.name
                          << "\nlisten = 127.0.0.1:" << in.port
                          << "\ntls_cert = " << cert_.cert_file
                          << "\ntls_key = " << cert_.key_file
                          << "\ntelemetry_sink = redis"
                          << "\nredis_address = 127.0.0.1:" << redis_->port()
                          << "\nredis_timeout_ms = 1000"
                          << "\nseal_master_file = " << master_ << "\n";
    chmod(config.c_str(), 0600);
    std::string err = dir_ + "/" + in.name + ".stderr";
    std::remove(err.c_str());
    auto child = ChildProcess::Start({kBinary, "--config=" + config},
                                     {.stdout_path = err + ".out",
                                      .stderr_path = err});
    ASSERT_TRUE(child.ok()) << child.status();
    in.process.emplace(std::move(*child));
    bool listening = false;
    for (int i = 0; i < 200 && !listening; ++i) {
      listening = ReadAll(err).find("listening") != std::string::npos;
      if (!listening) usleep(50 * 1000);
    }
    ASSERT_TRUE(listening) << ReadAll(err);
    if (!first) return;
    in.admin = ReadAll(dir_ + "/" + in.name + "/bootstrap-admin.key");
    if (!in.admin.empty() && in.admin.back() == '\n') in.admin.pop_back();
    ASSERT_EQ(Admin(in, "POST", "/v1/projects", json{{"id", "acme"}}), 201u);
    ASSERT_EQ(Admin(in, "POST", "/v1/gateways",
                    json{{"id", kGateway}, {"project", "acme"}}),
              201u);
    auto enrolled = testing::EnrollGatewayKey(in.port, cert_.cert_file,
                                              in.admin, kGateway, signer_);
    ASSERT_TRUE(enrolled.ok()) << enrolled.status();
    ASSERT_EQ(enrolled->status, 201u) << enrolled->body;
    ASSERT_EQ(Admin(in, "POST", "/v1/devices",
                    json{{"id", kDevice}, {"project", "acme"},
                         {"seal", "required"}}),
              201u);
    token_ = signer_.Token(kGateway, "acme");
  }

  unsigned Admin(const Instance& in, const std::string& method,
                 const std::string& target, const json& body,
                 std::string* answer = nullptr) {
    auto r = testing::HttpsRequest(in.port, cert_.cert_file, method, target,
                                   in.admin, body.dump());
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return 0;
    if (answer != nullptr) *answer = r->body;
    return r->status;
  }

  // Posts one sealed reading to `in`; returns "status[/error]".
  std::string Post(const Instance& in, const std::string& message_id,
                   const Bytes& sealed) {
    json body = {{"messages",
                  {{{"deviceId", kDevice},
                    {"messageId", message_id},
                    {"timestamp", 1},
                    {"transport", "dtls"},
                    {"payload", Base64UrlEncode(ByteView(sealed))}}}}};
    auto r = testing::HttpsRequest(in.port, cert_.cert_file, "POST",
                                   "/v1/telemetry", token_, body.dump());
    if (!r.ok()) return "error: " + std::string(r.status().message());
    if (r->status != 200) return absl::StrCat("http ", r->status, " ", r->body);
    json result = json::parse(r->body)["results"][0];
    std::string out = result["status"].get<std::string>();
    if (result.contains("error")) out += "/" + result["error"].get<std::string>();
    return out;
  }

  long long Xlen() {
    auto n = redis_->Command({"XLEN", "cxsec:telemetry"});
    return n.ok() ? std::atoll(n->c_str()) : -1;
  }

  json SealState(const Instance& in) {
    std::string body;
    EXPECT_EQ(Admin(in, "GET", std::string("/v1/devices/") + kDevice, json(),
                    &body),
              200u);
    json j = json::parse(body, nullptr, false);
    return j.is_object() && j.contains("sealState") ? j["sealState"] : json();
  }

  std::string dir_, master_, token_;
  testing::TestCert cert_;
  testing::GatewaySigner signer_;
  std::unique_ptr<RedisProcess> redis_;
};

TEST_F(RedisSealBinaryTest, TwoInstancesShareTheCounterStateThroughRedis) {
  Instance a{.name = "a"}, b{.name = "b"};
  ASSERT_NO_FATAL_FAILURE(Start(a, true));
  ASSERT_NO_FATAL_FAILURE(Start(b, true));

  // The same reading to both at once, under the ids two gateways (or one
  // retrying gateway behind a load balancer) would give it: stored once.
  long long stored = 0;
  for (uint32_t sequence = 1; sequence <= 5; ++sequence) {
    Bytes reading = Seal(0, sequence, absl::StrCat("t=", sequence));
    std::string va, vb;
    std::thread ta([&] { va = Post(a, absl::StrCat("ga-", sequence), reading); });
    std::thread tb([&] { vb = Post(b, absl::StrCat("gb-", sequence), reading); });
    ta.join();
    tb.join();
    std::vector<std::string> got = {va, vb};
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"accepted", "duplicate"}))
        << "sequence " << sequence;
    ++stored;
    EXPECT_EQ(Xlen(), stored);
  }
  // Other bytes under a used sequence, at the other instance: an alarm.
  EXPECT_EQ(Post(b, "x-3", Seal(0, 3, "forged? no: another body")),
            "rejected/sequence_reused");

  // A moves the device's window on (sequence 40); B never saw 6..40. A
  // reading with sequence 7 (sealed by the node but held back by a
  // gateway) is below the shared window now: B's cached copy would accept
  // it, Redis refuses it.
  for (uint32_t sequence : {6u, 40u}) {
    EXPECT_EQ(Post(a, absl::StrCat("a-", sequence),
                   Seal(0, sequence, absl::StrCat("t=", sequence))),
              "accepted");
    ++stored;
  }
  EXPECT_EQ(Post(b, "late-7", Seal(0, 7, "t=7")), "rejected/replayed_sequence");
  // An accepted reading replayed to B under a new id: refused.
  std::string replay = Post(b, "replay-1", Seal(0, 1, "t=1"));
  EXPECT_TRUE(replay == "rejected/replayed_sequence" || replay == "duplicate")
      << replay;
  EXPECT_EQ(Xlen(), stored);

  // Epochs 10 and then 17 through A (each move is below 16 epochs). B,
  // whose cache still says epoch 0, opens an epoch-17 reading: the tag
  // fails against epoch 1 and B checks again with the state in Redis.
  EXPECT_EQ(Post(a, "e10", Seal(10, 0, "e10")), "accepted");
  EXPECT_EQ(Post(a, "e17-0", Seal(17, 0, "e17")), "accepted");
  EXPECT_EQ(Post(b, "e17-1", Seal(17, 1, "e17-1")), "accepted");
  stored += 3;
  // An older epoch's reading: epochs reconstruct forward only, so it is
  // opened as epoch 26 and fails, as with one instance.
  EXPECT_EQ(Post(b, "e10-again", Seal(10, 1, "e10-1")),
            "rejected/seal_tag_mismatch");
  // B restarted after SIGKILL loads the device from Redis, not from 0.
  ASSERT_TRUE(b.process->SignalAndWait(SIGKILL).ok());
  b.process.reset();
  ASSERT_NO_FATAL_FAILURE(Start(b, false));
  EXPECT_EQ(Post(b, "e17-2", Seal(17, 2, "e17-2")), "accepted");
  EXPECT_EQ(Post(b, "e17-1-again", Seal(17, 1, "e17-1")), "duplicate");
  ++stored;
  EXPECT_EQ(Xlen(), stored);

  // The record and the metrics show the shared state on both instances.
  for (const Instance* in : {&a, &b}) {
    json state = SealState(*in);
    EXPECT_EQ(state.value("epoch", 0u), 17u) << state.dump();
    EXPECT_EQ(state.value("highestSequence", 0u), 2u) << state.dump();
  }
  auto metrics = testing::HttpsRequest(b.port, cert_.cert_file, "GET",
                                       "/metrics", b.admin, "");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("cxsec_seal_devices 1"), std::string::npos)
      << metrics->body;
  // Sequences 7..39 of epoch 0 were skipped (7 came too late): 33 gaps.
  EXPECT_NE(metrics->body.find("cxsec_seal_gaps_total 33"), std::string::npos)
      << metrics->body;
}

}  // namespace
}  // namespace cxsec::verifier
