// The node's boot flow with flash simulated in files: a primary and a
// secondary slot, MCUboot's boot trailer and swap types (TEST, PERM,
// REVERT, FAIL), swap via a scratch area with crash-safe progress, and
// anti-rollback through a stored security counter raised only once the
// running image is confirmed.
//
//   <dir>/primary.slot, secondary.slot   slot images (imgtool --pad layout)
//   <dir>/scratch.slot                   swap scratch area
//   <dir>/boot_state                     trusted NV: counter + swap progress
//
// Every write replaces one file atomically (tmp + fsync + rename), which
// models a flash sector write guarded by MCUboot's swap status; the swap
// records its phase after each step and resumes from it after power loss.
// An image that fails verification is never returned as bootable.
#ifndef CXSEC_TARGETS_NODE_BOOT_NODE_BOOT_H_
#define CXSEC_TARGETS_NODE_BOOT_NODE_BOOT_H_

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/firmware/image_format.h"
#include "core/firmware/host_image_verifier.h"
#include "core/status.h"
#include "platforms/posix/files.h"

namespace cxsec::node {

using firmware::RejectReason;
using firmware::TrustedKey;
using firmware::VerifiedImage;

enum class SwapType { kNone, kTest, kPerm, kRevert, kFail };

inline const char* SwapTypeName(SwapType type) {
  switch (type) {
    case SwapType::kNone: return "none";
    case SwapType::kTest: return "test";
    case SwapType::kPerm: return "perm";
    case SwapType::kRevert: return "revert";
    case SwapType::kFail: return "fail";
  }
  return "?";
}

// BootResult: what the bootloader hands control to.
struct BootResult {
  SwapType swap = SwapType::kNone;
  std::optional<VerifiedImage> image;  // always set on success
  // Why a requested upgrade was refused (kFail).
  RejectReason secondary_rejected = RejectReason::kNone;
};

// SlotTrailer: the flags MCUboot keeps at the end of a slot.
struct SlotTrailer {
  bool magic = false;
  uint8_t image_ok = firmware::kFlashErased;
  uint8_t copy_done = firmware::kFlashErased;
};

class NodeBootloader {
 public:
  // `checkpoint` is called after every persisted step with the step's
  // name; returning an error stops the boot right there, which is how
  // tests cut power at each step.
  using Checkpoint = std::function<absl::Status(absl::string_view step)>;

  NodeBootloader(std::string dir, uint32_t slot_size,
                 std::vector<TrustedKey> keys, Checkpoint checkpoint = nullptr)
      : dir_(std::move(dir)),
        slot_size_(slot_size),
        keys_(std::move(keys)),
        checkpoint_(std::move(checkpoint)) {}

  std::string SlotPath(absl::string_view slot) const {
    return absl::StrCat(dir_, "/", slot, ".slot");
  }
  std::string StatePath() const { return dir_ + "/boot_state"; }

  // --- Provisioning and application-side API ---

  // Provision writes a factory image, confirmed, into the primary slot
  // and an erased secondary.
  [[nodiscard]] absl::Status Provision(ByteView image) {
    Bytes slot = ToSlot(image);
    SetTrailer(slot, {true, firmware::kFlagSet, firmware::kFlashErased});
    CXSEC_RETURN_IF_ERROR(WriteSlot("primary", slot));
    return WriteSlot("secondary", Bytes(slot_size_, firmware::kFlashErased));
  }

  // RequestUpgrade writes a signed image into the secondary slot with the
  // trailer magic (boot_set_pending); `permanent` also sets image_ok.
  [[nodiscard]] absl::Status RequestUpgrade(ByteView image, bool permanent) {
    Bytes slot = ToSlot(image);
    SetTrailer(slot, {true, permanent ? firmware::kFlagSet : firmware::kFlashErased,
                      firmware::kFlashErased});
    return WriteSlot("secondary", slot);
  }

  // ConfirmRunningImage is what the running image calls once it works
  // (boot_set_confirmed): image_ok in the primary trailer.
  [[nodiscard]] absl::Status ConfirmRunningImage() {
    CXSEC_ASSIGN_OR_RETURN(Bytes slot, ReadSlot("primary"));
    SlotTrailer trailer = GetTrailer(slot);
    trailer.magic = true;
    trailer.image_ok = firmware::kFlagSet;
    SetTrailer(slot, trailer);
    return WriteSlot("primary", slot);
  }

  [[nodiscard]] absl::StatusOr<uint32_t> StoredSecurityCounter() const {
    CXSEC_ASSIGN_OR_RETURN(State state, LoadState());
    return state.security_counter;
  }

  // --- The bootloader ---

