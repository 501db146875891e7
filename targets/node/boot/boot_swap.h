// The node's boot state machine: MCUboot-style TEST/PERM upgrades swapped
// through a scratch area, confirm or revert, and the anti-rollback
// counter, crash-safe at every flash write. Device-side (no Abseil, heap,
// exceptions or RTTI), one source for the Cortex-M bootloader
// (targets/node/bootloader/bootloader_main.cc, board flash, Mbed TLS) and
// the host simulation (node_boot.h, files, BoringSSL):
//
//   BootSwap<BoardSwapFlash, MbedTlsFirmwareCrypto> boot(flash, keys, buffer);
//   const BootReport report = boot.Boot();
//   if (report.ok()) jump(report.primary.image());
//
// What Boot() decides, in order (boot_flash.h has the trailer layout):
//   1. A swap recorded as in progress in the boot state journal is
//      finished from its recorded phase (power was lost during it).
//   2. The primary is an unconfirmed TEST image (copy_done, no image_ok):
//      revert, i.e. swap the previous image back from the secondary —
//      only if the secondary verifies and its security counter is at most
//      the stored one (it is the image that ran before; a new image there
//      is never installed this way). A pending request in the secondary
//      at that point is refused (kPrimaryUnconfirmed) and kept until the
//      running image confirms itself.
//   3. The secondary carries the trailer magic (an upgrade request): a
//      confirmed primary first raises the counter to its own (step 5),
//      then the request is verified against it; refused images are erased and
//      never copied. Otherwise a TEST swap (image_ok unset: runs once, reverted
//      unless it confirms) or a PERM swap (image_ok set).
//   4. The primary is verified. If that fails and the secondary holds a
//      verified previous image, swap back and verify again.
//   5. The stored counter is raised to the primary's security counter
//      only when the primary is confirmed (image_ok). A reverted image
//      never raises it: step 2 and 4 only take images at or below it.
//
// The swap (whole-slot scratch, every step idempotent): record the
// phase, then   scratch <- primary;  primary <- secondary + trailer;
// secondary <- scratch (no magic);  record idle. Each step only reads an
// area later steps leave alone, so replaying it after power loss writes
// the same bytes.
//
// Boot state journal (kBootState sector, copied to kBootStateBackup while
// compacted): 16-byte records appended into erased flash, the last valid
// one wins. A record is the anti-rollback counter record of
// targets/node/bootloader/rollback_counter.h ("CXRB" | counter | ~counter)
// whose fourth word holds the swap phase and type (0xFFFFFFFF: idle), so
// a record written by the older bootloader still reads as idle.
#ifndef CXSEC_TARGETS_NODE_BOOT_BOOT_SWAP_H_
#define CXSEC_TARGETS_NODE_BOOT_BOOT_SWAP_H_

#include <array>
#include <cstdint>
#include <span>

#include "core/firmware/image_format.h"
#include "core/firmware/image_verifier.h"
#include "targets/node/boot/boot_flash.h"
#include "targets/node/bootloader/rollback_counter.h"

