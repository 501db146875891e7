// Replay protection survives a crash: a real gateway process
// (mioty_gateway_harness) receives a stream of frames over UDP and is
// killed with SIGKILL while frames are still arriving. A new transport on
// the same state directory must then reject every frame the dead process
// delivered (and everything older), and accept the device's next frame.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "platforms/posix/files.h"
#include "tests/fixtures/child_process.h"
#include "transports/mioty/mioty_transport.h"

namespace cxsec::mioty {
namespace {

std::string g_harness;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(MiotyRestartTest, ReplayRejectedAfterKill9MidStream) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/restart";
  ASSERT_TRUE(MakeDirectories(dir, 0700).ok());
  const std::string keys = dir + "/keys.json";
  const std::string state = dir + "/state";
  const std::string delivered = dir + "/delivered";
  const std::string port_file = dir + "/port";
  MiotyKeyStore store;
  ASSERT_TRUE(store
                  .Import("70b3d56770001234,1234,2b7e151628aed2a6abf7158809cf4f3c\n",
                          "test")
                  .ok());
  ASSERT_TRUE(store.Save(keys).ok());
  const MiotyDevice* device = store.Devices()[0];

  absl::StatusOr<cxsec::testing::ChildProcess> harness =
      cxsec::testing::ChildProcess::Start({g_harness, keys, state, delivered, port_file});
  ASSERT_TRUE(harness.ok()) << harness.status();
  int port = 0;
  for (int i = 0; i < 1000 && port == 0; ++i) {  // at most ~10 s
    std::string text = Slurp(port_file);
    if (!text.empty() && !absl::SimpleAtoi(absl::StripSuffix(text, "\n"), &port)) {
      port = 0;
    }
    if (port == 0) ::usleep(10000);
  }
  ASSERT_NE(port, 0) << "harness did not become ready";

  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  auto frame = [&](uint32_t counter) {
    UplinkParams params;
    params.eui = device->eui;
    params.short_address = 0x1234;
    params.counter = counter;
    return *EncodeUplink(device->key, params, Bytes{uint8_t(counter)});
  };
  // Stream frames; once the harness has delivered at least 20, keep
  // streaming and kill it in the middle of the stream.
  uint32_t sent = 0;
  bool killed = false;
  for (int round = 0; round < 2000 && !killed; ++round) {  // bounded
    for (int k = 0; k < 5; ++k) {
      Bytes f = frame(++sent);
      ::sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to),
               sizeof(to));
    }
    std::vector<absl::string_view> lines =
        absl::StrSplit(Slurp(delivered), '\n', absl::SkipEmpty());
    if (lines.size() >= 20) {
      absl::StatusOr<int> status = harness->SignalAndWait(SIGKILL);
      ASSERT_TRUE(status.ok()) << status.status();
      ASSERT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);
      killed = true;
    } else {
      ::usleep(2000);
    }
  }
  ASSERT_TRUE(killed);
  ::close(fd);

  std::set<uint32_t> delivered_counters;
  for (absl::string_view line :
       absl::StrSplit(Slurp(delivered), '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, '-');
    uint32_t counter = 0;
    ASSERT_EQ(parts.size(), 3u) << line;
    ASSERT_TRUE(absl::SimpleAtoi(parts[2], &counter)) << line;
    delivered_counters.insert(counter);
  }
  ASSERT_GE(delivered_counters.size(), 20u);
  const uint32_t highest_delivered = *delivered_counters.rbegin();

  // Restart: a new transport on the same state directory.
  std::vector<uint32_t> redelivered;
  MiotyTransport restarted(
      MiotyTransportConfig{.key_store_path = keys, .state_dir = state});
  ASSERT_TRUE(restarted
                  .Start([&](VerifiedMessage m) {
                    redelivered.push_back(m.payload.empty() ? 0 : m.payload[0]);
                    return absl::OkStatus();
                  })
                  .ok());
  for (uint32_t counter = 1; counter <= highest_delivered; ++counter) {
    absl::Status status = restarted.HandleFrame(frame(counter));
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied)
        << "counter " << counter << " (delivered before the kill: "
        << delivered_counters.count(counter) << "): " << status;
  }
  EXPECT_TRUE(redelivered.empty());
  EXPECT_TRUE(restarted.HandleFrame(frame(sent + 1)).ok());
  restarted.Stop();
}

}  // namespace
}  // namespace cxsec::mioty

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s HARNESS\n", argv[0]);
    return 2;
  }
  cxsec::mioty::g_harness = argv[1];
  return RUN_ALL_TESTS();
}
