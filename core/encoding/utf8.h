// UTF-8 checks and safe excerpts of untrusted text. Error messages quote
// parts of hostile input (a JWT's alg, a duplicate member's name); cutting
// such a quote at a byte limit can split a multi-byte character, and JSON
// serialisers refuse the resulting invalid UTF-8 (nlohmann::json throws,
// which an HTTP server turns into a 500). Utf8Excerpt always yields valid
// UTF-8 within the byte limit, whatever the input.
//
//   absl::StrCat("alg '", Utf8Excerpt(name, 32), "' is not supported")
#ifndef CXSEC_CORE_ENCODING_UTF8_H_
#define CXSEC_CORE_ENCODING_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace cxsec {

namespace utf8_internal {

// The length of the well-formed UTF-8 sequence at the start of `text`
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or
// 0 when it does not start with one.
inline size_t SequenceLength(absl::string_view text) {
  if (text.empty()) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  uint8_t c = p[0];
  if (c < 0x80) return 1;
  size_t length = 0;
  uint32_t min = 0;
  uint32_t code = 0;
  if ((c & 0xe0) == 0xc0) {
    length = 2, min = 0x80, code = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    length = 3, min = 0x800, code = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    length = 4, min = 0x10000, code = c & 0x07;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    code = (code << 6) | (p[i] & 0x3f);
  }
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
    return 0;
  }
  return length;
}

}  // namespace utf8_internal

// IsValidUtf8 checks RFC 3629 UTF-8: no overlong forms, no surrogates, no
// code points above U+10FFFF.
inline bool IsValidUtf8(absl::string_view text) {
  while (!text.empty()) {
    size_t length = utf8_internal::SequenceLength(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

// Utf8Prefix is the longest prefix of `text` of at most `max_bytes` bytes
// that does not end inside a multi-byte sequence. For valid UTF-8 input
// it is valid UTF-8.
inline absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes;
  // Back off over continuation bytes (10xxxxxx): at most 3 in UTF-8.
  for (int i = 0;
       i < 3 && cut > 0 && (static_cast<uint8_t>(text[cut]) & 0xc0) == 0x80;
       ++i) {
    --cut;
  }
  return text.substr(0, cut);
}

// Utf8Excerpt is `text` made safe to quote in a message: each byte that
// is not part of a well-formed UTF-8 sequence becomes '?', and the result
// is cut to at most `max_bytes` bytes between characters. Always valid
// UTF-8.
inline std::string Utf8Excerpt(absl::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(text.size() < max_bytes ? text.size() : max_bytes);
  while (!text.empty()) {
    size_t length = utf8_internal::SequenceLength(text);
    absl::string_view piece =
        length == 0 ? absl::string_view("?") : text.substr(0, length);
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece.data(), piece.size());
    text.remove_prefix(length == 0 ? 1 : length);
  }
  return out;
}

}  // namespace cxsec

#endif  // CXSEC_CORE_ENCODING_UTF8_H_