namespace cxsec::node::boot {

// SwapType: what a boot did with the slots. Extend-only.
enum class SwapType : uint8_t {
  kNone = 0,
  kTest = 1,    // requested image swapped in, runs once unless confirmed
  kPerm = 2,    // requested image swapped in, confirmed
  kRevert = 3,  // previous image swapped back
  kFail = 4,    // a swap was requested or due but refused (see SwapRefusal)
};

constexpr const char* SwapTypeName(SwapType type) {
  switch (type) {
    case SwapType::kNone:
      return "none";
    case SwapType::kTest:
      return "test";
    case SwapType::kPerm:
      return "perm";
    case SwapType::kRevert:
      return "revert";
    case SwapType::kFail:
      return "fail";
  }
  return "unknown";
}

// SwapRefusal: why a swap was not done, or done backwards. Extend-only.
enum class SwapRefusal : uint8_t {
  kNone = 0,
  kSecondaryRejected = 1,     // the requested image failed verification; erased
  kPrimaryUnconfirmed = 2,    // request while the running TEST image is
                              // unconfirmed; kept until it confirms
  kRevertTargetRejected = 3,  // revert due, but the secondary is not a
                              // verified previous image; primary kept
  kSwappedImageRejected = 4,  // the primary failed its final check;
                              // the previous image was swapped back
};

constexpr const char* SwapRefusalName(SwapRefusal refusal) {
  switch (refusal) {
    case SwapRefusal::kNone:
      return "none";
    case SwapRefusal::kSecondaryRejected:
      return "secondary_rejected";
    case SwapRefusal::kPrimaryUnconfirmed:
      return "primary_unconfirmed";
    case SwapRefusal::kRevertTargetRejected:
      return "revert_target_rejected";
    case SwapRefusal::kSwappedImageRejected:
      return "swapped_image_rejected";
  }
  return "unknown";
}

// BootFailure: why nothing may run. Extend-only.
enum class BootFailure : uint8_t {
  kNone = 0,
  kFlashError = 1,
  kPowerCut = 2,  // host simulation: a test cut power after a write
  kBootStateCorrupt = 3,
  kNoBootableImage = 4,  // the primary failed verification (image_reason)
  kBadLayout = 5,        // slots of different sizes, scratch too small
};

constexpr const char* BootFailureName(BootFailure failure) {
  switch (failure) {
    case BootFailure::kNone:
      return "ok";
    case BootFailure::kFlashError:
      return "flash_error";
    case BootFailure::kPowerCut:
      return "power_cut";
    case BootFailure::kBootStateCorrupt:
      // The name the bootloader has always printed for this.
      return bootloader::RollbackCounterReasonName(
          bootloader::RollbackCounterReason::kCorrupt);
    case BootFailure::kNoBootableImage:
      return "no_bootable_image";
    case BootFailure::kBadLayout:
      return "bad_flash_layout";
  }
  return "unknown";
}

// SwapPhase: how far a swap got (journalled before each step).
enum class SwapPhase : uint8_t {
  kIdle = 0,
  kStarted = 1,         // next: scratch <- primary
  kScratchWritten = 2,  // next: primary <- secondary
  kPrimaryWritten = 3,  // next: secondary <- scratch
};

// BootState: the trusted NV state.
struct BootState {
  uint32_t security_counter = 0;
  SwapPhase phase = SwapPhase::kIdle;
  SwapType swap = SwapType::kNone;
};

// BootReport: what Boot() did and what may run.
struct [[nodiscard]] BootReport {
  BootFailure failure = BootFailure::kNone;
  SwapType swap = SwapType::kNone;
  SwapRefusal refusal = SwapRefusal::kNone;
  // The verifier's reason behind `refusal` or kNoBootableImage (kNone for
  // kRevertTargetRejected when the image verified but carries a security
  // counter above the stored one, i.e. it is not the previous image).
  firmware::RejectReason image_reason = firmware::RejectReason::kNone;
  uint32_t stored_counter = 0;  // after this boot
  bool counter_raised = false;
  // The image to run; only meaningful when ok().
  firmware::VerifyOutcome primary =
      firmware::VerifyOutcome::Reject(firmware::RejectReason::kReadFailed, 0);

  bool ok() const { return failure == BootFailure::kNone && primary.ok(); }
};

namespace internal {

inline constexpr uint32_t kJournalRecordSize =
    bootloader::kRollbackCounterRecordSize;
inline constexpr uint32_t kIdleStateWord = 0xFFFFFFFFu;

inline uint32_t EncodeStateWord(SwapPhase phase, SwapType swap) {
  if (phase == SwapPhase::kIdle) return kIdleStateWord;
  const uint32_t p = static_cast<uint8_t>(phase);
  const uint32_t s = static_cast<uint8_t>(swap);
  return p | (s << 8) | ((~p & 0xFFu) << 16) | ((~s & 0xFFu) << 24);
}

inline bool DecodeStateWord(uint32_t word, BootState& state) {
  if (word == kIdleStateWord) {
    state.phase = SwapPhase::kIdle;
    state.swap = SwapType::kNone;
    return true;
  }
  const uint32_t p = word & 0xFFu;
  const uint32_t s = (word >> 8) & 0xFFu;
  if (((word >> 16) & 0xFFu) != (~p & 0xFFu) ||
      ((word >> 24) & 0xFFu) != (~s & 0xFFu)) {
    return false;
  }
  if (p < static_cast<uint8_t>(SwapPhase::kStarted) ||
      p > static_cast<uint8_t>(SwapPhase::kPrimaryWritten)) {
    return false;
  }
  if (s != static_cast<uint8_t>(SwapType::kTest) &&
      s != static_cast<uint8_t>(SwapType::kPerm) &&
      s != static_cast<uint8_t>(SwapType::kRevert)) {
    return false;
  }
  state.phase = static_cast<SwapPhase>(p);
  state.swap = static_cast<SwapType>(s);
  return true;
}

inline BootFailure FromFlash(FlashStatus status) {
  switch (status) {
    case FlashStatus::kOk:
      return BootFailure::kNone;
    case FlashStatus::kPowerCut:
      return BootFailure::kPowerCut;
    case FlashStatus::kError:
      break;
  }
  return BootFailure::kFlashError;
}

}  // namespace internal

// EncodeBootStateRecord: the journal record for `state` (also what host
// tools write to preload a node's boot state).
inline bootloader::RollbackCounterRecord EncodeBootStateRecord(
    const BootState& state) {
  bootloader::RollbackCounterRecord record =
      bootloader::EncodeRollbackCounter(state.security_counter);
  firmware::StoreLe32(record.data() + 12,
                      internal::EncodeStateWord(state.phase, state.swap));
  return record;
}

// BootStateJournal: loads and appends boot state records (see the file
// comment). Load() before Save().
template <SwapFlash Flash>
class BootStateJournal {
 public:
  explicit BootStateJournal(Flash& flash) : flash_(flash) {}

