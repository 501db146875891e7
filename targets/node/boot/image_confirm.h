// What a running node application calls to take part in the boot flow:
// confirm itself once it works (MCUboot's boot_set_confirmed) and stage
// an update (boot_set_pending). Device-side, over any SwapFlash
// (boot_flash.h): the Cortex-M application uses its board's flash, the
// host simulation (node_boot.h) its files.
//
//   if (!ConfirmRunningImage(flash).ok()) report(...);
//
// A TEST image that never confirms is swapped back by the next boot
// (boot_swap.h); confirming is also what lets the bootloader raise the
// anti-rollback counter to the image's security counter.
#ifndef CXSEC_TARGETS_NODE_BOOT_IMAGE_CONFIRM_H_
#define CXSEC_TARGETS_NODE_BOOT_IMAGE_CONFIRM_H_

#include <array>
#include <cstdint>
#include <span>

#include "core/device/result.h"
#include "core/firmware/image_format.h"
#include "targets/node/boot/boot_flash.h"

namespace cxsec::node::boot {

// ImageControlReason: why a confirm or an upgrade request failed.
// Extend-only.
enum class ImageControlReason : uint8_t {
  kNone = 0,
  kFlashError = 1,
  // The running image is an unconfirmed TEST image: the secondary slot
  // holds the image to go back to, so no new request may overwrite it.
  kPrimaryUnconfirmed = 2,
  kImageTooLarge = 3,  // larger than the secondary slot's image region
  kTrailerCorrupt =
      4,  // a flag or the magic holds neither erased nor valid bytes
};

constexpr const char* ImageControlReasonName(ImageControlReason reason) {
  switch (reason) {
    case ImageControlReason::kNone:
      return "ok";
    case ImageControlReason::kFlashError:
      return "flash_error";
    case ImageControlReason::kPrimaryUnconfirmed:
      return "primary_unconfirmed";
    case ImageControlReason::kImageTooLarge:
      return "image_too_large";
    case ImageControlReason::kTrailerCorrupt:
      return "trailer_corrupt";
  }
  return "unknown";
}

struct ImageControlDone {};
using ImageControlResult = device::Result<ImageControlDone, ImageControlReason>;

namespace internal {

inline ImageControlResult FlashFailure() {
  return ImageControlResult::Failure(ImageControlReason::kFlashError);
}

}  // namespace internal

// ConfirmRunningImage: marks the image in the primary slot confirmed
// (image_ok). Idempotent; writes only erased trailer bytes.
template <SwapFlash Flash>
ImageControlResult ConfirmRunningImage(Flash& flash) {
  SlotTrailer trailer;
  if (ReadTrailer(flash, FlashArea::kPrimary, trailer) != FlashStatus::kOk) {
    return internal::FlashFailure();
  }
  if (trailer.confirmed()) return ImageControlResult::Success({});
  if (trailer.image_ok != firmware::kFlashErased) {
    return ImageControlResult::Failure(ImageControlReason::kTrailerCorrupt);
  }
  if (!trailer.magic) {
    // A factory image written without a trailer: the magic bytes must
    // still be erased to be programmed.
    std::array<uint8_t, firmware::kBootMagic.size()> magic{};
    if (flash.Read(FlashArea::kPrimary,
                   flash.AreaSize(FlashArea::kPrimary) -
                       firmware::kTrailerMagicOffsetFromEnd,
                   magic) != FlashStatus::kOk) {
      return internal::FlashFailure();
    }
    for (uint8_t byte : magic) {
      if (byte != firmware::kFlashErased) {
        return ImageControlResult::Failure(ImageControlReason::kTrailerCorrupt);
      }
    }
    if (WriteTrailerMagic(flash, FlashArea::kPrimary) != FlashStatus::kOk) {
      return internal::FlashFailure();
    }
  }
  if (WriteTrailerFlag(flash, FlashArea::kPrimary,
                       firmware::kTrailerImageOkOffsetFromEnd) !=
      FlashStatus::kOk) {
    return internal::FlashFailure();
  }
  return ImageControlResult::Success({});
}

// RequestUpgrade: writes signed `image` into the secondary slot with the
// trailer magic; `permanent` also sets image_ok (a PERM request, no test
// run). Refused while the running image is an unconfirmed TEST image.
// The bootloader verifies the image before it swaps anything.
template <SwapFlash Flash>
ImageControlResult RequestUpgrade(Flash& flash, std::span<const uint8_t> image,
                                  bool permanent) {
  SlotTrailer primary;
  if (ReadTrailer(flash, FlashArea::kPrimary, primary) != FlashStatus::kOk) {
    return internal::FlashFailure();
  }
  if (primary.unconfirmed_test_image()) {
    return ImageControlResult::Failure(ImageControlReason::kPrimaryUnconfirmed);
  }
  if (image.size() > ImageRegionSize(flash, FlashArea::kSecondary)) {
    return ImageControlResult::Failure(ImageControlReason::kImageTooLarge);
  }
  const FlashArea slot = FlashArea::kSecondary;
  if (flash.Erase(slot, 0, flash.AreaSize(slot)) != FlashStatus::kOk) {
    return internal::FlashFailure();
  }
  const uint32_t whole = static_cast<uint32_t>(image.size()) & ~3u;
  if (whole > 0 &&
      flash.Write(slot, 0, image.first(whole)) != FlashStatus::kOk) {
    return internal::FlashFailure();
  }
  if (whole < image.size()) {
    std::array<uint8_t, kFlagWordSize> tail = {
        firmware::kFlashErased, firmware::kFlashErased, firmware::kFlashErased,
        firmware::kFlashErased};
    for (uint32_t i = whole; i < image.size(); ++i) tail[i - whole] = image[i];
    if (flash.Write(slot, whole, tail) != FlashStatus::kOk) {
      return internal::FlashFailure();
    }
  }
  if (permanent &&
      WriteTrailerFlag(flash, slot, firmware::kTrailerImageOkOffsetFromEnd) !=
          FlashStatus::kOk) {
    return internal::FlashFailure();
  }
  // The magic last: a request cut short by power loss is no request.
  if (WriteTrailerMagic(flash, slot) != FlashStatus::kOk) {
    return internal::FlashFailure();
  }
  return ImageControlResult::Success({});
}

}  // namespace cxsec::node::boot

#endif  // CXSEC_TARGETS_NODE_BOOT_IMAGE_CONFIRM_H_
