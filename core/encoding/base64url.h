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

// DecodeChar as a table: the decoder's inner loop is on every JWT
// verification, so it does one load per character instead of five
// comparisons.
inline constexpr auto kDecodeTable = [] {
  struct Table {
    int8_t value[256];
  } table{};
  for (int c = 0; c < 256; ++c) {
    table.value[c] =
        static_cast<int8_t>(DecodeChar(static_cast<unsigned char>(c)));
  }
  return table;
}();

inline std::string DescribeChar(unsigned char c) {
  if (c == '=') return "padding '='";
  if (c == '+' || c == '/') return absl::StrCat("'", std::string(1, c), "' (standard base64, not base64url)");
  if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return "whitespace";
  if (c >= 0x21 && c < 0x7f) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrCat("byte 0x", absl::Hex(c, absl::kZeroPad2));
}

}  // namespace base64url_internal

// Base64UrlEncodedSize: the length of Base64UrlEncode's output for `size`
// input bytes.
inline constexpr size_t Base64UrlEncodedSize(size_t size) {
  return size / 3 * 4 + (size % 3 == 0 ? 0 : size % 3 + 1);
}

// Base64UrlEncodeTo writes the encoding of `data` (without padding) to
// `out`, which must have room for Base64UrlEncodedSize(data.size()) chars.
// Returns the end of what it wrote.
inline char* Base64UrlEncodeTo(ByteView data, char* out) {
  using base64url_internal::kAlphabet;
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) |
                 data[i + 2];
    out[0] = kAlphabet[(v >> 18) & 63];
    out[1] = kAlphabet[(v >> 12) & 63];
    out[2] = kAlphabet[(v >> 6) & 63];
    out[3] = kAlphabet[v & 63];
    out += 4;
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t{data[i]} << 16;
    *out++ = kAlphabet[(v >> 18) & 63];
    *out++ = kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    *out++ = kAlphabet[(v >> 18) & 63];
    *out++ = kAlphabet[(v >> 12) & 63];
    *out++ = kAlphabet[(v >> 6) & 63];
  }
  return out;
}

// Base64UrlEncodeAppend appends the encoding of `data` to `*out`.
inline void Base64UrlEncodeAppend(ByteView data, std::string* out) {
  size_t old_size = out->size();
  out->resize(old_size + Base64UrlEncodedSize(data.size()));
  Base64UrlEncodeTo(data, out->data() + old_size);
}

// Base64UrlEncode encodes `data` without padding.
inline std::string Base64UrlEncode(ByteView data) {
  std::string out;
  Base64UrlEncodeAppend(data, &out);
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
  using base64url_internal::kDecodeTable;
  const size_t full = text.size() / 4;
  const size_t rest = text.size() % 4;
  Bytes out(full * 3 + (rest == 0 ? 0 : rest - 1));
  const unsigned char* in = reinterpret_cast<const unsigned char*>(text.data());
  uint8_t* o = out.data();
  // Four characters to three bytes at a time; any character outside the
  // alphabet decodes to -1, which makes the OR of the four negative.
  bool bad_char = false;
  for (size_t q = 0; q < full; ++q, in += 4, o += 3) {
    int a = kDecodeTable.value[in[0]], b = kDecodeTable.value[in[1]];
    int c = kDecodeTable.value[in[2]], d = kDecodeTable.value[in[3]];
    if ((a | b | c | d) < 0) {
      bad_char = true;
      break;
    }
    uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12) |
                 (uint32_t(c) << 6) | uint32_t(d);
    o[0] = static_cast<uint8_t>(v >> 16);
    o[1] = static_cast<uint8_t>(v >> 8);
    o[2] = static_cast<uint8_t>(v);
  }
  int tail[3] = {0, 0, 0};
  if (!bad_char) {
    for (size_t k = 0; k < rest; ++k) {
      tail[k] = kDecodeTable.value[in[k]];
      if (tail[k] < 0) bad_char = true;
    }
  }
  if (bad_char) {
    // Name the first bad character, as the error has always done.
    for (size_t i = 0; i < text.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(text[i]);
      if (DecodeChar(c) < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "base64url: invalid ", DescribeChar(c), " at offset ", i));
      }
    }
  }
  // Checked after the characters, so the error names the bad one.
  if (rest == 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "base64url: length ", text.size(),
        " is impossible (a length of 4n+1 cannot encode whole bytes)"));
  }
  // Leftover bits (4 after two characters, 2 after three) must be zero, or
  // two texts decode alike.
  bool canonical = true;
  if (rest == 2) {
    o[0] = static_cast<uint8_t>((tail[0] << 2) | (tail[1] >> 4));
    canonical = (tail[1] & 0x0f) == 0;
  } else if (rest == 3) {
    o[0] = static_cast<uint8_t>((tail[0] << 2) | (tail[1] >> 4));
    o[1] = static_cast<uint8_t>(((tail[1] & 0x0f) << 4) | (tail[2] >> 2));
    canonical = (tail[2] & 0x03) == 0;
  }
  if (!canonical) {
    return absl::InvalidArgumentError(
        "base64url: non-canonical encoding (unused trailing bits are not "
        "zero)");
  }
  return out;
}

}  // namespace cxsec

#endif  // CXSEC_CORE_ENCODING_BASE64URL_H_