  BootFailure Load(BootState& out) {
    out = BootState{};
    bool found = false;
    uint32_t next_free = 0;
    bool dirty_tail = false;
    BootFailure failure =
        Scan(FlashArea::kBootState, out, found, next_free, dirty_tail);
    if (failure != BootFailure::kNone) return failure;
    if (found) {
      next_free_ = next_free;
      need_compaction_ = dirty_tail;
      return BootFailure::kNone;
    }
    // The main sector starts erased: factory-fresh, or a compaction was
    // cut after erasing it (then the backup has the state, and the main
    // sector is rewritten whole before the next append).
    bool backup_found = false;
    uint32_t unused = 0;
    bool unused_flag = false;
    failure = Scan(FlashArea::kBootStateBackup, out, backup_found, unused,
                   unused_flag);
    if (failure == BootFailure::kBootStateCorrupt) {
      out = BootState{};
      backup_found = false;
      failure = BootFailure::kNone;
    }
    if (failure != BootFailure::kNone) return failure;
    next_free_ = 0;
    need_compaction_ = backup_found || dirty_tail;
    return BootFailure::kNone;
  }

  BootFailure Save(const BootState& state) {
    const bootloader::RollbackCounterRecord record =
        EncodeBootStateRecord(state);
    const uint32_t records = flash_.SectorSize() / internal::kJournalRecordSize;
    if (!need_compaction_ && next_free_ < records) {
      const BootFailure failure = internal::FromFlash(
          flash_.Write(FlashArea::kBootState,
                       next_free_ * internal::kJournalRecordSize, record));
      if (failure == BootFailure::kNone) ++next_free_;
      return failure;
    }
    // Compaction: the backup holds the state while the main sector is
    // erased and rewritten; Load() reads the backup only while the main
    // sector's first record is erased.
    FlashStatus status =
        flash_.Erase(FlashArea::kBootStateBackup, 0, flash_.SectorSize());
    if (status != FlashStatus::kOk) return internal::FromFlash(status);
    status = flash_.Write(FlashArea::kBootStateBackup, 0, record);
    if (status != FlashStatus::kOk) return internal::FromFlash(status);
    status = flash_.Erase(FlashArea::kBootState, 0, flash_.SectorSize());
    if (status != FlashStatus::kOk) return internal::FromFlash(status);
    status = flash_.Write(FlashArea::kBootState, 0, record);
    if (status != FlashStatus::kOk) return internal::FromFlash(status);
    next_free_ = 1;
    need_compaction_ = false;
    return BootFailure::kNone;
  }

