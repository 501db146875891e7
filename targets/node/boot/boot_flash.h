// The flash a node's boot flow works on, and MCUboot's boot trailer in it.
// Device-side (no Abseil, heap, exceptions or RTTI): the Cortex-M
// bootloader, the node application's confirm call (image_confirm.h) and
// the host simulation (node_boot.h) all go through the SwapFlash concept
// below, so the swap/confirm/revert logic of boot_swap.h is one source.
//
// Trailer, at the end of each slot (MCUboot, BOOT_MAX_ALIGN = 8; offsets
// from the end of the slot):
//   -16 .. -1   magic (kBootMagic): this slot's trailer is in use; in the
//               secondary slot it is the upgrade request
//   -24         image_ok: 0x01 = confirmed (PERM request, or the running
//               image confirmed itself); 0xFF = not confirmed
//   -32         copy_done: 0x01 = the bootloader swapped this image in
// Everything from kTrailerRegionSize before the end belongs to the trailer
// and is never copied as image bytes (imgtool's --pad reserves it).
#ifndef CXSEC_TARGETS_NODE_BOOT_BOOT_FLASH_H_
#define CXSEC_TARGETS_NODE_BOOT_BOOT_FLASH_H_

#include <array>
#include <concepts>
#include <cstdint>
#include <span>

#include "core/firmware/image_format.h"

namespace cxsec::node::boot {

// FlashArea: the regions the boot flow uses. A flash adapter maps each to
// a place (an offset in the board's storage region, or a file).
enum class FlashArea : uint8_t {
  kPrimary = 0,          // the slot the application runs from
  kSecondary = 1,        // the upgrade slot; after a swap, the previous image
  kScratch = 2,          // swap scratch, at least a slot's image region
  kBootState = 3,        // trusted NV: the boot state journal (one sector)
  kBootStateBackup = 4,  // the journal's copy while it is compacted
};

// FlashStatus: one flash operation's outcome. Extend-only.
enum class [[nodiscard]] FlashStatus : uint8_t{
    kOk = 0,
    kError = 1,     // the device refused or failed the operation
    kPowerCut = 2,  // the operation happened, then power was lost (host
                    // simulation only: how tests stop a boot mid-way)
};

// SwapFlash: what the boot flow needs from flash.
//   AreaSize(area)                bytes in `area`
//   SectorSize()                  erase unit (the journal uses one sector)
//   Read(area, offset, out)       copies out.size() bytes
//   Write(area, offset, data)     programs erased bytes; offset and size
//                                 multiples of 4 (NOR write unit)
//   Erase(area, offset, size)     whole sectors, to 0xFF
// Write and Erase return kPowerCut when a test cuts power after them.
template <class F>
concept SwapFlash = requires(F& flash, const F& const_flash, FlashArea area,
                             uint32_t offset, std::span<uint8_t> out,
                             std::span<const uint8_t> data) {
  { const_flash.AreaSize(area) } -> std::same_as<uint32_t>;
  { const_flash.SectorSize() } -> std::same_as<uint32_t>;
  { flash.Read(area, offset, out) } -> std::same_as<FlashStatus>;
  { flash.Write(area, offset, data) } -> std::same_as<FlashStatus>;
  { flash.Erase(area, offset, offset) } -> std::same_as<FlashStatus>;
};

// The trailer region imgtool --pad reserves at the end of a slot (swap
// status, four flag words, magic); image bytes end before it.
inline constexpr uint32_t kTrailerRegionSize = firmware::kImgtoolTrailerSize;
inline constexpr uint32_t kFlagWordSize = 4;  // one NOR write unit

// SlotTrailer: the decoded flags of one slot.
struct SlotTrailer {
  bool magic = false;
  uint8_t image_ok = firmware::kFlashErased;
  uint8_t copy_done = firmware::kFlashErased;

  bool confirmed() const { return image_ok == firmware::kFlagSet; }
  bool swapped_in() const { return copy_done == firmware::kFlagSet; }
  // A TEST image the bootloader swapped in and that has not confirmed
  // itself: the next boot reverts it.
  bool unconfirmed_test_image() const {
    return magic && swapped_in() && !confirmed();
  }
};

// ImageRegionSize: the bytes of `area` that hold image, not trailer.
template <SwapFlash Flash>
uint32_t ImageRegionSize(const Flash& flash, FlashArea area) {
  const uint32_t size = flash.AreaSize(area);
  return size > kTrailerRegionSize ? size - kTrailerRegionSize : 0;
}

// ReadTrailer: the trailer of `slot`; kError if it cannot be read.
template <SwapFlash Flash>
FlashStatus ReadTrailer(Flash& flash, FlashArea slot, SlotTrailer& out) {
  constexpr uint32_t kTail = firmware::kTrailerCopyDoneOffsetFromEnd;
  const uint32_t size = flash.AreaSize(slot);
  if (size < kTrailerRegionSize) return FlashStatus::kError;
  std::array<uint8_t, kTail> tail{};
  const FlashStatus read = flash.Read(slot, size - kTail, tail);
  if (read != FlashStatus::kOk) return read;
  const uint8_t* end = tail.data() + tail.size();
  const uint8_t* magic = end - firmware::kTrailerMagicOffsetFromEnd;
  out.magic = true;
  for (size_t i = 0; i < firmware::kBootMagic.size(); ++i) {
    out.magic = out.magic && magic[i] == firmware::kBootMagic[i];
  }
  out.image_ok = *(end - firmware::kTrailerImageOkOffsetFromEnd);
  out.copy_done = *(end - firmware::kTrailerCopyDoneOffsetFromEnd);
  return FlashStatus::kOk;
}

// WriteTrailerMagic: programs the magic of `slot` (its bytes must be
// erased).
template <SwapFlash Flash>
FlashStatus WriteTrailerMagic(Flash& flash, FlashArea slot) {
  return flash.Write(
      slot, flash.AreaSize(slot) - firmware::kTrailerMagicOffsetFromEnd,
      firmware::kBootMagic);
}

// WriteTrailerFlag: sets one flag (image_ok or copy_done, given by its
// offset from the end) to 0x01. The flag word must be erased.
template <SwapFlash Flash>
FlashStatus WriteTrailerFlag(Flash& flash, FlashArea slot,
                             uint32_t offset_from_end) {
  const std::array<uint8_t, kFlagWordSize> word = {
      firmware::kFlagSet, firmware::kFlashErased, firmware::kFlashErased,
      firmware::kFlashErased};
  return flash.Write(slot, flash.AreaSize(slot) - offset_from_end, word);
}

}  // namespace cxsec::node::boot

#endif  // CXSEC_TARGETS_NODE_BOOT_BOOT_FLASH_H_