  // Boot resumes an interrupted swap, performs a requested one (after
  // verifying the new image), verifies the primary slot and returns it.
  [[nodiscard]] absl::StatusOr<BootResult> Boot() {
    CXSEC_ASSIGN_OR_RETURN(State state, LoadState());
    BootResult result;
    if (state.phase != Phase::kIdle) {
      result.swap = state.swap;
      CXSEC_RETURN_IF_ERROR(RunSwap(state));
    } else {
      CXSEC_ASSIGN_OR_RETURN(Bytes primary, ReadSlot("primary"));
      CXSEC_ASSIGN_OR_RETURN(Bytes secondary, ReadSlot("secondary"));
      SlotTrailer primary_trailer = GetTrailer(primary);
      SlotTrailer secondary_trailer = GetTrailer(secondary);
      if (primary_trailer.magic && primary_trailer.copy_done == firmware::kFlagSet &&
          primary_trailer.image_ok != firmware::kFlagSet) {
        result.swap = SwapType::kRevert;  // a test image that never confirmed
      } else if (secondary_trailer.magic) {
        firmware::VerifyOutcome outcome = VerifySlot(secondary, state);
        if (!outcome.ok()) {
          result.swap = SwapType::kFail;
          result.secondary_rejected = outcome.reason;
          CXSEC_RETURN_IF_ERROR(
              WriteSlot("secondary", Bytes(slot_size_, firmware::kFlashErased)));
          CXSEC_RETURN_IF_ERROR(Step("erase-rejected-secondary"));
        } else {
          result.swap = secondary_trailer.image_ok == firmware::kFlagSet
                            ? SwapType::kPerm
                            : SwapType::kTest;
        }
      }
      if (result.swap == SwapType::kTest || result.swap == SwapType::kPerm ||
          result.swap == SwapType::kRevert) {
        state.phase = Phase::kStarted;
        state.swap = result.swap;
        CXSEC_RETURN_IF_ERROR(SaveState(state));
        CXSEC_RETURN_IF_ERROR(Step("swap-started"));
        CXSEC_RETURN_IF_ERROR(RunSwap(state));
      }
    }

    CXSEC_ASSIGN_OR_RETURN(Bytes primary, ReadSlot("primary"));
    firmware::VerifyOutcome outcome = VerifySlot(primary, state);
    if (!outcome.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no bootable image: primary slot rejected: ",
          firmware::RejectReasonText(outcome.reason)));
    }
    // Anti-rollback: raise the stored counter only for a confirmed image.
    if (GetTrailer(primary).image_ok == firmware::kFlagSet &&
        outcome.image().security_counter() > state.security_counter) {
      state.security_counter = outcome.image().security_counter();
      CXSEC_RETURN_IF_ERROR(SaveState(state));
      CXSEC_RETURN_IF_ERROR(Step("counter-raised"));
    }
    result.image = outcome.image();
    return result;
  }

  static SlotTrailer GetTrailer(ByteView slot) {
    SlotTrailer trailer;
    if (slot.size() < 64) return trailer;
    const uint8_t* end = slot.data() + slot.size();
    trailer.magic = std::equal(firmware::kBootMagic.begin(),
                               firmware::kBootMagic.end(),
                               end - firmware::kTrailerMagicOffsetFromEnd);
    trailer.image_ok = *(end - firmware::kTrailerImageOkOffsetFromEnd);
    trailer.copy_done = *(end - firmware::kTrailerCopyDoneOffsetFromEnd);
    return trailer;
  }

 private:
  enum class Phase { kIdle, kStarted, kScratchWritten, kPrimaryWritten };

  struct State {
    uint32_t security_counter = 0;
    Phase phase = Phase::kIdle;
    SwapType swap = SwapType::kNone;
  };

  static void SetTrailer(Bytes& slot, const SlotTrailer& trailer) {
    uint8_t* end = slot.data() + slot.size();
    if (trailer.magic) {
      std::copy(firmware::kBootMagic.begin(), firmware::kBootMagic.end(),
                end - firmware::kTrailerMagicOffsetFromEnd);
    } else {
      std::fill(end - firmware::kTrailerMagicOffsetFromEnd, end,
                firmware::kFlashErased);
    }
    *(end - firmware::kTrailerImageOkOffsetFromEnd) = trailer.image_ok;
    *(end - firmware::kTrailerCopyDoneOffsetFromEnd) = trailer.copy_done;
  }

  Bytes ToSlot(ByteView image) const {
    Bytes slot(image.begin(), image.end());
    slot.resize(slot_size_, firmware::kFlashErased);
    // The trailer region belongs to the bootloader; clear what the image
    // file may have brought along.
    SetTrailer(slot, {});
    return slot;
  }

  absl::Status Step(absl::string_view name) {
    return checkpoint_ ? checkpoint_(name) : absl::OkStatus();
  }

  firmware::VerifyOutcome VerifySlot(const Bytes& slot, const State& state) const {
    firmware::VerifyOptions options;
    options.stored_security_counter = state.security_counter;
    uint8_t buffer[4096];
    // Only the region before the trailer is image; the trailer must not be
    // taken for TLV bytes.
    ByteView image(slot.data(), slot.size() - firmware::kImgtoolTrailerSize);
    return firmware::VerifyImage(firmware::MemoryImageSource(image), keys_,
                                 options, absl::MakeSpan(buffer));
  }

  // RunSwap moves the swap forward from the recorded phase. Every step
  // reads only slots the later steps leave untouched, so replaying a step
  // after power loss writes the same bytes again.
  absl::Status RunSwap(State& state) {
    if (state.phase == Phase::kStarted) {
      CXSEC_ASSIGN_OR_RETURN(Bytes primary, ReadSlot("primary"));
      CXSEC_RETURN_IF_ERROR(WriteSlot("scratch", primary));
      state.phase = Phase::kScratchWritten;
      CXSEC_RETURN_IF_ERROR(SaveState(state));
      CXSEC_RETURN_IF_ERROR(Step("scratch-written"));
    }
    if (state.phase == Phase::kScratchWritten) {
      CXSEC_ASSIGN_OR_RETURN(Bytes incoming, ReadSlot("secondary"));
      // TEST leaves image_ok unset: unless the image confirms itself,
      // the next boot reverts. PERM and REVERT land confirmed.
      SetTrailer(incoming,
                 {true,
                  state.swap == SwapType::kTest ? firmware::kFlashErased
                                                : firmware::kFlagSet,
                  firmware::kFlagSet});
      CXSEC_RETURN_IF_ERROR(WriteSlot("primary", incoming));
      state.phase = Phase::kPrimaryWritten;
      CXSEC_RETURN_IF_ERROR(SaveState(state));
      CXSEC_RETURN_IF_ERROR(Step("primary-written"));
    }
    if (state.phase == Phase::kPrimaryWritten) {
      CXSEC_ASSIGN_OR_RETURN(Bytes outgoing, ReadSlot("scratch"));
      SetTrailer(outgoing, {});  // no magic: it requests nothing
      CXSEC_RETURN_IF_ERROR(WriteSlot("secondary", outgoing));
      CXSEC_RETURN_IF_ERROR(Step("secondary-written"));
      state.phase = Phase::kIdle;
      state.swap = SwapType::kNone;
      CXSEC_RETURN_IF_ERROR(SaveState(state));
      CXSEC_RETURN_IF_ERROR(Step("swap-done"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Bytes> ReadSlot(absl::string_view slot) const {
    CXSEC_ASSIGN_OR_RETURN(std::string data,
                           ReadFileBounded(SlotPath(slot), slot_size_));
    if (data.size() != slot_size_) {
      return absl::DataLossError(absl::StrCat(SlotPath(slot), ": ",
                                              data.size(), " bytes, want ",
                                              slot_size_));
    }
    return ToBytes(data);
  }

  absl::Status WriteSlot(absl::string_view slot, const Bytes& data) {
    return WriteFileAtomically(SlotPath(slot), AsStringView(data), 0600);
  }

  absl::StatusOr<State> LoadState() const {
    State state;
    if (access(StatePath().c_str(), F_OK) != 0) return state;  // factory
    CXSEC_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(StatePath(), 4096));
    int line_number = 0;
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      ++line_number;
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      auto bad = [&] {
        return absl::DataLossError(absl::StrCat(StatePath(), ":", line_number,
                                                ": bad entry '", kv.first, "'"));
      };
      if (kv.first == "security_counter") {
        if (!absl::SimpleAtoi(kv.second, &state.security_counter)) return bad();
      } else if (kv.first == "phase") {
        if (kv.second == "idle") state.phase = Phase::kIdle;
        else if (kv.second == "started") state.phase = Phase::kStarted;
        else if (kv.second == "scratch") state.phase = Phase::kScratchWritten;
        else if (kv.second == "primary") state.phase = Phase::kPrimaryWritten;
        else return bad();
      } else if (kv.first == "swap") {
        if (kv.second == "none") state.swap = SwapType::kNone;
        else if (kv.second == "test") state.swap = SwapType::kTest;
        else if (kv.second == "perm") state.swap = SwapType::kPerm;
        else if (kv.second == "revert") state.swap = SwapType::kRevert;
        else return bad();
      } else {
        return bad();
      }
    }
    return state;
  }

  absl::Status SaveState(const State& state) {
    const char* phase = state.phase == Phase::kIdle      ? "idle"
                        : state.phase == Phase::kStarted ? "started"
                        : state.phase == Phase::kScratchWritten ? "scratch"
                                                                : "primary";
    return WriteFileAtomically(
        StatePath(),
        absl::StrCat("security_counter=", state.security_counter, "\nphase=",
                     phase, "\nswap=", SwapTypeName(state.swap), "\n"),
        0600);
  }

  std::string dir_;
  uint32_t slot_size_;
  std::vector<TrustedKey> keys_;
  Checkpoint checkpoint_;
};

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_BOOT_NODE_BOOT_H_
