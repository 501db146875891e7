// Fuzzes both decoders of the telemetry wire format with the same bytes,
// and checks that a decoded batch re-encodes and decodes to the same ids.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "transports/uplink/telemetry_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view body(reinterpret_cast<const char*>(data), size);
  auto batch = cxsec::DecodeTelemetryBatch(body);
  if (batch.ok()) {
    // Entries with a base64url payload (what gateways send) round-trip.
    std::vector<cxsec::VerifiedMessage> messages;
    for (const cxsec::TelemetryWireMessage& m : *batch) {
      auto message = cxsec::ToVerifiedMessage(m);
      if (message.ok()) messages.push_back(*std::move(message));
    }
    if (!messages.empty()) {
      auto again =
          cxsec::DecodeTelemetryBatch(cxsec::EncodeTelemetryBatch(messages));
      if (!again.ok() || again->size() != messages.size()) std::abort();
      for (size_t i = 0; i < messages.size(); ++i) {
        if ((*again)[i].message_id != messages[i].message_id) std::abort();
      }
    }
  }
  auto results = cxsec::DecodeTelemetryResults(body);
  if (results.ok()) {
    auto again =
        cxsec::DecodeTelemetryResults(cxsec::EncodeTelemetryResults(*results));
    if (!again.ok() || again->size() != results->size()) std::abort();
  }
  return 0;
}
