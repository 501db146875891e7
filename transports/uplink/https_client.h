// HttpsClient: one authenticated HTTPS connection from the gateway to the
// cloud verifier, on Boost.Beast/Asio over BoringSSL.
//
// What it trusts, and nothing else:
// - the server's chain must verify against the configured CA bundle only
//   (the system trust store is never loaded);
// - the certificate must name the URL's host (DNS SAN, or IP SAN for an
//   address), checked by BoringSSL during the handshake;
// - when SPKI pins are configured, the SHA-256 of the server certificate's
//   SubjectPublicKeyInfo must equal one of them (base64, like HPKP's
//   pin-sha256), checked before any request byte (and so before the bearer
//   token) is sent.
// Connections are kept alive between requests and re-opened on failure.
// Every network step has a deadline. The verifier's webhook sink reuses this
// client (PostWithHeaders) so that webhooks get the very same checks.
//
//   CXSEC_ASSIGN_OR_RETURN(auto client, HttpsClient::Create(options));
//   CXSEC_ASSIGN_OR_RETURN(HttpsResponse response,
//       client->Post("/v1/telemetry", token, "application/json", body));
#ifndef CXSEC_TRANSPORTS_UPLINK_HTTPS_CLIENT_H_
#define CXSEC_TRANSPORTS_UPLINK_HTTPS_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/uplink/https_url.h"

namespace cxsec {

// CountPemCertificates parses a PEM CA bundle and returns how many
// certificates it holds; an error if none or if a block is malformed.
[[nodiscard]] absl::StatusOr<int> CountPemCertificates(absl::string_view pem);

struct HttpsClientOptions {
  std::string url;            // https://host[:port][/prefix]
  std::string ca_bundle_pem;  // PEM text of the trusted CA certificates
  std::vector<std::string> spki_pins;  // base64 SHA-256 of SPKI; optional
  absl::Duration timeout = absl::Seconds(10);  // per connect / request
  size_t max_response_bytes = 1 << 20;
  std::string user_agent = "cxsec-gateway";
  // What the peer is called in error messages ("verifier", "webhook").
  std::string peer_name = "verifier";
  // A client certificate chain and its private key (PEM), presented when
  // the server asks for one (etcd with --client-cert-auth); both or
  // neither. Create loads the key into the TLS context and wipes its copy.
  std::string client_certificate_pem;
  std::string client_private_key_pem;
};

struct HttpsResponse {
  int status = 0;
  std::string body;
};

class HttpsClient {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HttpsClient>> Create(
      const HttpsClientOptions& options);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // Post sends `body` to the URL's path + `path` with
  // `Authorization: Bearer <bearer_token>` and returns the response (any
  // HTTP status). Errors: Unavailable (connect, timeout, connection lost),
  // Unauthenticated (certificate chain, host name or pin rejected).
  // Not thread-safe: one caller at a time.
  [[nodiscard]] absl::StatusOr<HttpsResponse> Post(
      absl::string_view path, absl::string_view bearer_token,
      absl::string_view content_type, const std::string& body);

  // PostWithHeaders sends `body` to the URL's path + `path` (or "/" when
  // both are empty) with `headers` (name, value) added and no
  // Authorization header; answers and errors as for Post. The same
  // connection reuse and single reconnect apply, so a caller must accept
  // that a request may reach the server twice.
  [[nodiscard]] absl::StatusOr<HttpsResponse> PostWithHeaders(
      absl::string_view path, absl::string_view content_type,
      const std::vector<std::pair<std::string, std::string>>& headers,
      const std::string& body);

  // PostStream sends `body` to the URL's path + `path` on a fresh
  // connection and hands the answer's body to `on_body` piece by piece as
  // it arrives, for answers that do not end (etcd's watch). It returns OK
  // when the server ends the body or `on_body` returns false;
  // DeadlineExceeded when no byte arrives for `idle_timeout` (a dead peer
  // or a black-holed connection gives no other sign); Cancelled after
  // Cancel; Unavailable for an HTTP status other than 200; otherwise
  // errors as for Post. Not thread-safe, except for Cancel.
  [[nodiscard]] absl::Status PostStream(
      absl::string_view path, absl::string_view content_type,
      const std::vector<std::pair<std::string, std::string>>& headers,
      const std::string& body, absl::Duration idle_timeout,
      const std::function<bool(absl::string_view)>& on_body);

  // Cancel ends a running PostStream, and makes every later one return
  // Cancelled at once. Safe to call from any thread.
  void Cancel();

  // Close drops the connection (the next Post reconnects).
  void Close();

  const HttpsUrl& url() const;

 private:
  struct Impl;
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cxsec

#endif  // CXSEC_TRANSPORTS_UPLINK_HTTPS_CLIENT_H_