 private:
  // Scan: the last valid record of `area` into `out`; `next_free` is the
  // first erased record slot. A first record that is neither erased nor
  // valid is corruption (fail closed: no counter is guessed); an invalid
  // record after a valid one is a write cut short and is skipped.
  // `dirty_tail` reports bytes that are not erased after the first erased
  // record (an erase cut short, or flash written by something else): the
  // next append must rewrite the whole sector, or a stale record there
  // would outlive the appended one.
  BootFailure Scan(FlashArea area, BootState& out, bool& found,
                   uint32_t& next_free, bool& dirty_tail) {
    const uint32_t records = flash_.SectorSize() / internal::kJournalRecordSize;
    found = false;
    dirty_tail = false;
    next_free = records;
    for (uint32_t i = 0; i < records; ++i) {
      bootloader::RollbackCounterRecord record;
      if (flash_.Read(area, i * internal::kJournalRecordSize, record) !=
          FlashStatus::kOk) {
        return BootFailure::kFlashError;
      }
      bool erased = true;
      for (uint8_t byte : record)
        erased = erased && byte == firmware::kFlashErased;
      if (erased) {
        for (uint32_t j = i + 1; j < records && !dirty_tail; ++j) {
          if (flash_.Read(area, j * internal::kJournalRecordSize, record) !=
              FlashStatus::kOk) {
            return BootFailure::kFlashError;
          }
          for (uint8_t byte : record) {
            dirty_tail = dirty_tail || byte != firmware::kFlashErased;
          }
        }
        next_free = i;
        return BootFailure::kNone;
      }
      const bootloader::RollbackCounterResult counter =
          bootloader::DecodeRollbackCounter(record);
      BootState state;
      const bool valid =
          counter.ok() && internal::DecodeStateWord(
                              firmware::LoadLe32(record.data() + 12), state);
      if (!valid) {
        if (i == 0) return BootFailure::kBootStateCorrupt;
        continue;
      }
      state.security_counter = counter.value();
      out = state;
      found = true;
    }
    return BootFailure::kNone;
  }

  Flash& flash_;
  uint32_t next_free_ = 0;
  bool need_compaction_ = false;
};

// BootPolicy: device policy for the images Boot() accepts.
struct BootPolicy {
  // Refuse images without SEC_CNT (the Cortex-M bootloader does).
  bool require_security_counter = false;
};

// BootSwap: the state machine (see the file comment). `buffer` is the
// verifier's read buffer and the copy buffer: at least 128 bytes, a
// multiple of 4; larger copies faster.
template <SwapFlash Flash, firmware::FirmwareCryptoPolicy Crypto>
class BootSwap {
 public:
  BootSwap(Flash& flash, std::span<const firmware::TrustedKey> keys,
           std::span<uint8_t> buffer, BootPolicy policy = {})
      : flash_(flash), keys_(keys), buffer_(buffer), policy_(policy) {}

