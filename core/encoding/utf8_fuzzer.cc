// Fuzzes the UTF-8 helpers that quote hostile input in error messages:
// an excerpt is always valid UTF-8 within its bound, a prefix of valid
// input stays valid and is a prefix, and valid input survives an excerpt
// of its own length unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/encoding/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t max = data[0];
  absl::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string excerpt = cxsec::Utf8Excerpt(text, max);
  if (excerpt.size() > max || !cxsec::IsValidUtf8(excerpt)) std::abort();
  bool valid = cxsec::IsValidUtf8(text);
  absl::string_view prefix = cxsec::Utf8Prefix(text, max);
  if (prefix.size() > max || text.substr(0, prefix.size()) != prefix)
    std::abort();
  if (valid && !cxsec::IsValidUtf8(prefix)) std::abort();
  if (valid && cxsec::Utf8Excerpt(text, text.size()) != text) std::abort();
  return 0;
}
