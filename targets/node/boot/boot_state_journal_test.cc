// Unit tests (host) of the device-side parts of the boot flow over
// in-memory NOR flash: the boot state journal (append, compaction, power
// cut during compaction, corrupt and legacy records) and the application
// calls of image_confirm.h.
#include <vector>

#include "gtest/gtest.h"
#include "targets/node/boot/boot_flash.h"
#include "targets/node/boot/boot_swap.h"
#include "targets/node/boot/image_confirm.h"
#include "targets/node/boot/memory_swap_flash.h"

namespace cxsec::node::boot {
namespace {

BootState Load(MemoryFlash& flash) {
  BootStateJournal<MemoryFlash> journal(flash);
  BootState state;
  EXPECT_EQ(journal.Load(state), BootFailure::kNone);
  return state;
}

TEST(BootStateJournalTest, FactoryFlashIsCounterZeroAndIdle) {
  MemoryFlash flash;
  const BootState state = Load(flash);
  EXPECT_EQ(state.security_counter, 0u);
  EXPECT_EQ(state.phase, SwapPhase::kIdle);
}

TEST(BootStateJournalTest, LastRecordWinsAcrossCompactions) {
  MemoryFlash flash;
  for (uint32_t i = 1; i <= 700; ++i) {  // 256 records a sector: compacts twice
    BootStateJournal<MemoryFlash> journal(flash);
    BootState state;
    ASSERT_EQ(journal.Load(state), BootFailure::kNone);
    ASSERT_EQ(state.security_counter, i - 1);
    state.security_counter = i;
    state.phase = i % 2 ? SwapPhase::kScratchWritten : SwapPhase::kIdle;
    state.swap = i % 2 ? SwapType::kTest : SwapType::kNone;
    ASSERT_EQ(journal.Save(state), BootFailure::kNone);
  }
  const BootState state = Load(flash);
  EXPECT_EQ(state.security_counter, 700u);
  EXPECT_EQ(state.phase, SwapPhase::kIdle);
}

TEST(BootStateJournalTest, PowerCutDuringCompactionKeepsOldOrNewState) {
  for (int cut = 1; cut <= 4; ++cut) {
    SCOPED_TRACE("cut after compaction step " + std::to_string(cut));
    MemoryFlash flash;
    BootStateJournal<MemoryFlash> journal(flash);
    BootState state;
    ASSERT_EQ(journal.Load(state), BootFailure::kNone);
    for (uint32_t i = 1; i <= 256; ++i) {  // fills the sector
      state.security_counter = i;
      ASSERT_EQ(journal.Save(state), BootFailure::kNone);
    }
    flash.cut_after = flash.steps + cut;
    state.security_counter = 257;
    EXPECT_EQ(journal.Save(state), BootFailure::kPowerCut);
    flash.cut_after = 0;
    const uint32_t counter = Load(flash).security_counter;
    EXPECT_TRUE(counter == 256 || counter == 257) << counter;
    // And appending goes on from there.
    BootStateJournal<MemoryFlash> again(flash);
    BootState loaded;
    ASSERT_EQ(again.Load(loaded), BootFailure::kNone);
    loaded.security_counter = 300;
    ASSERT_EQ(again.Save(loaded), BootFailure::kNone);
    EXPECT_EQ(Load(flash).security_counter, 300u);
  }
}

// Found by boot_state_journal_fuzzer: a valid record after the first
// erased one (an erase cut short) outlived the next append.
TEST(BootStateJournalTest, StaleRecordAfterAnErasedOneDoesNotOutliveAnAppend) {
  MemoryFlash flash;
  const bootloader::RollbackCounterRecord first =
      bootloader::EncodeRollbackCounter(7);
  const bootloader::RollbackCounterRecord stale =
      bootloader::EncodeRollbackCounter(3);
  std::vector<uint8_t>& sector = flash.bytes(FlashArea::kBootState);
  std::copy(first.begin(), first.end(), sector.begin());
  std::copy(stale.begin(), stale.end(), sector.begin() + 32);  // record 2
  BootStateJournal<MemoryFlash> journal(flash);
  BootState state;
  ASSERT_EQ(journal.Load(state), BootFailure::kNone);
  EXPECT_EQ(state.security_counter, 7u);
  state.security_counter = 8;
  ASSERT_EQ(journal.Save(state), BootFailure::kNone);
  EXPECT_EQ(Load(flash).security_counter, 8u);
}

TEST(BootStateJournalTest, OlderBootloaderRecordReadsAsIdle) {
  MemoryFlash flash;
  const bootloader::RollbackCounterRecord record =
      bootloader::EncodeRollbackCounter(5);
  std::copy(record.begin(), record.end(),
            flash.bytes(FlashArea::kBootState).begin());
  const BootState state = Load(flash);
  EXPECT_EQ(state.security_counter, 5u);
  EXPECT_EQ(state.phase, SwapPhase::kIdle);
}

TEST(BootStateJournalTest, CorruptFirstRecordFailsClosed) {
  MemoryFlash flash;
  std::fill_n(flash.bytes(FlashArea::kBootState).begin(), 16, 0);
  BootStateJournal<MemoryFlash> journal(flash);
  BootState state;
  EXPECT_EQ(journal.Load(state), BootFailure::kBootStateCorrupt);
}

TEST(BootStateJournalTest, BadPhaseWordIsCorrupt) {
  MemoryFlash flash;
  bootloader::RollbackCounterRecord record =
      bootloader::EncodeRollbackCounter(5);
  record[12] = 0x07;  // phase 7, complement not matching
  std::copy(record.begin(), record.end(),
            flash.bytes(FlashArea::kBootState).begin());
  BootStateJournal<MemoryFlash> journal(flash);
  BootState state;
  EXPECT_EQ(journal.Load(state), BootFailure::kBootStateCorrupt);
}

TEST(ImageConfirmTest, ConfirmSetsImageOkOnceAndIsIdempotent) {
  MemoryFlash flash;
  ASSERT_TRUE(ConfirmRunningImage(flash).ok());
  SlotTrailer trailer;
  ASSERT_EQ(ReadTrailer(flash, FlashArea::kPrimary, trailer), FlashStatus::kOk);
  EXPECT_TRUE(trailer.magic);
  EXPECT_TRUE(trailer.confirmed());
  EXPECT_TRUE(ConfirmRunningImage(flash).ok());
}

TEST(ImageConfirmTest, RequestWritesUnalignedImageAndMagicLast) {
  MemoryFlash flash;
  const std::vector<uint8_t> image(1001, 0x5A);
  ASSERT_TRUE(RequestUpgrade(flash, image, /*permanent=*/false).ok());
  SlotTrailer trailer;
  ASSERT_EQ(ReadTrailer(flash, FlashArea::kSecondary, trailer),
            FlashStatus::kOk);
  EXPECT_TRUE(trailer.magic);
  EXPECT_FALSE(trailer.confirmed());
  EXPECT_EQ(flash.bytes(FlashArea::kSecondary)[1000], 0x5A);
  EXPECT_EQ(flash.bytes(FlashArea::kSecondary)[1001], 0xFF);
  // Power cut before the magic: no request.
  for (int cut = 1; cut <= 4; ++cut) {  // erase, body, tail, image_ok
    MemoryFlash cut_flash;
    cut_flash.cut_after = cut;
    EXPECT_FALSE(RequestUpgrade(cut_flash, image, /*permanent=*/true).ok());
    ASSERT_EQ(ReadTrailer(cut_flash, FlashArea::kSecondary, trailer),
              FlashStatus::kOk);
    EXPECT_FALSE(trailer.magic);
  }
}

TEST(ImageConfirmTest, RequestRefusedOverUnconfirmedTestImageAndTooLarge) {
  MemoryFlash flash;
  ASSERT_EQ(WriteTrailerFlag(flash, FlashArea::kPrimary,
                             firmware::kTrailerCopyDoneOffsetFromEnd),
            FlashStatus::kOk);
  ASSERT_EQ(WriteTrailerMagic(flash, FlashArea::kPrimary), FlashStatus::kOk);
  const std::vector<uint8_t> image(100, 1);
  EXPECT_EQ(RequestUpgrade(flash, image, false).reason(),
            ImageControlReason::kPrimaryUnconfirmed);
  ASSERT_TRUE(ConfirmRunningImage(flash).ok());
  EXPECT_TRUE(RequestUpgrade(flash, image, false).ok());
  const std::vector<uint8_t> too_large(MemoryFlash::kSlotSize, 1);
  EXPECT_EQ(RequestUpgrade(flash, too_large, false).reason(),
            ImageControlReason::kImageTooLarge);
}

}  // namespace
}  // namespace cxsec::node::boot
