#include "transports/uplink/testing/https_test_server.h"

#include "core/encoding/base64url.h"

#include <exception>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/detached.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "core/encoding/base64url.h"
#include "nlohmann/json.hpp"
#include "transports/uplink/telemetry_wire.h"

namespace cxsec::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

}  // namespace

struct HttpsTestServer::Impl {
  HttpsTestServerOptions options;
  asio::ssl::context tls{asio::ssl::context::tls_server};
  uint16_t port = 0;

  std::unique_ptr<asio::io_context> io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread thread;

  mutable absl::Mutex mutex;
  int failure_status ABSL_GUARDED_BY(mutex) = 0;
  absl::Duration delay ABSL_GUARDED_BY(mutex);
  int reject_marker ABSL_GUARDED_BY(mutex) = -1;
  std::string reject_reason ABSL_GUARDED_BY(mutex) = "test rejection";
  int poison_marker ABSL_GUARDED_BY(mutex) = -1;
  int status_marker ABSL_GUARDED_BY(mutex) = -1;
  std::string marker_status ABSL_GUARDED_BY(mutex);
  int receipt_marker ABSL_GUARDED_BY(mutex) = -1;
  Counters counters ABSL_GUARDED_BY(mutex);
  std::set<std::string> stored ABSL_GUARDED_BY(mutex);

  http::response<http::string_body> Handle(
      const http::request<http::string_body>& request) {
    http::response<http::string_body> response;
    response.version(11);
    response.keep_alive(request.keep_alive());
    response.set(http::field::content_type, "application/json");
    absl::MutexLock lock(&mutex);
    ++counters.requests;
    auto answer = [&](http::status status, std::string body) {
      response.result(status);
      response.body() = std::move(body);
      response.prepare_payload();
      return response;
    };
    if (request.method() != http::verb::post ||
        request.target() != "/v1/telemetry") {
      return answer(http::status::not_found, "{\"error\":\"not found\"}");
    }
    if (request[http::field::authorization] !=
        absl::StrCat("Bearer ", options.expected_bearer)) {
      ++counters.unauthorized;
      return answer(http::status::unauthorized, "{\"error\":\"token\"}");
    }
    if (failure_status != 0) {
      return answer(static_cast<http::status>(failure_status),
                    "{\"error\":\"injected failure\"}");
    }
    absl::StatusOr<std::vector<TelemetryWireMessage>> entries =
        DecodeTelemetryBatch(request.body());
    if (!entries.ok()) {
      return answer(http::status::bad_request,
                    absl::StrCat("{\"error\":\"bad batch\"}"));
    }
    std::vector<VerifiedMessage> batch;
    for (const TelemetryWireMessage& entry : *entries) {
      absl::StatusOr<VerifiedMessage> m = ToVerifiedMessage(entry);
      if (!m.ok()) {
        return answer(http::status::bad_request,
                      absl::StrCat("{\"error\":\"bad payload\"}"));
      }
      batch.push_back(*std::move(m));
    }
    for (const VerifiedMessage& m : batch) {
      if (poison_marker >= 0 && !m.payload.empty() &&
          m.payload[0] == poison_marker) {
        ++counters.refused_batches;
        return answer(http::status::bad_request,
                      "{\"error\":\"malformed_batch\","
                      "\"message\":\"messages[0].payload: refused\"}");
      }
    }
    std::vector<TelemetryResult> results;
    std::vector<size_t> raw_status;  // results[] given marker_status
    for (const VerifiedMessage& m : batch) {
      ++counters.receipts;
      std::string key = absl::StrCat(m.device_id, "/", m.message_id);
      TelemetryResult r{m.device_id, m.message_id, TelemetryVerdict::kAccepted,
                        ""};
      if (status_marker >= 0 && !m.payload.empty() &&
          m.payload[0] == status_marker) {
        raw_status.push_back(results.size());
      } else if (stored.count(key) != 0) {
        ++counters.duplicate_receipts;
        r.verdict = TelemetryVerdict::kDuplicate;
      } else if (reject_marker >= 0 && !m.payload.empty() &&
                 m.payload[0] == reject_marker) {
        ++counters.rejected;
        r.verdict = TelemetryVerdict::kRejected;
        r.reason = reject_reason;
      } else {
        stored.insert(key);
        ++counters.stored;
      }
      if (receipt_marker >= 0 && !m.payload.empty() &&
          m.payload[0] == receipt_marker &&
          (r.verdict == TelemetryVerdict::kAccepted ||
           r.verdict == TelemetryVerdict::kDuplicate)) {
        r.receipt = Base64UrlEncode(ByteView(m.payload));
      }
      results.push_back(std::move(r));
    }
    std::string body = EncodeTelemetryResults(results);
    if (!raw_status.empty()) {
      nlohmann::json json = nlohmann::json::parse(body);
      for (size_t i : raw_status) json["results"][i]["status"] = marker_status;
      body = json.dump();
    }
    return answer(http::status::ok, std::move(body));
  }

