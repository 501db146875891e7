// Fuzzes the Mioty key store import (JSON object, bare JSON array or CSV,
// auto-detected as for `cxsec mioty keys import`). It must never crash and:
// - be all or nothing: a failed import leaves the store as it was;
// - keep its bounds: at most max_devices devices and max_candidates keys
//   per short address;
// - never put a network key in an error: no error holds 32 hex digits in
//   a row (a key's text) unless it echoes an unknown JSON field name;
// - find every imported device by its EUI-64.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "transports/mioty/key_store.h"

namespace {

bool HoldsKeyText(absl::string_view message) {
  size_t run = 0;
  for (char c : message) {
    run = absl::ascii_isxdigit(c) ? run + 1 : 0;
    if (run >= 32) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec::mioty;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  MiotyKeyStoreLimits limits;
  limits.max_devices = 32;
  limits.max_candidates = 2;
  limits.max_file_bytes = 64 << 10;
  MiotyKeyStore store(limits);
  // One device already registered, so duplicates against the store and
  // the all-or-nothing rule are exercised.
  MiotyDeviceRecord existing;
  existing.eui = {0x70, 0xb3, 0xd5, 0x67, 0x70, 0x00, 0x12, 0x34};
  existing.short_address = 0x1234;
  existing.network_key = cxsec::SecretBytes::CopyFrom(cxsec::AsBytes(
      absl::string_view("\x2b\x7e\x15\x16\x28\xae\xd2\xa6"
                        "\xab\xf7\x15\x88\x09\xcf\x4f\x3c", 16)));
  if (!store.Add(std::move(existing)).ok()) std::abort();

  absl::StatusOr<ImportReport> report = store.Import(text, "fuzz");
  if (!report.ok()) {
    if (store.size() != 1) std::abort();
    absl::string_view message = report.status().message();
    if (!absl::StartsWith(message, "fuzz")) std::abort();
    if (HoldsKeyText(message) &&
        !absl::StrContains(message, "unknown field")) {
      std::abort();
    }
    return 0;
  }
  if (store.size() != 1 + report->added) std::abort();
  if (store.size() > limits.max_devices) std::abort();
  for (const MiotyDevice* device : store.Devices()) {
    if (store.FindByEui(device->eui) != device) std::abort();
    auto candidates = store.CandidatesFor(device->short_address);
    if (candidates.empty() || candidates.size() > limits.max_candidates) {
      std::abort();
    }
  }
  return 0;
}
