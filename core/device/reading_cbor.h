// The node's telemetry reading as CBOR, for code that runs on a node: the
// one-sensor form of the payload every cxsec node posts (the 6LoWPAN
// payload, PROTOCOLS.md, core/deployment/telemetry_cbor.h):
//
//   {"v3": {"d": {KEY: VALUE}, "s": "p"}}
//
// byte for byte what the host encoder (EncodeTelemetry, nlohmann's CBOR,
// keys in sorted order, shortest integer heads) writes for the same
// reading, so the gateway cannot tell a firmware node from cxsec-node. No
// heap, no Abseil: a fixed buffer and a length.
//
//   std::array<uint8_t, kReadingCborMaxSize> buffer;
//   size_t n = EncodeReadingCbor("t", 21500, /*event=*/false, buffer);
//   if (n == 0) ...  // key too long or buffer too small
#ifndef CXSEC_CORE_DEVICE_READING_CBOR_H_
#define CXSEC_CORE_DEVICE_READING_CBOR_H_

#include <cstddef>
#include <cstdint>
#include <span>

namespace cxsec::device {

// Sensor keys are short ("t", "h", "p"): at most 23 bytes, so a key's
// CBOR head is one byte.
inline constexpr size_t kReadingKeyMaxSize = 23;
// 12 fixed bytes + key head and key + a 9-byte integer.
inline constexpr size_t kReadingCborMaxSize = 12 + 1 + kReadingKeyMaxSize + 9;

namespace reading_cbor_internal {

// Writes a CBOR head (major type and argument, shortest form).
inline size_t PutHead(uint8_t major, uint64_t argument, std::span<uint8_t> out,
                      size_t at) {
  const uint8_t type = static_cast<uint8_t>(major << 5);
  size_t extra = 0;
  uint8_t info = 0;
  if (argument < 24) {
    info = static_cast<uint8_t>(argument);
  } else if (argument <= 0xFF) {
    info = 24, extra = 1;
  } else if (argument <= 0xFFFF) {
    info = 25, extra = 2;
  } else if (argument <= 0xFFFFFFFFu) {
    info = 26, extra = 4;
  } else {
    info = 27, extra = 8;
  }
  if (at + 1 + extra > out.size()) return 0;
  out[at++] = static_cast<uint8_t>(type | info);
  for (size_t i = extra; i > 0; --i) {
    out[at++] = static_cast<uint8_t>(argument >> (8 * (i - 1)));
  }
  return at;
}

inline size_t PutText(const char* text, size_t length, std::span<uint8_t> out,
                      size_t at) {
  at = PutHead(3, length, out, at);
  if (at == 0 || at + length > out.size()) return 0;
  for (size_t i = 0; i < length; ++i) out[at++] = static_cast<uint8_t>(text[i]);
  return at;
}

}  // namespace reading_cbor_internal

// EncodeReadingCbor writes {"v3": {"d": {key: value}, "s": "p"|"e"}} into
// `out` and returns its length, or 0 if `key` is empty or longer than
// kReadingKeyMaxSize, or `out` is too small.
inline size_t EncodeReadingCbor(const char* key, int64_t value, bool event,
                                std::span<uint8_t> out) {
  using namespace reading_cbor_internal;
  size_t key_length = 0;
  while (key[key_length] != '\0') {
    if (++key_length > kReadingKeyMaxSize) return 0;
  }
  if (key_length == 0) return 0;
  size_t at = 0;
  at = PutHead(5, 1, out, at);  // {
  if (at != 0) at = PutText("v3", 2, out, at);
  if (at != 0) at = PutHead(5, 2, out, at);  // {
  if (at != 0) at = PutText("d", 1, out, at);
  if (at != 0) at = PutHead(5, 1, out, at);  // {
  if (at != 0) at = PutText(key, key_length, out, at);
  if (at != 0) {
    // CBOR: major type 0 for n >= 0, major type 1 holding -1 - n for n < 0.
    at = value >= 0 ? PutHead(0, static_cast<uint64_t>(value), out, at)
                    : PutHead(1, static_cast<uint64_t>(-(value + 1)), out, at);
  }
  if (at != 0) at = PutText("s", 1, out, at);
  if (at != 0) at = PutText(event ? "e" : "p", 1, out, at);
  return at;
}

}  // namespace cxsec::device

#endif  // CXSEC_CORE_DEVICE_READING_CBOR_H_
