// HttpsTestServer: an in-process stand-in for the cloud verifier's
// `POST /v1/telemetry` (Boost.Beast over BoringSSL on 127.0.0.1), for the
// uplink's tests and benchmark. Like the verifier it checks the bearer
// token and deduplicates by (deviceId, messageId); unlike it, it can be
// told to fail, delay, reject, or go down and come back on the same port.
#ifndef CXSEC_TRANSPORTS_UPLINK_TESTING_HTTPS_TEST_SERVER_H_
#define CXSEC_TRANSPORTS_UPLINK_TESTING_HTTPS_TEST_SERVER_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cxsec::testing {

struct HttpsTestServerOptions {
  std::string cert_path;  // PEM chain
  std::string key_path;   // PEM key
  std::string expected_bearer;
  uint16_t port = 0;  // 0: any free loopback port
};

class HttpsTestServer {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HttpsTestServer>> Start(
      const HttpsTestServerOptions& options);
  ~HttpsTestServer();

  uint16_t port() const;

  // GoDown closes the listener and every connection (clients then get
  // "connection refused"); ComeBack listens again on the same port.
  void GoDown();
  [[nodiscard]] absl::Status ComeBack();

  // SetFailureStatus makes every request answer `http_status` (0: normal).
  void SetFailureStatus(int http_status);
  // SetDelay delays every answer.
  void SetDelay(absl::Duration delay);
  // SetRejectMarker: messages whose payload starts with `marker` get the
  // verdict "rejected" (-1: none).
  void SetRejectMarker(int marker, std::string reason = "test rejection");
  // SetPoisonMarker: a batch holding a message whose payload starts with
  // `marker` is refused whole with 400, as the verifier refuses a batch
  // with one malformed entry (-1: none).
  void SetPoisonMarker(int marker);
  // SetStatusMarker: messages whose payload starts with `marker` get the
  // raw verdict `status` ("conflict", or a name no build knows), and are
  // not stored (-1: none).
  void SetStatusMarker(int marker, std::string status);
  // SetReceiptMarker: accepted or duplicate messages whose payload starts
  // with `marker` get "receipt": the base64url of their payload, as the
  // verifier answers a sealed DTLS reading with a seal receipt (-1: none).
  void SetReceiptMarker(int marker);

  // What the verifier stand-in has seen.
  struct Counters {
    int64_t requests = 0;
    int64_t unauthorized = 0;
    int64_t receipts = 0;          // messages received, duplicates included
    int64_t duplicate_receipts = 0;
    int64_t stored = 0;            // distinct messages accepted
    int64_t rejected = 0;
    int64_t refused_batches = 0;  // answered 400 (poison marker)
  };
  Counters counters() const;
  std::set<std::string> StoredKeys() const;  // "deviceId/messageId"

 private:
  struct Impl;
  explicit HttpsTestServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cxsec::testing

#endif  // CXSEC_TRANSPORTS_UPLINK_TESTING_HTTPS_TEST_SERVER_H_
