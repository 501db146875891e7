// The firmware nodes' sealed-readings start-up and send path on the host
// (unit), with the node's Mbed TLS backend over a NOR-flash fake:
// LoadNodeSealKeys tells blank from valid from refused (each reason), and
// a Mioty reading sealed by MiotyUplink::SendComposed carries the counter
// that was on flash before it was sealed, and opens with the verifier's
// BoringSSL codec under the frame's counter.
#include "targets/node/mioty/node_seal_keys.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/device/slip.h"
#include "core/mioty/frame.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/mbedtls_seal_crypto.h"
#include "core/seal/seal_key_area.h"
#include "gtest/gtest.h"
#include "targets/node/mioty/frame_counter_store.h"
#include "targets/node/mioty/mioty_uplink.h"

namespace cxsec::node {
namespace {

using board::BoardStatus;

constexpr uint32_t kAreaOffset = 0;
constexpr uint32_t kCounterOffset = 1024;
constexpr uint32_t kSector = 256;
constexpr std::array<uint8_t, 8> kDeviceId = {0x00, 0x11, 0x22, 0x33,
                                              0x44, 0x55, 0x66, 0x77};
constexpr uint8_t kNetworkKey[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae,
                                     0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88,
                                     0x09, 0xcf, 0x4f, 0x3c};
constexpr mioty::Eui64 kEui = {0x70, 0xb3, 0xd5, 0x67, 0x70, 0x00, 0x12, 0x34};

struct FakeFlash {
  std::vector<uint8_t> bytes = std::vector<uint8_t>(2048, 0xFF);
  bool fail_reads = false;
  BoardStatus Read(uint32_t offset, std::span<uint8_t> out) {
    if (fail_reads) return BoardStatus::kDeviceError;
    if (offset + out.size() > bytes.size()) return BoardStatus::kOutOfRange;
    std::copy_n(bytes.begin() + offset, out.size(), out.begin());
    return BoardStatus::kOk;
  }
  BoardStatus Write(uint32_t offset, std::span<const uint8_t> data) {
    for (size_t i = 0; i < data.size(); ++i) {
      if (bytes[offset + i] != 0xFF) return BoardStatus::kNotErased;
      bytes[offset + i] = data[i];
    }
    return BoardStatus::kOk;
  }
  BoardStatus Erase(uint32_t offset, uint32_t size) {
    std::fill_n(bytes.begin() + offset, size, 0xFF);
    return BoardStatus::kOk;
  }
};

seal::SealKeyArea TestArea(bool with_enc_key) {
  seal::SealKeyArea area;
  area.device_id = kDeviceId;
  area.epoch = 3;
  area.has_enc_key = with_enc_key;
  for (uint8_t i = 0; i < 16; ++i) {
    area.mac_key[i] = static_cast<uint8_t>(0x10 + i);
    area.enc_key[i] = with_enc_key ? static_cast<uint8_t>(0x80 + i) : 0;
  }
  return area;
}

void WriteArea(FakeFlash& flash, const seal::SealKeyArea& area) {
  EXPECT_EQ(seal::WriteSealKeyArea(
                area, std::span(flash.bytes).subspan(kAreaOffset,
                                                     seal::kSealKeyAreaSize)),
            device::KeyAreaReason::kNone);
}

NodeSealLoad Load(FakeFlash& flash,
                  seal::DeviceSealKeys<seal::MbedTlsSealCrypto>& keys) {
  return LoadNodeSealKeys(flash, kAreaOffset, kDeviceId, keys);
}

TEST(NodeSealKeysTest, ErasedOrZeroedAreaIsAbsent) {
  FakeFlash flash;
  seal::DeviceSealKeys<seal::MbedTlsSealCrypto> keys;
  EXPECT_EQ(Load(flash, keys).reason, NodeSealReason::kAbsent);
  std::fill_n(flash.bytes.begin(), seal::kSealKeyAreaSize, 0x00);
  EXPECT_EQ(Load(flash, keys).reason, NodeSealReason::kAbsent);
  EXPECT_FALSE(keys.mac_key().loaded());
}

TEST(NodeSealKeysTest, ValidAreaLoadsItsModeAndEpoch) {
  FakeFlash flash;
  WriteArea(flash, TestArea(true));
  seal::DeviceSealKeys<seal::MbedTlsSealCrypto> keys;
  NodeSealLoad load = Load(flash, keys);
  EXPECT_EQ(load.reason, NodeSealReason::kNone);
  EXPECT_EQ(load.mode, seal::SealMode::kEncrypted);
  EXPECT_EQ(load.epoch, 3u);
  EXPECT_EQ(keys.epoch(), 3u);
  EXPECT_TRUE(keys.enc_key().loaded());

  FakeFlash mac_only;
  WriteArea(mac_only, TestArea(false));
  seal::DeviceSealKeys<seal::MbedTlsSealCrypto> mac_keys;
  load = Load(mac_only, mac_keys);
  EXPECT_EQ(load.reason, NodeSealReason::kNone);
  EXPECT_EQ(load.mode, seal::SealMode::kMacOnly);
  EXPECT_TRUE(mac_keys.mac_key().loaded());
  EXPECT_FALSE(mac_keys.enc_key().loaded());
}

TEST(NodeSealKeysTest, RefusalsCarryTheirReasons) {
  seal::DeviceSealKeys<seal::MbedTlsSealCrypto> keys;
  {
    FakeFlash flash;
    seal::SealKeyArea other = TestArea(true);
    other.device_id[7] ^= 1;
    WriteArea(flash, other);
    const NodeSealLoad load = Load(flash, keys);
    EXPECT_EQ(load.reason, NodeSealReason::kDeviceIdMismatch);
    EXPECT_STREQ(load.Detail(), "device_id_mismatch");
  }
  {
    FakeFlash flash;
    WriteArea(flash, TestArea(true));
    flash.bytes[30] ^= 0x01;
    const NodeSealLoad load = Load(flash, keys);
    EXPECT_EQ(load.reason, NodeSealReason::kMalformed);
    EXPECT_STREQ(load.Detail(), "crc_mismatch");
  }
  {
    // Erased magic, the rest still there: neither blank nor valid.
    FakeFlash flash;
    WriteArea(flash, TestArea(true));
    std::fill_n(flash.bytes.begin(), 4, 0xFF);
    const NodeSealLoad load = Load(flash, keys);
    EXPECT_EQ(load.reason, NodeSealReason::kMalformed);
    EXPECT_STREQ(load.Detail(), "not_provisioned");
  }
  {
    FakeFlash flash;
    flash.fail_reads = true;
    EXPECT_EQ(Load(flash, keys).reason, NodeSealReason::kFlashReadFailed);
  }
  EXPECT_FALSE(keys.mac_key().loaded());
}

// Records each frame and the counter persisted when it was written.
struct RecordingLink {
  std::vector<uint8_t> wire;
  void Write(std::span<const uint8_t> bytes) {
    wire.insert(wire.end(), bytes.begin(), bytes.end());
  }
};

TEST(NodeSealKeysTest, MiotyReadingSealedUnderItsPersistedFrameCounter) {
  FakeFlash flash;
  WriteArea(flash, TestArea(true));
  seal::DeviceSealKeys<seal::MbedTlsSealCrypto> keys;
  ASSERT_EQ(Load(flash, keys).reason, NodeSealReason::kNone);

  mioty::NetworkKey<mioty::MbedTlsMiotyCrypto> network_key;
  ASSERT_EQ(network_key.Load(kNetworkKey), mioty::FrameReason::kNone);
  mioty::UplinkParams params;
  params.eui = kEui;
  params.short_address = 0x1234;
  FrameCounterStore<FakeFlash> store(flash, kCounterOffset, kSector);
  ASSERT_EQ(store.Load(), CounterReason::kNone);
  RecordingLink link;
  MiotyUplink<mioty::MbedTlsMiotyCrypto, FakeFlash, RecordingLink> uplink(
      network_key, params, store, link);

  std::vector<uint32_t> sealed_under;
  for (uint32_t reading = 0; reading < 3; ++reading) {
    std::array<uint8_t, 9> cbor_buffer;
    const auto cbor = ReadingPayload(100 + reading, cbor_buffer);
    std::array<uint8_t, 9 + seal::kMiotyOverhead> sealed_buffer;
    const auto sent = uplink.SendComposed([&](uint32_t counter) {
      // The counter is on flash before anything is sealed under it.
      FakeFlash copy = flash;
      FrameCounterStore<FakeFlash> check(copy, kCounterOffset, kSector);
      EXPECT_EQ(check.Load(), CounterReason::kNone);
      EXPECT_EQ(check.last_used(), std::optional<uint32_t>(counter));
      sealed_under.push_back(counter);
      const auto sealed = seal::NodeSealCodec::Seal(
          keys, seal::Transport::kMioty, seal::SealMode::kEncrypted, counter,
          cbor, sealed_buffer);
      EXPECT_TRUE(sealed.ok());
      return std::span<const uint8_t>(sealed_buffer.data(), sealed.value());
    });
    ASSERT_TRUE(sent.ok()) << UplinkReasonName(sent.reason());
    EXPECT_EQ(sent.value(), reading);
  }
  EXPECT_EQ(sealed_under, (std::vector<uint32_t>{0, 1, 2}));

  // The verifier's side: the gateway's codec verifies the frame, then
  // BoringSSL opens the envelope under the frame's full counter.
  const seal::SealKeyArea area = TestArea(true);
  seal::DeviceSealKeys<seal::BoringSslSealCrypto> verifier_keys;
  ASSERT_EQ(verifier_keys.Load(area.epoch, area.mac_key, area.enc_key),
            seal::SealReason::kNone);
  mioty::MiotyNetworkKey gateway_key =
      std::move(mioty::MiotyNetworkKey::FromBytes(ByteView(kNetworkKey, 16)))
          .value();
  device::SlipDecoder<mioty::kMaxMpduSize> decoder;
  std::optional<uint32_t> last;
  int opened = 0;
  for (uint8_t byte : link.wire) {
    if (decoder.Push(byte) != device::SlipEvent::kFrame) continue;
    ByteView mpdu(decoder.frame().data(), decoder.frame().size());
    mioty::FrameHeader header;
    ASSERT_TRUE(mioty::ParseFrameHeader(mpdu, header).ok());
    const std::optional<uint32_t> counter =
        mioty::ReconstructCounter(last, header.counter_low24);
    ASSERT_TRUE(counter.has_value());
    uint8_t plain[mioty::kMaxMpduSize];
    absl::StatusOr<mioty::VerifiedFrame> frame = mioty::VerifyUplink(
        gateway_key, header, kEui, *counter, mpdu, absl::MakeSpan(plain));
    ASSERT_TRUE(frame.ok()) << frame.status();
    last = frame->counter;
    seal::SealedEnvelope envelope;
    ASSERT_EQ(seal::ParseSealedEnvelope(
                  seal::Transport::kMioty,
                  std::span<const uint8_t>(frame->payload.data(),
                                           frame->payload.size()),
                  envelope),
              seal::SealReason::kNone);
    std::array<uint8_t, 16> body;
    const auto open = seal::HostSealCodec::Open(
        verifier_keys.mac_key(), &verifier_keys.enc_key(),
        seal::Transport::kMioty, envelope, area.epoch, frame->counter, body);
    ASSERT_TRUE(open.ok()) << seal::SealReasonName(open.reason());
    std::array<uint8_t, 9> expected_buffer;
    const auto expected = ReadingPayload(100 + frame->counter, expected_buffer);
    EXPECT_EQ(std::vector<uint8_t>(body.begin(), body.begin() + open.value()),
              std::vector<uint8_t>(expected.begin(), expected.end()));
    // Under any other counter the tag fails: the counter is bound.
    EXPECT_EQ(seal::HostSealCodec::Verify(verifier_keys.mac_key(),
                                          seal::Transport::kMioty, envelope,
                                          area.epoch, frame->counter + 1),
              seal::SealReason::kTagMismatch);
    ++opened;
  }
  EXPECT_EQ(opened, 3);
}

TEST(NodeSealKeysTest, FailedComposeSendsNothingAndUsesUpItsCounter) {
  FakeFlash flash;
  mioty::NetworkKey<mioty::MbedTlsMiotyCrypto> network_key;
  ASSERT_EQ(network_key.Load(kNetworkKey), mioty::FrameReason::kNone);
  mioty::UplinkParams params;
  params.eui = kEui;
  FrameCounterStore<FakeFlash> store(flash, kCounterOffset, kSector);
  ASSERT_EQ(store.Load(), CounterReason::kNone);
  RecordingLink link;
  MiotyUplink<mioty::MbedTlsMiotyCrypto, FakeFlash, RecordingLink> uplink(
      network_key, params, store, link);
  const auto sent =
      uplink.SendComposed([](uint32_t) { return std::span<const uint8_t>(); });
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.reason(), UplinkReason::kComposeFailed);
  EXPECT_TRUE(link.wire.empty());
  EXPECT_EQ(store.last_used(), std::optional<uint32_t>(0));
}

}  // namespace
}  // namespace cxsec::node
