// Test support for the verifier: a throwaway TLS certificate made with the
// openssl CLI (a separate process, so no OpenSSL 3 in ours), an HTTPS
// client on Beast + BoringSSL that trusts only that certificate, a gateway
// key that signs ES256 JWTs, and a whole in-process verifier instance.
#ifndef CXSEC_TARGETS_VERIFIER_TESTING_VERIFIER_TESTING_H_
#define CXSEC_TARGETS_VERIFIER_TESTING_VERIFIER_TESTING_H_

#include <openssl/ec_key.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "targets/verifier/http/https_server.h"
#include "targets/verifier/iam/iam.h"
#include "targets/verifier/registry/kv_store.h"
#include "targets/verifier/registry/registry.h"
#include "targets/verifier/service/verifier_service.h"
#include "targets/verifier/sinks/telemetry_log.h"

namespace cxsec::verifier::testing {

struct TestCert {
  std::string cert_file;
  std::string key_file;
};
// Writes cert.pem/key.pem (P-256, CN=localhost, SAN 127.0.0.1) into `dir`.
absl::StatusOr<TestCert> MakeTestCert(const std::string& dir);

struct ClientResponse {
  unsigned status = 0;
  std::string body;
  std::string header_connection;
};

// One request per call on a fresh TLS connection that verifies the server
// against `ca_file`.
absl::StatusOr<ClientResponse> HttpsRequest(
    uint16_t port, const std::string& ca_file, const std::string& method,
    const std::string& target, const std::string& bearer,
    const std::string& body, const std::string& content_type = "application/json");

// HttpsRequest presenting a client certificate (PEM files; empty = none).
absl::StatusOr<ClientResponse> HttpsRequestWithClientCert(
    uint16_t port, const std::string& ca_file, const std::string& client_cert,
    const std::string& client_key, const std::string& target);

// Sends raw bytes over TLS and returns whatever the server answers before
// closing (for malformed requests and slow clients).
absl::StatusOr<std::string> HttpsRaw(uint16_t port, const std::string& ca_file,
                                     const std::string& bytes, int read_timeout_s);

class GatewaySigner {
 public:
  GatewaySigner();
  ~GatewaySigner();
  std::string PublicKeyPem() const;
  std::string Sign(const nlohmann::json& header, const nlohmann::json& claims) const;
  // A normal token: ES256, sub = gateway, aud = project, exp = now + 1h.
  std::string Token(const std::string& gateway, const std::string& project) const;
  // RFC 7638 thumbprint of the public key (the kid, and a proof's jkt).
  std::string Thumbprint() const;
  // The claims of a good enrolment proof of this key for `gateway` over
  // `nonce` (aud, sub, nonce, jkt, iat = now, exp = now + 5 min); tests
  // spoil one and sign the rest with Sign.
  nlohmann::json EnrollmentClaims(const std::string& gateway,
                                  const std::string& nonce) const;
  // A good enrolment proof: Sign(ES256 header, EnrollmentClaims(...)).
  std::string EnrollmentProof(const std::string& gateway,
                              const std::string& nonce) const;

 private:
  EC_KEY* key_;
};

// EnrollGatewayKey registers `signer`'s key on `gateway` the way a client
// must: POST .../enrollment-challenge, sign the proof with the key, POST
// .../keys with it. `extra` members are added to the key-add body (e.g.
// expiresAt). Returns the key-add answer; a failed challenge request is an
// error naming its status and body.
absl::StatusOr<ClientResponse> EnrollGatewayKey(
    uint16_t port, const std::string& ca_file, const std::string& bearer,
    const std::string& gateway, const GatewaySigner& signer,
    const nlohmann::json& extra = nlohmann::json::object());

// A full verifier wired over a given KvStore, on a free loopback port.
struct VerifierInstance {
  std::unique_ptr<KvStore> store;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<Iam> iam;
  std::unique_ptr<GatewayTokenVerifier> tokens;
  std::unique_ptr<TelemetryLog> log;
  std::unique_ptr<VerifierService> service;
  std::unique_ptr<HttpsServer> server;
  std::string admin_key;  // empty if the store already had principals
  uint16_t port() const { return server->port(); }
};
absl::StatusOr<std::unique_ptr<VerifierInstance>> StartVerifier(
    std::unique_ptr<KvStore> store, const std::string& log_path,
    const TestCert& cert, HttpsServerOptions options = {});

// FreeLoopbackPort returns a TCP port on 127.0.0.1 that was free a moment
// ago, for processes a test starts (etcd, the verifier binary).
uint16_t FreeLoopbackPort();

}  // namespace cxsec::verifier::testing

#endif  // CXSEC_TARGETS_VERIFIER_TESTING_VERIFIER_TESTING_H_
