// The real cxsec-verifier as the counter authority for sealed readings,
// facing a hostile gateway: an enrolled gateway that holds every key a
// gateway has (its JWT key; never the seal masters) posts what a
// compromised gateway could: flipped bits, forgeries, replays under new
// message ids, readings moved to other devices, wrong Mioty counters,
// reused sequences, stripped envelopes, dropped runs. Each gets its named
// verdict and leaves the device's counter state as it was; the state
// survives a SIGKILL; a gateway with too many bad tags is disabled and
// audited (docs/SEALED_READINGS.md).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/encoding/base64url.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/seal_master_secret.h"
#include "core/seal/seal_receipt.h"
#include "gtest/gtest.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/child_process.h"

namespace cxsec::verifier {
namespace {

using nlohmann::json;
using seal::HostSealCodec;

constexpr char kMaster[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kDevice[] = "D0011223344556677";
constexpr char kOther[] = "D8899AABBCCDDEEFF";
constexpr char kMiotyDevice[] = "D70B3D56770001234";
constexpr char kGateway[] = "G0123456789abcdef01";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A node's sealing keys, derived as `cxsec provision --seal-master` does.
struct NodeKeys {
  HostSealCodec::Keys keys;
  explicit NodeKeys(const std::string& device, uint32_t epoch = 0) {
    SecretBytes master = SecretBytes::CopyFrom(*HexDecode(kMaster));
    auto mac = seal::DeriveSealKey(seal::KeyBranch::kMac, master, device, epoch);
    auto enc = seal::DeriveSealKey(seal::KeyBranch::kEncryption, master,
                                   device, epoch);
    ByteView m = mac->Reveal(SecretAccess::Grant());
    ByteView e = enc->Reveal(SecretAccess::Grant());
    EXPECT_EQ(keys.Load(epoch, std::span<const uint8_t>(m.data(), m.size()),
                        std::span<const uint8_t>(e.data(), e.size())),
              seal::SealReason::kNone);
  }
  Bytes Seal(seal::Transport transport, uint32_t sequence,
             const std::string& reading,
             seal::SealMode mode = seal::SealMode::kEncrypted) {
    Bytes out(reading.size() + 16);
    auto size = HostSealCodec::Seal(
        keys, transport, mode, sequence,
        std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(reading.data()), reading.size()),
        std::span<uint8_t>(out.data(), out.size()));
    EXPECT_TRUE(size.ok());
    out.resize(size.value());
    return out;
  }
};

absl::StatusOr<cxsec::testing::ChildProcess> StartVerifier(
    const std::string& config, const std::string& out_prefix) {
  absl::StatusOr<cxsec::testing::ChildProcess> child =
      cxsec::testing::ChildProcess::Start(
          {"targets/verifier/cxsec-verifier", "--config=" + config},
          {.stdout_path = out_prefix + ".stdout",
           .stderr_path = out_prefix + ".stderr"});
  if (!child.ok()) return child.status();
  for (int i = 0; i < 300; ++i) {
    if (ReadAll(out_prefix + ".stderr").find("listening") != std::string::npos)
      return child;
    usleep(100 * 1000);
  }
  return absl::DeadlineExceededError("verifier did not start: " +
                                     ReadAll(out_prefix + ".stderr"));
}

class SealedReadingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0);
    auto cert = verifier::testing::MakeTestCert(dir_);
    ASSERT_TRUE(cert.ok());
    ca_ = cert->cert_file;
    port_ = verifier::testing::FreeLoopbackPort();
    std::string master = dir_ + "/seal-master.key";
    std::ofstream(master) << kMaster << "\n";
    chmod(master.c_str(), 0600);
    config_ = dir_ + "/verifier.conf";
    std::ofstream(config_) << "data_dir = " << dir_ << "/data\nlisten = 127.0.0.1:"
                           << port_ << "\ntls_cert = " << cert->cert_file
                           << "\ntls_key = " << cert->key_file
                           << "\nseal_master_file = " << master
                           << "\nseal_max_bad_tags_per_gateway = 20\n";
    chmod(config_.c_str(), 0600);
    auto started = StartVerifier(config_, dir_ + "/first");
    ASSERT_TRUE(started.ok()) << started.status();
    verifier_.emplace(*std::move(started));
    admin_ = ReadAll(dir_ + "/data/bootstrap-admin.key");
    if (!admin_.empty() && admin_.back() == '\n') admin_.pop_back();
    ASSERT_EQ(Admin("POST", "/v1/projects", json{{"id", "acme"}}), 201u);
    ASSERT_EQ(Admin("POST", "/v1/gateways",
                    json{{"id", kGateway}, {"project", "acme"}}),
              201u);
    auto enrolled = verifier::testing::EnrollGatewayKey(port_, ca_, admin_,
                                                        kGateway, signer_);
    ASSERT_TRUE(enrolled.ok()) << enrolled.status();
    ASSERT_EQ(enrolled->status, 201u) << enrolled->body;
    for (const char* id : {kDevice, kOther, kMiotyDevice}) {
      ASSERT_EQ(Admin("POST", "/v1/devices",
                      json{{"id", id}, {"project", "acme"}, {"seal", "required"}}),
                201u);
    }
    token_ = signer_.Token(kGateway, "acme");
  }

  unsigned Admin(const std::string& method, const std::string& target,
                 const json& body, std::string* answer = nullptr) {
    auto r = verifier::testing::HttpsRequest(port_, ca_, method, target, admin_,
                                             body.dump());
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return 0;
    if (answer != nullptr) *answer = r->body;
    return r->status;
  }

  // Posts one message as the gateway; returns "status[/error]".
  std::string Post(const std::string& device, const std::string& message_id,
                   const std::string& transport, const json& payload) {
    json body = {{"messages",
                  {{{"deviceId", device},
                    {"messageId", message_id},
                    {"timestamp", 1},
                    {"transport", transport},
                    {"payload", payload}}}}};
    auto r = verifier::testing::HttpsRequest(port_, ca_, "POST", "/v1/telemetry",
                                             token_, body.dump());
    if (!r.ok()) return "error: " + std::string(r.status().message());
    if (r->status != 200) return absl::StrCat("http ", r->status, " ", r->body);
    json answer = json::parse(r->body, nullptr, false);
    const json& result = answer["results"][0];
    std::string out = result["status"].get<std::string>();
    if (result.contains("error")) out += "/" + result["error"].get<std::string>();
    last_receipt_ = result.contains("receipt")
                        ? result["receipt"].get<std::string>()
                        : std::string();
    return out;
  }
  std::string PostSealed(const std::string& device, const std::string& message_id,
                         const std::string& transport, const Bytes& sealed) {
    return Post(device, message_id, transport, Base64UrlEncode(ByteView(sealed)));
  }

  json SealState(const std::string& device) {
    std::string body;
    EXPECT_EQ(Admin("GET", "/v1/devices/" + device, json(), &body), 200u);
    return json::parse(body, nullptr, false)["sealState"];
  }

  std::string dir_, ca_, config_, admin_, token_;
  std::string last_receipt_;  // "receipt" of the last Post's result
  uint16_t port_ = 0;
  verifier::testing::GatewaySigner signer_;
  std::optional<cxsec::testing::ChildProcess> verifier_;
};

