// Fuzzes the hex decoder used for keys, EUIs and CLI arguments: it must
// never crash; what it accepts must re-encode to the input (lower-cased),
// since hex has exactly one value per text; any bytes must survive
// encode/decode; HexDecodeExact must agree with HexDecode.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "core/encoding/hex.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<cxsec::Bytes> decoded = cxsec::HexDecode(text, 4096);
  if (decoded.ok()) {
    if (decoded->size() * 2 != text.size()) std::abort();
    if (cxsec::HexEncode(*decoded) != absl::AsciiStrToLower(text)) std::abort();
  } else if (text.size() <= 4096 && text.size() % 2 == 0) {
    // Rejected even-length input within the limit must hold a non-hex digit.
    bool all_hex = true;
    for (char c : text) all_hex &= absl::ascii_isxdigit(c);
    if (all_hex) std::abort();
  }
  absl::StatusOr<cxsec::Bytes> exact =
      cxsec::HexDecodeExact(text, text.size() / 2, "fuzz");
  if (text.size() <= (size_t{1} << 20) && exact.ok() != decoded.ok()) {
    std::abort();
  }
  std::string encoded = cxsec::HexEncode(cxsec::AsBytes(text));
  absl::StatusOr<cxsec::Bytes> round = cxsec::HexDecode(encoded, 1 << 20);
  if (!round.ok() || cxsec::ToString(*round) != std::string(text)) std::abort();
  return 0;
}
