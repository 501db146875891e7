// Fuzzes the verifier's untrusted-input parsers: HTTP/1.1 request framing
// (Beast's parser with the server's limits), telemetry batch JSON (the shared
// wire format) and the gateway JWT parser. None may crash, hang or exceed its
// limits.
#include <cstddef>
#include <cstdint>

#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "core/jwt/jws.h"
#include "transports/uplink/telemetry_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(1024 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!ec && parser.is_done()) {
    (void)cxsec::DecodeTelemetryBatch(parser.get().body());
  }
  (void)cxsec::DecodeTelemetryBatch(text);
  (void)cxsec::ParseJws(text);
  return 0;
}
