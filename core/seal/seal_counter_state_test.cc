// The verifier's counter state for sealed readings: every verdict, state
// untouched unless a reading is accepted, gaps counted and taken back.
#include "core/seal/seal_counter_state.h"

#include <array>
#include <cstdint>
#include <cstring>

#include "gtest/gtest.h"

namespace cxsec::seal {
namespace {

std::array<uint8_t, kTagSize> Tag(uint32_t sequence, uint8_t variant = 0) {
  std::array<uint8_t, kTagSize> tag{};
  std::memcpy(tag.data(), &sequence, sizeof(sequence));
  tag[7] = variant;
  return tag;
}

SealVerdict Apply(SealCounterState& state, uint32_t epoch, uint32_t sequence,
                  uint8_t variant = 0) {
  const auto tag = Tag(sequence, variant);
  return ApplySealedReading(state, epoch, sequence, tag);
}

bool SameState(const SealCounterState& a, const SealCounterState& b) {
  return a.epoch == b.epoch && a.has_accepted == b.has_accepted &&
         a.highest_sequence == b.highest_sequence && a.window == b.window &&
         a.gap_window == b.gap_window && a.tags == b.tags && a.gaps == b.gaps;
}

TEST(SealCounterStateTest, AcceptsInOrderAndCountsNoGaps) {
  SealCounterState state;
  for (uint32_t s = 10; s < 100; ++s) {
    ASSERT_EQ(Apply(state, 0, s), SealVerdict::kAccepted) << s;
  }
  EXPECT_EQ(state.highest_sequence, 99u);
  EXPECT_EQ(state.gaps, 0u);
}

TEST(SealCounterStateTest, RetryIsADuplicateOtherBytesAnAlarm) {
  SealCounterState state;
  ASSERT_EQ(Apply(state, 0, 5), SealVerdict::kAccepted);
  ASSERT_EQ(Apply(state, 0, 6), SealVerdict::kAccepted);
  const SealCounterState before = state;
  EXPECT_EQ(Apply(state, 0, 6), SealVerdict::kDuplicate);
  EXPECT_EQ(Apply(state, 0, 5), SealVerdict::kDuplicate);
  EXPECT_EQ(Apply(state, 0, 5, /*variant=*/1), SealVerdict::kSequenceReused);
  EXPECT_EQ(Apply(state, 0, 6, /*variant=*/1), SealVerdict::kSequenceReused);
  EXPECT_TRUE(SameState(state, before));
}

TEST(SealCounterStateTest, BelowTheWindowIsAReplay) {
  SealCounterState state;
  ASSERT_EQ(Apply(state, 0, 100), SealVerdict::kAccepted);
  ASSERT_EQ(Apply(state, 0, 100 + kReplayWindowSize), SealVerdict::kAccepted);
  const SealCounterState before = state;
  EXPECT_EQ(Apply(state, 0, 100), SealVerdict::kReplayedSequence);
  EXPECT_EQ(Apply(state, 0, 0), SealVerdict::kReplayedSequence);
  EXPECT_TRUE(SameState(state, before));
  // The edge of the window still tells retries apart.
  EXPECT_EQ(Apply(state, 0, 101), SealVerdict::kAccepted);
  EXPECT_EQ(Apply(state, 0, 101), SealVerdict::kDuplicate);
}

TEST(SealCounterStateTest, GapsAreCountedAndTakenBackByLateReadings) {
  SealCounterState state;
  ASSERT_EQ(Apply(state, 0, 1), SealVerdict::kAccepted);
  ASSERT_EQ(Apply(state, 0, 5), SealVerdict::kAccepted);  // 2, 3, 4 missing
  EXPECT_EQ(state.gaps, 3u);
  ASSERT_EQ(Apply(state, 0, 3), SealVerdict::kAccepted);  // late
  EXPECT_EQ(state.gaps, 2u);
  EXPECT_EQ(Apply(state, 0, 3), SealVerdict::kDuplicate);
  EXPECT_EQ(state.gaps, 2u);
  ASSERT_EQ(Apply(state, 0, 1000), SealVerdict::kAccepted);  // a long drop
  EXPECT_EQ(state.gaps, 2u + 994u);
  ASSERT_EQ(Apply(state, 0, 999), SealVerdict::kAccepted);
  EXPECT_EQ(state.gaps, 2u + 993u);
  // Gaps that fell out of the window stay counted.
  EXPECT_EQ(Apply(state, 0, 4), SealVerdict::kReplayedSequence);
  EXPECT_EQ(state.gaps, 2u + 993u);
}

TEST(SealCounterStateTest, ALateReadingBeforeTheEpochsFirstClaimsNoGap) {
  SealCounterState state;
  ASSERT_EQ(Apply(state, 0, 1), SealVerdict::kAccepted);
  ASSERT_EQ(Apply(state, 0, 5), SealVerdict::kAccepted);
  ASSERT_EQ(state.gaps, 3u);
  ASSERT_EQ(Apply(state, 1, 50), SealVerdict::kAccepted);
  ASSERT_EQ(Apply(state, 1, 49), SealVerdict::kAccepted);
  EXPECT_EQ(state.gaps, 3u);
  EXPECT_EQ(Apply(state, 1, 49), SealVerdict::kDuplicate);
}

TEST(SealCounterStateTest, EpochsMoveForwardOnly) {
  SealCounterState state;
  ASSERT_EQ(Apply(state, 0, 7), SealVerdict::kAccepted);
  ASSERT_EQ(Apply(state, 2, 3),
            SealVerdict::kAccepted);  // new epoch, own space
  EXPECT_EQ(state.epoch, 2u);
  EXPECT_EQ(state.highest_sequence, 3u);
  const SealCounterState before = state;
  EXPECT_EQ(Apply(state, 0, 8), SealVerdict::kStaleEpoch);
  EXPECT_EQ(Apply(state, 1, 100), SealVerdict::kStaleEpoch);
  EXPECT_TRUE(SameState(state, before));
  EXPECT_EQ(Apply(state, 2, 3), SealVerdict::kDuplicate);
}

TEST(SealCounterStateTest, VerdictNamesAreStable) {
  EXPECT_STREQ(SealVerdictName(SealVerdict::kAccepted), "accepted");
  EXPECT_STREQ(SealVerdictName(SealVerdict::kDuplicate), "duplicate");
  EXPECT_STREQ(SealVerdictName(SealVerdict::kReplayedSequence),
               "replayed_sequence");
  EXPECT_STREQ(SealVerdictName(SealVerdict::kSequenceReused),
               "sequence_reused");
  EXPECT_STREQ(SealVerdictName(SealVerdict::kStaleEpoch), "stale_epoch");
}

}  // namespace
}  // namespace cxsec::seal
