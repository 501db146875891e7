// Parsing of "host:port" endpoints from configs and flags, shared by the
// node and gateway transports so every binary accepts and rejects the same
// spellings with the same message.
#ifndef CXSEC_PLATFORMS_POSIX_ENDPOINT_H_
#define CXSEC_PLATFORMS_POSIX_ENDPOINT_H_

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace cxsec {

// HostPort: an endpoint split at its last ':'.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// ParseHostPort splits "host:port". Port 0 (the kernel picks a free port) is
// accepted only when `allow_port_zero`, for listening sockets.
[[nodiscard]] inline absl::StatusOr<HostPort> ParseHostPort(
    absl::string_view text, bool allow_port_zero = false) {
  size_t colon = text.rfind(':');
  int port = -1;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(text.substr(colon + 1), &port) || port < 0 ||
      port > 65535 || (port == 0 && !allow_port_zero)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a host:port endpoint"));
  }
  return HostPort{std::string(text.substr(0, colon)),
                  static_cast<uint16_t>(port)};
}

// ParseIpv4Endpoint parses "a.b.c.d:port" into a socket address.
[[nodiscard]] inline absl::StatusOr<sockaddr_in> ParseIpv4Endpoint(
    absl::string_view text, bool allow_port_zero = false) {
  absl::StatusOr<HostPort> endpoint = ParseHostPort(text, allow_port_zero);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (!endpoint.ok() ||
      inet_pton(AF_INET, endpoint->host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not an IPv4 address:port"));
  }
  addr.sin_port = htons(endpoint->port);
  return addr;
}

}  // namespace cxsec

#endif  // CXSEC_PLATFORMS_POSIX_ENDPOINT_H_
