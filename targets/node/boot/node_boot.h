// The node's boot flow on the host, with flash simulated in files: the
// same state machine the Cortex-M bootloader runs (boot_swap.h: TEST /
// PERM / REVERT swaps through a scratch area, verify before any swap,
// swap back when the final check fails, anti-rollback counter raised only
// for a confirmed image) and the same application calls (image_confirm.h),
// composed with BoringSSL and a file-backed SwapFlash.
//
//   <dir>/primary.slot, secondary.slot   slots (image, then the trailer)
//   <dir>/scratch.slot                   swap scratch area
//   <dir>/boot_state.sector              trusted NV: the boot state journal
//   <dir>/boot_state_backup.sector       its copy while compacted
//
// A missing file reads as erased flash. Every flash write or erase
// replaces one file atomically (tmp + fsync + rename), i.e. a power cut
// falls between two flash operations; the checkpoint hook runs after each
// one, which is how tests cut power after every step and boot again.
#ifndef CXSEC_TARGETS_NODE_BOOT_NODE_BOOT_H_
#define CXSEC_TARGETS_NODE_BOOT_NODE_BOOT_H_

#include <unistd.h>

#include <algorithm>
#include <array>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/firmware/boringssl_firmware_crypto.h"
#include "core/firmware/host_image_verifier.h"
#include "core/firmware/image_format.h"
#include "core/status.h"
#include "platforms/posix/files.h"
#include "targets/node/boot/boot_flash.h"
#include "targets/node/boot/boot_swap.h"
#include "targets/node/boot/image_confirm.h"

namespace cxsec::node {

using boot::SwapRefusal;
using boot::SwapRefusalName;
using boot::SwapType;
using boot::SwapTypeName;
using firmware::RejectReason;
using firmware::TrustedKey;
using firmware::VerifiedImage;

// BootResult: what the bootloader hands control to.
struct BootResult {
  SwapType swap = SwapType::kNone;
  std::optional<VerifiedImage> image;  // always set on success
  // Why a swap was refused or undone (boot_swap.h), and the verifier's
  // reason behind it.
  SwapRefusal refusal = SwapRefusal::kNone;
  RejectReason secondary_rejected = RejectReason::kNone;
  bool counter_raised = false;
};

// FileSwapFlash: boot_flash.h's SwapFlash over one file per area.
class FileSwapFlash {
 public:
  using Checkpoint = std::function<absl::Status(absl::string_view step)>;
  static constexpr uint32_t kSectorSize = 4096;

  FileSwapFlash(std::string dir, uint32_t slot_size, Checkpoint checkpoint)
      : dir_(std::move(dir)),
        slot_size_(slot_size),
        checkpoint_(std::move(checkpoint)) {}

  uint32_t AreaSize(boot::FlashArea area) const {
    return area == boot::FlashArea::kBootState ||
                   area == boot::FlashArea::kBootStateBackup
               ? kSectorSize
               : slot_size_;
  }
  uint32_t SectorSize() const { return kSectorSize; }

  boot::FlashStatus Read(boot::FlashArea area, uint32_t offset,
                         std::span<uint8_t> out) {
    absl::StatusOr<Bytes> bytes = Load(area);
    if (!bytes.ok()) return Fail(bytes.status());
    if (offset > bytes->size() || out.size() > bytes->size() - offset) {
      return Fail(absl::OutOfRangeError(
          absl::StrCat(Path(area), ": read past the end")));
    }
    std::copy_n(bytes->begin() + offset, out.size(), out.begin());
    return boot::FlashStatus::kOk;
  }

