#include "targets/verifier/testing/verifier_testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "boost/asio/as_tuple.hpp"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/detached.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "core/crypto/p256_signature.h"
#include "core/crypto/primitives.h"
#include "core/encoding/base64url.h"
#include "core/jwt/enrollment_proof.h"
#include "core/jwt/public_key.h"

namespace cxsec::verifier::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

absl::StatusOr<TestCert> MakeTestCert(const std::string& dir) {
  TestCert cert{dir + "/cert.pem", dir + "/key.pem"};
  std::string command = absl::StrCat(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      "-keyout ", cert.key_file, " -out ", cert.cert_file,
      " -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 "
      ">/dev/null 2>&1");
  if (std::system(command.c_str()) != 0) {
    return absl::InternalError("openssl req failed");
  }
  chmod(cert.key_file.c_str(), 0600);
  return cert;
}

namespace {
using Stream = beast::ssl_stream<beast::tcp_stream>;

absl::Status Connect(asio::io_context& io, asio::ssl::context& ctx, Stream& stream,
                     uint16_t port, const std::string& ca_file) {
  boost::system::error_code ec;
  (void)io;
  ctx.load_verify_file(ca_file, ec);
  if (ec) return absl::InternalError("load CA");
  ctx.set_verify_mode(asio::ssl::verify_peer);
  stream.next_layer().connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return absl::UnavailableError(absl::StrCat("connect: ", ec.message()));
  // Blocking calls ignore Beast's timers: bound every read and write with
  // socket timeouts so a silent server fails the test instead of hanging it.
  struct timeval tv{15, 0};
  int fd = stream.next_layer().socket().native_handle();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  SSL_set1_host(stream.native_handle(), "127.0.0.1");
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("handshake: ", ec.message()));
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<ClientResponse> HttpsRequest(
    uint16_t port, const std::string& ca_file, const std::string& method,
    const std::string& target, const std::string& bearer, const std::string& body,
    const std::string& content_type) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  Stream stream(io, ctx);
  absl::Status connected = Connect(io, ctx, stream, port, ca_file);
  if (!connected.ok()) return connected;
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, "127.0.0.1");
  if (!bearer.empty()) request.set(http::field::authorization, "Bearer " + bearer);
  if (!body.empty() || method == "POST" || method == "PUT") {
    request.set(http::field::content_type, content_type);
    request.body() = body;
  }
  request.keep_alive(false);
  request.prepare_payload();
  boost::system::error_code ec;
  http::write(stream, request, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("write: ", ec.message()));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("read: ", ec.message()));
  return ClientResponse{response.result_int(), response.body(),
                        std::string(response[http::field::connection])};
}

absl::StatusOr<ClientResponse> HttpsRequestWithClientCert(
    uint16_t port, const std::string& ca_file, const std::string& client_cert,
    const std::string& client_key, const std::string& target) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  if (!client_cert.empty()) {
    ctx.use_certificate_chain_file(client_cert, ec);
    if (!ec) ctx.use_private_key_file(client_key, asio::ssl::context::pem, ec);
    if (ec) return absl::InternalError("cannot load the client certificate");
  }
  Stream stream(io, ctx);
  absl::Status connected = Connect(io, ctx, stream, port, ca_file);
  if (!connected.ok()) return connected;
  http::request<http::string_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.keep_alive(false);
  http::write(stream, request, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("write: ", ec.message()));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("read: ", ec.message()));
  return ClientResponse{response.result_int(), response.body(), ""};
}

absl::StatusOr<std::string> HttpsRaw(uint16_t port, const std::string& ca_file,
                                     const std::string& bytes, int read_timeout_s) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  Stream stream(io, ctx);
  absl::Status connected = Connect(io, ctx, stream, port, ca_file);
  if (!connected.ok()) return connected;
  boost::system::error_code ec;
  asio::write(stream, asio::buffer(bytes), ec);
  if (ec) return absl::UnavailableError("write");
  // A socket-level receive timeout bounds the read if the server never closes.
  struct timeval tv{read_timeout_s, 0};
  setsockopt(stream.next_layer().socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO,
             &tv, sizeof(tv));
  std::string out;
  char chunk[4096];
  for (int i = 0; i < 1000; ++i) {
    size_t n = stream.read_some(asio::buffer(chunk), ec);
    out.append(chunk, n);
    if (ec) break;
  }
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    return absl::DeadlineExceededError("server kept the connection open");
  }
  return out;
}

GatewaySigner::GatewaySigner() {
  key_ = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  EC_KEY_generate_key(key_);
}

GatewaySigner::~GatewaySigner() { EC_KEY_free(key_); }

std::string GatewaySigner::PublicKeyPem() const {
  EVP_PKEY* pkey = EVP_PKEY_new();
  EVP_PKEY_set1_EC_KEY(pkey, key_);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, pkey);
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio, &data, &len);
  std::string pem(reinterpret_cast<const char*>(data), len);
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  return pem;
}

