// The few CoAP (RFC 7252) messages a node needs, for code that runs on a
// node: a confirmable POST to a one-segment path with a CBOR payload, and
// the header of whatever answers it. No heap, no Abseil, no options
// beyond Uri-Path and Content-Format: the gateway's telemetry resource
// ("t", transports/dtls/dtls_server.cc) needs nothing more.
//
//   std::array<uint8_t, 128> out;
//   size_t n = EncodeCoapPost(message_id, token, "t", payload, out);
//   ... send, receive `in` ...
//   CoapHeader h;
//   if (ParseCoapHeader(in, h) == CoapReason::kNone && h.type == kCoapAck &&
//       h.message_id == message_id) { ... h.code == CoapCode(2, 4) ... }
#ifndef CXSEC_CORE_DEVICE_COAP_MESSAGE_H_
#define CXSEC_CORE_DEVICE_COAP_MESSAGE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace cxsec::device {

inline constexpr uint8_t kCoapConfirmable = 0;
inline constexpr uint8_t kCoapNonConfirmable = 1;
inline constexpr uint8_t kCoapAck = 2;
inline constexpr uint8_t kCoapReset = 3;
inline constexpr size_t kCoapTokenSize = 8;
inline constexpr uint16_t kCoapContentFormatCbor = 60;
// application/octet-stream: what a sealed reading is posted as
// (docs/SEALED_READINGS.md), as the host node does.
inline constexpr uint16_t kCoapContentFormatOctetStream = 42;

constexpr uint8_t CoapCode(uint8_t klass, uint8_t detail) {
  return static_cast<uint8_t>((klass << 5) | detail);
}

// CoapReason: why a received message was refused. Extend-only.
enum class [[nodiscard]] CoapReason : uint8_t{
    kNone = 0,
    kTruncated = 1,       // shorter than its header and token
    kBadVersion = 2,      // not CoAP version 1
    kBadTokenLength = 3,  // token length 9..15 (reserved)
};

struct CoapHeader {
  uint8_t type = 0;
  uint8_t code = 0;
  uint16_t message_id = 0;
  uint8_t token_length = 0;
  std::array<uint8_t, kCoapTokenSize> token{};
};

// ParseCoapHeader reads the fixed header and token of `message`.
inline CoapReason ParseCoapHeader(std::span<const uint8_t> message,
                                  CoapHeader& header) {
  if (message.size() < 4) return CoapReason::kTruncated;
  if ((message[0] >> 6) != 1) return CoapReason::kBadVersion;
  const uint8_t token_length = message[0] & 0x0F;
  if (token_length > kCoapTokenSize) return CoapReason::kBadTokenLength;
  if (message.size() < 4u + token_length) return CoapReason::kTruncated;
  header.type = static_cast<uint8_t>((message[0] >> 4) & 0x03);
  header.code = message[1];
  header.message_id = static_cast<uint16_t>((message[2] << 8) | message[3]);
  header.token_length = token_length;
  header.token = {};
  for (size_t i = 0; i < token_length; ++i) header.token[i] = message[4 + i];
  return CoapReason::kNone;
}

// EncodeCoapPost writes a CON POST of `payload` (Content-Format
// `content_format`, CBOR unless told; below 256) to the one-segment path
// `path` (1..12 bytes), with an 8-byte token, into `out`; returns its
// length, or 0 if `out` is too small, `path` is not 1..12 bytes or the
// content format does not fit one byte.
inline size_t EncodeCoapPost(uint16_t message_id,
                             std::span<const uint8_t, kCoapTokenSize> token,
                             const char* path, std::span<const uint8_t> payload,
                             std::span<uint8_t> out,
                             uint16_t content_format = kCoapContentFormatCbor) {
  if (content_format > 0xFF) return 0;
  size_t path_length = 0;
  while (path[path_length] != '\0') {
    if (++path_length > 12) return 0;
  }
  if (path_length == 0) return 0;
  // header 4, token 8, Uri-Path 1 + path, Content-Format 2, marker 1.
  const size_t size = 4 + kCoapTokenSize + 1 + path_length + 2 +
                      (payload.empty() ? 0 : 1 + payload.size());
  if (out.size() < size) return 0;
  size_t at = 0;
  out[at++] =
      static_cast<uint8_t>(0x40 | (kCoapConfirmable << 4) | kCoapTokenSize);
  out[at++] = CoapCode(0, 2);  // POST
  out[at++] = static_cast<uint8_t>(message_id >> 8);
  out[at++] = static_cast<uint8_t>(message_id);
  for (uint8_t byte : token) out[at++] = byte;
  // Option 11 (Uri-Path): delta 11, length <= 12.
  out[at++] = static_cast<uint8_t>((11 << 4) | path_length);
  for (size_t i = 0; i < path_length; ++i) {
    out[at++] = static_cast<uint8_t>(path[i]);
  }
  // Option 12 (Content-Format): delta 1, one byte (60: application/cbor).
  out[at++] = static_cast<uint8_t>((1 << 4) | 1);
  out[at++] = static_cast<uint8_t>(content_format);
  if (!payload.empty()) {
    out[at++] = 0xFF;
    for (uint8_t byte : payload) out[at++] = byte;
  }
  return at;
}

// EncodeCoapEmptyAck: the empty ACK (4 bytes) a node sends for a
// confirmable separate response.
inline size_t EncodeCoapEmptyAck(uint16_t message_id, std::span<uint8_t> out) {
  if (out.size() < 4) return 0;
  out[0] = static_cast<uint8_t>(0x40 | (kCoapAck << 4));
  out[1] = 0;
  out[2] = static_cast<uint8_t>(message_id >> 8);
  out[3] = static_cast<uint8_t>(message_id);
  return 4;
}

}  // namespace cxsec::device

#endif  // CXSEC_CORE_DEVICE_COAP_MESSAGE_H_
