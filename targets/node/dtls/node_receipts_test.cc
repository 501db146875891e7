// The firmware DTLS node's seal receipts on the host (unit), with the
// node's Mbed TLS backend: receipts made by the verifier's codec
// (BoringSSL) are found in a 2.04's payload and checked; a sequence
// acknowledged without one counts as unreceipted after the window and a
// late receipt takes it back; forged, partial and earlier-epoch receipts
// are ignored; and the sealed CBOR is byte for byte cxsec-node's.
#include "targets/node/dtls/node_receipts.h"

#include <array>
#include <cstdint>
#include <vector>

#include "core/deployment/telemetry_cbor.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/mbedtls_seal_crypto.h"
#include "gtest/gtest.h"

namespace cxsec::node {
namespace {

constexpr uint8_t kMacKey[16] = {0x5c, 0xab, 0xe2, 0x32, 0xb3, 0x7f,
                                 0xa2, 0xe8, 0x3b, 0x94, 0x6a, 0x9a,
                                 0xb0, 0x70, 0x74, 0x1a};

std::vector<uint8_t> Receipt(uint32_t epoch, uint32_t sequence) {
  seal::SealKey<seal::BoringSslSealCrypto> key;
  EXPECT_EQ(key.Load(kMacKey), seal::SealReason::kNone);
  std::array<uint8_t, seal::kReceiptSize> out;
  EXPECT_EQ(seal::SealReceiptCodec<seal::BoringSslSealCrypto>::Make(
                key, seal::Transport::kDtlsCoap,
                seal::ReceiptVerdict::kAccepted, epoch, sequence, out),
            seal::SealReason::kNone);
  return {out.begin(), out.end()};
}

struct Node {
  seal::SealKey<seal::MbedTlsSealCrypto> key;
  NodeReceiptTracker<seal::MbedTlsSealCrypto> tracker{3};
  Node() { EXPECT_EQ(key.Load(kMacKey), seal::SealReason::kNone); }
  // One sealed reading: fields, acknowledged, the 2.04 carrying `answer`.
  ReceiptFields Post(uint32_t epoch, uint32_t sequence,
                     const std::vector<uint8_t>& answer) {
    uint32_t newly = 0;
    const ReceiptFields fields = tracker.NextReadingFields(epoch, newly);
    tracker.OnAcknowledged(epoch, sequence);
    tracker.OnAnswer(key, epoch, answer);
    return fields;
  }
};

TEST(FirmwareReceiptsTest, ReceiptsOneReadingLateCountNothing) {
  Node node;
  std::vector<uint8_t> answer;
  for (uint32_t sequence = 0; sequence < 6; ++sequence) {
    const ReceiptFields fields = node.Post(0, sequence, answer);
    EXPECT_EQ(fields.unreceipted, 0u);
    EXPECT_EQ(fields.highest_receipted,
              sequence < 2 ? -1 : static_cast<int64_t>(sequence) - 2);
    answer = Receipt(0, sequence);  // comes back with the next 2.04
  }
  EXPECT_EQ(node.tracker.counters().receipted, 5u);
  EXPECT_EQ(node.tracker.counters().bad_receipts, 0u);
}

TEST(FirmwareReceiptsTest, DroppedReadingIsUnreceiptedUntilItsLateReceipt) {
  Node node;
  node.Post(0, 10, {});
  // Sequence 10's receipt never comes; 11.. get theirs.
  node.Post(0, 11, {});
  node.Post(0, 12, Receipt(0, 11));
  node.Post(0, 13, Receipt(0, 12));
  ReceiptFields fields = node.Post(0, 14, Receipt(0, 13));
  EXPECT_EQ(fields.unreceipted, 1u);  // 10: acknowledged 4 readings ago
  EXPECT_EQ(fields.highest_receipted, 12);
  node.tracker.OnAnswer(node.key, 0, Receipt(0, 10));
  uint32_t newly = 0;
  fields = node.tracker.NextReadingFields(0, newly);
  EXPECT_EQ(fields.unreceipted, 0u);
  EXPECT_EQ(newly, 0u);
}

TEST(FirmwareReceiptsTest, ForgedPartialAndEarlierEpochReceiptsAreIgnored) {
  Node node;
  node.Post(1, 5, {});
  std::vector<uint8_t> forged = Receipt(1, 5);
  forged.back() ^= 0x01;
  std::vector<uint8_t> answer = forged;
  const std::vector<uint8_t> earlier = Receipt(0, 4);
  answer.insert(answer.end(), earlier.begin(), earlier.end());
  answer.push_back(0x00);  // a partial one
  node.tracker.OnAnswer(node.key, 1, answer);
  EXPECT_EQ(node.tracker.counters().bad_receipts, 2u);
  EXPECT_EQ(node.tracker.counters().stale_receipts, 1u);
  EXPECT_EQ(node.tracker.counters().receipted, 0u);
  EXPECT_EQ(node.tracker.counters().highest_receipted, -1);
}

TEST(FirmwareReceiptsTest, ARatchetLeavesOldSequencesUncheckedNotUnreceipted) {
  Node node;
  node.Post(0, 0, {});
  node.Post(0, 1, Receipt(0, 0));
  // Epoch 1 from sequence 2: 1's receipt (epoch 0) cannot be checked.
  node.Post(1, 2, Receipt(0, 1));
  for (uint32_t sequence = 3; sequence < 8; ++sequence) {
    const ReceiptFields fields =
        node.Post(1, sequence, Receipt(1, sequence - 1));
    EXPECT_EQ(fields.unreceipted, 0u);
  }
  EXPECT_EQ(node.tracker.counters().unchecked, 1u);
  EXPECT_EQ(node.tracker.counters().stale_receipts, 1u);
}

TEST(FirmwareReceiptsTest, SealedCborIsWhatCxsecNodeSeals) {
  for (const ReceiptFields fields :
       {ReceiptFields{0, -1}, ReceiptFields{3, 4000000000LL},
        ReceiptFields{4294967295u, 23}}) {
    for (int64_t value : {int64_t{21000}, int64_t{-40}, int64_t{0}}) {
      std::array<uint8_t, kSealedReadingCborMaxSize> out;
      const size_t n = EncodeSealedReadingCbor("t", value, fields, out);
      ASSERT_NE(n, 0u);
      const Bytes expected = EncodeTelemetry(
          false, {{"t", value},
                  {"ur", fields.unreceipted},
                  {"rs", fields.highest_receipted}});
      EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + n),
                std::vector<uint8_t>(expected.begin(), expected.end()));
    }
  }
  std::array<uint8_t, kSealedReadingCborMaxSize> out;
  EXPECT_EQ(EncodeSealedReadingCbor("u", 1, {}, out), 0u);
  EXPECT_EQ(EncodeSealedReadingCbor("tt", 1, {}, out), 0u);
  std::array<uint8_t, 20> small;
  EXPECT_EQ(EncodeSealedReadingCbor("t", 1, {}, small), 0u);
}

