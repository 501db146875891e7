// Tests of the gateway's Mioty transport: every addressing form verifies
// and reaches the sink with the right ids; each rejection the issue names
// (wrong key, bit flips, truncation, unknown address, replay, replay after
// restart, too large a jump) is refused; a refusing sink does not consume
// the counter; colliding short addresses are resolved by trying each key;
// keys reload from their file without a restart; and frames arrive over
// real UDP.
#include "transports/mioty/mioty_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/encoding/hex.h"
#include "core/policy/concepts.h"
#include "core/policy/transport_set.h"
#include "gtest/gtest.h"

namespace cxsec::mioty {
namespace {

static_assert(Transport<MiotyTransport>);

constexpr char kKeyA[] = "2b7e151628aed2a6abf7158809cf4f3c";
constexpr char kKeyB[] = "000102030405060708090a0b0c0d0e0f";
const char* const kEuiA = "70b3d56770001234";
const char* const kEuiB = "0011223344551234";  // same short address 1234
// The ids the gateway sends them under: D + the EUI-64 in upper case, the
// same form as a DTLS device's id.
const char* const kIdA = "D70B3D56770001234";
const char* const kIdB = "D0011223344551234";

std::string TempDir(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

MiotyKeyStore Store() {
  MiotyKeyStore store;
  absl::StatusOr<ImportReport> report =
      store.Import(std::string(kEuiA) + ",1234," + kKeyA + "\n" + kEuiB +
                       ",1234," + kKeyB + "\n",
                   "test");
  EXPECT_TRUE(report.ok()) << report.status();
  return store;
}

Bytes Frame(const char* eui_hex, const char* key_hex, uint32_t counter,
            bool long_addressing = false, std::optional<uint8_t> mpf = {},
            Bytes payload = {1, 2, 3}) {
  absl::StatusOr<MiotyNetworkKey> key =
      MiotyNetworkKey::FromBytes(*HexDecode(key_hex));
  UplinkParams params;
  params.eui = *EuiFromHex(eui_hex);
  params.short_address = ShortAddressOf(params.eui);
  params.counter = counter;
  params.long_addressing = long_addressing;
  params.mpf = mpf;
  return *EncodeUplink(*key, params, payload);
}

class MiotyTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    StartTransport();
  }
  void TearDown() override { transport_->Stop(); }

  void StartTransport(ReplayPolicy policy = {}) {
    if (transport_) transport_->Stop();
    transport_.emplace(MiotyTransportConfig{.state_dir = dir_, .replay = policy},
                       Store());
    ASSERT_TRUE(transport_
                    ->Start([this](VerifiedMessage m) {
                      absl::MutexLock lock(&mu_);
                      if (!sink_status_.ok()) return sink_status_;
                      messages_.push_back(std::move(m));
                      return absl::OkStatus();
                    })
                    .ok());
  }

  std::vector<VerifiedMessage> Messages() {
    absl::MutexLock lock(&mu_);
    return messages_;
  }

  std::string dir_;
  std::optional<MiotyTransport> transport_;
  absl::Mutex mu_;
  absl::Status sink_status_;
  std::vector<VerifiedMessage> messages_;
};

TEST_F(MiotyTransportTest, AllFormsReachTheSinkWithIds) {
  uint32_t counter = 1;
  for (bool long_addressing : {false, true}) {
    for (bool mpf : {false, true}) {
      Bytes frame = Frame(kEuiA, kKeyA, counter, long_addressing,
                          mpf ? std::optional<uint8_t>(7) : std::nullopt,
                          Bytes{0xa1, 0x61, 0x6e, uint8_t(counter)});
      absl::Status status = transport_->HandleFrame(frame);
      ASSERT_TRUE(status.ok()) << status;
      ++counter;
    }
  }
  std::vector<VerifiedMessage> messages = Messages();
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[0].device_id, kIdA);
  EXPECT_EQ(messages[0].transport, "mioty");
  EXPECT_EQ(messages[0].message_id, std::string("mioty-") + kIdA + "-1");
  EXPECT_EQ(messages[3].payload, (Bytes{0xa1, 0x61, 0x6e, 4}));
  EXPECT_EQ(transport_->stats().accepted, 4u);
}