  BootReport Boot() {
    BootReport report;
    const uint32_t region = ImageRegionSize(flash_, FlashArea::kPrimary);
    if (region == 0 ||
        flash_.AreaSize(FlashArea::kSecondary) !=
            flash_.AreaSize(FlashArea::kPrimary) ||
        flash_.AreaSize(FlashArea::kScratch) < region || buffer_.size() < 128) {
      report.failure = BootFailure::kBadLayout;
      return report;
    }
    BootStateJournal<Flash> journal(flash_);
    BootState state;
    if ((report.failure = journal.Load(state)) != BootFailure::kNone) {
      return report;
    }
    report.stored_counter = state.security_counter;

    if (state.phase != SwapPhase::kIdle) {
      report.swap = state.swap;
      if ((report.failure = RunSwap(journal, state)) != BootFailure::kNone) {
        return report;
      }
    } else {
      SlotTrailer primary;
      SlotTrailer secondary;
      if (ReadTrailer(flash_, FlashArea::kPrimary, primary) !=
              FlashStatus::kOk ||
          ReadTrailer(flash_, FlashArea::kSecondary, secondary) !=
              FlashStatus::kOk) {
        report.failure = BootFailure::kFlashError;
        return report;
      }
      SwapType start = SwapType::kNone;
      if (primary.unconfirmed_test_image()) {
        if (secondary.magic) {
          report.swap = SwapType::kFail;
          report.refusal = SwapRefusal::kPrimaryUnconfirmed;
        } else if (firmware::RejectReason reason;
                   CheckPreviousImage(state, reason) !=
                   PreviousImageCheck::kUsable) {
          report.swap = SwapType::kFail;
          report.refusal = SwapRefusal::kRevertTargetRejected;
          report.image_reason = reason;
        } else {
          start = SwapType::kRevert;
        }
      } else if (secondary.magic) {
        // A confirmed image that has not raised the counter yet (it
        // confirmed itself during its last run) raises it now, before a
        // new image can take its place, and the request is judged
        // against the raised counter.
        if (primary.confirmed()) {
          const firmware::VerifyOutcome running =
              Verify(FlashArea::kPrimary, state.security_counter);
          if (running.ok() &&
              running.image().security_counter() > state.security_counter) {
            state.security_counter = running.image().security_counter();
            if ((report.failure = journal.Save(state)) != BootFailure::kNone) {
              return report;
            }
            report.counter_raised = true;
          }
        }
        const firmware::VerifyOutcome requested =
            Verify(FlashArea::kSecondary, state.security_counter);
        if (!requested.ok()) {
          report.swap = SwapType::kFail;
          report.refusal = SwapRefusal::kSecondaryRejected;
          report.image_reason = requested.reason;
          // Erased so it is refused once, not at every boot.
          if ((report.failure = internal::FromFlash(
                   flash_.Erase(FlashArea::kSecondary, 0,
                                flash_.AreaSize(FlashArea::kSecondary)))) !=
              BootFailure::kNone) {
            return report;
          }
        } else {
          start = secondary.confirmed() ? SwapType::kPerm : SwapType::kTest;
        }
      }
      if (start != SwapType::kNone) {
        report.swap = start;
        if ((report.failure = StartSwap(journal, state, start)) !=
            BootFailure::kNone) {
          return report;
        }
      }
    }

    firmware::VerifyOutcome running =
        Verify(FlashArea::kPrimary, state.security_counter);
    if (!running.ok()) {
      // Whatever put a bad image there (a copy gone wrong, the secondary
      // changed after it was verified, flash decay): go back to the
      // previous image if the secondary still holds one.
      SlotTrailer secondary;
      firmware::RejectReason reason;
      if (ReadTrailer(flash_, FlashArea::kSecondary, secondary) ==
              FlashStatus::kOk &&
          !secondary.magic &&
          CheckPreviousImage(state, reason) == PreviousImageCheck::kUsable) {
        report.swap = SwapType::kRevert;
        report.refusal = SwapRefusal::kSwappedImageRejected;
        report.image_reason = running.reason;
        if ((report.failure = StartSwap(journal, state, SwapType::kRevert)) !=
            BootFailure::kNone) {
          return report;
        }
        running = Verify(FlashArea::kPrimary, state.security_counter);
      }
    }
    if (!running.ok()) {
      report.failure = BootFailure::kNoBootableImage;
      report.image_reason = running.reason;
      return report;
    }

    // Anti-rollback: only a confirmed image raises the counter.
    SlotTrailer trailer;
    if (ReadTrailer(flash_, FlashArea::kPrimary, trailer) != FlashStatus::kOk) {
      report.failure = BootFailure::kFlashError;
      return report;
    }
    if (trailer.confirmed() &&
        running.image().security_counter() > state.security_counter) {
      state.security_counter = running.image().security_counter();
      if ((report.failure = journal.Save(state)) != BootFailure::kNone) {
        return report;
      }
      report.counter_raised = true;
    }
    report.stored_counter = state.security_counter;
    report.primary = running;
    return report;
  }

 private:
  struct SlotReader {
    Flash* flash;
    FlashArea area;
  };

  firmware::VerifyOutcome Verify(FlashArea slot, uint32_t stored_counter) {
    SlotReader reader{&flash_, slot};
    firmware::ImageSource source;
    source.context = &reader;
    source.size = ImageRegionSize(flash_, slot);
    source.read = [](void* context, uint32_t offset, uint8_t* out,
                     uint32_t length) -> int {
      auto* r = static_cast<SlotReader*>(context);
      return r->flash->Read(r->area, offset, std::span<uint8_t>(out, length)) ==
                     FlashStatus::kOk
                 ? 0
                 : -1;
    };
    firmware::VerifyOptions options;
    options.stored_security_counter = stored_counter;
    options.require_security_counter = policy_.require_security_counter;
    return firmware::ImageVerifier<Crypto>::Verify(source, keys_, options,
                                                   buffer_);
  }

  // PreviousImageCheck: whether the secondary may be swapped back.
  enum class PreviousImageCheck : uint8_t {
    kUsable = 0,
    kRejected = 1,            // failed verification (reason in `reason`)
    kAboveStoredCounter = 2,  // verified, but newer than what ran before
  };

  // CheckPreviousImage: the secondary as a revert target. It must verify
  // and its security counter must not be above the stored one: the image
  // that ran before, never a new one (which would skip its test run and
  // raise the counter once marked confirmed). Callers have checked that
  // it carries no request (trailer magic).
  PreviousImageCheck CheckPreviousImage(const BootState& state,
                                        firmware::RejectReason& reason) {
    const firmware::VerifyOutcome outcome =
        Verify(FlashArea::kSecondary, state.security_counter);
    reason = outcome.reason;
    if (!outcome.ok()) return PreviousImageCheck::kRejected;
    if (outcome.image().security_counter() > state.security_counter) {
      return PreviousImageCheck::kAboveStoredCounter;
    }
    return PreviousImageCheck::kUsable;
  }