TEST_F(SealedReadingsTest, EveryAttackGetsItsVerdictAndChangesNoState) {
  NodeKeys node(kDevice);
  const auto dtls = seal::Transport::kDtlsCoap;
  const std::string marker = "marker-5f1c7a3e9b";
  Bytes first = node.Seal(dtls, 1, "reading one " + marker);
  ASSERT_EQ(PostSealed(kDevice, "m1", "dtls", first), "accepted");
  ASSERT_EQ(PostSealed(kDevice, "m2", "dtls", node.Seal(dtls, 2, "two")),
            "accepted");
  const json before = SealState(kDevice);
  EXPECT_EQ(before["highestSequence"], 2);
  EXPECT_EQ(before["gaps"], 0);

  // Flip one bit of the header, the body and the tag.
  for (size_t at : {size_t{0}, size_t{2}, size_t{7}, first.size() - 1}) {
    Bytes flipped = node.Seal(dtls, 3, "three");
    flipped[std::min(at, flipped.size() - 1)] ^= 0x01;
    std::string verdict = PostSealed(kDevice, "flip", "dtls", flipped);
    EXPECT_TRUE(verdict.rfind("rejected/seal_", 0) == 0) << at << ": " << verdict;
  }
  // Forged with every key a gateway holds (here: a wrong seal key).
  NodeKeys forger(kOther);
  EXPECT_EQ(PostSealed(kDevice, "forged", "dtls", forger.Seal(dtls, 3, "x")),
            "rejected/seal_tag_mismatch");
  // An accepted reading replayed under a new message id: stored once.
  EXPECT_EQ(PostSealed(kDevice, "m1-again", "dtls", first), "duplicate");
  // Moved to another device.
  EXPECT_EQ(PostSealed(kOther, "moved", "dtls", first),
            "rejected/seal_tag_mismatch");
  // Sent as if over the other transport.
  EXPECT_TRUE(PostSealed(kDevice, "mioty-" + std::string(kDevice) + "-1",
                         "mioty", first)
                  .rfind("rejected/seal_", 0) == 0);
  // The same sequence with another body (only the node's key can do this:
  // an alarm, audited).
  EXPECT_EQ(PostSealed(kDevice, "reuse", "dtls", node.Seal(dtls, 2, "other")),
            "rejected/sequence_reused");
  // The envelope stripped: the device requires sealing.
  EXPECT_EQ(Post(kDevice, "plain", "dtls", "oWFuAQ"), "rejected/seal_required");
  EXPECT_EQ(Post(kDevice, "plain-json", "dtls", json{{"n", 1}}),
            "rejected/seal_required");
  EXPECT_EQ(SealState(kDevice), before);

  // A dropped run: sequences 3..9 never arrive; the gap is recorded.
  ASSERT_EQ(PostSealed(kDevice, "m10", "dtls", node.Seal(dtls, 10, "ten")),
            "accepted");
  EXPECT_EQ(SealState(kDevice)["gaps"], 7);
  // A reading from far below the window cannot be told from a replay.
  for (uint32_t s = 11; s <= 50; ++s) {
    ASSERT_EQ(PostSealed(kDevice, absl::StrCat("m", s), "dtls",
                         node.Seal(dtls, s, "n")),
              "accepted");
  }
  EXPECT_EQ(PostSealed(kDevice, "late", "dtls", node.Seal(dtls, 5, "late")),
            "rejected/replayed_sequence");

  // The verifier's output has the opened reading; the payload it received
  // (what the gateway saw) does not hold the marker in clear.
  std::string log = ReadAll(dir_ + "/data/telemetry.ndjson");
  EXPECT_EQ(log.find(marker), std::string::npos);
  bool found = false;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, false);
    if (!j.contains("reading")) continue;
    auto reading = Base64UrlDecode(j["reading"].get<std::string>());
    ASSERT_TRUE(reading.ok());
    std::string text(reading->begin(), reading->end());
    if (text.find(marker) != std::string::npos) {
      found = true;
      EXPECT_EQ(j["messageId"], "m1");
      EXPECT_EQ(j["seal"]["sequence"], 1);
      EXPECT_EQ(j["seal"]["mode"], "encrypted");
    }
  }
  EXPECT_TRUE(found);
  std::string metrics;
  ASSERT_EQ(Admin("GET", "/metrics", json(), &metrics), 200u);
  EXPECT_NE(metrics.find("cxsec_seal_gaps_total 7"), std::string::npos)
      << metrics;
  std::string audit;
  ASSERT_EQ(Admin("GET", "/v1/audit", json(), &audit), 200u);
  EXPECT_NE(audit.find("telemetry.seal_sequence_reused"), std::string::npos);
}

