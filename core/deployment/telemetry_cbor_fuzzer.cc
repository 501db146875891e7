// Fuzzes the CBOR telemetry decoder: bounded, never crashes, and what it
// accepts re-encodes to a payload it accepts again with the same data.
#include <cstdint>
#include <cstdlib>

#include "core/deployment/telemetry_cbor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<cxsec::Telemetry> t =
      cxsec::DecodeTelemetry(cxsec::ByteView(data, size));
  if (!t.ok()) return 0;
  absl::StatusOr<cxsec::Telemetry> again =
      cxsec::DecodeTelemetry(cxsec::EncodeTelemetry(t->event, t->data));
  if (!again.ok() || again->event != t->event) std::abort();
  return 0;
}