  BootFailure StartSwap(BootStateJournal<Flash>& journal, BootState& state,
                        SwapType type) {
    state.phase = SwapPhase::kStarted;
    state.swap = type;
    const BootFailure failure = journal.Save(state);
    if (failure != BootFailure::kNone) return failure;
    return RunSwap(journal, state);
  }

  BootFailure RunSwap(BootStateJournal<Flash>& journal, BootState& state) {
    BootFailure failure = BootFailure::kNone;
    if (state.phase == SwapPhase::kStarted) {
      if ((failure = EraseAndCopy(FlashArea::kPrimary, FlashArea::kScratch)) !=
          BootFailure::kNone) {
        return failure;
      }
      state.phase = SwapPhase::kScratchWritten;
      if ((failure = journal.Save(state)) != BootFailure::kNone) return failure;
    }
    if (state.phase == SwapPhase::kScratchWritten) {
      if ((failure = EraseAndCopy(FlashArea::kSecondary,
                                  FlashArea::kPrimary)) != BootFailure::kNone) {
        return failure;
      }
      // TEST leaves image_ok erased: unless the image confirms itself,
      // the next boot reverts it. PERM and REVERT land confirmed.
      if (state.swap != SwapType::kTest &&
          (failure = internal::FromFlash(
               WriteTrailerFlag(flash_, FlashArea::kPrimary,
                                firmware::kTrailerImageOkOffsetFromEnd))) !=
              BootFailure::kNone) {
        return failure;
      }
      if ((failure = internal::FromFlash(
               WriteTrailerFlag(flash_, FlashArea::kPrimary,
                                firmware::kTrailerCopyDoneOffsetFromEnd))) !=
          BootFailure::kNone) {
        return failure;
      }
      if ((failure = internal::FromFlash(WriteTrailerMagic(
               flash_, FlashArea::kPrimary))) != BootFailure::kNone) {
        return failure;
      }
      state.phase = SwapPhase::kPrimaryWritten;
      if ((failure = journal.Save(state)) != BootFailure::kNone) return failure;
    }
    if (state.phase == SwapPhase::kPrimaryWritten) {
      // The previous image lands without a trailer: it requests nothing.
      if ((failure =
               EraseAndCopy(FlashArea::kScratch, FlashArea::kSecondary)) !=
          BootFailure::kNone) {
        return failure;
      }
      state.phase = SwapPhase::kIdle;
      state.swap = SwapType::kNone;
      if ((failure = journal.Save(state)) != BootFailure::kNone) return failure;
    }
    return BootFailure::kNone;
  }

  // EraseAndCopy: erases `to` and copies the slot image region of `from`
  // into it (erased chunks are skipped: the target already reads 0xFF).
  BootFailure EraseAndCopy(FlashArea from, FlashArea to) {
    const uint32_t region = ImageRegionSize(flash_, FlashArea::kPrimary);
    BootFailure failure =
        internal::FromFlash(flash_.Erase(to, 0, flash_.AreaSize(to)));
    if (failure != BootFailure::kNone) return failure;
    const uint32_t chunk = static_cast<uint32_t>(buffer_.size()) & ~3u;
    for (uint32_t offset = 0; offset < region; offset += chunk) {
      const uint32_t length = region - offset < chunk ? region - offset : chunk;
      const std::span<uint8_t> bytes = buffer_.first(length);
      if (flash_.Read(from, offset, bytes) != FlashStatus::kOk) {
        return BootFailure::kFlashError;
      }
      bool erased = true;
      for (uint8_t byte : bytes)
        erased = erased && byte == firmware::kFlashErased;
      if (erased) continue;
      if ((failure = internal::FromFlash(flash_.Write(to, offset, bytes))) !=
          BootFailure::kNone) {
        return failure;
      }
    }
    return BootFailure::kNone;
  }

  Flash& flash_;
  std::span<const firmware::TrustedKey> keys_;
  std::span<uint8_t> buffer_;
  BootPolicy policy_;
};

}  // namespace cxsec::node::boot

#endif  // CXSEC_TARGETS_NODE_BOOT_BOOT_SWAP_H_
