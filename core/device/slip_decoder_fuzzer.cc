// Fuzzes the SLIP decoder the host bridge runs on bytes from a node's UART:
// no crash or out-of-bounds access on any stream, no frame longer than
// its limit, and every decoded frame re-encodes to a stream that decodes
// to the same frame.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/device/slip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec::device;
  constexpr size_t kMax = 64;
  SlipDecoder<kMax> decoder;
  for (size_t i = 0; i < size; ++i) {
    if (decoder.Push(data[i]) != SlipEvent::kFrame) continue;
    std::span<const uint8_t> frame = decoder.frame();
    if (frame.empty() || frame.size() > kMax) std::abort();
    uint8_t wire[SlipEncodedSizeMax(kMax)];
    size_t n = SlipEncode(frame, wire);
    if (n == 0) std::abort();
    SlipDecoder<kMax> again;
    bool seen = false;
    for (size_t j = 0; j < n; ++j) {
      if (again.Push(wire[j]) == SlipEvent::kFrame) {
        if (seen || again.frame().size() != frame.size() ||
            std::memcmp(again.frame().data(), frame.data(), frame.size()) !=
                0) {
          std::abort();
        }
        seen = true;
      }
    }
    if (!seen) std::abort();
  }
  return 0;
}