  asio::awaitable<void> Session(tcp::socket socket) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), tls);
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::use_awaitable);
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(8 << 20);
      co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
      absl::Duration wait;
      {
        absl::MutexLock lock(&mutex);
        wait = delay;
      }
      if (wait > absl::ZeroDuration()) {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(absl::ToChronoNanoseconds(wait));
        co_await timer.async_wait(asio::use_awaitable);
      }
      http::response<http::string_body> response = Handle(parser.get());
      bool keep_alive = response.keep_alive();
      co_await http::async_write(stream, response, asio::use_awaitable);
      if (!keep_alive) break;
    }
  }

  asio::awaitable<void> AcceptLoop() {
    for (;;) {
      tcp::socket socket = co_await acceptor->async_accept(asio::use_awaitable);
      asio::co_spawn(*io, Session(std::move(socket)), asio::detached);
    }
  }

  absl::Status Listen() {
    io = std::make_unique<asio::io_context>();
    acceptor = std::make_unique<tcp::acceptor>(*io);
    boost::system::error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("test server: cannot listen: ", ec.message()));
    }
    port = acceptor->local_endpoint().port();
    asio::co_spawn(*io, AcceptLoop(), asio::detached);
    thread = std::thread([this] { io->run(); });
    return absl::OkStatus();
  }

  void Shutdown() {
    if (!io) return;
    io->stop();
    thread.join();
    acceptor.reset();
    io.reset();  // destroys suspended sessions, closing their sockets
  }
};

HttpsTestServer::HttpsTestServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

HttpsTestServer::~HttpsTestServer() { impl_->Shutdown(); }

absl::StatusOr<std::unique_ptr<HttpsTestServer>> HttpsTestServer::Start(
    const HttpsTestServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->port = options.port;
  boost::system::error_code ec;
  impl->tls.use_certificate_chain_file(options.cert_path, ec);
  if (!ec) {
    impl->tls.use_private_key_file(options.key_path, asio::ssl::context::pem,
                                   ec);
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("test server: certificate or key: ", ec.message()));
  }
  absl::Status status = impl->Listen();
  if (!status.ok()) return status;
  return std::unique_ptr<HttpsTestServer>(new HttpsTestServer(std::move(impl)));
}

uint16_t HttpsTestServer::port() const { return impl_->port; }

void HttpsTestServer::GoDown() { impl_->Shutdown(); }

absl::Status HttpsTestServer::ComeBack() {
  if (impl_->io) return absl::OkStatus();
  return impl_->Listen();
}

void HttpsTestServer::SetFailureStatus(int http_status) {
  absl::MutexLock lock(&impl_->mutex);
  impl_->failure_status = http_status;
}

void HttpsTestServer::SetDelay(absl::Duration delay) {
  absl::MutexLock lock(&impl_->mutex);
  impl_->delay = delay;
}

void HttpsTestServer::SetRejectMarker(int marker, std::string reason) {
  absl::MutexLock lock(&impl_->mutex);
  impl_->reject_marker = marker;
  impl_->reject_reason = std::move(reason);
}

void HttpsTestServer::SetPoisonMarker(int marker) {
  absl::MutexLock lock(&impl_->mutex);
  impl_->poison_marker = marker;
}

void HttpsTestServer::SetReceiptMarker(int marker) {
  absl::MutexLock lock(&impl_->mutex);
  impl_->receipt_marker = marker;
}

void HttpsTestServer::SetStatusMarker(int marker, std::string status) {
  absl::MutexLock lock(&impl_->mutex);
  impl_->status_marker = marker;
  impl_->marker_status = std::move(status);
}

HttpsTestServer::Counters HttpsTestServer::counters() const {
  absl::MutexLock lock(&impl_->mutex);
  return impl_->counters;
}

std::set<std::string> HttpsTestServer::StoredKeys() const {
  absl::MutexLock lock(&impl_->mutex);
  return impl_->stored;
}

}  // namespace cxsec::testing
