#include "targets/verifier/http/plain_http_client.h"

#include <atomic>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "boost/asio/as_tuple.hpp"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/detached.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace cxsec::verifier {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

absl::StatusOr<HttpEndpoint> HttpEndpoint::ParseHttpUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL '", url, "' must start with http://"));
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  size_t colon = rest.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL '", url, "' must be http://HOST:PORT"));
  }
  return HttpEndpoint{std::string(rest.substr(0, colon)),
                      static_cast<uint16_t>(port)};
}

absl::StatusOr<PlainHttpResponse> SendHttpRequest(
    const HttpEndpoint& endpoint, absl::string_view method,
    absl::string_view target,
    const std::vector<std::pair<std::string, std::string>>& headers,
    absl::string_view body, absl::Duration timeout, size_t max_response_bytes) {
  asio::io_context io;
  absl::StatusOr<PlainHttpResponse> result =
      absl::DeadlineExceededError("HTTP request did not complete");
  auto run = [&]() -> asio::awaitable<void> {
    constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
    beast::tcp_stream stream(io);
    stream.expires_after(absl::ToChronoNanoseconds(timeout));
    asio::ip::tcp::resolver resolver(io);
    auto [resolve_error, results] = co_await resolver.async_resolve(
        endpoint.host, std::to_string(endpoint.port), kTuple);
    if (resolve_error) {
      result = absl::UnavailableError(absl::StrCat(
          "cannot resolve ", endpoint.host, ": ", resolve_error.message()));
      co_return;
    }
    auto [connect_error, connected] =
        co_await stream.async_connect(results, kTuple);
    if (connect_error) {
      result = absl::UnavailableError(
          absl::StrCat("cannot connect to ", endpoint.host, ":", endpoint.port,
                       ": ", connect_error.message()));
      co_return;
    }
    http::request<http::string_body> request{
        http::string_to_verb(std::string(method)), std::string(target), 11};
    request.set(http::field::host, endpoint.host);
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = std::string(body);
    request.prepare_payload();
    auto [write_error, written] =
        co_await http::async_write(stream, request, kTuple);
    if (write_error) {
      result = absl::UnavailableError(
          absl::StrCat("HTTP write failed: ", write_error.message()));
      co_return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_response_bytes);
    auto [read_error, read] =
        co_await http::async_read(stream, buffer, parser, kTuple);
    if (read_error) {
      result = absl::UnavailableError(
          absl::StrCat("HTTP read failed: ", read_error.message()));
      co_return;
    }
    result = PlainHttpResponse{parser.get().result_int(),
                               std::move(parser.get().body())};
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  };
  asio::co_spawn(io, run(), asio::detached);
  io.run();
  return result;
}

struct PlainHttpStream::Impl {
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  std::atomic<bool> cancelled{false};
};

PlainHttpStream::PlainHttpStream() : impl_(std::make_unique<Impl>()) {}
PlainHttpStream::~PlainHttpStream() = default;

void PlainHttpStream::Cancel() {
  impl_->cancelled.store(true);
  // Runs on the thread inside Post (or at its next start), the only one
  // that touches the stream.
  asio::post(impl_->io, [impl = impl_.get()] {
    if (impl->stream) impl->stream->cancel();
  });
}

absl::Status PlainHttpStream::Post(
    const HttpEndpoint& endpoint, absl::string_view target,
    const std::vector<std::pair<std::string, std::string>>& headers,
    absl::string_view body, absl::Duration connect_timeout,
    absl::Duration idle_timeout,
    const std::function<bool(absl::string_view)>& on_body) {
  Impl& impl = *impl_;
  if (impl.cancelled.load()) return absl::CancelledError("stream cancelled");
  absl::Status result;
  auto run = [&]() -> asio::awaitable<void> {
    constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
    impl.stream.emplace(impl.io);
    beast::tcp_stream& stream = *impl.stream;
    auto failed = [&](const beast::error_code& ec, const char* what) {
      if (!ec) return false;
      if (ec == beast::error::timeout) {
        result = absl::DeadlineExceededError(
            absl::StrCat("etcd sent nothing for ",
                         absl::FormatDuration(idle_timeout), " (", what, ")"));
      } else {
        result = absl::UnavailableError(
            absl::StrCat(what, " failed: ", ec.message()));
      }
      return true;
    };
    stream.expires_after(absl::ToChronoNanoseconds(connect_timeout));
    asio::ip::tcp::resolver resolver(impl.io);
    auto [resolve_error, results] = co_await resolver.async_resolve(
        endpoint.host, std::to_string(endpoint.port), kTuple);
    if (failed(resolve_error, "resolving")) co_return;
    auto [connect_error, connected] =
        co_await stream.async_connect(results, kTuple);
    if (failed(connect_error, "connecting")) co_return;
    http::request<http::string_body> request{http::verb::post,
                                             std::string(target), 11};
    request.set(http::field::host, endpoint.host);
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = std::string(body);
    request.prepare_payload();
    auto [write_error, written] =
        co_await http::async_write(stream, request, kTuple);
    if (failed(write_error, "sending")) co_return;
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);  // a watch streams without end
    stream.expires_after(absl::ToChronoNanoseconds(idle_timeout));
    auto [header_error, header_read] =
        co_await http::async_read_header(stream, buffer, parser, kTuple);
    if (failed(header_error, "reading the header")) co_return;
    if (parser.get().result_int() != 200) {
      result = absl::UnavailableError(absl::StrCat(
          "HTTP ", parser.get().result_int(), " to a stream request"));
      co_return;
    }
    char chunk[16384];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof(chunk);
      stream.expires_after(absl::ToChronoNanoseconds(idle_timeout));
      auto [read_error, read] =
          co_await http::async_read_some(stream, buffer, parser, kTuple);
      if (read_error != http::error::need_buffer &&
          failed(read_error, "reading")) {
        co_return;
      }
      size_t n = sizeof(chunk) - parser.get().body().size;
      if (n > 0 && !on_body(absl::string_view(chunk, n))) co_return;
    }
  };
  impl.io.restart();
  asio::co_spawn(impl.io, run(), asio::detached);
  impl.io.run();
  impl.stream.reset();
  if (impl.cancelled.load()) return absl::CancelledError("stream cancelled");
  return result;
}

}  // namespace cxsec::verifier