TEST_F(MiotyTransportTest, CollidingShortAddressTriesEachKey) {
  ASSERT_TRUE(transport_->HandleFrame(Frame(kEuiB, kKeyB, 5)).ok());
  ASSERT_TRUE(transport_->HandleFrame(Frame(kEuiA, kKeyA, 5)).ok());
  std::vector<VerifiedMessage> messages = Messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].device_id, kIdB);
  EXPECT_EQ(messages[1].device_id, kIdA);
}

TEST_F(MiotyTransportTest, Rejections) {
  Bytes good = Frame(kEuiA, kKeyA, 10);
  // Wrong key (a key registered for neither device).
  EXPECT_FALSE(transport_->HandleFrame(
      Frame(kEuiA, "ffffffffffffffffffffffffffffffff", 10)).ok());
  // Every bit flip.
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = good;
      bad[i] ^= uint8_t(1 << bit);
      EXPECT_FALSE(transport_->HandleFrame(bad).ok()) << i << "/" << bit;
    }
  }
  // Truncation.
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(transport_->HandleFrame(ByteView(good.data(), n)).ok()) << n;
  }
  // Unknown short address and unknown EUI-64.
  EXPECT_EQ(transport_->HandleFrame(Frame("0011223344559999", kKeyA, 1)).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(transport_->HandleFrame(
                Frame("0011223344559999", kKeyA, 1, /*long=*/true)).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(Messages().empty());
  // The untouched frame is accepted once; its replay is not.
  ASSERT_TRUE(transport_->HandleFrame(good).ok());
  absl::Status replay = transport_->HandleFrame(good);
  EXPECT_EQ(replay.code(), absl::StatusCode::kPermissionDenied) << replay;
  EXPECT_FALSE(transport_->HandleFrame(Frame(kEuiA, kKeyA, 9)).ok());
  // Too large a jump (default maximum 65536).
  absl::Status jump = transport_->HandleFrame(Frame(kEuiA, kKeyA, 10 + 70000));
  EXPECT_EQ(jump.code(), absl::StatusCode::kPermissionDenied) << jump;
  EXPECT_TRUE(transport_->HandleFrame(Frame(kEuiA, kKeyA, 10 + 65536)).ok());
  EXPECT_EQ(Messages().size(), 2u);
}

TEST_F(MiotyTransportTest, ReplayAfterRestartIsRejected) {
  Bytes frame = Frame(kEuiA, kKeyA, 0x00fffffe);
  ASSERT_TRUE(transport_->HandleFrame(frame).ok());
  StartTransport();  // a new transport (new process state), same directory
  EXPECT_EQ(transport_->HandleFrame(frame).code(),
            absl::StatusCode::kPermissionDenied);
  // Upper counter bits are rebuilt from the persisted counter across the
  // 24-bit wrap: counter 0x01000001 is sent as low bits 000001.
  ASSERT_TRUE(transport_->HandleFrame(Frame(kEuiA, kKeyA, 0x01000001)).ok());
  EXPECT_EQ(Messages().back().message_id,
            std::string("mioty-") + kIdA + "-16777217");
}

TEST_F(MiotyTransportTest, RefusingSinkDoesNotConsumeTheCounter) {
  Bytes frame = Frame(kEuiA, kKeyA, 3);
  {
    absl::MutexLock lock(&mu_);
    sink_status_ = absl::UnavailableError("spool full");
  }
  EXPECT_EQ(transport_->HandleFrame(frame).code(),
            absl::StatusCode::kUnavailable);
  {
    absl::MutexLock lock(&mu_);
    sink_status_ = absl::OkStatus();
  }
  StartTransport();  // the rollback was persisted too
  EXPECT_TRUE(transport_->HandleFrame(frame).ok());
}

TEST_F(MiotyTransportTest, OutOfOrderWindowIsConfigurable) {
  StartTransport(ReplayPolicy{.window = 8});
  ASSERT_TRUE(transport_->HandleFrame(Frame(kEuiA, kKeyA, 20)).ok());
  EXPECT_TRUE(transport_->HandleFrame(Frame(kEuiA, kKeyA, 17)).ok());
  EXPECT_FALSE(transport_->HandleFrame(Frame(kEuiA, kKeyA, 17)).ok());
  EXPECT_FALSE(transport_->HandleFrame(Frame(kEuiA, kKeyA, 12)).ok());
}

TEST_F(MiotyTransportTest, FramesArriveOverUdp) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(transport_->port());
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  for (uint32_t counter = 1; counter <= 5; ++counter) {
    Bytes frame = Frame(kEuiA, kKeyA, counter);
    ASSERT_EQ(::sendto(fd, frame.data(), frame.size(), 0,
                       reinterpret_cast<sockaddr*>(&to), sizeof(to)),
              static_cast<ssize_t>(frame.size()));
  }
  Bytes replay = Frame(kEuiA, kKeyA, 5);
  ::sendto(fd, replay.data(), replay.size(), 0,
           reinterpret_cast<sockaddr*>(&to), sizeof(to));
  ::close(fd);
  // Bounded wait for the receive thread (no timing assertion: only a cap).
  for (int i = 0; i < 500 && transport_->stats().accepted +
                                     transport_->stats().rejected < 6;
       ++i) {
    ::usleep(10000);
  }
  EXPECT_EQ(transport_->stats().accepted, 5u);
  EXPECT_EQ(transport_->stats().rejected, 1u);
  EXPECT_EQ(Messages().size(), 5u);
}

