// The Mioty node's per-reading logic on the host, with the node's Mbed TLS
// backend and a NOR-flash fake: counters persist before the frame leaves
// (checked at the moment of each UART write), survive restarts and sector
// switches, a flash failure sends nothing, corrupt or exhausted counters
// are refused, and every frame verifies with the gateway's host codec.
#include "targets/node/mioty/mioty_uplink.h"

#include <cstdint>
#include <vector>

#include "core/device/slip.h"
#include "core/mioty/frame.h"
#include "core/mioty/mbedtls_mioty_crypto.h"
#include "gtest/gtest.h"
#include "targets/node/mioty/frame_counter_store.h"

namespace cxsec::node {
namespace {

using board::BoardStatus;

constexpr uint32_t kSector = 256;  // small sectors: 32 records each
constexpr uint32_t kOffset = 512;
constexpr uint8_t kRawKey[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae,
                                 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88,
                                 0x09, 0xcf, 0x4f, 0x3c};
constexpr mioty::Eui64 kEui = {0x70, 0xb3, 0xd5, 0x67, 0x70, 0x00, 0x12, 0x34};

// NOR flash: erase sets 0xFF, a write may only clear bits of erased bytes.
struct FakeFlash {
  std::vector<uint8_t> bytes = std::vector<uint8_t>(4096, 0xFF);
  bool fail_writes = false;
  int erases = 0;

  BoardStatus Read(uint32_t offset, std::span<uint8_t> out) {
    if (offset + out.size() > bytes.size()) return BoardStatus::kOutOfRange;
    std::copy_n(bytes.begin() + offset, out.size(), out.begin());
    return BoardStatus::kOk;
  }
  BoardStatus Write(uint32_t offset, std::span<const uint8_t> data) {
    if (fail_writes) return BoardStatus::kDeviceError;
    if (offset + data.size() > bytes.size()) return BoardStatus::kOutOfRange;
    for (size_t i = 0; i < data.size(); ++i) {
      if (bytes[offset + i] != 0xFF) return BoardStatus::kNotErased;
      bytes[offset + i] = data[i];
    }
    return BoardStatus::kOk;
  }
  BoardStatus Erase(uint32_t offset, uint32_t size) {
    if (fail_writes) return BoardStatus::kDeviceError;
    ++erases;
    std::fill_n(bytes.begin() + offset, size, 0xFF);
    return BoardStatus::kOk;
  }
};

std::optional<uint32_t> PersistedCounter(FakeFlash& flash) {
  FakeFlash copy = flash;
  FrameCounterStore<FakeFlash> store(copy, kOffset, kSector);
  EXPECT_EQ(store.Load(), CounterReason::kNone);
  return store.last_used();
}

// Records every frame, and what the flash held when it was written.
struct RecordingLink {
  FakeFlash* flash = nullptr;
  std::vector<uint8_t> wire;
  std::vector<std::optional<uint32_t>> persisted_at_write;
  void Write(std::span<const uint8_t> bytes) {
    persisted_at_write.push_back(PersistedCounter(*flash));
    wire.insert(wire.end(), bytes.begin(), bytes.end());
  }
};

struct DecodedFrame {
  uint32_t counter;
  Bytes payload;
};

std::vector<DecodedFrame> DecodeAndVerify(const std::vector<uint8_t>& wire) {
  mioty::MiotyNetworkKey key =
      std::move(mioty::MiotyNetworkKey::FromBytes(ByteView(kRawKey, 16)))
          .value();
  std::vector<DecodedFrame> frames;
  device::SlipDecoder<mioty::kMaxMpduSize> decoder;
  std::optional<uint32_t> last;
  for (uint8_t byte : wire) {
    if (decoder.Push(byte) != device::SlipEvent::kFrame) continue;
    ByteView mpdu(decoder.frame().data(), decoder.frame().size());
    mioty::FrameHeader header;
    EXPECT_TRUE(mioty::ParseFrameHeader(mpdu, header).ok());
    std::optional<uint32_t> counter =
        mioty::ReconstructCounter(last, header.counter_low24);
    uint8_t plain[mioty::kMaxMpduSize];
    absl::StatusOr<mioty::VerifiedFrame> frame = mioty::VerifyUplink(
        key, header, kEui, *counter, mpdu, absl::MakeSpan(plain));
    EXPECT_TRUE(frame.ok()) << frame.status();
    if (!frame.ok()) continue;
    last = frame->counter;
    frames.push_back(
        {frame->counter, Bytes(frame->payload.begin(), frame->payload.end())});
  }
  return frames;
}

class MiotyUplinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(key_.Load(kRawKey), mioty::FrameReason::kNone);
    params_.eui = kEui;
    params_.short_address = 0x1234;
    link_.flash = &flash_;
  }

  // Boots a "node": loads the store from flash and sends `count` readings.
  std::vector<uint32_t> Run(int count, uint32_t first_reading = 0) {
    FrameCounterStore<FakeFlash> store(flash_, kOffset, kSector);
    EXPECT_EQ(store.Load(), CounterReason::kNone);
    MiotyUplink<mioty::MbedTlsMiotyCrypto, FakeFlash, RecordingLink> uplink(
        key_, params_, store, link_);
    std::vector<uint32_t> counters;
    for (int i = 0; i < count; ++i) {
      std::array<uint8_t, 9> buffer;
      auto sent = uplink.Send(ReadingPayload(first_reading + i, buffer));
      EXPECT_TRUE(sent.ok()) << UplinkReasonName(sent.reason());
      counters.push_back(sent.value());
    }
    return counters;
  }

