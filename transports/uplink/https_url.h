// HttpsUrl and SPKI pin parsing for the gateway's uplink configuration
// (`cloud_url`, `spki_pin`). Kept apart from the Boost.Asio HTTPS client so
// the parsers build with --config=fuzz (clang 14 cannot compile Asio with
// -fsanitize=function) and depend only on Abseil and BoringSSL.
#ifndef CXSEC_TRANSPORTS_UPLINK_HTTPS_URL_H_
#define CXSEC_TRANSPORTS_UPLINK_HTTPS_URL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cxsec {

// HttpsUrl: a parsed `https://host[:port][/path]`.
struct HttpsUrl {
  std::string host;  // a DNS name or an IPv4/IPv6 address (no brackets)
  uint16_t port = 443;
  std::string path;  // "" or "/prefix" without a trailing '/'
  bool host_is_address = false;
};

// Longest URL ParseHttpsUrl looks at.
inline constexpr size_t kMaxHttpsUrlLength = 2048;

// ParseHttpsUrl accepts only https URLs without user info, query or
// fragment; errors say which part is wrong. An IPv6 host must be in
// brackets; IPv6 zone ids ("%eth0") are refused (no certificate names one).
[[nodiscard]] absl::StatusOr<HttpsUrl> ParseHttpsUrl(absl::string_view url);

// Longest pin list ParseSpkiPins looks at (a few hundred pins).
inline constexpr size_t kMaxSpkiPinsLength = 16384;

// ParseSpkiPins parses a comma-separated list of base64 SHA-256 pins
// (44 characters each); empty text gives no pins.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> ParseSpkiPins(
    absl::string_view text);

}  // namespace cxsec

#endif  // CXSEC_TRANSPORTS_UPLINK_HTTPS_URL_H_
