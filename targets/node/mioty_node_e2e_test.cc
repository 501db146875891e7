// End to end: the cxsec-node binary with transport = mioty sends CBOR
// telemetry as TS-UNB frames over UDP to a MiotyTransport, whose sink
// receives them with the node's EUI-64 and counters; a second run of the
// node continues from its persisted counter and is accepted, not replayed.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
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
