// DtlsServer against the real libcoap GnuTLS DTLS stack, with DtlsNode as
// the client: every test runs real handshakes on a loopback UDP port.
#include "transports/dtls/dtls_server.h"

#include <sys/stat.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/deployment/telemetry_cbor.h"
#include "core/policy/concepts.h"
#include "gtest/gtest.h"
#include "transports/dtls/dtls_node.h"
#include "transports/dtls/test_support.h"

namespace cxsec::dtls {
namespace {

static_assert(Transport<DtlsServer>, "DtlsServer must be a cxsec::Transport");

using testing::DeviceId;
using testing::FreeUdpPort;
using testing::TestSecurity;
using testing::WriteNodeKey;

// RecordingSink: a sink that keeps what it was given and can be told to
// fail, as a spool would when its disk is full.
struct RecordingSink {
  absl::Mutex mutex;
  std::vector<VerifiedMessage> messages;
  std::atomic<bool> fail{false};

  MessageSink AsSink() {
    return [this](VerifiedMessage m) -> absl::Status {
      if (fail) return absl::UnavailableError("spool full");
      absl::MutexLock lock(&mutex);
      messages.push_back(std::move(m));
      return absl::OkStatus();
    };
  }
  size_t size() {
    absl::MutexLock lock(&mutex);
    return messages.size();
  }
};

class DtlsServerTest : public ::testing::Test {
 protected:
  void StartServer(DtlsServerOptions options = {}) {
    options.port = port_;
    server_ = std::make_unique<DtlsServer>(options, security_.Clone());
    ASSERT_TRUE(server_->Start(sink_.AsSink()).ok());
  }
  std::unique_ptr<DtlsNode> Node(const std::string& key_file,
                                 DtlsNodeOptions options = {}) {
    options.gateway_port = port_;
    options.key_file = key_file;
    options.ack_timeout_seconds = 1;
    options.max_retransmit = 2;
    absl::StatusOr<std::unique_ptr<DtlsNode>> node = DtlsNode::Open(options);
    EXPECT_TRUE(node.ok()) << node.status();
    return node.ok() ? std::move(*node) : nullptr;
  }