// Receipts (SEALED_READINGS.md, "Receipts"): an accepted or duplicate
// sealed DTLS reading is answered with a receipt that the node checks with
// its own MAC key; a rejected one, or a Mioty one, gets none.
TEST_F(SealedReadingsTest, AcceptedAndDuplicateReadingsGetReceiptsTheNodeChecks) {
  NodeKeys node(kDevice);
  const auto dtls = seal::Transport::kDtlsCoap;
  using Receipts = seal::SealReceiptCodec<seal::BoringSslSealCrypto>;
  auto check = [&](const std::string& receipt, seal::ReceiptVerdict verdict,
                   uint32_t sequence) {
    ASSERT_FALSE(receipt.empty());
    absl::StatusOr<Bytes> bytes = Base64UrlDecode(receipt);
    ASSERT_TRUE(bytes.ok());
    seal::SealReceipt out;
    ASSERT_EQ(Receipts::Check(node.keys.mac_key(), 0, dtls,
                              std::span<const uint8_t>(bytes->data(),
                                                       bytes->size()),
                              out),
              seal::SealReason::kNone);
    EXPECT_EQ(out.verdict, verdict);
    EXPECT_EQ(out.sequence, sequence);
    EXPECT_EQ(out.epoch, 0u);
  };
  Bytes first = node.Seal(dtls, 1, "one");
  ASSERT_EQ(PostSealed(kDevice, "r1", "dtls", first), "accepted");
  check(last_receipt_, seal::ReceiptVerdict::kAccepted, 1);
  // The same sealed bytes under another message id: duplicate, receipted.
  ASSERT_EQ(PostSealed(kDevice, "r1-retry", "dtls", first), "duplicate");
  check(last_receipt_, seal::ReceiptVerdict::kDuplicate, 1);
  // A rejected reading gets none.
  Bytes flipped = node.Seal(dtls, 2, "two");
  flipped[6] ^= 1;
  ASSERT_EQ(PostSealed(kDevice, "r2", "dtls", flipped),
            "rejected/seal_tag_mismatch");
  EXPECT_EQ(last_receipt_, "");
  // Another device's key does not check it.
  ASSERT_EQ(PostSealed(kDevice, "r3", "dtls", node.Seal(dtls, 3, "three")),
            "accepted");
  NodeKeys other(kOther);
  absl::StatusOr<Bytes> bytes = Base64UrlDecode(last_receipt_);
  ASSERT_TRUE(bytes.ok());
  seal::SealReceipt out;
  EXPECT_EQ(Receipts::Check(other.keys.mac_key(), 0, dtls,
                            std::span<const uint8_t>(bytes->data(),
                                                     bytes->size()),
                            out),
            seal::SealReason::kTagMismatch);
  // Mioty nodes have no way back: no receipt.
  const std::string id = kDevice;
  ASSERT_EQ(PostSealed(kDevice, "mioty-" + id + "-9", "mioty",
                       node.Seal(seal::Transport::kMioty, 9, "m")),
            "accepted");
  EXPECT_EQ(last_receipt_, "");
}

