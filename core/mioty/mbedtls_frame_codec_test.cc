// The Mioty codec composed with the node's Mbed TLS backend, run on the
// host: the same header (frame_codec.h) as the gateway's BoringSSL
// composition, so every frame must come out byte for byte the same, each
// side must verify the other's frames, and both must refuse alike.
#include <cstdint>
#include <vector>

#include "core/mioty/frame.h"
#include "core/mioty/frame_codec.h"
#include "core/mioty/mbedtls_mioty_crypto.h"
#include "gtest/gtest.h"

namespace cxsec::mioty {
namespace {

using NodeCodec = FrameCodec<MbedTlsMiotyCrypto>;

constexpr uint8_t kRawKey[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae,
                                 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88,
                                 0x09, 0xcf, 0x4f, 0x3c};
constexpr Eui64 kEui = {0x70, 0xb3, 0xd5, 0x67, 0x70, 0x00, 0x12, 0x34};

MiotyNetworkKey HostKey() {
  return std::move(MiotyNetworkKey::FromBytes(ByteView(kRawKey, 16))).value();
}

TEST(MbedTlsFrameCodecTest, CmacMatchesTheHostBackendForEveryLength) {
  NetworkKey<MbedTlsMiotyCrypto> node_key;
  ASSERT_EQ(node_key.Load(kRawKey), FrameReason::kNone);
  MiotyNetworkKey host_key = HostKey();
  std::vector<uint8_t> message(70);
  for (size_t i = 0; i < message.size(); ++i) message[i] = uint8_t(i * 7);
  for (size_t n = 0; n <= message.size(); ++n) {
    Cmac<MbedTlsMiotyCrypto> node(node_key);
    node.Update(std::span(message.data(), n));
    AesCmac host(host_key);
    host.Update(ByteView(message.data(), n));
    EXPECT_EQ(node.Final(), host.Final()) << "length " << n;
  }
}

TEST(MbedTlsFrameCodecTest, EncodesExactlyAsTheHostAndEachVerifiesTheOther) {
  NetworkKey<MbedTlsMiotyCrypto> node_key;
  ASSERT_EQ(node_key.Load(kRawKey), FrameReason::kNone);
  MiotyNetworkKey host_key = HostKey();
  for (bool long_addressing : {false, true}) {
    for (bool with_mpf : {false, true}) {
      for (size_t payload_size :
           {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17},
            size_t{40}, MaxPayloadSize(long_addressing, with_mpf)}) {
        UplinkParams params;
        params.eui = kEui;
        params.short_address = 0x1234;
        params.counter = 0x01fffffe + static_cast<uint32_t>(payload_size);
        params.long_addressing = long_addressing;
        if (with_mpf) params.mpf = 0x11;
        std::vector<uint8_t> payload(payload_size);
        for (size_t i = 0; i < payload_size; ++i)
          payload[i] = uint8_t(i ^ 0x5a);

        uint8_t node_frame[kMaxMpduSize];
        size_t node_size = 0;
        ASSERT_EQ(NodeCodec::EncodeUplink(node_key, params, payload, node_frame,
                                          node_size),
                  FrameReason::kNone);
        absl::StatusOr<Bytes> host_frame =
            EncodeUplink(host_key, params, payload);
        ASSERT_TRUE(host_frame.ok()) << host_frame.status();
        ASSERT_EQ(Bytes(node_frame, node_frame + node_size), *host_frame)
            << "long " << long_addressing << " mpf " << with_mpf << " size "
            << payload_size;

        // The host verifies the node's frame ...
        FrameHeader header;
        ASSERT_TRUE(
            ParseFrameHeader(ByteView(node_frame, node_size), header).ok());
        uint8_t plain[kMaxMpduSize];
        absl::StatusOr<VerifiedFrame> on_host = VerifyUplink(
            host_key, header, kEui, params.counter,
            ByteView(node_frame, node_size), absl::MakeSpan(plain));
        ASSERT_TRUE(on_host.ok()) << on_host.status();
        EXPECT_EQ(Bytes(on_host->payload.begin(), on_host->payload.end()),
                  payload);
        // ... and the node's codec verifies the host's.
        FrameHeader node_header;
        ASSERT_EQ(NodeCodec::ParseHeader(*host_frame, node_header),
                  FrameReason::kNone);
        uint8_t node_plain[kMaxMpduSize];
        VerifiedFrame on_node;
        ASSERT_EQ(
            NodeCodec::VerifyUplink(node_key, node_header, kEui, params.counter,
                                    *host_frame, node_plain, on_node),
            FrameReason::kNone);
        EXPECT_EQ(on_node.mpf, params.mpf);
        EXPECT_EQ(std::vector<uint8_t>(on_node.payload.begin(),
                                       on_node.payload.end()),
                  payload);
      }
    }
  }
}

TEST(MbedTlsFrameCodecTest, RefusesWithStableReasons) {
  NetworkKey<MbedTlsMiotyCrypto> node_key;
  UplinkParams params;
  params.eui = kEui;
  params.counter = 7;
  const uint8_t payload[3] = {1, 2, 3};
  uint8_t frame[kMaxMpduSize];
  size_t size = 0;
  // A key that was never loaded encrypts nothing.
  EXPECT_EQ(NodeCodec::EncodeUplink(node_key, params, payload, frame, size),
            FrameReason::kKeyScheduleFailed);
  EXPECT_EQ(node_key.Load(std::span(kRawKey, 15)), FrameReason::kBadKeySize);
  EXPECT_FALSE(node_key.loaded());
  ASSERT_EQ(node_key.Load(kRawKey), FrameReason::kNone);
  EXPECT_EQ(NodeCodec::EncodeUplink(node_key, params, payload,
                                    std::span(frame, 8), size),
            FrameReason::kOutputBufferTooSmall);
  std::vector<uint8_t> too_big(MaxPayloadSize(false, false) + 1);
  EXPECT_EQ(NodeCodec::EncodeUplink(node_key, params, too_big, frame, size),
            FrameReason::kPayloadTooLarge);
  ASSERT_EQ(NodeCodec::EncodeUplink(node_key, params, payload, frame, size),
            FrameReason::kNone);

  FrameHeader header;
  ASSERT_EQ(NodeCodec::ParseHeader(std::span(frame, size), header),
            FrameReason::kNone);
  uint8_t plain[kMaxMpduSize];
  VerifiedFrame verified;
  frame[size - 1] ^= 1;
  EXPECT_EQ(NodeCodec::VerifyUplink(node_key, header, kEui, 7,
                                    std::span(frame, size), plain, verified),
            FrameReason::kMicMismatch);
  EXPECT_EQ(NodeCodec::VerifyUplink(node_key, header, kEui, 8,
                                    std::span(frame, size), plain, verified),
            FrameReason::kCounterMismatch);
  EXPECT_EQ(NodeCodec::ParseHeader(std::span(frame, 9), header),
            FrameReason::kTruncatedFrame);
  EXPECT_STREQ(FrameReasonName(FrameReason::kMicMismatch), "mic_mismatch");
}

TEST(NextCounterTest, StopsAtTheLastCounter) {
  EXPECT_EQ(NextCounter(0), 1u);
  EXPECT_EQ(NextCounter(0x00ffffff), 0x01000000u);
  EXPECT_EQ(NextCounter(UINT32_MAX), std::nullopt);
}

}  // namespace
}  // namespace cxsec::mioty