TEST(FirmwareReceiptsTest, FindsTheCoapPayloadAndRefusesMalformedOptions) {
  // ACK 2.04, token 8, Content-Format 42, payload "ab".
  std::vector<uint8_t> message = {0x68, 0x44, 0x12, 0x34, 1, 2, 3, 4, 5, 6,
                                  7,    8,    0xC1, 42,   0xFF, 'a', 'b'};
  auto payload = FindCoapPayload(message);
  ASSERT_TRUE(payload.has_value());
  EXPECT_EQ(payload->size(), 2u);
  EXPECT_EQ((*payload)[0], 'a');
  // No payload at all.
  message.resize(14);
  payload = FindCoapPayload(message);
  ASSERT_TRUE(payload.has_value());
  EXPECT_TRUE(payload->empty());
  // A marker with nothing after it, an option longer than the message, the
  // reserved nibble, a token longer than 8.
  EXPECT_FALSE(FindCoapPayload(std::vector<uint8_t>{0x40, 0x44, 0, 0, 0xFF})
                   .has_value());
  EXPECT_FALSE(FindCoapPayload(std::vector<uint8_t>{0x40, 0x44, 0, 0, 0x15, 1})
                   .has_value());
  EXPECT_FALSE(FindCoapPayload(std::vector<uint8_t>{0x40, 0x44, 0, 0, 0xF0})
                   .has_value());
  EXPECT_FALSE(FindCoapPayload(std::vector<uint8_t>{0x4E, 0x44, 0, 0})
                   .has_value());
  // Extended delta (13 + 1 byte) and length (14 + 2 bytes) cut short.
  EXPECT_FALSE(FindCoapPayload(std::vector<uint8_t>{0x40, 0x44, 0, 0, 0xD0})
                   .has_value());
  EXPECT_FALSE(
      FindCoapPayload(std::vector<uint8_t>{0x40, 0x44, 0, 0, 0x0E, 0x01})
          .has_value());
  // Every prefix of a valid message parses or is refused, never overruns.
  const std::vector<uint8_t> full = {0x48, 0x44, 0x12, 0x34, 1, 2, 3, 4, 5,
                                     6,    7,    8,    0xD1, 0x02, 9, 0xFF,
                                     'x'};
  for (size_t n = 0; n <= full.size(); ++n) {
    (void)FindCoapPayload(std::span(full.data(), n));
  }
  ASSERT_TRUE(FindCoapPayload(full).has_value());
  EXPECT_EQ(FindCoapPayload(full)->size(), 1u);
}

}  // namespace
}  // namespace cxsec::node
