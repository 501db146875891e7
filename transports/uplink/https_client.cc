#include "transports/uplink/https_client.h"

#include <openssl/base.h>
#include <openssl/base64.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "cxsec's HTTPS uplink must be built against BoringSSL, not OpenSSL"
#endif

#include <atomic>
#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/address.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "core/crypto/primitives.h"

namespace cxsec {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// Errors raised inside the coroutine carry a ready absl::Status.
struct StatusError {
  absl::Status status;
};

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

std::string SpkiPin(X509* certificate) {
  uint8_t* der = nullptr;
  int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &der);
  if (length <= 0) return "";
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<size_t>(length), digest);
  OPENSSL_free(der);
  uint8_t text[64];
  size_t written = EVP_EncodeBlock(text, digest, sizeof(digest));
  return std::string(reinterpret_cast<char*>(text), written);
}

}  // namespace

absl::StatusOr<int> CountPemCertificates(absl::string_view pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  if (!bio) return absl::ResourceExhaustedError("out of memory");
  int count = 0;
  while (true) {
    bssl::UniquePtr<X509> certificate(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!certificate) break;
    ++count;
  }
  uint32_t error = ERR_peek_last_error();
  bool clean_end = ERR_GET_LIB(error) == ERR_LIB_PEM &&
                   ERR_GET_REASON(error) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  if (!clean_end && error != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA bundle: malformed PEM after certificate ", count));
  }
  if (count == 0) {
    return absl::InvalidArgumentError("CA bundle holds no certificate");
  }
  return count;
}

struct HttpsClient::Impl {
  HttpsClientOptions options;
  HttpsUrl url;
  asio::io_context io;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  std::atomic<bool> cancelled{false};

