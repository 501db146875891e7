// The verifier's HTTPS front end: Boost.Beast/Asio over BoringSSL. It owns
// TLS (1.2+, certificate and key from files, optional client certificates),
// HTTP/1.1 keep-alive, per-request size and time limits, and a graceful
// shutdown that stops accepting and drains requests already in flight.
// Everything above HTTP (routing, auth, storage) is the handler's job.
#ifndef CXSEC_TARGETS_VERIFIER_HTTP_HTTPS_SERVER_H_
#define CXSEC_TARGETS_VERIFIER_HTTP_HTTPS_SERVER_H_

#include <openssl/base.h>
#if !defined(OPENSSL_IS_BORINGSSL)
#error "cxsec's HTTPS server must be built against BoringSSL"
#endif

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "boost/beast/http.hpp"

namespace cxsec::verifier {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse =
    boost::beast::http::response<boost::beast::http::string_body>;

// The handler runs on a server thread and answers through `respond`, now or
// later from any thread (e.g. once a group commit's fdatasync is done), so
// server threads never wait on the disk. `request` stays valid until
// `respond` is called, which must happen exactly once. The responder may be
// kept, called or destroyed on any thread, even after the HttpsServer is
// destroyed: it keeps the server's I/O state alive for as long as it lives,
// and an answer given after Shutdown is dropped.
using HttpResponder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(const HttpRequest& request, HttpResponder respond)>;

struct HttpsServerOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8443;  // 0 picks a free port (see port()).
  std::string cert_chain_file;  // PEM
  std::string private_key_file;  // PEM, must be mode 0600 or stricter
  // When set, clients must present a certificate chaining to this CA.
  std::string client_ca_file;
  size_t max_header_bytes = 8 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  // The whole of one request (headers and body) must arrive within this;
  // it also bounds idle keep-alive connections and the TLS handshake.
  absl::Duration request_timeout = absl::Seconds(10);
  size_t max_connections = 1024;
  int threads = 2;
};

class HttpsServer {
 public:
  // Create loads the certificate and key and binds the listening socket.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HttpsServer>> Create(
      HttpsServerOptions options, HttpHandler handler);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  void Start();
  uint16_t port() const;
  // Shutdown stops accepting, lets in-flight requests finish (their
  // responses say "Connection: close"), and waits up to `drain` for them.
  void Shutdown(absl::Duration drain = absl::Seconds(10));
  // Active connections right now (for /metrics and tests).
  size_t active_connections() const;

  struct State;

 private:
  explicit HttpsServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

// JsonError builds the uniform 4xx/5xx body: {"error": code, "message": ...}.
HttpResponse JsonError(const HttpRequest& request, unsigned status,
                       absl::string_view code, absl::string_view message);
HttpResponse JsonResponse(const HttpRequest& request, unsigned status,
                          std::string body);

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_HTTP_HTTPS_SERVER_H_
