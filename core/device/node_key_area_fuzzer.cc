// Fuzzes the node key area parser the node runs on untrusted flash: it must
// never crash or read past the input, and whatever it accepts must be
// written back by WriteNodeKeyArea as exactly the bytes it read (one
// encoding per key area).
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/device/node_key_area.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec::device;
  NodeKeyArea area;
  if (ParseNodeKeyArea(std::span(data, size), area) != KeyAreaReason::kNone) {
    return 0;
  }
  const size_t written = NodeKeyAreaSize(area);
  if (size < written) std::abort();
  uint8_t again[kNodeKeyAreaMaxSize];
  if (WriteNodeKeyArea(area, again) != KeyAreaReason::kNone ||
      std::memcmp(again, data, written) != 0) {
    std::abort();
  }
  return 0;
}
