// A minimal blocking HTTP/1.1 client over plain TCP (Boost.Beast), used to
// reach etcd's JSON gateway and webhook receivers on trusted networks.
// libcurl is not an option: it loads OpenSSL 3, which clashes with
// BoringSSL in the same process (docs/BUILDING.md).
#ifndef CXSEC_TARGETS_VERIFIER_HTTP_PLAIN_HTTP_CLIENT_H_
#define CXSEC_TARGETS_VERIFIER_HTTP_PLAIN_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
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

// PlainHttpStream: one POST whose answer body streams without end (etcd's
// watch), over plain TCP; the counterpart of HttpsClient::PostStream.
class PlainHttpStream {
 public:
  PlainHttpStream();
  ~PlainHttpStream();
  PlainHttpStream(const PlainHttpStream&) = delete;
  PlainHttpStream& operator=(const PlainHttpStream&) = delete;

  // Post connects (within `connect_timeout`), sends the request and hands
  // the answer's body to `on_body` as it arrives. OK when the server ends
  // the body or `on_body` returns false; DeadlineExceeded when no byte
  // arrives for `idle_timeout`; Cancelled after Cancel; Unavailable for a
  // status other than 200 or a network error. One caller at a time.
  [[nodiscard]] absl::Status Post(
      const HttpEndpoint& endpoint, absl::string_view target,
      const std::vector<std::pair<std::string, std::string>>& headers,
      absl::string_view body, absl::Duration connect_timeout,
      absl::Duration idle_timeout,
      const std::function<bool(absl::string_view)>& on_body);
  // Cancel ends a running Post and makes later ones return Cancelled at
  // once. Safe from any thread.
  void Cancel();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_HTTP_PLAIN_HTTP_CLIENT_H_
