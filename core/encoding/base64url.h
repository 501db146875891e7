// Strict base64url (RFC 4648 §5) as JOSE requires it (RFC 7515 §2): no
// padding. Decoding rejects '=', '+', '/', whitespace, any byte outside the
// URL-safe alphabet, impossible lengths, and non-canonical trailing bits,
// so that one byte string has exactly one accepted encoding (a signature
// can't be malleated by flipping unused bits).
//
//   absl::StatusOr<Bytes> raw = Base64UrlDecode(segment);
//   std::string text = Base64UrlEncode(raw_bytes);
#ifndef CXSEC_CORE_ENCODING_BASE64URL_H_
#define CXSEC_CORE_ENCODING_BASE64URL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/bytes.h"

namespace cxsec {

// kBase64UrlDefaultMaxInput: the default bound on decoder input (1 MiB).
inline constexpr size_t kBase64UrlDefaultMaxInput = size_t{1} << 20;

namespace base64url_internal {

inline constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Returns the 6-bit value of `c`, or -1 for a byte outside the alphabet.
constexpr int DecodeChar(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

inline std::string DescribeChar(unsigned char c) {
  if (c == '=') return "padding '='";
  if (c == '+' || c == '/') return absl::StrCat("'", std::string(1, c), "' (standard base64, not base64url)");
  if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return "whitespace";
  if (c >= 0x21 && c < 0x7f) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrCat("byte 0x", absl::Hex(c, absl::kZeroPad2));
}

}  // namespace base64url_internal

// Base64UrlEncode encodes `data` without padding.
inline std::string Base64UrlEncode(ByteView data) {
  using base64url_internal::kAlphabet;
  std::string out;
  out.reserve((data.size() / 3) * 4 + 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) |
                 data[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t{data[i]} << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

inline std::string Base64UrlEncode(absl::string_view text) {
  return Base64UrlEncode(AsBytes(text));
}

// Base64UrlDecode decodes `text` strictly (see the file comment). Inputs
// longer than `max_input` bytes are rejected before any work is done.
[[nodiscard]] inline absl::StatusOr<Bytes> Base64UrlDecode(
    absl::string_view text, size_t max_input = kBase64UrlDefaultMaxInput) {
  using base64url_internal::DecodeChar;
  using base64url_internal::DescribeChar;
  if (text.size() > max_input) {
    return absl::InvalidArgumentError(
        absl::StrCat("base64url: input of ", text.size(),
                     " bytes exceeds the limit of ", max_input));
  }
  Bytes out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t accumulator = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    int value = DecodeChar(c);
    if (value < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "base64url: invalid ", DescribeChar(c), " at offset ", i));
    }
    accumulator = (accumulator << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((accumulator >> bits) & 0xff));
    }
    accumulator &= (1u << bits) - 1;  // keep only the undecoded bits
  }
  // Checked after the characters, so the error names the bad one.
  if (text.size() % 4 == 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "base64url: length ", text.size(),
        " is impossible (a length of 4n+1 cannot encode whole bytes)"));
  }
  // Leftover bits (2 or 4) must be zero, or two texts decode alike.
  if (bits > 0 && accumulator != 0) {
    return absl::InvalidArgumentError(
        "base64url: non-canonical encoding (unused trailing bits are not "
        "zero)");
  }
  return out;
}

}  // namespace cxsec

#endif  // CXSEC_CORE_ENCODING_BASE64URL_H_
