// The node's CoAP POST has the exact RFC 7252 layout the gateway's
// libcoap reads, and the response header parser refuses what it must.
#include "core/device/coap_message.h"

#include <array>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace cxsec::device {
namespace {

constexpr std::array<uint8_t, 8> kToken = {1, 2, 3, 4, 5, 6, 7, 8};

TEST(CoapMessageTest, PostLayout) {
  const std::array<uint8_t, 3> payload = {0xA1, 0x00, 0x01};
  std::array<uint8_t, 64> out{};
  const size_t n = EncodeCoapPost(0x1234, kToken, "t", payload, out);
  const std::vector<uint8_t> expected = {
      0x48, 0x02, 0x12, 0x34,              // CON, POST, MID
      1,    2,    3,    4,    5, 6, 7, 8,  // token
      0xB1, 't',                           // Uri-Path "t"
      0x11, 60,                            // Content-Format CBOR
      0xFF, 0xA1, 0x00, 0x01};             // payload
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + n), expected);
  for (size_t small = 0; small < n; ++small) {
    EXPECT_EQ(
        EncodeCoapPost(1, kToken, "t", payload, std::span(out.data(), small)),
        0u);
  }
  EXPECT_EQ(EncodeCoapPost(1, kToken, "", payload, out), 0u);
  EXPECT_EQ(EncodeCoapPost(1, kToken, "abcdefghijklm", payload, out), 0u);
}

TEST(CoapMessageTest, ParsesAPiggybackedAck) {
  const std::vector<uint8_t> ack = {0x68, 0x44, 0x12, 0x34, 1, 2,
                                    3,    4,    5,    6,    7, 8};
  CoapHeader header;
  ASSERT_EQ(ParseCoapHeader(ack, header), CoapReason::kNone);
  EXPECT_EQ(header.type, kCoapAck);
  EXPECT_EQ(header.code, CoapCode(2, 4));
  EXPECT_EQ(header.message_id, 0x1234);
  EXPECT_EQ(header.token_length, 8);
  EXPECT_EQ(header.token, kToken);
}

TEST(CoapMessageTest, RefusesMalformedHeaders) {
  CoapHeader header;
  EXPECT_EQ(ParseCoapHeader(std::vector<uint8_t>{0x60, 0x44, 0x12}, header),
            CoapReason::kTruncated);
  EXPECT_EQ(
      ParseCoapHeader(std::vector<uint8_t>{0xA0, 0x44, 0x12, 0x34}, header),
      CoapReason::kBadVersion);
  EXPECT_EQ(
      ParseCoapHeader(std::vector<uint8_t>{0x69, 0x44, 0x12, 0x34}, header),
      CoapReason::kBadTokenLength);
  EXPECT_EQ(
      ParseCoapHeader(std::vector<uint8_t>{0x68, 0x44, 0x12, 0x34, 1}, header),
      CoapReason::kTruncated);
}

TEST(CoapMessageTest, EmptyAck) {
  std::array<uint8_t, 4> out{};
  ASSERT_EQ(EncodeCoapEmptyAck(0xBEEF, out), 4u);
  EXPECT_EQ(out, (std::array<uint8_t, 4>{0x60, 0x00, 0xBE, 0xEF}));
}

}  // namespace
}  // namespace cxsec::device
