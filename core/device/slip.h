// SLIP (RFC 1055) framing for the node's UART link: the node wraps each
// Mioty MPDU in END ... END with ESC escapes, and the host bridge and
// tests split the byte stream back into frames. Device-side (no heap, no
// Abseil): the same header encodes on the node and decodes on the host.
//
//   uint8_t wire[SlipEncodedSizeMax(kMaxMpduSize)];
//   size_t n = SlipEncode(frame, wire);          // 0 if `wire` is too small
//   board::UartWrite(std::span(wire, n));
//
//   SlipDecoder<255> decoder;                    // host side, per stream
//   for (uint8_t byte : received) {
//     if (decoder.Push(byte) == SlipEvent::kFrame) Handle(decoder.frame());
//   }
#ifndef CXSEC_CORE_DEVICE_SLIP_H_
#define CXSEC_CORE_DEVICE_SLIP_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace cxsec::device {

inline constexpr uint8_t kSlipEnd = 0xC0;
inline constexpr uint8_t kSlipEsc = 0xDB;
inline constexpr uint8_t kSlipEscEnd = 0xDC;
inline constexpr uint8_t kSlipEscEsc = 0xDD;

// SlipEncodedSizeMax: the worst case for `size` bytes (every byte escaped,
// plus a leading and a trailing END).
constexpr size_t SlipEncodedSizeMax(size_t size) { return 2 * size + 2; }

// SlipEncode writes END, `frame` escaped, END into `out` and returns the
// number of bytes written, or 0 (nothing usable) if `out` is too small.
// The leading END flushes any line noise the receiver has buffered.
inline size_t SlipEncode(std::span<const uint8_t> frame,
                         std::span<uint8_t> out) {
  size_t n = 0;
  auto put = [&](uint8_t byte) {
    if (n < out.size()) out[n] = byte;
    ++n;
  };
  put(kSlipEnd);
  for (uint8_t byte : frame) {
    if (byte == kSlipEnd) {
      put(kSlipEsc);
      put(kSlipEscEnd);
    } else if (byte == kSlipEsc) {
      put(kSlipEsc);
      put(kSlipEscEsc);
    } else {
      put(byte);
    }
  }
  put(kSlipEnd);
  return n <= out.size() ? n : 0;
}

// SlipEvent: what one received byte completed.
enum class SlipEvent : uint8_t {
  kNone = 0,       // byte consumed, no frame yet
  kFrame = 1,      // a frame ended; frame() holds it until the next Push
  kOversize = 2,   // a frame exceeded MaxFrame bytes and was dropped
  kBadEscape = 3,  // ESC followed by neither ESC_END nor ESC_ESC: dropped
};

// SlipDecoder: a streaming SLIP receiver holding at most MaxFrame bytes.
// A frame that grows past MaxFrame or carries a bad escape is dropped
// whole (reported once) and decoding resumes at the next END; empty
// frames (END END) are skipped. Never reads or writes out of bounds,
// whatever the input.
template <size_t MaxFrame>
class SlipDecoder {
 public:
  SlipEvent Push(uint8_t byte) {
    if (completed_) {
      size_ = 0;
      completed_ = false;
    }
    if (byte == kSlipEnd) {
      const bool dropped = dropping_;
      dropping_ = false;
      escaped_ = false;
      if (dropped || size_ == 0) {
        size_ = 0;
        return SlipEvent::kNone;
      }
      completed_ = true;
      return SlipEvent::kFrame;
    }
    if (dropping_) return SlipEvent::kNone;
    if (escaped_) {
      escaped_ = false;
      if (byte == kSlipEscEnd) {
        byte = kSlipEnd;
      } else if (byte == kSlipEscEsc) {
        byte = kSlipEsc;
      } else {
        return Drop(SlipEvent::kBadEscape);
      }
    } else if (byte == kSlipEsc) {
      escaped_ = true;
      return SlipEvent::kNone;
    }
    if (size_ == MaxFrame) return Drop(SlipEvent::kOversize);
    buffer_[size_++] = byte;
    return SlipEvent::kNone;
  }

  // frame: the frame that the last Push completed (empty otherwise).
  std::span<const uint8_t> frame() const {
    return completed_ ? std::span<const uint8_t>(buffer_.data(), size_)
                      : std::span<const uint8_t>();
  }

 private:
  SlipEvent Drop(SlipEvent why) {
    dropping_ = true;
    escaped_ = false;
    size_ = 0;
    return why;
  }

  std::array<uint8_t, MaxFrame> buffer_{};
  size_t size_ = 0;
  bool escaped_ = false;
  bool dropping_ = false;
  bool completed_ = false;
};

}  // namespace cxsec::device

#endif  // CXSEC_CORE_DEVICE_SLIP_H_
