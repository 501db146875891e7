#include "targets/verifier/http/https_server.h"

#include <openssl/ssl.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "boost/asio/as_tuple.hpp"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/detached.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/ssl.hpp"
#include "nlohmann/json.hpp"
#include "platforms/posix/files.h"

namespace cxsec::verifier {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// A keep-alive connection is recycled after this many requests so one
// client cannot pin a connection (and its TLS session) forever.
constexpr int kMaxRequestsPerConnection = 100000;

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}
}  // namespace

// SessionHandle lets Shutdown close connections that sit idle between
// keep-alive requests; `busy` is only touched on the session's strand.
struct SessionHandle {
  asio::any_io_executor executor;
  beast::tcp_stream* tcp = nullptr;
  bool busy = false;
  // Set while the session waits for the handler's answer, so a final
  // shutdown can wake a session whose handler never answers.
  asio::steady_timer* awaiting_answer = nullptr;
};

struct HttpsServer::State {
  HttpsServerOptions options;
  HttpHandler handler;
  asio::io_context io{8};
  asio::ssl::context ssl{asio::ssl::context::tls_server};
  tcp::acceptor acceptor{io};
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable drained;
  std::set<std::shared_ptr<SessionHandle>> sessions;
};

HttpResponse JsonResponse(const HttpRequest& request, unsigned status,
                          std::string body) {
  HttpResponse response{static_cast<http::status>(status), request.version()};
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  response.body() = std::move(body);
  response.keep_alive(request.keep_alive());
  return response;
}

