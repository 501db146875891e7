#include "transports/uplink/https_url.h"

#include <arpa/inet.h>
#include <openssl/base64.h>
#include <openssl/sha.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cxsec {
namespace {

// inet_pton needs a NUL-terminated string; `host` never holds a NUL here
// (the caller refuses everything but DNS/IP characters first).
bool IsIpAddress(const std::string& host, bool bracketed) {
  unsigned char buffer[16];
  if (bracketed) return inet_pton(AF_INET6, host.c_str(), buffer) == 1;
  return inet_pton(AF_INET, host.c_str(), buffer) == 1;
}

// RFC 3986 path characters: unreserved, sub-delims, ':' and '/', plus '%'
// (checked separately for two hex digits). Everything else, control bytes
// above all, is refused: the path goes verbatim into the HTTP request line,
// where a CR or LF would start a header of the URL author's choosing.
bool IsPathCharacter(char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '!' || c == '$' || c == '&' || c == '\'' ||
         c == '(' || c == ')' || c == '*' || c == '+' || c == ',' ||
         c == ';' || c == '=' || c == ':' || c == '/';
}

absl::Status CheckPath(absl::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size() || !absl::ascii_isxdigit(path[i + 1]) ||
          !absl::ascii_isxdigit(path[i + 2])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "URL path has a '%' not followed by two hex digits at offset ", i));
      }
      i += 2;
      continue;
    }
    if (!IsPathCharacter(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "URL path has byte 0x",
          absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2),
          " at offset ", i,
          ", which a URL path may not hold (control bytes, spaces and "
          "non-ASCII must not reach the HTTP request line)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HttpsUrl> ParseHttpsUrl(absl::string_view url) {
  constexpr absl::string_view kScheme = "https://";
  if (url.size() > kMaxHttpsUrlLength) {
    return absl::InvalidArgumentError("URL too long");
  }
  if (!absl::StartsWith(url, kScheme)) {
    return absl::InvalidArgumentError("URL must start with https://");
  }
  absl::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#@ ") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "URL must not hold user info, a query, a fragment or spaces");
  }
  HttpsUrl parsed;
  size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  if (slash != absl::string_view::npos) {
    if (absl::Status path_ok = CheckPath(rest.substr(slash)); !path_ok.ok()) {
      return path_ok;
    }
    parsed.path = std::string(rest.substr(slash));
    while (!parsed.path.empty() && parsed.path.back() == '/') {
      parsed.path.pop_back();
    }
  }
  absl::string_view host = authority;
  absl::string_view port;
  bool bracketed = false;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("URL has an unclosed '[' in its host");
    }
    bracketed = true;
    host = authority.substr(1, close - 1);
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return absl::InvalidArgumentError("bad URL port");
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != absl::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      // A trailing "host:" (empty port) is as wrong as "host:x".
      if (port.empty()) return absl::InvalidArgumentError("bad URL port");
    }
  }
  if (host.empty()) return absl::InvalidArgumentError("URL has no host");
  parsed.host = absl::AsciiStrToLower(host);
  if (!port.empty()) {
    // Digits only: SimpleAtoi would also take "+443" and " 443".
    uint32_t value = 0;
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(port, &value) || value == 0 || value > 65535) {
      return absl::InvalidArgumentError("URL port must be 1..65535");
    }
    parsed.port = static_cast<uint16_t>(value);
  }
  for (char c : parsed.host) {
    bool allowed = absl::ascii_isalnum(c) || c == '-' || c == '.' ||
                   (bracketed && c == ':');
    if (!allowed) {
      return absl::InvalidArgumentError(
          "URL host must be a DNS name or an IP address");
    }
  }
  parsed.host_is_address = IsIpAddress(parsed.host, bracketed);
  if (bracketed && !parsed.host_is_address) {
    return absl::InvalidArgumentError("URL host in [] must be an IPv6 address");
  }
  return parsed;
}

absl::StatusOr<std::vector<std::string>> ParseSpkiPins(absl::string_view text) {
  if (text.size() > kMaxSpkiPinsLength) {
    return absl::InvalidArgumentError("SPKI pin list too long");
  }
  std::vector<std::string> pins;
  for (absl::string_view part :
       absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::string_view pin = absl::StripAsciiWhitespace(part);
    uint8_t decoded[64];
    size_t decoded_length = 0;
    if (pin.size() != 44 ||
        !EVP_DecodeBase64(decoded, &decoded_length, sizeof(decoded),
                          reinterpret_cast<const uint8_t*>(pin.data()),
                          pin.size()) ||
        decoded_length != SHA256_DIGEST_LENGTH) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SPKI pin #", pins.size() + 1,
          " must be the base64 of a SHA-256 digest (44 characters)"));
    }
    pins.emplace_back(pin);
  }
  return pins;
}

}  // namespace cxsec