  absl::Status Configure() {
    tls.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                    asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    tls.set_verify_mode(asio::ssl::verify_peer);
    absl::StatusOr<int> count = CountPemCertificates(options.ca_bundle_pem);
    if (!count.ok()) return count.status();
    boost::system::error_code ec;
    tls.add_certificate_authority(
        asio::buffer(options.ca_bundle_pem.data(), options.ca_bundle_pem.size()),
        ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("CA bundle: ", ec.message()));
    }
    if (options.client_certificate_pem.empty() !=
        options.client_private_key_pem.empty()) {
      return absl::InvalidArgumentError(
          "a client certificate needs its private key, and a key its "
          "certificate");
    }
    if (!options.client_certificate_pem.empty()) {
      absl::Status loaded = LoadClientCertificate();
      // The key now lives in the TLS context only; no second copy stays
      // in this object's memory.
      OPENSSL_cleanse(options.client_private_key_pem.data(),
                      options.client_private_key_pem.size());
      options.client_private_key_pem.clear();
      if (!loaded.ok()) return loaded;
    }
    return absl::OkStatus();
  }

  absl::Status LoadClientCertificate() {
    boost::system::error_code ec;
    tls.use_certificate_chain(
        asio::buffer(options.client_certificate_pem.data(),
                     options.client_certificate_pem.size()),
        ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("client certificate: ", ec.message()));
    }
    tls.use_private_key(asio::buffer(options.client_private_key_pem.data(),
                                     options.client_private_key_pem.size()),
                        asio::ssl::context::pem, ec);
    ERR_clear_error();
    // The key's bytes never go into a message, only that it is unusable.
    if (ec) {
      return absl::InvalidArgumentError(
          "client private key: not a PEM private key");
    }
    if (SSL_CTX_check_private_key(tls.native_handle()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          "client private key does not match the client certificate");
    }
    return absl::OkStatus();
  }

  // VerificationFailure explains why the handshake failed, naming the
  // X.509 reason (unknown CA, host mismatch, expired, ...).
  absl::Status HandshakeFailure(const boost::system::error_code& ec) {
    long result = SSL_get_verify_result(stream->native_handle());
    if (result != X509_V_OK) {
      return absl::UnauthenticatedError(absl::StrCat(
          options.peer_name, " ", url.host, ":", url.port,
          " presented a certificate ",
          "that was rejected: ", X509_verify_cert_error_string(result)));
    }
    return absl::UnavailableError(absl::StrCat(
        "TLS handshake with ", url.host, ":", url.port, " failed: ",
        ec.message()));
  }

  asio::awaitable<void> Connect() {
    stream.reset();
    stream.emplace(io, tls);
    SSL* ssl = stream->native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (url.host_is_address) {
      if (!X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str())) {
        throw StatusError{absl::InternalError("cannot set the expected IP")};
      }
    } else {
      if (!X509_VERIFY_PARAM_set1_host(param, url.host.data(),
                                       url.host.size()) ||
          !SSL_set_tlsext_host_name(ssl, url.host.c_str())) {
        throw StatusError{absl::InternalError("cannot set the expected host")};
      }
    }
    tcp::resolver resolver(io);
    auto& socket = beast::get_lowest_layer(*stream);
    socket.expires_after(ToChrono(options.timeout));
    boost::system::error_code ec;
    auto endpoints = co_await resolver.async_resolve(
        url.host, std::to_string(url.port),
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      throw StatusError{absl::UnavailableError(
          absl::StrCat("cannot resolve ", url.host, ": ", ec.message()))};
    }
    co_await socket.async_connect(endpoints,
                                  asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      throw StatusError{absl::UnavailableError(absl::StrCat(
          "cannot connect to ", url.host, ":", url.port, ": ", ec.message()))};
    }
    // A batch's last TLS record is a small segment: with Nagle it waits
    // for the ACK of the one before, which the verifier delays by 40 ms.
    // That wait, twice per batch, paced the whole uplink (tools/bench/e2e.sh).
    socket.socket().set_option(asio::ip::tcp::no_delay(true), ec);
    socket.expires_after(ToChrono(options.timeout));
    co_await stream->async_handshake(
        asio::ssl::stream_base::client,
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw StatusError{HandshakeFailure(ec)};
    if (!options.spki_pins.empty()) {
      bssl::UniquePtr<X509> leaf(SSL_get_peer_certificate(ssl));
      std::string pin = leaf ? SpkiPin(leaf.get()) : "";
      bool matched = false;
      for (const std::string& expected : options.spki_pins) {
        matched |= !pin.empty() && expected.size() == pin.size() &&
                   ConstantTimeEquals(AsBytes(expected), AsBytes(pin));
      }
      if (!matched) {
        throw StatusError{absl::UnauthenticatedError(absl::StrCat(
            options.peer_name, " ", url.host, ":", url.port,
            " presented a valid certificate whose public key matches no "
            "configured SPKI pin"))};
      }
    }
  }

  asio::awaitable<void> Exchange(const http::request<http::string_body>& request,
                                 HttpsResponse* response, bool* reused) {
    *reused = stream.has_value();
    if (!stream) co_await Connect();
    auto& socket = beast::get_lowest_layer(*stream);
    socket.expires_after(ToChrono(options.timeout));
    boost::system::error_code ec;
    co_await http::async_write(*stream, request,
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      throw StatusError{absl::UnavailableError(absl::StrCat(
          "sending to the ", options.peer_name, " failed: ", ec.message()))};
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_response_bytes);
    co_await http::async_read(*stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      throw StatusError{absl::UnavailableError(
          absl::StrCat("reading the ", options.peer_name,
                       "'s answer failed: ", ec.message()))};
    }
    response->status = static_cast<int>(parser.get().result_int());
    response->body = std::move(parser.get().body());
    if (!parser.get().keep_alive()) stream.reset();
  }

  // StreamExchange: one request on a fresh connection whose answer's body
  // is handed on as it arrives, each read bounded by `idle_timeout`.
  asio::awaitable<void> StreamExchange(
      const http::request<http::string_body>& request,
      absl::Duration idle_timeout,
      const std::function<bool(absl::string_view)>& on_body) {
    stream.reset();
    co_await Connect();
    auto& socket = beast::get_lowest_layer(*stream);
    boost::system::error_code ec;
    auto check = [&](const char* what) {
      if (cancelled.load()) {
        throw StatusError{absl::CancelledError("HTTPS stream cancelled")};
      }
      if (ec == beast::error::timeout) {
        throw StatusError{absl::DeadlineExceededError(
            absl::StrCat(options.peer_name, " sent nothing for ",
                         absl::FormatDuration(idle_timeout), " (", what, ")"))};
      }
      if (ec) {
        throw StatusError{absl::UnavailableError(
            absl::StrCat(what, " on the ", options.peer_name,
                         " stream failed: ", ec.message()))};
      }
    };
    check("connect");
    socket.expires_after(ToChrono(options.timeout));
    co_await http::async_write(*stream, request,
                               asio::redirect_error(asio::use_awaitable, ec));
    check("sending");
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);  // a watch streams without end
    socket.expires_after(ToChrono(idle_timeout));
    co_await http::async_read_header(
        *stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    check("reading the header");
    if (parser.get().result_int() != 200) {
      throw StatusError{absl::UnavailableError(
          absl::StrCat(options.peer_name, " answered HTTP ",
                       parser.get().result_int(), " to a stream request"))};
    }
    char chunk[16384];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof(chunk);
      socket.expires_after(ToChrono(idle_timeout));
      co_await http::async_read_some(
          *stream, buffer, parser,
          asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      check("reading");
      size_t n = sizeof(chunk) - parser.get().body().size;
      if (n > 0 && !on_body(absl::string_view(chunk, n))) break;
    }
    stream.reset();
  }

  // RunExchange runs one request to completion on this thread's io_context.
  absl::Status RunExchange(const http::request<http::string_body>& request,
                           HttpsResponse* response, bool* reused) {
    return Run(Exchange(request, response, reused));
  }

  absl::Status Run(asio::awaitable<void> exchange) {
    absl::Status status;
    io.restart();
    asio::co_spawn(io, std::move(exchange),
                   [&status](std::exception_ptr error) {
                     if (!error) return;
                     try {
                       std::rethrow_exception(error);
                     } catch (const StatusError& e) {
                       status = e.status;
                     } catch (const std::exception& e) {
                       status = absl::UnavailableError(
                           absl::StrCat("HTTPS exchange failed: ", e.what()));
                     }
                   });
    io.run();
    if (!status.ok()) stream.reset();
    return status;
  }
};

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::~HttpsClient() = default;

