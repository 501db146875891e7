// Unit tests of the DTLS message ids (no network): id forms and limits,
// and RequestNumbering's retransmission rule.
#include "transports/dtls/message_ids.h"

#include "gtest/gtest.h"

namespace cxsec::dtls {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(MessageIdsTest, FormsFitTheSpoolsIdLimit) {
  const std::string device = "D0011223344556677";
  Bytes longest(kMaxReadingIdBytes, 0xff);
  EXPECT_EQ(ReadingMessageId(device, Bytes{0x01, 0xab}),
            "D0011223344556677-r01ab");
  EXPECT_LE(ReadingMessageId(device, longest).size(), 64u);
  Bytes nonce(kSessionNonceBytes, 0xee);
  EXPECT_EQ(SessionMessageId(device, nonce, 7),
            "D0011223344556677-seeeeeeeeeeeeeeee-7");
  EXPECT_LE(SessionMessageId(device, nonce, UINT64_MAX).size(), 64u);
}

TEST(MessageIdsTest, RetransmissionKeepsItsNumber) {
  RequestNumbering numbering;
  const Bytes token{0x01};
  EXPECT_EQ(numbering.Number(0x9e0e, token, kStart), 1u);
  // The same CON again (its ACK was lost): same number.
  EXPECT_EQ(numbering.Number(0x9e0e, token, kStart + absl::Seconds(2)), 1u);
  EXPECT_EQ(numbering.Number(0x9e0e, token, kStart + absl::Seconds(90)), 1u);
  // The next request reuses the token (as coap-client does): a new one.
  EXPECT_EQ(numbering.Number(0x9e0f, token, kStart + absl::Seconds(91)), 2u);
  // Same message id with another token is another request.
  EXPECT_EQ(numbering.Number(0x9e0f, Bytes{0x02}, kStart + absl::Seconds(92)),
            3u);
  // An empty token is a token too.
  EXPECT_EQ(numbering.Number(0x0001, Bytes{}, kStart + absl::Seconds(93)), 4u);
  EXPECT_EQ(numbering.Number(0x0001, Bytes{}, kStart + absl::Seconds(94)), 4u);
}

TEST(MessageIdsTest, MessageIdReusedAfterTheExchangeLifetimeIsANewRequest) {
  // After 65536 requests a client's 16-bit message id wraps; RFC 7252 lets
  // it reuse one after EXCHANGE_LIFETIME, with the same (or no) token.
  RequestNumbering numbering;
  EXPECT_EQ(numbering.Number(5, Bytes{}, kStart), 1u);
  EXPECT_EQ(numbering.Number(5, Bytes{},
                             kStart + kExchangeLifetime + absl::Seconds(1)),
            2u);
  EXPECT_EQ(numbering.remembered(), 1u);
}

TEST(MessageIdsTest, MemoryIsBounded) {
  RequestNumbering numbering(/*capacity=*/4);
  for (uint16_t mid = 0; mid < 100; ++mid) {
    EXPECT_EQ(numbering.Number(mid, Bytes{0x01}, kStart), mid + 1u);
  }
  EXPECT_EQ(numbering.remembered(), 4u);
  // The last ones are still recognised as retransmissions.
  EXPECT_EQ(numbering.Number(99, Bytes{0x01}, kStart), 100u);
  EXPECT_EQ(numbering.Number(96, Bytes{0x01}, kStart), 97u);
}

}  // namespace
}  // namespace cxsec::dtls