  uint16_t port_ = FreeUdpPort();
  SecurityConfig security_ = TestSecurity();
  RecordingSink sink_;
  std::unique_ptr<DtlsServer> server_;
};

TEST_F(DtlsServerTest, PostedTelemetryReachesTheSinkOverCcm8) {
  StartServer();
  std::string id = DeviceId(1);
  auto node = Node(WriteNodeKey(security_, id, 1, "n1.key"));
  ASSERT_TRUE(node->PostReading(false, 21500).ok());
  ASSERT_TRUE(node->PostReading(true, 22000).ok());
  ASSERT_EQ(sink_.size(), 2u);
  const VerifiedMessage& m = sink_.messages[0];
  EXPECT_EQ(m.device_id, id);
  EXPECT_EQ(m.transport, "dtls");
  EXPECT_NE(m.message_id, sink_.messages[1].message_id);
  absl::StatusOr<Telemetry> t = DecodeTelemetry(m.payload);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->data["t"], 21500);
  DtlsServerCounters c = server_->Counters();
  EXPECT_EQ(c.handshakes_ok, 1u);
  EXPECT_EQ(c.last_cipher_suite, "PSK-AES-128-CCM-8 DTLS1.2");
  EXPECT_EQ(c.wrong_suite, 0u);
  EXPECT_EQ(node->handshakes(), 1);
}

TEST_F(DtlsServerTest, PriorityFileLeavesOnlyCcm8) {
  EXPECT_TRUE(CheckCcm8OnlyPriority().ok()) << CheckCcm8OnlyPriority();
}

TEST_F(DtlsServerTest, SinkFailureIsAnsweredWith503NotAcknowledged) {
  StartServer();
  auto node = Node(WriteNodeKey(security_, DeviceId(2), 1, "n2.key"));
  sink_.fail = true;
  absl::StatusOr<CoapResponse> r =
      node->Exchange(2 /*POST*/, "t", EncodeTelemetry(false, {{"t", 1}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->code, 503);
  EXPECT_EQ(server_->Counters().sink_failures, 1u);
  sink_.fail = false;
  EXPECT_TRUE(node->PostReading(false, 1).ok());
  EXPECT_EQ(sink_.size(), 1u);
}

TEST_F(DtlsServerTest, WrongPskFailsAndIsLoggedByIdentity) {
  StartServer();
  SecurityConfig other = TestSecurity();  // a different deployment
  std::string id = DeviceId(3);
  auto node = Node(WriteNodeKey(other, id, 1, "n3.key"));
  EXPECT_FALSE(node->PostReading(false, 1).ok());
  EXPECT_EQ(sink_.size(), 0u);
  DtlsServerCounters c = server_->Counters();
  EXPECT_GE(c.handshakes_failed, 1u);
  EXPECT_EQ(c.last_failed_identity, id);
  EXPECT_EQ(c.handshakes_ok, 0u);
}

TEST_F(DtlsServerTest, RetiredOrUnknownEpochIsRejected) {
  StartServer();
  auto node = Node(WriteNodeKey(security_, DeviceId(4), 2, "n4.key"));
  EXPECT_FALSE(node->PostReading(false, 1).ok());
  EXPECT_GE(server_->Counters().unknown_identities, 1u);
  EXPECT_EQ(server_->Counters().handshakes_ok, 0u);
}

TEST_F(DtlsServerTest, MalformedAndOversizedPayloadsAreRefused) {
  DtlsServerOptions options;
  options.max_payload_bytes = 64;
  StartServer(options);
  auto node = Node(WriteNodeKey(security_, DeviceId(5), 1, "n5.key"));
  absl::StatusOr<CoapResponse> r = node->Exchange(2, "t", Bytes{0xa1, 0x62});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 400);
  r = node->Exchange(2, "t", EncodeTelemetry(false, {{"t", std::string(60, 'x')}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 413);
  DtlsServerCounters c = server_->Counters();
  EXPECT_EQ(c.malformed, 1u);
  EXPECT_EQ(c.too_large, 1u);
  EXPECT_EQ(sink_.size(), 0u);
}

TEST_F(DtlsServerTest, PerIdentityRateLimit) {
  DtlsServerOptions options;
  options.requests_per_second = 0.01;  // effectively no refill in the test
  options.request_burst = 3;
  StartServer(options);
  auto a = Node(WriteNodeKey(security_, DeviceId(6), 1, "n6.key"));
  auto b = Node(WriteNodeKey(security_, DeviceId(7), 1, "n7.key"));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(a->PostReading(false, i).ok());
  absl::StatusOr<CoapResponse> r = a->Exchange(2, "t", EncodeTelemetry(false, {{"t", 9}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 429);
  // Another identity has its own budget.
  EXPECT_TRUE(b->PostReading(false, 1).ok());
  EXPECT_EQ(server_->Counters().rate_limited, 1u);
  EXPECT_EQ(sink_.size(), 4u);
}

TEST_F(DtlsServerTest, SessionLimitRefusesExtraSessions) {
  DtlsServerOptions options;
  options.max_sessions = 2;
  StartServer(options);
  auto a = Node(WriteNodeKey(security_, DeviceId(8), 1, "n8.key"));
  auto b = Node(WriteNodeKey(security_, DeviceId(9), 1, "n9.key"));
  auto c = Node(WriteNodeKey(security_, DeviceId(10), 1, "n10.key"));
  EXPECT_TRUE(a->PostReading(false, 1).ok());
  EXPECT_TRUE(b->PostReading(false, 1).ok());
  EXPECT_FALSE(c->PostReading(false, 1).ok());
  EXPECT_GE(server_->Counters().sessions_refused, 1u);
}

TEST_F(DtlsServerTest, WorksWithAHandshakeLimitOfOne) {
  // With max_handshakes = 1 one node still completes; the limit is passed
  // to libcoap (coap_context_set_max_handshake_sessions).
  DtlsServerOptions options;
  options.max_handshakes = 1;
  StartServer(options);
  auto a = Node(WriteNodeKey(security_, DeviceId(11), 1, "n11.key"));
  EXPECT_TRUE(a->PostReading(false, 1).ok());
}

// A gateway that restarts (kill -9, an update) refuses the first attempts
// outright. With retry_backoff the node waits between sessions and the
// reading gets through once the gateway is back; with immediate retries
// all eight attempts would be spent in milliseconds and this post fail.
TEST_F(DtlsServerTest, ReadingSurvivesAGatewayRestartWithBackoff) {
  StartServer();
  DtlsNodeOptions patient;
  patient.max_attempts = 8;
  patient.retry_backoff = absl::Milliseconds(250);
  auto node = Node(WriteNodeKey(security_, DeviceId(40), 1, "n40.key"), patient);
  ASSERT_TRUE(node->PostReading(false, 1).ok());
  server_.reset();  // the gateway is gone; its sessions with it
  std::thread restart([this] {
    absl::SleepFor(absl::Milliseconds(1500));
    StartServer();
  });
  absl::Status posted = node->PostReading(false, 3);
  restart.join();
  EXPECT_TRUE(posted.ok()) << posted;
}

TEST_F(DtlsServerTest, IdleSessionsExpireAndTheNodeHandshakesAgain) {
  DtlsServerOptions options;
  options.idle_timeout_seconds = 1;
  StartServer(options);
  auto node = Node(WriteNodeKey(security_, DeviceId(12), 1, "n12.key"));
  ASSERT_TRUE(node->PostReading(false, 1).ok());
  // Wait (bounded) until the gateway has dropped the idle session.
  for (int i = 0; i < 100 && server_->Counters().handshakes_ok == 1; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    if (i == 40) break;
  }
  ASSERT_TRUE(node->PostReading(false, 2).ok());
  EXPECT_EQ(node->handshakes(), 2);
  EXPECT_EQ(sink_.size(), 2u);
}

TEST_F(DtlsServerTest, LostSessionIsReestablished) {
  StartServer();
  auto node = Node(WriteNodeKey(security_, DeviceId(13), 1, "n13.key"));
  ASSERT_TRUE(node->PostReading(false, 1).ok());
  node->DropSession();
  ASSERT_TRUE(node->PostReading(false, 2).ok());
  EXPECT_EQ(node->handshakes(), 2);
}

TEST_F(DtlsServerTest, TwentyNodesRotateTheirKeysOverTheAir) {
  StartServer();
  constexpr int kNodes = 20;
  std::vector<std::unique_ptr<DtlsNode>> nodes;
  std::vector<std::string> old_keys;
  for (int i = 0; i < kNodes; ++i) {
    std::string id = DeviceId(100 + i);
    std::string file = WriteNodeKey(security_, id, 1, absl::StrCat("r", i, ".key"));
    // Keep a copy of the epoch-1 key to show it is rejected afterwards.
    old_keys.push_back(WriteNodeKey(security_, id, 1, absl::StrCat("old", i, ".key")));
    nodes.push_back(Node(file));
    ASSERT_TRUE(nodes.back()->PostReading(false, i).ok());
    // No rollover yet: nothing offered.
    absl::StatusOr<bool> offered = nodes.back()->RotateKeyIfOffered();
    ASSERT_TRUE(offered.ok());
    EXPECT_FALSE(*offered);
  }
  // Operator starts a rollover on the gateway (security.txt next_epoch = 2).
  SecurityConfig rollover = security_.Clone();
  rollover.next_epoch = 2;
  server_->ReplaceSecurity(rollover.Clone());
  for (auto& node : nodes) {
    absl::StatusOr<bool> rotated = node->RotateKeyIfOffered();
    ASSERT_TRUE(rotated.ok()) << rotated.status();
    EXPECT_TRUE(*rotated);
    EXPECT_EQ(node->epoch(), 2u);
    ASSERT_TRUE(node->PostReading(false, 1).ok());  // handshakes on epoch 2
  }
  EXPECT_EQ(server_->Counters().keys_served, static_cast<uint64_t>(kNodes));
  // Each node persisted its new key (mode 0600).
  for (int i = 0; i < kNodes; ++i) {
    absl::StatusOr<NodeKey> key =
        LoadNodeKey(absl::StrCat(testing::TempDir(), "/r", i, ".key"));
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->epoch, 2u);
    struct stat st;
    ASSERT_EQ(stat(absl::StrCat(testing::TempDir(), "/r", i, ".key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
  }
  // Retire epoch 1: epoch = 2, no next_epoch.
  SecurityConfig retired = security_.Clone();
  retired.epoch = 2;
  server_->ReplaceSecurity(std::move(retired));
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(nodes[i]->PostReading(false, 2).ok());
  }
  uint64_t refused_before = server_->Counters().unknown_identities;
  for (int i = 0; i < 3; ++i) {
    // The old key, presented with its epoch, is refused by identity...
    DtlsNodeOptions once;
    once.max_attempts = 1;
    auto old_node = Node(old_keys[i], once);
    EXPECT_FALSE(old_node->PostReading(false, 3).ok());
    // ...and presented as a bare device id it no longer matches.
    DtlsNodeOptions bare;
    bare.bare_identity = true;
    bare.max_attempts = 1;
    auto old_bare = Node(old_keys[i], bare);
    EXPECT_FALSE(old_bare->PostReading(false, 3).ok());
  }
  EXPECT_EQ(server_->Counters().unknown_identities, refused_before + 3);
  EXPECT_EQ(sink_.size(), static_cast<size_t>(3 * kNodes));
}

TEST(DtlsNodeTest, RefusesAKeyFileReadableByOthers) {
  SecurityConfig security = TestSecurity();
  std::string path = WriteNodeKey(security, DeviceId(1), 1, "wide.key");
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  DtlsNodeOptions options;
  options.key_file = path;
  absl::StatusOr<std::unique_ptr<DtlsNode>> node = DtlsNode::Open(options);
  ASSERT_FALSE(node.ok());
  EXPECT_NE(node.status().message().find("wide.key"), std::string::npos);
}

}  // namespace
}  // namespace cxsec::dtls