std::string GatewaySigner::Sign(const nlohmann::json& header,
                                const nlohmann::json& claims) const {
  std::string input =
      absl::StrCat(Base64UrlEncode(header.dump()), ".", Base64UrlEncode(claims.dump()));
  Sha256Digest digest = Sha256(AsBytes(input));
  ECDSA_SIG* sig = ECDSA_do_sign(digest.data(), digest.size(), key_);
  uint8_t raw[64];
  BN_bn2bin_padded(raw, 32, ECDSA_SIG_get0_r(sig));
  BN_bn2bin_padded(raw + 32, 32, ECDSA_SIG_get0_s(sig));
  ECDSA_SIG_free(sig);
  NormalizeP256SignatureToLowS(raw);  // the verifier refuses high S
  return absl::StrCat(input, ".", Base64UrlEncode(ByteView(raw, 64)));
}

std::string GatewaySigner::Token(const std::string& gateway,
                                 const std::string& project) const {
  int64_t now = absl::ToUnixSeconds(absl::Now());
  return Sign({{"alg", "ES256"}, {"typ", "JWT"}},
              {{"sub", gateway}, {"aud", project}, {"iat", now}, {"exp", now + 3600}});
}

std::string GatewaySigner::Thumbprint() const {
  absl::StatusOr<JwtPublicKey> key = JwtPublicKey::FromSpkiPem(PublicKeyPem());
  return key.ok() ? key->Thumbprint() : std::string();
}

nlohmann::json GatewaySigner::EnrollmentClaims(const std::string& gateway,
                                               const std::string& nonce) const {
  int64_t now = absl::ToUnixSeconds(absl::Now());
  return {{"aud", std::string(kEnrollmentProofAudience)},
          {"sub", gateway},
          {"nonce", nonce},
          {"jkt", Thumbprint()},
          {"iat", now},
          {"exp", now + 300}};
}

std::string GatewaySigner::EnrollmentProof(const std::string& gateway,
                                           const std::string& nonce) const {
  return Sign({{"alg", "ES256"}, {"typ", "JWT"}, {"kid", Thumbprint()}},
              EnrollmentClaims(gateway, nonce));
}

absl::StatusOr<ClientResponse> EnrollGatewayKey(uint16_t port,
                                                const std::string& ca_file,
                                                const std::string& bearer,
                                                const std::string& gateway,
                                                const GatewaySigner& signer,
                                                const nlohmann::json& extra) {
  absl::StatusOr<ClientResponse> challenge = HttpsRequest(
      port, ca_file, "POST",
      "/v1/gateways/" + gateway + "/enrollment-challenge", bearer, "{}");
  if (!challenge.ok()) return challenge.status();
  nlohmann::json answer =
      nlohmann::json::parse(challenge->body, nullptr, false);
  if (challenge->status != 201 || !answer.is_object() ||
      !answer.contains("nonce") || !answer["nonce"].is_string()) {
    return absl::FailedPreconditionError(
        absl::StrCat("enrollment-challenge answered ", challenge->status, ": ",
                     challenge->body));
  }
  nlohmann::json body = extra;
  body["publicKeyPem"] = signer.PublicKeyPem();
  body["proof"] =
      signer.EnrollmentProof(gateway, answer["nonce"].get<std::string>());
  return HttpsRequest(port, ca_file, "POST",
                      "/v1/gateways/" + gateway + "/keys", bearer, body.dump());
}

absl::StatusOr<std::unique_ptr<VerifierInstance>> StartVerifier(
    std::unique_ptr<KvStore> store, const std::string& log_path, const TestCert& cert,
    HttpsServerOptions options) {
  auto v = std::make_unique<VerifierInstance>();
  v->store = std::move(store);
  v->registry = std::make_unique<Registry>(v->store.get(), &SystemClock::Default());
  v->iam = std::make_unique<Iam>(v->store.get(), v->registry.get());
  absl::StatusOr<std::optional<std::string>> admin = v->iam->BootstrapAdmin();
  if (!admin.ok()) return admin.status();
  if (admin->has_value()) v->admin_key = **admin;
  v->tokens = std::make_unique<RegistryGatewayTokenVerifier>(v->registry.get(),
                                                             &SystemClock::Default());
  absl::StatusOr<std::unique_ptr<TelemetryLog>> log = TelemetryLog::Open(log_path);
  if (!log.ok()) return log.status();
  v->log = std::move(*log);
  v->service = std::make_unique<VerifierService>(v->registry.get(), v->iam.get(),
                                                 v->tokens.get(), v->log.get(),
                                                 &SystemClock::Default());
  options.listen_port = 0;
  options.cert_chain_file = cert.cert_file;
  options.private_key_file = cert.key_file;
  VerifierService* service = v->service.get();
  absl::StatusOr<std::unique_ptr<HttpsServer>> server = HttpsServer::Create(
      options, [service](const HttpRequest& r, HttpResponder respond) {
        service->Handle(r, std::move(respond));
      });
  if (!server.ok()) return server.status();
  v->server = std::move(*server);
  v->server->Start();
  return v;
}

uint16_t FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace cxsec::verifier::testing
