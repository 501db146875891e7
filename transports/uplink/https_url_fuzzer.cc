// Fuzzes ParseHttpsUrl and ParseSpkiPins (uplink configuration values) with
// the same bytes. An accepted URL must keep the documented shape and parse
// to the same result when written back out; accepted pins are 44 characters
// of base64 each.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "transports/uplink/https_url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto url = cxsec::ParseHttpsUrl(text);
  if (url.ok()) {
    if (url->host.empty() || url->port == 0) std::abort();
    if (!url->path.empty() && (url->path.front() != '/' || url->path.back() == '/')) {
      std::abort();
    }
    for (char c : url->host) {
      if (!(absl::ascii_isalnum(c) || c == '-' || c == '.' || c == ':') ||
          absl::ascii_isupper(c)) {
        std::abort();
      }
    }
    if (url->path.find_first_of("?#@ ") != std::string::npos) std::abort();
    bool v6 = url->host.find(':') != std::string::npos;
    std::string again_text = absl::StrCat(
        "https://", v6 ? "[" : "", url->host, v6 ? "]" : "", ":", url->port,
        url->path);
    auto again = cxsec::ParseHttpsUrl(again_text);
    if (!again.ok() || again->host != url->host || again->port != url->port ||
        again->path != url->path ||
        again->host_is_address != url->host_is_address) {
      std::abort();
    }
  }
  auto pins = cxsec::ParseSpkiPins(text);
  if (pins.ok()) {
    for (const std::string& pin : *pins) {
      if (pin.size() != 44) std::abort();
    }
  }
  return 0;
}