  boot::FlashStatus Write(boot::FlashArea area, uint32_t offset,
                          std::span<const uint8_t> data) {
    absl::StatusOr<Bytes> bytes = Load(area);
    if (!bytes.ok()) return Fail(bytes.status());
    if (offset % 4 != 0 || data.size() % 4 != 0 || offset > bytes->size() ||
        data.size() > bytes->size() - offset) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          Path(area), ": misaligned or out-of-range write at ", offset)));
    }
    // NOR flash: only erased bytes can be programmed.
    for (size_t i = 0; i < data.size(); ++i) {
      if ((*bytes)[offset + i] != firmware::kFlashErased) {
        return Fail(absl::FailedPreconditionError(absl::StrCat(
            Path(area), ": write over bytes that are not erased at ",
            offset + i)));
      }
    }
    std::copy(data.begin(), data.end(), bytes->begin() + offset);
    return Store(area, *bytes, absl::StrCat("write ", Name(area)));
  }

  boot::FlashStatus Erase(boot::FlashArea area, uint32_t offset,
                          uint32_t size) {
    absl::StatusOr<Bytes> bytes = Load(area);
    if (!bytes.ok()) return Fail(bytes.status());
    if (offset % kSectorSize != 0 || size % kSectorSize != 0 ||
        offset > bytes->size() || size > bytes->size() - offset) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          Path(area), ": misaligned or out-of-range erase at ", offset)));
    }
    std::fill_n(bytes->begin() + offset, size, firmware::kFlashErased);
    return Store(area, *bytes, absl::StrCat("erase ", Name(area)));
  }

  std::string Path(boot::FlashArea area) const {
    return absl::StrCat(dir_, "/", Name(area));
  }

  // last_error: why the last failing operation failed (or the power cut).
  const absl::Status& last_error() const { return last_error_; }

 private:
  static const char* Name(boot::FlashArea area) {
    switch (area) {
      case boot::FlashArea::kPrimary:
        return "primary.slot";
      case boot::FlashArea::kSecondary:
        return "secondary.slot";
      case boot::FlashArea::kScratch:
        return "scratch.slot";
      case boot::FlashArea::kBootState:
        return "boot_state.sector";
      case boot::FlashArea::kBootStateBackup:
        return "boot_state_backup.sector";
    }
    return "unknown";
  }

  absl::StatusOr<Bytes> Load(boot::FlashArea area) const {
    const std::string path = Path(area);
    if (access(path.c_str(), F_OK) != 0) {
      return Bytes(AreaSize(area), firmware::kFlashErased);
    }
    CXSEC_ASSIGN_OR_RETURN(std::string data,
                           ReadFileBounded(path, AreaSize(area)));
    if (data.size() != AreaSize(area)) {
      return absl::DataLossError(absl::StrCat(path, ": ", data.size(),
                                              " bytes, want ", AreaSize(area)));
    }
    return ToBytes(data);
  }

  boot::FlashStatus Store(boot::FlashArea area, const Bytes& bytes,
                          absl::string_view step) {
    if (absl::Status written =
            WriteFileAtomically(Path(area), AsStringView(bytes), 0600);
        !written.ok()) {
      return Fail(written);
    }
    if (checkpoint_) {
      if (absl::Status cut = checkpoint_(step); !cut.ok()) {
        last_error_ = cut;
        return boot::FlashStatus::kPowerCut;
      }
    }
    return boot::FlashStatus::kOk;
  }

  boot::FlashStatus Fail(absl::Status status) {
    last_error_ = std::move(status);
    return boot::FlashStatus::kError;
  }

  std::string dir_;
  uint32_t slot_size_;
  Checkpoint checkpoint_;
  absl::Status last_error_;
};

static_assert(boot::SwapFlash<FileSwapFlash>);

class NodeBootloader {
 public:
  // `checkpoint` is called after every flash write or erase with the
  // step's name; returning an error cuts power right there.
  using Checkpoint = FileSwapFlash::Checkpoint;

  NodeBootloader(std::string dir, uint32_t slot_size,
                 std::vector<TrustedKey> keys, Checkpoint checkpoint = nullptr)
      : flash_(std::move(dir), slot_size, std::move(checkpoint)),
        keys_(std::move(keys)) {}

  std::string SlotPath(absl::string_view slot) const {
    if (slot == "primary") return flash_.Path(boot::FlashArea::kPrimary);
    if (slot == "secondary") return flash_.Path(boot::FlashArea::kSecondary);
    return flash_.Path(boot::FlashArea::kScratch);
  }

  // --- Provisioning and application-side API ---

  // Provision writes a factory image, confirmed, into the primary slot
  // and erases the secondary. The boot state is kept.
  [[nodiscard]] absl::Status Provision(ByteView image) {
    CXSEC_ASSIGN_OR_RETURN(ByteView body, ImageBytes(image));
    for (boot::FlashArea slot :
         {boot::FlashArea::kPrimary, boot::FlashArea::kSecondary}) {
      CXSEC_RETURN_IF_ERROR(
          Check(flash_.Erase(slot, 0, flash_.AreaSize(slot))));
    }
    // Written as a request in the secondary would be, then the primary
    // trailer marks it confirmed (never swapped in: copy_done erased).
    Bytes padded(body.begin(), body.end());
    padded.resize((padded.size() + 3) & ~size_t{3}, firmware::kFlashErased);
    if (!padded.empty()) {
      CXSEC_RETURN_IF_ERROR(
          Check(flash_.Write(boot::FlashArea::kPrimary, 0, padded)));
    }
    CXSEC_RETURN_IF_ERROR(
        Check(boot::WriteTrailerFlag(flash_, boot::FlashArea::kPrimary,
                                     firmware::kTrailerImageOkOffsetFromEnd)));
    return Check(boot::WriteTrailerMagic(flash_, boot::FlashArea::kPrimary));
  }

