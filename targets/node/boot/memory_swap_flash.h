// MemoryFlash: a SwapFlash (boot_flash.h) in memory for tests and fuzzers
// of the boot flow: strict NOR semantics (writes only into erased bytes,
// 4-byte write unit, 4 KiB erase unit) and a power cut after a chosen
// number of writes and erases. Host-only test code.
#ifndef CXSEC_TARGETS_NODE_BOOT_MEMORY_SWAP_FLASH_H_
#define CXSEC_TARGETS_NODE_BOOT_MEMORY_SWAP_FLASH_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "targets/node/boot/boot_flash.h"

namespace cxsec::node::boot {

// MemoryFlash: strict NOR flash in memory; `cut_after` > 0 cuts power
// after that many writes and erases.
class MemoryFlash {
 public:
  static constexpr uint32_t kSlotSize = 8192;
  MemoryFlash() {
    for (FlashArea area :
         {FlashArea::kPrimary, FlashArea::kSecondary, FlashArea::kScratch,
          FlashArea::kBootState, FlashArea::kBootStateBackup}) {
      areas_[area].assign(AreaSize(area), 0xFF);
    }
  }
  uint32_t AreaSize(FlashArea area) const {
    return area == FlashArea::kBootState || area == FlashArea::kBootStateBackup
               ? 4096
               : kSlotSize;
  }
  uint32_t SectorSize() const { return 4096; }
  FlashStatus Read(FlashArea area, uint32_t offset, std::span<uint8_t> out) {
    const std::vector<uint8_t>& bytes = areas_[area];
    if (offset + out.size() > bytes.size()) return FlashStatus::kError;
    std::copy_n(bytes.begin() + offset, out.size(), out.begin());
    return FlashStatus::kOk;
  }
  FlashStatus Write(FlashArea area, uint32_t offset,
                    std::span<const uint8_t> data) {
    std::vector<uint8_t>& bytes = areas_[area];
    if (offset % 4 || data.size() % 4 || offset + data.size() > bytes.size()) {
      return FlashStatus::kError;
    }
    for (size_t i = 0; i < data.size(); ++i) {
      if (bytes[offset + i] != 0xFF) return FlashStatus::kError;
    }
    std::copy(data.begin(), data.end(), bytes.begin() + offset);
    return Step();
  }
  FlashStatus Erase(FlashArea area, uint32_t offset, uint32_t size) {
    std::vector<uint8_t>& bytes = areas_[area];
    if (offset % 4096 || size % 4096 || offset + size > bytes.size()) {
      return FlashStatus::kError;
    }
    std::fill_n(bytes.begin() + offset, size, 0xFF);
    return Step();
  }
  std::vector<uint8_t>& bytes(FlashArea area) { return areas_[area]; }
  int cut_after = 0;
  int steps = 0;

 private:
  FlashStatus Step() {
    ++steps;
    return cut_after > 0 && steps == cut_after ? FlashStatus::kPowerCut
                                               : FlashStatus::kOk;
  }
  std::map<FlashArea, std::vector<uint8_t>> areas_;
};
static_assert(SwapFlash<MemoryFlash>);

}  // namespace cxsec::node::boot

#endif  // CXSEC_TARGETS_NODE_BOOT_MEMORY_SWAP_FLASH_H_