  mioty::NetworkKey<mioty::MbedTlsMiotyCrypto> key_;
  mioty::UplinkParams params_;
  FakeFlash flash_;
  RecordingLink link_;
};

TEST_F(MiotyUplinkTest, FreshNodeCountsFromZeroAndFramesVerify) {
  EXPECT_EQ(Run(3, 40), (std::vector<uint32_t>{0, 1, 2}));
  std::vector<DecodedFrame> frames = DecodeAndVerify(link_.wire);
  ASSERT_EQ(frames.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(frames[i].counter, i);
    EXPECT_EQ(frames[i].payload,
              (Bytes{0xa1, 0x61, 'n', 0x18, uint8_t(40 + i)}));
  }
}

TEST_F(MiotyUplinkTest, EachCounterIsOnFlashBeforeItsFrameIsWritten) {
  Run(5);
  ASSERT_EQ(link_.persisted_at_write.size(), 5u);
  for (uint32_t i = 0; i < 5; ++i) {
    EXPECT_EQ(link_.persisted_at_write[i], std::optional<uint32_t>(i));
  }
}

TEST_F(MiotyUplinkTest, RestartContinuesAboveEveryUsedCounter) {
  Run(4);
  EXPECT_EQ(Run(2), (std::vector<uint32_t>{4, 5}));
  EXPECT_EQ(DecodeAndVerify(link_.wire).size(), 6u);
}

TEST_F(MiotyUplinkTest, SectorSwitchesKeepTheNewestCounter) {
  // 32 records per sector: 100 frames switch sectors three times.
  Run(70);
  EXPECT_EQ(Run(30).back(), 99u);
  EXPECT_EQ(flash_.erases, 3);
  EXPECT_EQ(PersistedCounter(flash_), 99u);
  EXPECT_EQ(Run(1), (std::vector<uint32_t>{100}));
}

TEST_F(MiotyUplinkTest, FlashFailureSendsNothing) {
  Run(1);
  flash_.fail_writes = true;
  FrameCounterStore<FakeFlash> store(flash_, kOffset, kSector);
  ASSERT_EQ(store.Load(), CounterReason::kNone);
  MiotyUplink<mioty::MbedTlsMiotyCrypto, FakeFlash, RecordingLink> uplink(
      key_, params_, store, link_);
  const size_t before = link_.wire.size();
  std::array<uint8_t, 9> buffer;
  auto sent = uplink.Send(ReadingPayload(1, buffer));
  EXPECT_EQ(sent.reason(), UplinkReason::kCounterNotPersisted);
  EXPECT_EQ(uplink.store_reason(), CounterReason::kFlashWriteFailed);
  EXPECT_EQ(link_.wire.size(), before);
}

TEST_F(MiotyUplinkTest, TornRecordIsSkippedNotTrusted) {
  Run(3);  // counters 0..2 in slots 0..2
  // Power lost while writing counter 3: half a record.
  const uint32_t slot3 = kOffset + 3 * kCounterRecordSize;
  flash_.bytes[slot3] = 0x03;
  flash_.bytes[slot3 + 1] = 0x00;
  EXPECT_EQ(PersistedCounter(flash_), 2u);
  EXPECT_EQ(Run(1), (std::vector<uint32_t>{3}));  // never sent before
}

TEST_F(MiotyUplinkTest, CorruptRecordsAreRefusedNotReadAsFresh) {
  std::fill_n(flash_.bytes.begin() + kOffset, 16, 0x00);
  FrameCounterStore<FakeFlash> store(flash_, kOffset, kSector);
  EXPECT_EQ(store.Load(), CounterReason::kCorrupt);
  EXPECT_EQ(store.ReserveNext().reason(), CounterReason::kNotLoaded);
}

TEST_F(MiotyUplinkTest, ExhaustedCounterIsRefused) {
  auto record = EncodeCounterRecord(UINT32_MAX);
  std::copy(record.begin(), record.end(), flash_.bytes.begin() + kOffset);
  FrameCounterStore<FakeFlash> store(flash_, kOffset, kSector);
  ASSERT_EQ(store.Load(), CounterReason::kNone);
  MiotyUplink<mioty::MbedTlsMiotyCrypto, FakeFlash, RecordingLink> uplink(
      key_, params_, store, link_);
  std::array<uint8_t, 9> buffer;
  EXPECT_EQ(uplink.Send(ReadingPayload(1, buffer)).reason(),
            UplinkReason::kCounterExhausted);
  EXPECT_TRUE(link_.wire.empty());
}

TEST(ReadingPayloadTest, MatchesTheHostNodesCbor) {
  std::array<uint8_t, 9> buffer;
  auto bytes = [&](uint32_t v) {
    auto payload = ReadingPayload(v, buffer);
    return std::vector<uint8_t>(payload.begin(), payload.end());
  };
  EXPECT_EQ(bytes(0), (std::vector<uint8_t>{0xa1, 0x61, 'n', 0x00}));
  EXPECT_EQ(bytes(300),
            (std::vector<uint8_t>{0xa1, 0x61, 'n', 0x19, 0x01, 0x2c}));
  EXPECT_EQ(bytes(0x01020304),
            (std::vector<uint8_t>{0xa1, 0x61, 'n', 0x1a, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace cxsec::node
