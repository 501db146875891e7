// End to end: the cxsec-node binary with transport = mioty sends CBOR
// telemetry as TS-UNB frames over UDP to a MiotyTransport, whose sink
// receives them with the node's EUI-64 and counters; a second run of the
// node continues from its persisted counter and is accepted, not replayed.
// A node with a seal_key_file sends sealed readings (docs/SEALED_READINGS.md)
// that reach the sink unchanged and open under the frame's counter.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/encoding/hex.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/seal_master_secret.h"
#include "gtest/gtest.h"
#include "platforms/posix/files.h"
#include "tests/fixtures/child_process.h"
#include "transports/mioty/mioty_transport.h"

namespace cxsec::mioty {
namespace {

std::string g_node;

int RunNode(const std::string& config) {
  absl::StatusOr<cxsec::testing::ChildProcess> node =
      cxsec::testing::ChildProcess::Start({g_node, "--config=" + config});
  if (!node.ok()) return -1;
  absl::StatusOr<int> status = node->Wait();
  if (!status.ok() || !WIFEXITED(*status)) return -1;
  return WEXITSTATUS(*status);
}

TEST(MiotyNodeEndToEndTest, NodeFramesReachTheSink) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/e2e";
  ASSERT_TRUE(MakeDirectories(dir, 0700).ok());
  const char kKey[] = "2b7e151628aed2a6abf7158809cf4f3c";
  const char kEui[] = "70b3d56770001234";
  MiotyKeyStore store;
  // The key store carries the node's own device id (as `cxsec provision`
  // writes it), so the gateway sends its readings under the same D... id a
  // DTLS node has.
  const char kDeviceId[] = "D0011223344556677";
  ASSERT_TRUE(store
                  .Import(absl::StrCat(kEui, ",1234,", kKey, ",,", kDeviceId,
                                       "\n"),
                          "t")
                  .ok());

