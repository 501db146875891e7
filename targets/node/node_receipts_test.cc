// Unit tests (host) for the node's seal receipt tracker: receipts checked
// with the node's key, forged ones ignored, and an acknowledged reading
// without a receipt counted unreceipted after its window.
#include "targets/node/node_receipts.h"

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "core/seal/boringssl_seal_crypto.h"
#include "gtest/gtest.h"

namespace cxsec::node {
namespace {

using Receipts = seal::SealReceiptCodec<seal::BoringSslSealCrypto>;

class SealReceiptTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::array<uint8_t, 16> raw{};
    raw.fill(7);
    ASSERT_EQ(keys_.Load(0, raw, {}), seal::SealReason::kNone);
    raw[0] = 8;
    ASSERT_EQ(other_.Load(raw), seal::SealReason::kNone);
  }
  SealReceiptTracker Tracker(int window = 3) {
    return SealReceiptTracker(
        [this](ByteView bytes, seal::SealReceipt& out) {
          return Receipts::Check(
              keys_.mac_key(), keys_.epoch(), seal::Transport::kDtlsCoap,
              std::span<const uint8_t>(bytes.data(), bytes.size()), out);
        },
        [this](ByteView envelope) -> std::optional<ExpectedSealReceipts> {
          seal::SealedEnvelope parsed;
          if (seal::ParseSealedEnvelope(
                  seal::Transport::kDtlsCoap,
                  std::span<const uint8_t>(envelope.data(), envelope.size()),
                  parsed) != seal::SealReason::kNone) {
            return std::nullopt;
          }
          ExpectedSealReceipts expected;
          expected.sequence = parsed.sequence;
          for (auto verdict : {seal::ReceiptVerdict::kAccepted,
                               seal::ReceiptVerdict::kDuplicate}) {
            EXPECT_EQ(Receipts::Make(keys_.mac_key(), seal::Transport::kDtlsCoap,
                                     verdict, 0, parsed.sequence,
                                     expected.by_verdict[static_cast<size_t>(
                                         verdict)]),
                      seal::SealReason::kNone);
          }
          return expected;
        },
        window, [this](const std::string& line) { log_.push_back(line); });
  }
  // A sealed envelope (MAC-only, empty body) of `sequence`.
  Bytes Envelope(uint32_t sequence) {
    Bytes out(seal::kDtlsOverhead);
    EXPECT_TRUE(seal::HostSealCodec::Seal(keys_, seal::Transport::kDtlsCoap,
                                          seal::SealMode::kMacOnly, sequence,
                                          {}, out)
                    .ok());
    return out;
  }
  Bytes Receipt(uint32_t sequence, bool forged = false) {
    std::array<uint8_t, seal::kReceiptSize> r{};
    EXPECT_EQ(Receipts::Make(forged ? other_ : keys_.mac_key(),
                             seal::Transport::kDtlsCoap,
                             seal::ReceiptVerdict::kAccepted, 0, sequence, r),
              seal::SealReason::kNone);
    return Bytes(r.begin(), r.end());
  }
  // One sealed reading: fields, then its 2.04 carrying `answer`.
  std::vector<std::pair<std::string, int64_t>> Reading(
      SealReceiptTracker& tracker, uint32_t sequence, const Bytes& answer) {
    auto fields = tracker.NextReadingFields();
    tracker.OnAcknowledged(Envelope(sequence), answer);
    return fields;
  }

  seal::DeviceSealKeys<seal::BoringSslSealCrypto> keys_;
  seal::SealKey<seal::BoringSslSealCrypto> other_;
  std::vector<std::string> log_;
};

using Fields = std::vector<std::pair<std::string, int64_t>>;

TEST_F(SealReceiptTrackerTest, HonestGatewayLeavesNothingUnreceipted) {
  SealReceiptTracker tracker = Tracker();
  EXPECT_EQ(Reading(tracker, 0, {}), (Fields{{"ur", 0}, {"rs", -1}}));
  for (uint32_t s = 1; s < 10; ++s) {
    Reading(tracker, s, Receipt(s - 1));  // each answer receipts the last
  }
  EXPECT_EQ(tracker.NextReadingFields(), (Fields{{"ur", 0}, {"rs", 8}}));
  EXPECT_EQ(tracker.counters().receipted, 9u);
  EXPECT_TRUE(log_.empty());
}

TEST_F(SealReceiptTrackerTest, ADroppedReadingBecomesUnreceiptedOnce) {
  SealReceiptTracker tracker = Tracker(3);
  Reading(tracker, 0, {});
  Reading(tracker, 1, Receipt(0));
  Reading(tracker, 2, {});  // reading 1's receipt never comes
  Reading(tracker, 3, Receipt(2));
  Reading(tracker, 4, Receipt(3));
  // Reading 5 is prepared 4 readings after reading 1 was acknowledged.
  EXPECT_EQ(Reading(tracker, 5, Receipt(4)), (Fields{{"ur", 1}, {"rs", 3}}));
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("sealed reading 1 was acknowledged by the gateway 4 "
                         "readings ago but no receipt came back"),
            std::string::npos)
      << log_[0];
  EXPECT_EQ(tracker.NextReadingFields(), (Fields{{"ur", 1}, {"rs", 4}}));
  EXPECT_EQ(log_.size(), 1u);
}

TEST_F(SealReceiptTrackerTest, ForgedOrMangledReceiptsAreCountedAndIgnored) {
  SealReceiptTracker tracker = Tracker(1);
  Reading(tracker, 0, {});
  Bytes answer = Receipt(0, /*forged=*/true);
  Bytes flipped = Receipt(0);
  flipped[12] ^= 1;
  answer.insert(answer.end(), flipped.begin(), flipped.end());
  answer.push_back(0);  // a partial receipt
  Reading(tracker, 1, answer);
  EXPECT_EQ(tracker.counters().bad_receipts, 3u);
  EXPECT_EQ(tracker.NextReadingFields(), (Fields{{"ur", 1}, {"rs", -1}}));
}

TEST_F(SealReceiptTrackerTest, ALateReceiptTakesItsCountBack) {
  SealReceiptTracker tracker = Tracker(1);
  Reading(tracker, 0, {});
  Reading(tracker, 1, {});
  EXPECT_EQ(Reading(tracker, 2, {}), (Fields{{"ur", 1}, {"rs", -1}}));
  Bytes both = Receipt(0);
  Bytes one = Receipt(1);
  both.insert(both.end(), one.begin(), one.end());
  Reading(tracker, 3, both);
  EXPECT_EQ(tracker.NextReadingFields(), (Fields{{"ur", 1}, {"rs", 1}}));
  // Reading 2 had no receipt in time; reading 0's came late.
}

}  // namespace
}  // namespace cxsec::node
