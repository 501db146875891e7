// End to end over real DTLS: the cxsec-node binary, configured with a
// seal_key_file, posts sealed readings (docs/SEALED_READINGS.md) through
// libcoap/GnuTLS to the gateway's DtlsServer, whose sink receives each
// envelope as the node made it; each opens with the .seal file's keys
// under the sequence it carries, and a second run of the node continues
// from its persisted sequence instead of reusing one.
#include <sys/wait.h>

#include <cstdlib>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/deployment/telemetry_cbor.h"
#include "core/encoding/hex.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/seal_master_secret.h"
#include "gtest/gtest.h"
#include "platforms/posix/files.h"
#include "tests/fixtures/child_process.h"
#include "transports/dtls/dtls_server.h"
#include "transports/dtls/test_support.h"

namespace cxsec::node {
namespace {

std::string g_node;

int RunNode(const std::string& config, const std::string& log) {
  absl::StatusOr<cxsec::testing::ChildProcess> node =
      cxsec::testing::ChildProcess::Start({g_node, "--config=" + config},
                                          {.stderr_path = log});
  if (!node.ok()) return -1;
  absl::StatusOr<int> status = node->Wait();
  if (!status.ok() || !WIFEXITED(*status)) return -1;
  return WEXITSTATUS(*status);
}

TEST(DtlsNodeSealEndToEndTest, SealedReadingsCrossTheGatewayUnchanged) {
  const std::string dir = dtls::testing::TempDir() + "/dtls_sealed";
  ASSERT_TRUE(MakeDirectories(dir, 0700).ok());
  SecurityConfig security = dtls::testing::TestSecurity();
  const std::string device_id = dtls::testing::DeviceId(40);
  const std::string key_file =
      dtls::testing::WriteNodeKey(security, device_id, 1, "sealed_node.key");

  absl::Mutex mu;
  std::vector<VerifiedMessage> messages;
  dtls::DtlsServerOptions options;
  options.port = dtls::testing::FreeUdpPort();
  dtls::DtlsServer server(options, security.Clone());
  ASSERT_TRUE(server
                  .Start([&](VerifiedMessage m) {
                    absl::MutexLock lock(&mu);
                    messages.push_back(std::move(m));
                    return absl::OkStatus();
                  })
                  .ok());

  // The node's .seal file as `cxsec provision --seal-master` writes it.
  constexpr uint32_t kEpoch = 2;
  SecretBytes master = SecretBytes::CopyFrom(*HexDecode(
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"));
  SecretBytes mac = *seal::DeriveSealKey(seal::KeyBranch::kMac, master,
                                         device_id, kEpoch);
  SecretBytes enc = *seal::DeriveSealKey(seal::KeyBranch::kEncryption, master,
                                         device_id, kEpoch);
  ASSERT_TRUE(WriteFileAtomically(
                  dir + "/node.seal",
                  seal::FormatSealKeyFile(device_id, kEpoch, mac, &enc), 0600)
                  .ok());
  auto config = [&](int count) {
    return absl::StrCat(
        "device_id = ", device_id, "\ntransport = dtls\n",
        "gateway = 127.0.0.1:", options.port, "\nkey_file = ", key_file,
        "\ninterval_seconds = 1\npost_count = ", count, "\n",
        "seal_key_file = ", dir, "/node.seal\n",
        "seal_sequence_file = ", dir, "/node.sequence\n");
  };
  ASSERT_TRUE(WriteFileAtomically(dir + "/node.conf", config(2), 0600).ok());
  ASSERT_EQ(RunNode(dir + "/node.conf", dir + "/run1.log"), 0)
      << ReadFileBounded(dir + "/run1.log", 1 << 16).value_or("");
  ASSERT_TRUE(WriteFileAtomically(dir + "/node.conf", config(1), 0600).ok());
  ASSERT_EQ(RunNode(dir + "/node.conf", dir + "/run2.log"), 0)
      << ReadFileBounded(dir + "/run2.log", 1 << 16).value_or("");
  EXPECT_EQ(ReadFileBounded(dir + "/node.sequence", 64).value_or(""), "3\n");
  server.Stop();

  seal::DeviceSealKeys<seal::BoringSslSealCrypto> keys;
  ByteView m = mac.Reveal(SecretAccess::Grant());
  ByteView e = enc.Reveal(SecretAccess::Grant());
  ASSERT_EQ(keys.Load(kEpoch, std::span(m.data(), m.size()),
                      std::span(e.data(), e.size())),
            seal::SealReason::kNone);
  absl::MutexLock lock(&mu);
  ASSERT_EQ(messages.size(), 3u);
  std::set<uint32_t> sequences;
  for (const VerifiedMessage& message : messages) {
    EXPECT_EQ(message.device_id, device_id);
    seal::SealedEnvelope envelope;
    ASSERT_EQ(seal::ParseSealedEnvelope(seal::Transport::kDtlsCoap,
                                        message.payload, envelope),
              seal::SealReason::kNone);
    EXPECT_EQ(envelope.mode, seal::SealMode::kEncrypted);
    Bytes reading(envelope.body.size());
    auto opened = seal::HostSealCodec::Open(
        keys.mac_key(), &keys.enc_key(), seal::Transport::kDtlsCoap, envelope,
        kEpoch, envelope.sequence, std::span(reading.data(), reading.size()));
    ASSERT_TRUE(opened.ok()) << seal::SealReasonName(opened.reason());
    reading.resize(opened.value());
    absl::StatusOr<Telemetry> telemetry = DecodeTelemetry(reading);
    ASSERT_TRUE(telemetry.ok()) << telemetry.status();
    EXPECT_TRUE(telemetry->data.contains("t"));
    sequences.insert(envelope.sequence);
  }
  // Three readings, three sequences: the restart did not reuse one.
  EXPECT_EQ(sequences, (std::set<uint32_t>{0, 1, 2}));
  EXPECT_EQ(server.Counters().sealed_accepted, 3u);
}

}  // namespace
}  // namespace cxsec::node

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) return 2;
  cxsec::node::g_node = argv[1];
  return RUN_ALL_TESTS();
}