  // RequestUpgrade writes a signed image into the secondary slot with the
  // trailer magic (boot_set_pending); `permanent` also sets image_ok.
  // Refused while the running image is an unconfirmed TEST image.
  [[nodiscard]] absl::Status RequestUpgrade(ByteView image, bool permanent) {
    CXSEC_ASSIGN_OR_RETURN(ByteView body, ImageBytes(image));
    return ToStatus(boot::RequestUpgrade(flash_, body, permanent));
  }

  // ConfirmRunningImage is what the running image calls once it works
  // (boot_set_confirmed): image_ok in the primary trailer.
  [[nodiscard]] absl::Status ConfirmRunningImage() {
    return ToStatus(boot::ConfirmRunningImage(flash_));
  }

  [[nodiscard]] absl::StatusOr<uint32_t> StoredSecurityCounter() {
    boot::BootStateJournal<FileSwapFlash> journal(flash_);
    boot::BootState state;
    CXSEC_RETURN_IF_ERROR(ToStatus(journal.Load(state)));
    return state.security_counter;
  }

  // --- The bootloader ---

  // Boot runs boot_swap.h's state machine and returns the image to run.
  [[nodiscard]] absl::StatusOr<BootResult> Boot() {
    std::array<uint8_t, 4096> buffer;
    boot::BootSwap<FileSwapFlash, firmware::BoringSslFirmwareCrypto> machine(
        flash_, keys_, buffer);
    const boot::BootReport report = machine.Boot();
    if (report.failure == boot::BootFailure::kNoBootableImage) {
      return absl::FailedPreconditionError(
          absl::StrCat("no bootable image: primary slot rejected: ",
                       firmware::RejectReasonText(report.image_reason)));
    }
    CXSEC_RETURN_IF_ERROR(ToStatus(report.failure));
    BootResult result;
    result.swap = report.swap;
    result.refusal = report.refusal;
    result.secondary_rejected = report.image_reason;
    result.counter_raised = report.counter_raised;
    result.image = report.primary.image();
    return result;
  }

  static boot::SlotTrailer GetTrailer(ByteView slot) {
    boot::SlotTrailer trailer;
    if (slot.size() < boot::kTrailerRegionSize) return trailer;
    const uint8_t* end = slot.data() + slot.size();
    trailer.magic =
        std::equal(firmware::kBootMagic.begin(), firmware::kBootMagic.end(),
                   end - firmware::kTrailerMagicOffsetFromEnd);
    trailer.image_ok = *(end - firmware::kTrailerImageOkOffsetFromEnd);
    trailer.copy_done = *(end - firmware::kTrailerCopyDoneOffsetFromEnd);
    return trailer;
  }

 private:
  // ImageBytes: the image without slot padding. A file padded to the slot
  // size (imgtool --pad) brings a trailer, which belongs to the bootloader.
  absl::StatusOr<ByteView> ImageBytes(ByteView image) const {
    const uint32_t region =
        boot::ImageRegionSize(flash_, boot::FlashArea::kSecondary);
    if (image.size() == flash_.AreaSize(boot::FlashArea::kSecondary)) {
      image = image.subspan(0, region);
    }
    if (image.size() > region) {
      return absl::InvalidArgumentError(absl::StrCat(
          "image of ", image.size(), " bytes does not fit the slot's ", region,
          "-byte image region"));
    }
    return image;
  }

  absl::Status Check(boot::FlashStatus status) const {
    if (status == boot::FlashStatus::kOk) return absl::OkStatus();
    return flash_.last_error().ok()
               ? absl::InternalError("flash operation failed")
               : flash_.last_error();
  }

  absl::Status ToStatus(const boot::ImageControlResult& result) const {
    switch (result.reason()) {
      case boot::ImageControlReason::kNone:
        return absl::OkStatus();
      case boot::ImageControlReason::kPrimaryUnconfirmed:
        return absl::FailedPreconditionError(
            "upgrade refused: the running image is an unconfirmed test image "
            "(confirm it, or let the next boot revert it, first)");
      case boot::ImageControlReason::kFlashError:
        return Check(boot::FlashStatus::kError);
      default:
        return absl::FailedPreconditionError(
            boot::ImageControlReasonName(result.reason()));
    }
  }

  absl::Status ToStatus(boot::BootFailure failure) const {
    switch (failure) {
      case boot::BootFailure::kNone:
        return absl::OkStatus();
      case boot::BootFailure::kPowerCut:
      case boot::BootFailure::kFlashError:
        return Check(boot::FlashStatus::kError);
      case boot::BootFailure::kBootStateCorrupt:
        return absl::DataLossError(absl::StrCat(
            flash_.Path(boot::FlashArea::kBootState), ": boot state corrupt (",
            boot::BootFailureName(failure), ")"));
      default:
        return absl::FailedPreconditionError(boot::BootFailureName(failure));
    }
  }

  mutable FileSwapFlash flash_;
  std::vector<TrustedKey> keys_;
};

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_BOOT_NODE_BOOT_H_
