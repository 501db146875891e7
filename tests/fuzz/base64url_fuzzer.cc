// Fuzzes the strict base64url decoder: it must never crash, and whatever
// it accepts must re-encode to exactly the input (one encoding per value).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/encoding/base64url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<cxsec::Bytes> decoded = cxsec::Base64UrlDecode(text, 4096);
  if (decoded.ok() && cxsec::Base64UrlEncode(*decoded) != text) std::abort();
  std::string encoded = cxsec::Base64UrlEncode(cxsec::AsBytes(text));
  absl::StatusOr<cxsec::Bytes> round = cxsec::Base64UrlDecode(encoded, 1 << 20);
  if (!round.ok() || cxsec::ToString(*round) != text) std::abort();
  return 0;
}