HttpResponse JsonError(const HttpRequest& request, unsigned status,
                       absl::string_view code, absl::string_view message) {
  nlohmann::json body = {{"error", std::string(code)},
                         {"message", std::string(message)}};
  // Callers pass UTF-8-safe excerpts (core/encoding/utf8.h); should any
  // invalid byte still get here, it is replaced rather than thrown on,
  // which the server would turn into a 500 without a reason.
  return JsonResponse(
      request, status,
      body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

namespace {

// The answer to one request, handed from whichever thread the handler
// answers on back to the session's strand.
struct PendingAnswer {
  explicit PendingAnswer(asio::any_io_executor executor)
      : wake(std::move(executor), std::chrono::steady_clock::time_point::max()) {}
  asio::steady_timer wake;  // cancelled when the answer is in
  std::optional<HttpResponse> response;
};

// The HttpResponder a handler gets. Handlers may keep it, and call or drop
// it on any thread at any time, including after the HttpsServer is gone
// (the telemetry log's flusher drops it after the client has its answer).
// Its PendingAnswer holds Asio objects of the server's io_context, so it
// also holds the server's State, which owns that io_context: `state_` is
// declared first so it is destroyed last, after every Asio object here.
class SessionResponder {
 public:
  SessionResponder(std::shared_ptr<HttpsServer::State> state,
                   std::shared_ptr<PendingAnswer> pending)
      : state_(std::move(state)), pending_(std::move(pending)) {}

  void operator()(HttpResponse response) const {
    // Once the server has stopped, nobody runs the io_context: the post is
    // queued and dropped with it.
    asio::post(pending_->wake.get_executor(),
               [pending = pending_, response = std::move(response)]() mutable {
                 pending->response = std::move(response);
                 pending->wake.cancel();
               });
  }

 private:
  std::shared_ptr<HttpsServer::State> state_;
  std::shared_ptr<PendingAnswer> pending_;
};

HttpResponse ErrorWithoutRequest(unsigned status, absl::string_view code,
                                 absl::string_view message) {
  HttpRequest dummy{http::verb::get, "/", 11};
  HttpResponse response = JsonError(dummy, status, code, message);
  response.keep_alive(false);
  return response;
}

asio::awaitable<void> RunSession(std::shared_ptr<HttpsServer::State> state,
                                 tcp::socket socket) {
  const HttpsServerOptions& options = state->options;
  beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), state->ssl);
  auto handle = std::make_shared<SessionHandle>();
  handle->executor = stream.get_executor();
  handle->tcp = &stream.next_layer();
  {
    std::lock_guard<std::mutex> lock(state->mu);
    if (state->sessions.size() >= options.max_connections ||
        state->stopping.load()) {
      co_return;  // closes the socket without a handshake
    }
    state->sessions.insert(handle);
  }
  struct Unregister {
    std::shared_ptr<HttpsServer::State> state;
    std::shared_ptr<SessionHandle> handle;
    ~Unregister() {
      std::lock_guard<std::mutex> lock(state->mu);
      handle->tcp = nullptr;
      state->sessions.erase(handle);
      state->drained.notify_all();
    }
  } unregister{state, handle};

  stream.next_layer().expires_after(ToChrono(options.request_timeout));
  auto [handshake_error] = co_await stream.async_handshake(
      asio::ssl::stream_base::server, kUseTuple);
  if (handshake_error) co_return;

  beast::flat_buffer buffer(options.max_header_bytes);
  for (int served = 0; served < kMaxRequestsPerConnection; ++served) {
    if (state->stopping.load()) break;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    stream.next_layer().expires_after(ToChrono(options.request_timeout));
    auto [read_error, read_bytes] =
        co_await http::async_read(stream, buffer, parser, kUseTuple);
    if (read_error) {
      HttpResponse refusal;
      if (read_error == http::error::body_limit) {
        refusal = ErrorWithoutRequest(413, "body_too_large",
                                      absl::StrCat("request body exceeds ",
                                                   options.max_body_bytes,
                                                   " bytes"));
      } else if (read_error == http::error::header_limit) {
        refusal = ErrorWithoutRequest(431, "headers_too_large",
                                      absl::StrCat("request headers exceed ",
                                                   options.max_header_bytes,
                                                   " bytes"));
      } else if (&read_error.category() ==
                     &http::make_error_code(http::error::bad_method).category() &&
                 read_error != http::error::end_of_stream &&
                 read_error != http::error::partial_message) {
        refusal = ErrorWithoutRequest(400, "bad_request",
                                      "malformed HTTP request");
      } else {
        break;  // closed, timed out (beast closed the socket) or TLS error
      }
      stream.next_layer().expires_after(ToChrono(options.request_timeout));
      refusal.prepare_payload();
      co_await http::async_write(stream, refusal, kUseTuple);
      break;
    }
    handle->busy = true;
    HttpRequest request = parser.release();
    // The answer may come from another thread: it is handed back to this
    // session's strand, where a never-expiring timer is cancelled to resume
    // the coroutine.
    auto pending = std::make_shared<PendingAnswer>(stream.get_executor());
    try {
      state->handler(request, SessionResponder(state, pending));
    } catch (const std::exception&) {
      pending->response = JsonError(request, 500, "internal", "internal error");
    }
    if (!pending->response.has_value()) {
      handle->awaiting_answer = &pending->wake;
      auto [wait_error] = co_await pending->wake.async_wait(kUseTuple);
      (void)wait_error;  // cancelled: the answer is in, or the server stopped
      handle->awaiting_answer = nullptr;
    }
    if (!pending->response.has_value()) break;
    HttpResponse response = std::move(*pending->response);
    bool keep_alive = request.keep_alive() && response.keep_alive() &&
                      !state->stopping.load();
    response.keep_alive(keep_alive);
    response.prepare_payload();
    stream.next_layer().expires_after(ToChrono(options.request_timeout));
    auto [write_error, written] =
        co_await http::async_write(stream, response, kUseTuple);
    handle->busy = false;
    if (write_error || !keep_alive) break;
  }
  stream.next_layer().expires_after(std::chrono::seconds(2));
  co_await stream.async_shutdown(kUseTuple);
}

asio::awaitable<void> AcceptLoop(std::shared_ptr<HttpsServer::State> state) {
  while (!state->stopping.load()) {
    auto [error, socket] = co_await state->acceptor.async_accept(
        asio::make_strand(state->io), kUseTuple);
    if (error) {
      if (error == asio::error::operation_aborted || state->stopping.load()) {
        co_return;
      }
      continue;  // e.g. EMFILE: keep serving existing connections
    }
    // An answer's last TLS record must not wait for the ACK of the one
    // before (Nagle against the client's delayed ACK: 40 ms).
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, RunSession(state, std::move(socket)),
                   asio::detached);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Create(
    HttpsServerOptions options, HttpHandler handler) {
  auto state = std::make_shared<State>();
  state->options = std::move(options);
  state->handler = std::move(handler);
  const HttpsServerOptions& o = state->options;
  SSL_CTX* ctx = state->ssl.native_handle();
  // TLS 1.2 is the floor: older versions lack AEAD-only suites.
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return absl::InternalError("TLS: cannot set minimum version 1.2");
  }
  absl::StatusOr<std::string> chain = ReadFileBounded(o.cert_chain_file, 1 << 20);
  if (!chain.ok()) return chain.status();
  absl::StatusOr<std::string> key = ReadPrivateFile(o.private_key_file, 1 << 16);
  if (!key.ok()) return key.status();
  boost::system::error_code ec;
  state->ssl.use_certificate_chain(asio::buffer(*chain), ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        o.cert_chain_file, ": not a PEM certificate chain: ", ec.message()));
  }
  state->ssl.use_private_key(asio::buffer(*key), asio::ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.private_key_file, ": not a PEM private key matching ",
                     o.cert_chain_file));
  }
  if (!o.client_ca_file.empty()) {
    state->ssl.load_verify_file(o.client_ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat(
          o.client_ca_file, ": cannot load client CA: ", ec.message()));
    }
    state->ssl.set_verify_mode(asio::ssl::verify_peer |
                               asio::ssl::verify_fail_if_no_peer_cert);
  }
  tcp::endpoint endpoint(asio::ip::make_address(o.listen_host, ec), o.listen_port);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", o.listen_host, "' is not an IP address"));
  }
  state->acceptor.open(endpoint.protocol(), ec);
  if (!ec) state->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) state->acceptor.bind(endpoint, ec);
  if (!ec) state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", o.listen_host, ":", o.listen_port, ": ", ec.message()));
  }
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(state)));
}

