// A minimal blocking HTTP/1.1 client over plain TCP (Boost.Beast), used to
// reach etcd's JSON gateway and webhook receivers on trusted networks.
// libcurl is not an option: it loads OpenSSL 3, which clashes with
// BoringSSL in the same process (docs/BUILDING.md).
#ifndef CXSEC_TARGETS_VERIFIER_HTTP_PLAIN_HTTP_CLIENT_H_
#define CXSEC_TARGETS_VERIFIER_HTTP_PLAIN_HTTP_CLIENT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cxsec::verifier {

struct HttpEndpoint {
  std::string host;
  uint16_t port = 0;
  // ParseHttpUrl accepts "http://host:port" (no path, no TLS).
  [[nodiscard]] static absl::StatusOr<HttpEndpoint> ParseHttpUrl(
      absl::string_view url);
};

struct PlainHttpResponse {
  unsigned status = 0;
  std::string body;
};

// SendHttpRequest sends one request on a fresh connection and reads the
// whole answer (at most `max_response_bytes`), all within `timeout`.
[[nodiscard]] absl::StatusOr<PlainHttpResponse> SendHttpRequest(
    const HttpEndpoint& endpoint, absl::string_view method,
    absl::string_view target,
    const std::vector<std::pair<std::string, std::string>>& headers,
    absl::string_view body, absl::Duration timeout,
    size_t max_response_bytes = 8 << 20);

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_HTTP_PLAIN_HTTP_CLIENT_H_