absl::StatusOr<std::unique_ptr<HttpsClient>> HttpsClient::Create(
    const HttpsClientOptions& options) {
  absl::StatusOr<HttpsUrl> url = ParseHttpsUrl(options.url);
  if (!url.ok()) return url.status();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->url = *url;
  absl::Status status = impl->Configure();
  if (!status.ok()) return status;
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

absl::StatusOr<HttpsResponse> HttpsClient::Post(absl::string_view path,
                                                absl::string_view bearer_token,
                                                absl::string_view content_type,
                                                const std::string& body) {
  return PostWithHeaders(
      path, content_type,
      {{"Authorization", absl::StrCat("Bearer ", bearer_token)}}, body);
}

namespace {
http::request<http::string_body> MakePost(
    const HttpsUrl& url, absl::string_view user_agent, absl::string_view path,
    absl::string_view content_type,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body) {
  std::string target = absl::StrCat(url.path, path);
  if (target.empty()) target = "/";
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host,
              url.host_is_address && url.host.find(':') != std::string::npos
                  ? absl::StrCat("[", url.host, "]:", url.port)
                  : absl::StrCat(url.host, ":", url.port));
  request.set(http::field::user_agent,
              std::string(user_agent.data(), user_agent.size()));
  request.set(http::field::content_type,
              std::string(content_type.data(), content_type.size()));
  for (const auto& [name, value] : headers) request.set(name, value);
  request.keep_alive(true);
  request.body() = body;
  request.prepare_payload();
  return request;
}
}  // namespace

absl::Status HttpsClient::PostStream(
    absl::string_view path, absl::string_view content_type,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body, absl::Duration idle_timeout,
    const std::function<bool(absl::string_view)>& on_body) {
  if (impl_->cancelled.load()) {
    return absl::CancelledError("HTTPS stream cancelled");
  }
  http::request<http::string_body> request = MakePost(
      impl_->url, impl_->options.user_agent, path, content_type, headers, body);
  absl::Status status =
      impl_->Run(impl_->StreamExchange(request, idle_timeout, on_body));
  impl_->stream.reset();
  if (impl_->cancelled.load()) {
    return absl::CancelledError("HTTPS stream cancelled");
  }
  return status;
}

void HttpsClient::Cancel() {
  impl_->cancelled.store(true);
  // Runs on the thread inside PostStream (or at its next start): only
  // that thread touches the stream.
  asio::post(impl_->io, [impl = impl_.get()] {
    if (impl->stream) beast::get_lowest_layer(*impl->stream).cancel();
  });
}

absl::StatusOr<HttpsResponse> HttpsClient::PostWithHeaders(
    absl::string_view path, absl::string_view content_type,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body) {
  http::request<http::string_body> request = MakePost(
      impl_->url, impl_->options.user_agent, path, content_type, headers, body);
  HttpsResponse response;
  bool reused = false;
  absl::Status status = impl_->RunExchange(request, &response, &reused);
  // A kept-alive connection the server has since closed fails on first
  // use; one fresh attempt is safe because message ids make the POST
  // idempotent at the verifier (and delivery ids at a webhook receiver).
  if (!status.ok() && reused && absl::IsUnavailable(status)) {
    status = impl_->RunExchange(request, &response, &reused);
  }
  if (!status.ok()) return status;
  return response;
}

void HttpsClient::Close() { impl_->stream.reset(); }

const HttpsUrl& HttpsClient::url() const { return impl_->url; }

}  // namespace cxsec
