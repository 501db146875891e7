// Fuzzes the CoAP header parser the DTLS node runs on what the gateway
// (or anyone on the path) sends: no crash, no read past the input, and an
// accepted header never claims more token bytes than the input holds.
#include <cstdint>
#include <cstdlib>

#include "core/device/coap_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec::device;
  CoapHeader header;
  if (ParseCoapHeader(std::span(data, size), header) != CoapReason::kNone) {
    return 0;
  }
  if (header.token_length > kCoapTokenSize || size < 4u + header.token_length) {
    std::abort();
  }
  return 0;
}
