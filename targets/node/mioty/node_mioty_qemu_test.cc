// Boots node_mioty.elf in QEMU (mps2-an385) with a key area written by
// `cxsec provision` and the frame counter sectors preloaded, captures
// UART0 in a file, and checks on the host what a gateway would: the
// SLIP-framed frames decode, verify with the host codec under the key
// that provision registered for the gateway (its CSV, imported into a
// real MiotyKeyStore), carry consecutive counters above any persisted
// one, and hold the readings the node reports. A node whose key area or
// counter cannot be trusted sends nothing.
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/device/slip.h"
#include "core/mioty/frame.h"
#include "gtest/gtest.h"
#include "platforms/posix/files.h"
#include "tests/fixtures/child_process.h"
#include "transports/mioty/key_store.h"

namespace cxsec::node {
namespace {

// Runfiles passed by the BUILD rule, in this order.
struct Inputs {
  std::string elf;
  std::string key_area;
  std::string key_area_long;
  std::string key_csv;
  std::string erased_counter;
  std::string counter_41;
  std::string zeroed_counter;
};
Inputs g_inputs;

constexpr mioty::Eui64 kEui = {0x70, 0xb3, 0xd5, 0x67, 0x70, 0x00, 0x12, 0x34};
constexpr int kReadings = 5;

struct NodeRun {
  int exit_status = -1;
  std::string console;  // semihosting output (QEMU's stderr when UART0
                        // goes to a file)
  std::vector<uint8_t> uart;
};

NodeRun Boot(const std::string& name, const std::string& key_area,
             const std::string& counter) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  EXPECT_TRUE(MakeDirectories(dir, 0700).ok());
  std::vector<std::string> argv = {"qemu-system-arm",
                                   "-M",
                                   "mps2-an385",
                                   "-nographic",
                                   "-monitor",
                                   "none",
                                   "-semihosting-config",
                                   "enable=on,target=native",
                                   "-kernel",
                                   g_inputs.elf,
                                   "-serial",
                                   absl::StrCat("file:", dir, "/uart.bin")};
  if (!key_area.empty()) {
    argv.insert(argv.end(), {"-device", absl::StrCat("loader,file=", key_area,
                                                     ",addr=0x003FE000")});
  }
  argv.insert(argv.end(), {"-device", absl::StrCat("loader,file=", counter,
                                                   ",addr=0x003FC000")});
  NodeRun run;
  absl::StatusOr<cxsec::testing::ChildProcess> qemu =
      cxsec::testing::ChildProcess::Start(
          argv, {.stdout_path = dir + "/qemu.stdout",
                 .stderr_path = dir + "/console.txt"});
  EXPECT_TRUE(qemu.ok()) << qemu.status();
  if (!qemu.ok()) return run;
  absl::StatusOr<int> status = qemu->Wait(absl::Seconds(40));
  EXPECT_TRUE(status.ok()) << status.status();
  if (status.ok() && WIFEXITED(*status)) run.exit_status = WEXITSTATUS(*status);
  run.console = ReadFileBounded(dir + "/console.txt", 1 << 20).value_or("");
  std::string uart = ReadFileBounded(dir + "/uart.bin", 1 << 20).value_or("");
  run.uart.assign(uart.begin(), uart.end());
  return run;
}

struct ReceivedFrame {
  mioty::FrameHeader header;
  uint32_t counter = 0;
  Bytes payload;
};

// What a gateway does with the UART stream: split, look up, verify.
std::vector<ReceivedFrame> Receive(const std::vector<uint8_t>& uart) {
  mioty::MiotyKeyStore store;
  absl::StatusOr<std::string> csv = ReadFileBounded(g_inputs.key_csv, 4096);
  EXPECT_TRUE(csv.ok());
  EXPECT_TRUE(store.Import(*csv, "provisioned csv").ok());
  const mioty::MiotyDevice* device = store.FindByEui(kEui);
  EXPECT_NE(device, nullptr);
  std::vector<ReceivedFrame> frames;
  if (device == nullptr) return frames;
  device::SlipDecoder<mioty::kMaxMpduSize> decoder;
  std::optional<uint32_t> last;
  for (uint8_t byte : uart) {
    device::SlipEvent event = decoder.Push(byte);
    EXPECT_TRUE(event == device::SlipEvent::kNone ||
                event == device::SlipEvent::kFrame);
    if (event != device::SlipEvent::kFrame) continue;
    ByteView mpdu(decoder.frame().data(), decoder.frame().size());
    ReceivedFrame received;
    absl::Status parsed = mioty::ParseFrameHeader(mpdu, received.header);
    EXPECT_TRUE(parsed.ok()) << parsed;
    if (!parsed.ok()) continue;
    std::optional<uint32_t> counter =
        mioty::ReconstructCounter(last, received.header.counter_low24);
    uint8_t plain[mioty::kMaxMpduSize];
    absl::StatusOr<mioty::VerifiedFrame> frame =
        mioty::VerifyUplink(device->key, received.header, kEui, *counter, mpdu,
                            absl::MakeSpan(plain));
    EXPECT_TRUE(frame.ok()) << frame.status();
    if (!frame.ok()) continue;
    last = frame->counter;
    received.counter = frame->counter;
    received.payload.assign(frame->payload.begin(), frame->payload.end());
    frames.push_back(std::move(received));
  }
  return frames;
}

Bytes Reading(uint32_t n) {
  if (n < 24) return {0xa1, 0x61, 'n', uint8_t(n)};
  return {0xa1, 0x61, 'n', 0x18, uint8_t(n)};
}

TEST(NodeMiotyQemuTest, FreshNodeSendsVerifiableFramesFromCounterZero) {
  NodeRun run = Boot("fresh", g_inputs.key_area, g_inputs.erased_counter);
  ASSERT_EQ(run.exit_status, 0) << run.console;
  EXPECT_TRUE(absl::StrContains(run.console, "node_mioty: done"))
      << run.console;
  std::vector<ReceivedFrame> frames = Receive(run.uart);
  ASSERT_EQ(frames.size(), size_t{kReadings}) << run.console;
  for (uint32_t i = 0; i < kReadings; ++i) {
    EXPECT_EQ(frames[i].counter, i);
    EXPECT_FALSE(frames[i].header.long_addressing);
    EXPECT_EQ(frames[i].header.short_address, 0x1234);
    EXPECT_EQ(frames[i].payload, Reading(i));
    EXPECT_TRUE(absl::StrContains(run.console,
                                  absl::StrCat("node_mioty: sent reading ", i,
                                               " with frame counter ", i)));
  }
}

TEST(NodeMiotyQemuTest, ResumesAboveThePersistedCounter) {
  NodeRun run = Boot("resume", g_inputs.key_area, g_inputs.counter_41);
  ASSERT_EQ(run.exit_status, 0) << run.console;
  EXPECT_TRUE(
      absl::StrContains(run.console, "node_mioty: last used frame counter 41"));
  std::vector<ReceivedFrame> frames = Receive(run.uart);
  ASSERT_EQ(frames.size(), size_t{kReadings}) << run.console;
  for (uint32_t i = 0; i < kReadings; ++i) {
    EXPECT_EQ(frames[i].counter, 42 + i);
    EXPECT_EQ(frames[i].payload, Reading(42 + i));
  }
}

TEST(NodeMiotyQemuTest, LongAddressingCarriesTheEui) {
  NodeRun run = Boot("long", g_inputs.key_area_long, g_inputs.erased_counter);
  ASSERT_EQ(run.exit_status, 0) << run.console;
  std::vector<ReceivedFrame> frames = Receive(run.uart);
  ASSERT_EQ(frames.size(), size_t{kReadings});
  for (const ReceivedFrame& frame : frames) {
    EXPECT_TRUE(frame.header.long_addressing);
    EXPECT_EQ(frame.header.eui, kEui);
  }
}

TEST(NodeMiotyQemuTest, NoKeyAreaSendsNothing) {
  NodeRun run = Boot("no_key_area", "", g_inputs.erased_counter);
  EXPECT_EQ(run.exit_status, 3);
  EXPECT_TRUE(
      absl::StrContains(run.console, "node_mioty: REFUSED key_area bad_magic"))
      << run.console;
  EXPECT_TRUE(run.uart.empty());
}

TEST(NodeMiotyQemuTest, CorruptCounterSendsNothing) {
  NodeRun run =
      Boot("corrupt_counter", g_inputs.key_area, g_inputs.zeroed_counter);
  EXPECT_EQ(run.exit_status, 3);
  EXPECT_TRUE(absl::StrContains(
      run.console, "node_mioty: REFUSED frame_counter counter_corrupt"))
      << run.console;
  EXPECT_TRUE(run.uart.empty());
}

}  // namespace
}  // namespace cxsec::node

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 8) return 2;
  cxsec::node::g_inputs = {argv[1], argv[2], argv[3], argv[4],
                           argv[5], argv[6], argv[7]};
  return RUN_ALL_TESTS();
}
