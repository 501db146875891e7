// Fuzzes the strict base64url decoder: it must never crash, whatever it
// accepts must re-encode to exactly the input (one encoding per value),
// and it must accept, refuse and decode exactly as the plain bit-at-a-time
// decoder below (the table-driven one replaced it for speed).
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "core/encoding/base64url.h"

namespace {

// The reference: six bits per character into an accumulator, then the
// length and trailing-bit rules. nullopt for every refusal.
std::optional<cxsec::Bytes> ReferenceDecode(const std::string& text) {
  cxsec::Bytes out;
  uint32_t accumulator = 0;
  int bits = 0;
  for (unsigned char c : text) {
    int value = cxsec::base64url_internal::DecodeChar(c);
    if (value < 0) return std::nullopt;
    accumulator = (accumulator << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((accumulator >> bits) & 0xff));
    }
    accumulator &= (1u << bits) - 1;
  }
  if (text.size() % 4 == 1) return std::nullopt;
  if (bits > 0 && accumulator != 0) return std::nullopt;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<cxsec::Bytes> decoded = cxsec::Base64UrlDecode(text, 4096);
  if (decoded.ok() && cxsec::Base64UrlEncode(*decoded) != text) std::abort();
  if (size <= 4096) {
    std::optional<cxsec::Bytes> reference = ReferenceDecode(text);
    if (decoded.ok() != reference.has_value()) std::abort();
    if (decoded.ok() && *decoded != *reference) std::abort();
  }
  std::string encoded = cxsec::Base64UrlEncode(cxsec::AsBytes(text));
  if (encoded.size() != cxsec::Base64UrlEncodedSize(size)) std::abort();
  absl::StatusOr<cxsec::Bytes> round = cxsec::Base64UrlDecode(encoded, 1 << 20);
  if (!round.ok() || cxsec::ToString(*round) != text) std::abort();
  return 0;
}