HttpsServer::~HttpsServer() { Shutdown(absl::ZeroDuration()); }

void HttpsServer::Start() {
  asio::co_spawn(state_->io, AcceptLoop(state_), asio::detached);
  int threads = state_->options.threads < 1 ? 1 : state_->options.threads;
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([state = state_] { state->io.run(); });
  }
}

uint16_t HttpsServer::port() const {
  boost::system::error_code ec;
  return state_->acceptor.local_endpoint(ec).port();
}

size_t HttpsServer::active_connections() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->sessions.size();
}

void HttpsServer::Shutdown(absl::Duration drain) {
  if (stopped_) return;
  stopped_ = true;
  state_->stopping.store(true);
  // Close the listener on an io thread (acceptors are not thread-safe) and
  // wait for it, so no connection is accepted into a server about to stop.
  auto closed = std::make_shared<std::promise<void>>();
  std::future<void> closed_future = closed->get_future();
  asio::post(state_->io, [state = state_, closed] {
    boost::system::error_code ignored;
    state->acceptor.close(ignored);
    closed->set_value();
  });
  if (!threads_.empty()) closed_future.wait_for(std::chrono::seconds(5));
  // Idle keep-alive connections are closed now; busy ones finish their
  // request, answer with "Connection: close" and then end by themselves.
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    for (const auto& handle : state_->sessions) {
      asio::post(handle->executor, [handle] {
        if (!handle->busy && handle->tcp != nullptr) {
          handle->tcp->cancel();
        }
      });
    }
  }
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->drained.wait_for(lock, absl::ToChronoNanoseconds(drain),
                             [&] { return state_->sessions.empty(); });
  }
  state_->io.stop();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  // Coroutines still suspended here (sessions that did not drain, the
  // accept loop, the close posted above) each hold a shared_ptr<State>,
  // and State owns the io_context that holds them: a cycle that leaked
  // State, TLS key included (found by LeakSanitizer). No thread runs the
  // io_context now, so close every socket, wake every session still
  // waiting for its handler's answer, and let it run the aborted
  // operations until no work is left, which ends every frame; bounded in
  // case a handler misbehaves.
  {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    std::lock_guard<std::mutex> lock(state_->mu);
    for (const auto& handle : state_->sessions) {
      if (handle->tcp != nullptr) handle->tcp->close();
      if (handle->awaiting_answer != nullptr) handle->awaiting_answer->cancel();
    }
  }
  state_->io.restart();
  state_->io.run_for(std::chrono::seconds(5));
}

}  // namespace cxsec::verifier
