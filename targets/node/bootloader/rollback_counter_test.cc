// Unit test (host) of the anti-rollback counter record.
#include "targets/node/bootloader/rollback_counter.h"

#include "gtest/gtest.h"

namespace cxsec::node::bootloader {
namespace {

TEST(RollbackCounterTest, ErasedRecordIsCounterZero) {
  RollbackCounterRecord erased;
  erased.fill(0xFF);
  const RollbackCounterResult counter = DecodeRollbackCounter(erased);
  ASSERT_TRUE(counter.ok());
  EXPECT_EQ(counter.value(), 0u);
}

TEST(RollbackCounterTest, RoundTrips) {
  const RollbackCounterResult counter =
      DecodeRollbackCounter(EncodeRollbackCounter(5));
  ASSERT_TRUE(counter.ok());
  EXPECT_EQ(counter.value(), 5u);
}

TEST(RollbackCounterTest, RefusesAFlippedBitAsCorrupt) {
  for (size_t byte = 0; byte < 12; ++byte) {
    RollbackCounterRecord record = EncodeRollbackCounter(5);
    record[byte] ^= 0x01;
    EXPECT_EQ(DecodeRollbackCounter(record).reason(),
              RollbackCounterReason::kCorrupt)
        << "byte " << byte;
  }
}

TEST(RollbackCounterTest, RefusesZeroedFlashAsCorrupt) {
  RollbackCounterRecord zeros{};
  EXPECT_EQ(DecodeRollbackCounter(zeros).reason(),
            RollbackCounterReason::kCorrupt);
}

}  // namespace
}  // namespace cxsec::node::bootloader