// Keys change without a restart: a device added to the file is accepted
// after ReloadKeys, a removed one is not, and a bad file changes nothing.
// A gateway with no replay state for a device (new, roaming, state wiped)
// took any counter, so a recorded old frame was accepted once more. The
// key store's minimum counter is the floor it falls back on; it also
// rebuilds the upper counter bits of a device already above 2^24.
TEST(MiotyTransportMinCounterTest, NoStateFallsBackOnTheKeyStoreMinimum) {
  const uint32_t kMin = 305419896;  // 0x12345678: above 2^24
  MiotyKeyStore store;
  ASSERT_TRUE(store
                  .Import(std::string(kEuiA) + ",1234," + kKeyA + "," +
                              std::to_string(kMin) + "\n",
                          "test")
                  .ok());
  const std::string dir = TempDir("min_counter");
  MiotyTransport transport(MiotyTransportConfig{.state_dir = dir},
                           std::move(store));
  std::vector<VerifiedMessage> messages;
  ASSERT_TRUE(transport
                  .Start([&](VerifiedMessage m) {
                    messages.push_back(std::move(m));
                    return absl::OkStatus();
                  })
                  .ok());
  // Old frames, recorded before the device came here: refused.
  for (uint32_t old_counter : {1u, 5000u, kMin - 1}) {
    absl::Status status =
        transport.HandleFrame(Frame(kEuiA, kKeyA, old_counter));
    EXPECT_FALSE(status.ok()) << old_counter;
  }
  absl::Status below = transport.HandleFrame(Frame(kEuiA, kKeyA, kMin - 1));
  EXPECT_EQ(below.code(), absl::StatusCode::kPermissionDenied) << below;
  EXPECT_NE(below.message().find("minimum counter"), std::string::npos)
      << below;
  EXPECT_TRUE(messages.empty());
  // The device's next frame is taken, its upper bits rebuilt from the floor.
  ASSERT_TRUE(transport.HandleFrame(Frame(kEuiA, kKeyA, kMin + 3)).ok());
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].message_id,
            std::string("mioty-") + kIdA + "-" + std::to_string(kMin + 3));
  EXPECT_FALSE(transport.HandleFrame(Frame(kEuiA, kKeyA, kMin + 3)).ok());
  transport.Stop();
}

// A minimum raised in the key file applies after a reload, above a
// stored state that it makes stale.
TEST(MiotyTransportReloadTest, RaisedMinimumCounterAppliesAfterReload) {
  const std::string dir = TempDir("reload_min");
  ASSERT_EQ(std::system(("mkdir -p " + dir + "/state").c_str()), 0);
  const std::string keys = dir + "/keys.json";
  MiotyKeyStore store;
  ASSERT_TRUE(
      store.Import(std::string(kEuiA) + ",1234," + kKeyA + "\n", "test").ok());
  ASSERT_TRUE(store.Save(keys).ok());
  MiotyTransport transport(MiotyTransportConfig{.key_store_path = keys,
                                                .state_dir = dir + "/state"});
  ASSERT_TRUE(
      transport.Start([](VerifiedMessage) { return absl::OkStatus(); }).ok());
  ASSERT_TRUE(transport.HandleFrame(Frame(kEuiA, kKeyA, 10)).ok());
  ASSERT_TRUE(store.SetMinCounter(*EuiFromHex(kEuiA), 100).ok());
  ASSERT_TRUE(store.Save(keys).ok());
  ASSERT_TRUE(transport.ReloadKeys().ok());
  EXPECT_FALSE(transport.HandleFrame(Frame(kEuiA, kKeyA, 11)).ok());
  EXPECT_TRUE(transport.HandleFrame(Frame(kEuiA, kKeyA, 100)).ok());
  EXPECT_FALSE(transport.HandleFrame(Frame(kEuiA, kKeyA, 100)).ok());
  transport.Stop();
}