  absl::Mutex mu;
  std::vector<VerifiedMessage> messages;
  MiotyTransport transport(MiotyTransportConfig{.state_dir = dir + "/state"},
                           std::move(store));
  ASSERT_TRUE(transport
                  .Start([&](VerifiedMessage m) {
                    absl::MutexLock lock(&mu);
                    messages.push_back(std::move(m));
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/node.key", absl::StrCat(kKey, "\n"),
                                  0600)
                  .ok());
  auto config = [&](int count, bool long_addressing) {
    return absl::StrCat(
        "device_id = D0011223344556677\ntransport = mioty\n",
        "gateway = 127.0.0.1:", transport.port(), "\n",
        "interval_seconds = 1\npost_count = ", count, "\n",
        "mioty_eui = ", kEui, "\nmioty_key_file = ", dir, "/node.key\n",
        "mioty_counter_file = ", dir, "/node.counter\n",
        "mioty_long_addressing = ", long_addressing ? "true" : "false", "\n");
  };
  ASSERT_TRUE(WriteFileAtomically(dir + "/node.conf", config(2, false), 0600).ok());
  ASSERT_EQ(RunNode(dir + "/node.conf"), 0);
  ASSERT_TRUE(WriteFileAtomically(dir + "/node.conf", config(1, true), 0600).ok());
  ASSERT_EQ(RunNode(dir + "/node.conf"), 0);

  for (int i = 0; i < 500; ++i) {  // bounded wait for the receive thread
    {
      absl::MutexLock lock(&mu);
      if (messages.size() >= 3) break;
    }
    ::usleep(10000);
  }
  transport.Stop();
  absl::MutexLock lock(&mu);
  ASSERT_EQ(messages.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(messages[i].device_id, kDeviceId);
    EXPECT_EQ(messages[i].transport, "mioty");
    EXPECT_EQ(messages[i].message_id,
              absl::StrCat("mioty-", kDeviceId, "-", i));
  }
  // The second run's first payload is {"n": 0} again, under counter 2.
  EXPECT_EQ(messages[1].payload, (Bytes{0xa1, 0x61, 'n', 0x01}));
  EXPECT_EQ(messages[2].payload, (Bytes{0xa1, 0x61, 'n', 0x00}));
  EXPECT_EQ(transport.stats().rejected, 0u);
}

// OpenSealed opens a sealed Mioty reading as the verifier will: with the
// device's keys of `epoch` and the frame's full counter as the sequence.
absl::StatusOr<Bytes> OpenSealed(const SecretBytes& mac, const SecretBytes& enc,
                                 uint32_t epoch, const Bytes& envelope,
                                 uint32_t counter) {
  seal::DeviceSealKeys<seal::BoringSslSealCrypto> keys;
  ByteView m = mac.Reveal(SecretAccess::Grant());
  ByteView e = enc.Reveal(SecretAccess::Grant());
  if (keys.Load(epoch, std::span(m.data(), m.size()),
                std::span(e.data(), e.size())) != seal::SealReason::kNone) {
    return absl::InternalError("keys");
  }
  seal::SealedEnvelope parsed;
  seal::SealReason reason =
      seal::ParseSealedEnvelope(seal::Transport::kMioty, envelope, parsed);
  if (reason != seal::SealReason::kNone) {
    return absl::InvalidArgumentError(seal::SealReasonName(reason));
  }
  Bytes out(parsed.body.size());
  auto opened = seal::HostSealCodec::Open(
      keys.mac_key(), &keys.enc_key(), seal::Transport::kMioty, parsed, epoch,
      counter, std::span(out.data(), out.size()));
  if (!opened.ok()) {
    return absl::InvalidArgumentError(seal::SealReasonName(opened.reason()));
  }
  out.resize(opened.value());
  return out;
}

TEST(MiotyNodeEndToEndTest, SealedReadingsReachTheSinkAndOpenUnderTheCounter) {
  const std::string dir =
      std::string(std::getenv("TEST_TMPDIR")) + "/e2e_sealed";
  ASSERT_TRUE(MakeDirectories(dir, 0700).ok());
  const char kKey[] = "2b7e151628aed2a6abf7158809cf4f3c";
  const char kEui[] = "70b3d56770005678";
  // The node's device_id, its .seal file's and the key store's: one id.
  const char kDeviceId[] = "D70B3D56770005678";
  MiotyKeyStore store;
  ASSERT_TRUE(store
                  .Import(absl::StrCat(kEui, ",5678,", kKey, ",,", kDeviceId,
                                       "\n"),
                          "t")
                  .ok());
  absl::Mutex mu;
  std::vector<VerifiedMessage> messages;
  MiotyTransport transport(MiotyTransportConfig{.state_dir = dir + "/state"},
                           std::move(store));
  ASSERT_TRUE(transport
                  .Start([&](VerifiedMessage m) {
                    absl::MutexLock lock(&mu);
                    messages.push_back(std::move(m));
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/node.key", absl::StrCat(kKey, "\n"),
                                  0600)
                  .ok());
  // The node's .seal file as `cxsec provision --seal-master` writes it.
  constexpr uint32_t kEpoch = 5;
  SecretBytes master = SecretBytes::CopyFrom(*HexDecode(
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"));
  SecretBytes mac = *seal::DeriveSealKey(seal::KeyBranch::kMac, master,
                                         kDeviceId, kEpoch);
  SecretBytes enc = *seal::DeriveSealKey(seal::KeyBranch::kEncryption, master,
                                         kDeviceId, kEpoch);
  ASSERT_TRUE(WriteFileAtomically(
                  dir + "/node.seal",
                  seal::FormatSealKeyFile(kDeviceId, kEpoch, mac, &enc), 0600)
                  .ok());
  auto config = [&](int count, const std::string& extra,
                    const std::string& device_id = "D70B3D56770005678") {
    return absl::StrCat(
        "device_id = ", device_id, "\ntransport = mioty\n",
        "gateway = 127.0.0.1:", transport.port(), "\n",
        "interval_seconds = 1\npost_count = ", count, "\n",
        "mioty_eui = ", kEui, "\nmioty_key_file = ", dir, "/node.key\n",
        "mioty_counter_file = ", dir, "/node.counter\n",
        "seal_key_file = ", dir, "/node.seal\n", extra);
  };
  // Encrypted by default (the file holds an encryption key), then a second
  // run, MAC-only, that continues from the persisted counter.
  ASSERT_TRUE(
      WriteFileAtomically(dir + "/node.conf", config(2, ""), 0600).ok());
  ASSERT_EQ(RunNode(dir + "/node.conf"), 0);
  ASSERT_TRUE(WriteFileAtomically(dir + "/node.conf",
                                  config(1, "seal_mode = mac\n"), 0600)
                  .ok());
  ASSERT_EQ(RunNode(dir + "/node.conf"), 0);
  // A node whose device_id is not the .seal file's sends nothing.
  ASSERT_TRUE(WriteFileAtomically(dir + "/other.conf",
                                  config(1, "", "D70B3D56770005679"), 0600)
                  .ok());
  EXPECT_EQ(RunNode(dir + "/other.conf"), 1);

  for (int i = 0; i < 500; ++i) {
    {
      absl::MutexLock lock(&mu);
      if (messages.size() >= 3) break;
    }
    ::usleep(10000);
  }
  ::usleep(200000);  // nothing more may arrive
  transport.Stop();
  absl::MutexLock lock(&mu);
  ASSERT_EQ(messages.size(), 3u);
  const Bytes expected[] = {{0xa1, 0x61, 'n', 0x00},
                            {0xa1, 0x61, 'n', 0x01},
                            {0xa1, 0x61, 'n', 0x00}};
  for (uint32_t counter = 0; counter < 3; ++counter) {
    const VerifiedMessage& m = messages[counter];
    EXPECT_EQ(m.device_id, kDeviceId);
    EXPECT_EQ(m.message_id, absl::StrCat("mioty-", kDeviceId, "-", counter));
    // The envelope, unchanged: header (version 1, mode, epoch 5), body, tag.
    ASSERT_EQ(m.payload.size(), expected[counter].size() + seal::kMiotyOverhead);
    EXPECT_EQ(m.payload[0], counter < 2 ? 0x35 : 0x25) << counter;
    absl::StatusOr<Bytes> reading =
        OpenSealed(mac, enc, kEpoch, m.payload, counter);
    ASSERT_TRUE(reading.ok()) << counter << ": " << reading.status();
    EXPECT_EQ(*reading, expected[counter]);
    // Under any other counter the tag fails.
    EXPECT_FALSE(OpenSealed(mac, enc, kEpoch, m.payload, counter + 1).ok());
  }
  EXPECT_EQ(transport.stats().rejected, 0u);
}

TEST(MiotyNodeEndToEndTest, NodeRefusesAKeyFileReadableByOthers) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/e2e_mode";
  ASSERT_TRUE(MakeDirectories(dir, 0700).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/node.key",
                                  "2b7e151628aed2a6abf7158809cf4f3c\n", 0644)
                  .ok());
  ASSERT_TRUE(WriteFileAtomically(
                  dir + "/node.conf",
                  absl::StrCat("device_id = D0011223344556677\n"
                               "transport = mioty\ngateway = 127.0.0.1:9\n"
                               "post_count = 1\nmioty_eui = 70b3d56770001234\n"
                               "mioty_key_file = ", dir, "/node.key\n"
                               "mioty_counter_file = ", dir, "/c\n"),
                  0600)
                  .ok());
  EXPECT_EQ(RunNode(dir + "/node.conf"), 1);
}

}  // namespace
}  // namespace cxsec::mioty

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) return 2;
  cxsec::mioty::g_node = argv[1];
  return RUN_ALL_TESTS();
}
