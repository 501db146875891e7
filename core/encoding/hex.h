// Hexadecimal encoding for ids, keys in config files and CLI arguments.
// Encoding is lower case; decoding accepts either case and names the first
// bad character by offset (never echoing the input, which may be a key).
#ifndef CXSEC_CORE_ENCODING_HEX_H_
#define CXSEC_CORE_ENCODING_HEX_H_

#include <cstddef>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/bytes.h"

namespace cxsec {

// HexEncode returns `data` as lower-case hex.
inline std::string HexEncode(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

namespace hex_internal {
constexpr int Nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace hex_internal

// HexDecode decodes `text`, which must have an even length and only hex
// digits. Inputs longer than `max_input` characters are rejected.
[[nodiscard]] inline absl::StatusOr<Bytes> HexDecode(
    absl::string_view text, size_t max_input = size_t{1} << 20) {
  if (text.size() > max_input) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hex: input of ", text.size(), " characters exceeds the limit of ",
        max_input));
  }
  if (text.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("hex: odd length ", text.size()));
  }
  Bytes out(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = hex_internal::Nibble(text[i]);
    int lo = hex_internal::Nibble(text[i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hex: non-hex character at offset ", hi < 0 ? i : i + 1));
    }
    out[i / 2] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return out;
}

// HexDecodeExact decodes `text` and requires exactly `size` bytes; `what`
// names the value in the error ("network key", "EUI-64", ...).
[[nodiscard]] inline absl::StatusOr<Bytes> HexDecodeExact(
    absl::string_view text, size_t size, absl::string_view what) {
  if (text.size() != size * 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": expected ", size * 2, " hex digits (", size,
                     " bytes), got ", text.size()));
  }
  absl::StatusOr<Bytes> out = HexDecode(text);
  if (!out.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", out.status().message()));
  }
  return out;
}

}  // namespace cxsec

#endif  // CXSEC_CORE_ENCODING_HEX_H_
