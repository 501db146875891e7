// Fuzzes the seal key area parser (the flash of a node): never a crash or
// an out-of-bounds read, and whatever parses re-encodes to exactly the
// bytes read.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/seal/seal_key_area.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec::seal;
  SealKeyArea area;
  if (ParseSealKeyArea(std::span<const uint8_t>(data, size), area) !=
      cxsec::device::KeyAreaReason::kNone) {
    return 0;
  }
  uint8_t again[kSealKeyAreaSize];
  if (WriteSealKeyArea(area, again) != cxsec::device::KeyAreaReason::kNone ||
      size < kSealKeyAreaSize ||
      std::memcmp(again, data, kSealKeyAreaSize) != 0) {
    std::abort();
  }
  return 0;
}