TEST_F(SealedReadingsTest, MiotyCounterIsTheSequenceAndItsUpperBitsAreBound) {
  NodeKeys node(kMiotyDevice);
  const auto mioty = seal::Transport::kMioty;
  const std::string id = kMiotyDevice;
  Bytes frame = node.Seal(mioty, 0x01000005, "r", seal::SealMode::kMacOnly);
  // The gateway claims another upper counter byte.
  EXPECT_EQ(PostSealed(id, "mioty-" + id + "-5", "mioty", frame),
            "rejected/seal_tag_mismatch");
  EXPECT_EQ(PostSealed(id, "mioty-" + id + "-16777221", "mioty", frame),
            "accepted");
  EXPECT_EQ(PostSealed(id, "mioty-" + id + "-x", "mioty", frame),
            "rejected/seal_sequence_unknown");
  EXPECT_EQ(SealState(id)["highestSequence"], 0x01000005);
}

TEST_F(SealedReadingsTest, CounterStateSurvivesSigkill) {
  NodeKeys node(kDevice);
  const auto dtls = seal::Transport::kDtlsCoap;
  Bytes three = node.Seal(dtls, 3, "three");
  for (uint32_t s = 1; s <= 40; ++s) {
    ASSERT_EQ(PostSealed(kDevice, absl::StrCat("m", s), "dtls",
                         s == 3 ? three : node.Seal(dtls, s, "r")),
              "accepted");
  }
  const json before = SealState(kDevice);
  ASSERT_TRUE(verifier_->SignalAndWait(SIGKILL).ok());
  verifier_.reset();
  auto restarted = StartVerifier(config_, dir_ + "/second");
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  verifier_.emplace(*std::move(restarted));
  EXPECT_EQ(SealState(kDevice), before);
  EXPECT_EQ(PostSealed(kDevice, "m40-retry", "dtls", node.Seal(dtls, 40, "r")),
            "duplicate");
  EXPECT_EQ(PostSealed(kDevice, "m3-replay", "dtls", three),
            "rejected/replayed_sequence");
  EXPECT_EQ(PostSealed(kDevice, "m41", "dtls", node.Seal(dtls, 41, "r")),
            "accepted");
}

TEST_F(SealedReadingsTest, GatewayWithTooManyBadTagsIsDisabledAndAudited) {
  NodeKeys forger(kOther);
  for (int i = 0; i < 21; ++i) {
    EXPECT_EQ(PostSealed(kDevice, absl::StrCat("f", i), "dtls",
                         forger.Seal(seal::Transport::kDtlsCoap, i + 1, "x")),
              "rejected/seal_tag_mismatch");
  }
  std::string gateway;
  ASSERT_EQ(Admin("GET", std::string("/v1/gateways/") + kGateway, json(), &gateway),
            200u);
  EXPECT_EQ(json::parse(gateway, nullptr, false)["enabled"], false) << gateway;
  std::string audit;
  ASSERT_EQ(Admin("GET", "/v1/audit", json(), &audit), 200u);
  EXPECT_NE(audit.find("gateway.auto_disabled"), std::string::npos) << audit;
  NodeKeys node(kDevice);
  EXPECT_NE(PostSealed(kDevice, "after", "dtls",
                       node.Seal(seal::Transport::kDtlsCoap, 1, "r")),
            "accepted");
}

}  // namespace
}  // namespace cxsec::verifier
