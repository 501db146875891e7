// DtlsServer against the real libcoap GnuTLS DTLS stack, with DtlsNode as
// the client: every test runs real handshakes on a loopback UDP port.
#include "transports/dtls/dtls_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <span>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "core/deployment/telemetry_cbor.h"
#include "core/policy/concepts.h"
#include "core/seal/boringssl_seal_crypto.h"
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

// LossyRelay: a UDP relay on a free loopback port between one node and the
// server that can drop datagrams from the server to the node, as a lossy
// radio link would.
class LossyRelay {
 public:
  explicit LossyRelay(uint16_t server_port) {
    node_side_ = socket(AF_INET, SOCK_DGRAM, 0);
    server_side_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(node_side_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        getsockname(node_side_, reinterpret_cast<sockaddr*>(&address),
                    &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
    address.sin_port = htons(server_port);
    if (connect(server_side_, reinterpret_cast<sockaddr*>(&address),
                sizeof(address)) != 0) {
      port_ = 0;
      return;
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~LossyRelay() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    close(node_side_);
    close(server_side_);
  }
  uint16_t port() const { return port_; }  // 0: the relay did not start
  // The next `n` datagrams from the server are dropped.
  void DropFromServer(int n) { to_drop_.store(n); }
  int dropped() const { return dropped_.load(); }

 private:
  void Run() {
    sockaddr_in node{};
    socklen_t node_length = 0;
    uint8_t buffer[2048];
    while (!stopping_.load()) {
      pollfd fds[2] = {{node_side_, POLLIN, 0}, {server_side_, POLLIN, 0}};
      if (poll(fds, 2, 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        socklen_t length = sizeof(node);
        ssize_t n = recvfrom(node_side_, buffer, sizeof(buffer), 0,
                             reinterpret_cast<sockaddr*>(&node), &length);
        if (n > 0) {
          node_length = length;
          (void)!send(server_side_, buffer, static_cast<size_t>(n), 0);
        }
      }
      if (fds[1].revents & POLLIN) {
        ssize_t n = recv(server_side_, buffer, sizeof(buffer), 0);
        if (n <= 0 || node_length == 0) continue;
        if (to_drop_.load() > 0) {
          to_drop_.fetch_sub(1);
          dropped_.fetch_add(1);
          continue;
        }
        (void)!sendto(node_side_, buffer, static_cast<size_t>(n), 0,
                      reinterpret_cast<sockaddr*>(&node), node_length);
      }
    }
  }

  int node_side_ = -1;
  int server_side_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> to_drop_{0};
  std::atomic<int> dropped_{0};
  std::thread thread_;
};

// RecordingSink: a sink that keeps what it was given and can be told to
// fail, as a spool would when its disk is full.
struct RecordingSink {
  absl::Mutex mutex;
  std::vector<VerifiedMessage> messages;
  std::atomic<bool> fail{false};
  // The next call takes this long, as a slow disk would: the node's ACK
  // timer runs out and it retransmits.
  std::atomic<int> delay_next_ms{0};
  // > 0: each call waits (at most 3 s) until this many calls are in the
  // sink at once, as readings of several nodes sharing one spool commit
  // would be; `most_at_once` tells how many ever were.
  int hold_until_at_once = 0;
  int at_once = 0;
  int most_at_once = 0;

  MessageSink AsSink() {
    return [this](VerifiedMessage m) -> absl::Status {
      if (int delay = delay_next_ms.exchange(0); delay > 0) {
        absl::SleepFor(absl::Milliseconds(delay));
      }
      if (hold_until_at_once > 0) {
        absl::MutexLock lock(&mutex);
        ++at_once;
        most_at_once = std::max(most_at_once, at_once);
        mutex.AwaitWithTimeout(
            absl::Condition(
                +[](RecordingSink* s) { return s->at_once >= s->hold_until_at_once; },
                this),
            absl::Seconds(3));
        --at_once;
      }
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
  std::vector<std::string> ids() {
    absl::MutexLock lock(&mutex);
    std::vector<std::string> out;
    for (const VerifiedMessage& m : messages) out.push_back(m.message_id);
    return out;
  }
  // WaitForAtLeast waits (bounded) until `n` messages arrived.
  size_t WaitForAtLeast(size_t n, absl::Duration limit = absl::Seconds(15)) {
    absl::Time deadline = absl::Now() + limit;
    while (size() < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    return size();
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

  // Evicted waits (bounded) until the server has ended `n` sessions: it
  // ends them right after the pass that answered the request.
  uint64_t Evicted(uint64_t n) {
    for (int i = 0; i < 100 && server_->Counters().sessions_evicted < n; ++i) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    return server_->Counters().sessions_evicted;
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

// SealWithTestKeys: a sealed reading (docs/SEALED_READINGS.md) as a node
// makes it, under keys the gateway never sees.
Bytes SealWithTestKeys(ByteView reading, uint32_t sequence) {
  seal::DeviceSealKeys<seal::BoringSslSealCrypto> keys;
  const uint8_t mac[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const uint8_t enc[16] = {16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27};
  EXPECT_EQ(keys.Load(2, mac, enc), seal::SealReason::kNone);
  Bytes out(seal::SealedSize(seal::Transport::kDtlsCoap, reading.size()));
  auto sealed = seal::HostSealCodec::Seal(
      keys, seal::Transport::kDtlsCoap, seal::SealMode::kEncrypted, sequence,
      std::span<const uint8_t>(reading.data(), reading.size()),
      std::span<uint8_t>(out.data(), out.size()));
  EXPECT_TRUE(sealed.ok());
  return out;
}

// The gateway holds no sealing key: it forwards a sealed reading byte for
// byte, as the node sent it, under the session's device id.
TEST_F(DtlsServerTest, SealedReadingsAreForwardedByteForByte) {
  StartServer();
  const std::string id = DeviceId(30);
  const Bytes reading = EncodeTelemetry(false, {{"t", 21500}});
  const Bytes envelope = SealWithTestKeys(reading, 7);
  const Bytes heartbeat = SealWithTestKeys({}, 8);  // empty body: 13 bytes
  ASSERT_EQ(heartbeat.size(), seal::kDtlsOverhead);
  auto node = Node(WriteNodeKey(security_, id, 1, "n30.key"));
  ASSERT_TRUE(node->Post(envelope, kContentFormatOctetStream).ok());
  ASSERT_TRUE(node->Post(heartbeat, kContentFormatOctetStream).ok());
  // A node that seals through its options: PostReading posts the envelope.
  DtlsNodeOptions sealing;
  int sealed_calls = 0;
  sealing.seal_reading = [&](ByteView cbor) -> absl::StatusOr<Bytes> {
    ++sealed_calls;
    return SealWithTestKeys(cbor, 9);
  };
  auto sealing_node = Node(WriteNodeKey(security_, id, 1, "n30b.key"), sealing);
  ASSERT_TRUE(sealing_node->PostReading(false, 22000).ok());
  EXPECT_EQ(sealed_calls, 1);
  ASSERT_EQ(sink_.size(), 3u);
  EXPECT_EQ(sink_.messages[0].payload, envelope);
  EXPECT_EQ(sink_.messages[1].payload, heartbeat);
  EXPECT_EQ(sink_.messages[2].payload,
            SealWithTestKeys(EncodeTelemetry(false, {{"t", 22000}}), 9));
  for (const VerifiedMessage& m : sink_.messages) {
    EXPECT_EQ(m.device_id, id);
    EXPECT_EQ(m.transport, "dtls");
  }
  DtlsServerCounters c = server_->Counters();
  EXPECT_EQ(c.messages_accepted, 3u);
  EXPECT_EQ(c.sealed_accepted, 3u);
  EXPECT_EQ(c.malformed, 0u);
}

// Seal receipts (docs/SEALED_READINGS.md, "Receipts"): the 2.04 to a
// sealed reading carries what take_receipts gives for that device, once;
// an unsealed reading's 2.04 never asks for them.
TEST_F(DtlsServerTest, SealedReadingAnswersCarryTheDevicesPendingReceipts) {
  const std::string id = DeviceId(31);
  absl::Mutex mutex;
  std::vector<std::string> asked;
  Bytes pending(2 * 17);
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = static_cast<uint8_t>(i);
  DtlsServerOptions options;
  options.take_receipts = [&](absl::string_view device, size_t max_bytes) {
    absl::MutexLock lock(&mutex);
    asked.push_back(std::string(device));
    EXPECT_GE(max_bytes, 8u * 17u);
    return std::exchange(pending, Bytes());
  };
  StartServer(options);
  std::vector<Bytes> answers;
  DtlsNodeOptions sealing;
  uint32_t sequence = 1;
  sealing.seal_reading = [&](ByteView cbor) -> absl::StatusOr<Bytes> {
    return SealWithTestKeys(cbor, sequence++);
  };
  sealing.sealed_reading_fields = [] {
    return std::vector<std::pair<std::string, int64_t>>{{"ur", 0}, {"rs", -1}};
  };
  sealing.on_sealed_acknowledged = [&](ByteView envelope, ByteView answer) {
    EXPECT_EQ(envelope.size(), seal::SealedSize(seal::Transport::kDtlsCoap,
                                                envelope.size() - 13));
    answers.emplace_back(answer.begin(), answer.end());
  };
  auto node = Node(WriteNodeKey(security_, id, 1, "n31.key"), sealing);
  ASSERT_TRUE(node->Post(EncodeTelemetry(false, {{"t", 1}})).ok());
  {
    absl::MutexLock lock(&mutex);
    EXPECT_TRUE(asked.empty()) << "an unsealed reading asked for receipts";
  }
  ASSERT_TRUE(node->PostReading(false, 22000).ok());
  ASSERT_TRUE(node->PostReading(false, 22001).ok());
  ASSERT_EQ(answers.size(), 2u);
  Bytes expected(2 * 17);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(answers[0], expected);
  EXPECT_TRUE(answers[1].empty());  // taken once
  {
    absl::MutexLock lock(&mutex);
    EXPECT_EQ(asked, (std::vector<std::string>{id, id}));
  }
  // The data map carried the node's fields inside the envelope.
  ASSERT_EQ(sink_.size(), 3u);
  EXPECT_EQ(sink_.messages[1].payload,
            SealWithTestKeys(EncodeTelemetry(false, {{"t", 22000}, {"ur", 0},
                                                     {"rs", -1}}),
                             1));
  EXPECT_EQ(server_->Counters().receipts_bytes_sent, 2u * 17u);
}

// What the gateway can check of an envelope, it checks (size, version) and
// names; the tag it cannot check, so an envelope with a wrong tag is the
// verifier's to refuse.
TEST_F(DtlsServerTest, MalformedSealedReadingsAreRefusedWithTheReason) {
  DtlsServerOptions options;
  options.max_payload_bytes = 64;
  StartServer(options);
  auto node = Node(WriteNodeKey(security_, DeviceId(31), 1, "n31.key"));
  // Header byte of version 1 (0x20..0x3f) but shorter than header,
  // sequence and tag.
  for (const Bytes& truncated :
       {Bytes{0x20}, Bytes{0x31, 0, 0, 0, 1}, Bytes(12, 0x3f)}) {
    absl::StatusOr<CoapResponse> r =
        node->Exchange(2, "t", truncated, false, kContentFormatOctetStream);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->code, 400);
    std::string why(r->body.begin(), r->body.end());
    EXPECT_NE(why.find("sealed reading: truncated"), std::string::npos) << why;
  }
  // Larger than the gateway's payload limit: 4.13, like any payload.
  absl::StatusOr<CoapResponse> r = node->Exchange(
      2, "t", SealWithTestKeys(Bytes(60, 0xab), 1), false,
      kContentFormatOctetStream);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 413);
  // Well-formed, tag unknowable to the gateway: forwarded.
  Bytes forged(seal::kDtlsOverhead + 4, 0x5a);
  forged[0] = 0x3f;
  ASSERT_TRUE(node->Post(forged, kContentFormatOctetStream).ok());
  ASSERT_EQ(sink_.size(), 1u);
  EXPECT_EQ(sink_.messages[0].payload, forged);
  DtlsServerCounters c = server_->Counters();
  EXPECT_EQ(c.malformed, 3u);
  EXPECT_EQ(c.too_large, 1u);
  EXPECT_EQ(c.sealed_accepted, 1u);
  // The CBOR path is unchanged: a broken map is still 4.00 as CBOR.
  r = node->Exchange(2, "t", Bytes{0xa1, 0x62});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 400);
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

// libcoap walks every session before and after each datagram; the server
// limits that to one walk per interval (session_walk_limiter.h). The
// counters prove libcoap's calls reach the limiter in this binary (walks)
// and that datagrams share walks (skipped), while every reading is still
// answered; the next test shows the idle timeout still fires.
TEST_F(DtlsServerTest, DatagramsShareLibcoapsWalkOverEverySession) {
  StartServer();
  auto node = Node(WriteNodeKey(security_, DeviceId(13), 1, "n13.key"));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(node->PostReading(false, i).ok());
  EXPECT_EQ(sink_.size(), 10u);
  DtlsServerCounters c = server_->Counters();
  EXPECT_GT(c.session_walks, 0u);
  EXPECT_GT(c.session_walks_skipped, 0u);
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

// Issue 18 item 2: a rollover that recovers from a compromise. With a
// fresh master secret the next epoch's keys cannot be derived from a copied
// security.txt; a device marked compromised is refused (new handshakes, its
// open session, GET /k) until it is provisioned again with a next-epoch key.
TEST_F(DtlsServerTest, RolloverWithAFreshMasterAndACompromisedDevice) {
  StartServer();
  const std::string honest_id = DeviceId(200);
  const std::string stolen_id = DeviceId(201);
  auto honest = Node(WriteNodeKey(security_, honest_id, 1, "honest.key"));
  auto stolen = Node(WriteNodeKey(security_, stolen_id, 1, "stolen.key"));
  ASSERT_TRUE(honest->PostReading(false, 1).ok());
  ASSERT_TRUE(stolen->PostReading(false, 1).ok());
  // What someone who copied security.txt before the rollover holds.
  SecurityConfig copied = security_.Clone();

  SecurityConfig rollover = security_.Clone();
  rollover.next_epoch = 2;
  rollover.next_master_secret = *SecretBytes::Random(kMasterSecretBytes);
  rollover.compromised[stolen_id] = 2;
  server_->ReplaceSecurity(rollover.Clone());

  // The stolen device's open session is refused at once, and so is a new
  // handshake with its epoch-1 key; it cannot fetch the next key.
  DtlsNodeOptions once;
  once.max_attempts = 1;
  EXPECT_FALSE(stolen->PostReading(false, 2).ok());
  EXPECT_FALSE(stolen->RotateKeyIfOffered().ok());
  auto stolen_again =
      Node(WriteNodeKey(security_, stolen_id, 1, "stolen2.key"), once);
  EXPECT_FALSE(stolen_again->PostReading(false, 3).ok());

  // The honest node moves to epoch 2 over the air; its new key comes from
  // the fresh master, not from the copied one.
  absl::StatusOr<bool> rotated = honest->RotateKeyIfOffered();
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  ASSERT_TRUE(*rotated);
  ASSERT_TRUE(honest->PostReading(false, 4).ok());
  absl::StatusOr<NodeKey> moved =
      LoadNodeKey(absl::StrCat(testing::TempDir(), "/honest.key"));
  ASSERT_TRUE(moved.ok());
  absl::StatusOr<SecretBytes> from_copy =
      DeriveDevicePsk(copied.master_secret, honest_id, 2);
  ASSERT_TRUE(from_copy.ok());
  EXPECT_FALSE(moved->psk.Equals(*from_copy));
  // A node keyed from the copied master for epoch 2 is refused.
  copied.next_epoch = 2;
  auto forged = Node(WriteNodeKey(copied, honest_id, 2, "forged.key"), once);
  EXPECT_FALSE(forged->PostReading(false, 5).ok());

  // Re-provisioned out of band with a key of epoch 2, the stolen device's
  // owner is back (the thief's epoch-1 key stays refused).
  auto reprovisioned =
      Node(WriteNodeKey(rollover, stolen_id, 2, "reprovisioned.key"));
  ASSERT_TRUE(reprovisioned->PostReading(false, 6).ok());
  // Readings 1 and 1 before the rollover, 4 and 6 after; the stolen key's
  // reading 2 and the forged 5 never reached the sink.
  EXPECT_EQ(sink_.WaitForAtLeast(4), 4u);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(sink_.size(), 4u);
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

// -- message ids ------------------------------------------------------------

// RunCoapClient runs Debian's coap-client-openssl (an independent CoAP and
// DTLS stack) once: a CON POST /t of one reading, identity and raw PSK
// bytes as arguments (execv passes any byte but NUL), `extra` arguments
// before the URL. Returns its exit status; its output goes to `out`.
int RunCoapClient(uint16_t port, const std::string& identity,
                  const std::string& psk, const std::string& payload_file,
                  std::vector<std::string> extra = {},
                  const std::string& out = "/dev/null") {
  std::vector<std::string> args = {
      "coap-client-openssl", "-m", "post",   "-t", "60", "-B", "10", "-f",
      payload_file,          "-u", identity, "-k", psk};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(absl::StrCat("coaps://127.0.0.1:", port, "/t"));
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execv("/usr/bin/coap-client-openssl", argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class CoapClientTest : public DtlsServerTest {
 protected:
  void SetUp() override {
    if (access("/usr/bin/coap-client-openssl", X_OK) != 0) {
      GTEST_SKIP() << "Debian's libcoap3-bin is not installed";
    }
    // A PSK with no NUL byte can be passed on a command line.
    for (int n = 300; psk_.empty(); ++n) {
      SecretBytes key =
          *DeriveDevicePsk(security_.master_secret, DeviceId(n), 1);
      ByteView raw = key.Reveal(SecretAccess::Grant());
      if (std::find(raw.begin(), raw.end(), 0) != raw.end()) continue;
      id_ = DeviceId(n);
      psk_.assign(raw.begin(), raw.end());
    }
    payload_ = absl::StrCat(testing::TempDir(), "/reading.cbor");
    Bytes cbor = EncodeTelemetry(false, {{"t", 21500}});
    ASSERT_TRUE(WriteFileAtomically(payload_,
                                    std::string(cbor.begin(), cbor.end()), 0600)
                    .ok());
  }
  int Post(std::vector<std::string> extra = {},
           const std::string& out = "/dev/null") {
    return RunCoapClient(port_, id_, psk_, payload_, std::move(extra), out);
  }

  std::string id_, psk_, payload_;
};

// coap-client starts every run at token 01 (and a random message id):
// two runs are two readings and must reach the sink under two ids. With
// `<device>-<token>` the second was a "duplicate": acknowledged 2.04 and
// dropped by the spool and the verifier.
TEST_F(CoapClientTest, TwoRunsAreTwoReadings) {
  StartServer();
  ASSERT_EQ(Post(), 0);
  ASSERT_EQ(Post(), 0);
  ASSERT_EQ(sink_.WaitForAtLeast(2), 2u);
  std::vector<std::string> ids = sink_.ids();
  EXPECT_NE(ids[0], ids[1]);
  for (const std::string& m : ids) {
    EXPECT_TRUE(absl::StartsWith(m, absl::StrCat(id_, "-s"))) << m;
  }
  EXPECT_EQ(server_->Counters().messages_accepted, 2u);
}

// A third-party client that sends a reading id (option 65000) gets one id
// for the same reading in two sessions; a malformed one is refused (4.02)
// and nothing is queued.
TEST_F(CoapClientTest, ReadingIdOptionNamesTheReading) {
  StartServer();
  ASSERT_EQ(Post({"-O", "65000,0x0a0b0c"}), 0);
  ASSERT_EQ(Post({"-O", "65000,0x0a0b0c"}), 0);
  ASSERT_EQ(sink_.WaitForAtLeast(2), 2u);
  EXPECT_EQ(sink_.ids()[0], absl::StrCat(id_, "-r0a0b0c"));
  EXPECT_EQ(sink_.ids()[1], sink_.ids()[0]);
  std::string out = absl::StrCat(testing::TempDir(), "/client.out");
  Post({"-O", absl::StrCat("65000,0x", std::string(2 * 17, 'a'))}, out);
  absl::StatusOr<std::string> answer = ReadFileBounded(out, 4096);
  ASSERT_TRUE(answer.ok());
  EXPECT_NE(answer->find("4.02"), std::string::npos) << *answer;
  EXPECT_EQ(sink_.size(), 2u);
}

// Answered in the handler (commit_threads = 0), a CON whose piggy-backed
// 2.04 comes late is retransmitted with the same message id and token, and
// libcoap hands each copy to the handler: the copies must carry one
// message id, so the spool stores the reading once.
TEST_F(DtlsServerTest, RetransmissionKeepsItsMessageId) {
  DtlsServerOptions options;
  options.commit_threads = 0;
  StartServer(options);
  auto node = Node(WriteNodeKey(security_, DeviceId(20), 1, "n20.key"));
  sink_.delay_next_ms = 2500;  // the node's ACK timeout is 1 s
  absl::StatusOr<CoapResponse> r =
      node->Exchange(2 /*POST*/, "t", EncodeTelemetry(false, {{"t", 1}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->code, 204);
  ASSERT_GE(sink_.WaitForAtLeast(2, absl::Seconds(5)), 2u);
  std::vector<std::string> ids = sink_.ids();
  for (const std::string& m : ids) EXPECT_EQ(m, ids[0]);
  // The next request in the session is a new reading.
  ASSERT_TRUE(node->Exchange(2, "t", EncodeTelemetry(false, {{"t", 2}})).ok());
  EXPECT_NE(sink_.ids().back(), ids[0]);
  EXPECT_TRUE(absl::EndsWith(sink_.ids().back(), "-2")) << sink_.ids().back();
}

// With commit threads (the default) a commit that ends within the node's
// ACK timeout is answered on the request's ACK: one datagram each way,
// where a separate answer costs four (empty ACK, CON 2.04, its ACK).
TEST_F(DtlsServerTest, FastCommitIsAnsweredOnTheAck) {
  StartServer();
  auto node = Node(WriteNodeKey(security_, DeviceId(22), 1, "n22.key"));
  for (int t = 1; t <= 3; ++t) {
    absl::StatusOr<CoapResponse> r =
        node->Exchange(2 /*POST*/, "t", EncodeTelemetry(false, {{"t", t}}));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->code, 204);
    EXPECT_TRUE(r->piggybacked) << "reading " << t;
  }
  EXPECT_EQ(sink_.size(), 3u);
  EXPECT_EQ(server_->Counters().answers_separate, 0u);
}

// A 2.04 lost on its way to the node: the node retransmits its request
// after the answer went out and gets the same answer again, instead of the
// reading going through the sink (and taking the device's seal receipts)
// a second time.
TEST_F(DtlsServerTest, RetransmissionAfterALostAnswerGetsTheSameAnswer) {
  StartServer();
  LossyRelay relay(port_);
  ASSERT_NE(relay.port(), 0);
  DtlsNodeOptions options;
  options.gateway_port = relay.port();
  options.key_file = WriteNodeKey(security_, DeviceId(23), 1, "n23.key");
  options.ack_timeout_seconds = 1;
  options.max_retransmit = 2;
  absl::StatusOr<std::unique_ptr<DtlsNode>> node = DtlsNode::Open(options);
  ASSERT_TRUE(node.ok()) << node.status();
  ASSERT_TRUE((*node)->PostReading(false, 1).ok());  // handshake, reading 1
  ASSERT_EQ(sink_.size(), 1u);
  relay.DropFromServer(1);  // reading 2's piggy-backed 2.04
  absl::StatusOr<CoapResponse> r =
      (*node)->Exchange(2 /*POST*/, "t", EncodeTelemetry(false, {{"t", 2}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->code, 204);
  EXPECT_TRUE(r->piggybacked);
  EXPECT_EQ(relay.dropped(), 1);
  EXPECT_EQ(sink_.size(), 2u);
  EXPECT_EQ(server_->Counters().answers_repeated, 1u);
  EXPECT_EQ(server_->Counters().messages_accepted, 2u);
}

// A slow commit is answered separately: the node's retransmission gets an
// empty ACK instead of reaching the sink a second time, and the 2.04
// follows once the commit is done.
TEST_F(DtlsServerTest, SlowCommitIsAnsweredSeparatelyAndQueuedOnce) {
  StartServer();
  auto node = Node(WriteNodeKey(security_, DeviceId(21), 1, "n21.key"));
  sink_.delay_next_ms = 2500;  // the node's ACK timeout is 1 s
  absl::StatusOr<CoapResponse> r =
      node->Exchange(2 /*POST*/, "t", EncodeTelemetry(false, {{"t", 1}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->code, 204);
  EXPECT_FALSE(r->piggybacked);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(sink_.size(), 1u);
  EXPECT_EQ(server_->Counters().messages_accepted, 1u);
  EXPECT_EQ(server_->Counters().answers_separate, 1u);
  absl::StatusOr<CoapResponse> next =
      node->Exchange(2, "t", EncodeTelemetry(false, {{"t", 2}}));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->piggybacked);
  EXPECT_EQ(sink_.size(), 2u);
}

// Readings of several nodes are in the sink at the same time (so the
// spool can commit them with one fsync): with the sink called on the
// server's thread, as before, never more than one was.
TEST_F(DtlsServerTest, ReadingsOfSeveralNodesAreQueuedAtOnce) {
  StartServer();
  constexpr int kNodes = 4;
  std::vector<std::unique_ptr<DtlsNode>> nodes;
  for (int i = 0; i < kNodes; ++i) {
    nodes.push_back(Node(WriteNodeKey(security_, DeviceId(30 + i), 1,
                                      absl::StrCat("n", 30 + i, ".key"))));
    ASSERT_NE(nodes.back(), nullptr);
    // Handshake first, so the readings below arrive close together.
    ASSERT_TRUE(nodes.back()->PostReading(false, 1).ok());
  }
  sink_.hold_until_at_once = kNodes;
  std::vector<std::thread> posts;
  std::atomic<int> answered{0};
  for (auto& node : nodes) {
    posts.emplace_back([&node, &answered] {
      if (node->PostReading(false, 2).ok()) ++answered;
    });
  }
  for (std::thread& t : posts) t.join();
  EXPECT_EQ(answered.load(), kNodes);
  EXPECT_EQ(sink_.most_at_once, kNodes);
  EXPECT_EQ(sink_.size(), 2u * kNodes);
}

// cxsec-node's reading id: a retry in a new DTLS session (the first timed
// out while the spool was slow) is the same reading, so exactly-once holds
// across reconnects, which a per-session id alone could not give.
TEST_F(DtlsServerTest, NodeRetryInANewSessionKeepsItsReadingId) {
  StartServer();
  DtlsNodeOptions impatient;
  impatient.request_timeout = absl::Milliseconds(1500);
  impatient.max_attempts = 4;
  auto node =
      Node(WriteNodeKey(security_, DeviceId(21), 1, "n21.key"), impatient);
  sink_.delay_next_ms = 3000;
  ASSERT_TRUE(node->PostReading(false, 7).ok());
  EXPECT_GE(node->handshakes(), 1);
  ASSERT_GE(sink_.WaitForAtLeast(2, absl::Seconds(5)), 2u);
  std::vector<std::string> ids = sink_.ids();
  EXPECT_TRUE(absl::StartsWith(ids[0], absl::StrCat(DeviceId(21), "-r")))
      << ids[0];
  for (const std::string& m : ids) EXPECT_EQ(m, ids[0]);
  EXPECT_GE(server_->Counters().handshakes_ok, 2u);
}

// -- sessions per identity
// -----------------------------------------------------

TEST_F(DtlsServerTest, OneIdentityCannotTakeEverySessionSlot) {
  DtlsServerOptions options;
  options.max_sessions = 5;
  options.max_sessions_per_identity = 2;
  StartServer(options);
  std::string key = WriteNodeKey(security_, DeviceId(30), 1, "n30.key");
  auto a = Node(key);
  auto b = Node(key);
  auto c = Node(key);
  ASSERT_TRUE(a->PostReading(false, 1).ok());
  ASSERT_TRUE(b->PostReading(false, 1).ok());
  EXPECT_EQ(server_->Counters().sessions_evicted, 0u);
  // A third session of the same key ends the oldest (a's).
  ASSERT_TRUE(c->PostReading(false, 1).ok());
  EXPECT_EQ(Evicted(1), 1u);
  // Another device still finds free slots, and is not touched.
  auto other = Node(WriteNodeKey(security_, DeviceId(31), 1, "n31.key"));
  ASSERT_TRUE(other->PostReading(false, 1).ok());
  auto other2 = Node(WriteNodeKey(security_, DeviceId(32), 1, "n32.key"));
  ASSERT_TRUE(other2->PostReading(false, 1).ok());
  EXPECT_EQ(server_->Counters().sessions_refused, 0u);
  // b and c kept their sessions; a must handshake again (evicting b).
  ASSERT_TRUE(b->PostReading(false, 2).ok());
  ASSERT_TRUE(c->PostReading(false, 2).ok());
  EXPECT_EQ(b->handshakes(), 1);
  EXPECT_EQ(c->handshakes(), 1);
  ASSERT_TRUE(a->PostReading(false, 2).ok());
  EXPECT_EQ(a->handshakes(), 2);
  EXPECT_EQ(Evicted(2), 2u);
  ASSERT_TRUE(other->PostReading(false, 2).ok());
  EXPECT_EQ(other->handshakes(), 1);
}

// The identity is public (a device id), the key is not: handshakes under a
// node's identity with a wrong key never end the node's session.
TEST_F(DtlsServerTest, FailedHandshakesUnderAnIdentityEvictNothing) {
  DtlsServerOptions options;
  options.max_sessions_per_identity = 1;
  StartServer(options);
  std::string id = DeviceId(33);
  auto node = Node(WriteNodeKey(security_, id, 1, "n33.key"));
  ASSERT_TRUE(node->PostReading(false, 1).ok());
  SecurityConfig other = TestSecurity();
  DtlsNodeOptions once;
  once.max_attempts = 1;
  for (int i = 0; i < 2; ++i) {
    auto forger = Node(WriteNodeKey(other, id, 1, "forged33.key"), once);
    EXPECT_FALSE(forger->PostReading(false, 9).ok());
  }
  ASSERT_TRUE(node->PostReading(false, 2).ok());
  EXPECT_EQ(node->handshakes(), 1);
  EXPECT_EQ(server_->Counters().sessions_evicted, 0u);
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