TEST(MiotyTransportReloadTest, ReloadPutsTheFileInUseAndKeepsKeysOnError) {
  const std::string dir = TempDir("reload");
  ASSERT_EQ(std::system(("mkdir -p " + dir + "/state").c_str()), 0);
  const std::string keys = dir + "/keys.json";
  MiotyKeyStore only_a;
  ASSERT_TRUE(only_a.Import(std::string(kEuiA) + ",1234," + kKeyA + "\n", "test").ok());
  ASSERT_TRUE(only_a.Save(keys).ok());
  std::vector<std::string> delivered;
  std::mutex mu;
  MiotyTransport transport(
      MiotyTransportConfig{.key_store_path = keys, .state_dir = dir + "/state"});
  ASSERT_TRUE(transport
                  .Start([&](VerifiedMessage m) {
                    std::lock_guard<std::mutex> lock(mu);
                    delivered.push_back(m.device_id);
                    return absl::OkStatus();
                  })
                  .ok());
  const char* const kEuiC = "70b3d5677000abcd";
  EXPECT_TRUE(transport.HandleFrame(Frame(kEuiA, kKeyA, 1)).ok());
  EXPECT_FALSE(transport.HandleFrame(Frame(kEuiC, kKeyB, 1, true)).ok());

  MiotyKeyStore a_and_c;
  ASSERT_TRUE(a_and_c
                  .Import(std::string(kEuiA) + ",1234," + kKeyA + "\n" + kEuiC +
                              ",abcd," + kKeyB + "\n",
                          "test")
                  .ok());
  ASSERT_TRUE(a_and_c.Save(keys).ok());
  absl::StatusOr<size_t> devices = transport.ReloadKeys();
  ASSERT_TRUE(devices.ok()) << devices.status();
  EXPECT_EQ(*devices, 2u);
  EXPECT_TRUE(transport.HandleFrame(Frame(kEuiC, kKeyB, 1, true)).ok());
  // Replay state survives the reload: A's counter 1 is still used.
  EXPECT_FALSE(transport.HandleFrame(Frame(kEuiA, kKeyA, 1)).ok());
  EXPECT_TRUE(transport.HandleFrame(Frame(kEuiA, kKeyA, 2)).ok());

  // A file others may read is refused whole; the keys in use stay.
  ASSERT_EQ(::chmod(keys.c_str(), 0644), 0);
  absl::StatusOr<size_t> refused = transport.ReloadKeys();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find(keys), std::string::npos)
      << refused.status();
  EXPECT_TRUE(transport.HandleFrame(Frame(kEuiC, kKeyB, 2, true)).ok());

  // Removing a device from the file removes it from the gateway.
  ASSERT_TRUE(only_a.Save(keys).ok());
  ASSERT_EQ(transport.ReloadKeys().value_or(0), 1u);
  EXPECT_FALSE(transport.HandleFrame(Frame(kEuiC, kKeyB, 3, true)).ok());
  transport.Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(delivered.size(), 4u);
}

TEST(MiotyTransportSetTest, ComposesIntoATransportSet) {
  TransportSet<MiotyTransport> set(MiotyTransport(
      MiotyTransportConfig{.state_dir = TempDir("set")}, Store()));
  ASSERT_TRUE(set.Start([](VerifiedMessage) { return absl::OkStatus(); }).ok());
  EXPECT_NE(set.Get<MiotyTransport>().port(), 0);
  set.Stop();
}

}  // namespace
}  // namespace cxsec::mioty
