// Fuzzes ParseImageVersion ("M.m.r+b", as imgtool), which reads the
// --version text of `cxsec fw sign` and of release tooling. It must never
// crash; it must accept only digits, '.' and '+' (no signs, spaces or
// other forms a lenient integer parser lets through); and an accepted
// version must format and parse back to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/firmware/image_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec::firmware;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ImageVersion> version = ParseImageVersion(text);
  if (!version.ok()) return 0;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == '+')) std::abort();
  }
  absl::StatusOr<ImageVersion> again =
      ParseImageVersion(FormatImageVersion(*version));
  if (!again.ok() || again->major != version->major ||
      again->minor != version->minor || again->revision != version->revision ||
      again->build != version->build) {
    std::abort();
  }
  return 0;
}
