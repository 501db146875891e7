// Fuzzes the security.txt parser: it must never crash, and whatever it
// accepts must survive a Format/Parse round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/deployment/security_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<cxsec::SecurityConfig> config =
      cxsec::ParseSecurityFile(text, "fuzz");
  if (!config.ok()) return 0;
  absl::StatusOr<cxsec::SecurityConfig> again =
      cxsec::ParseSecurityFile(cxsec::FormatSecurityFile(*config), "fuzz");
  if (!again.ok() || again->epoch != config->epoch ||
      again->next_epoch != config->next_epoch ||
      again->pan_id != config->pan_id ||
      !again->master_secret.Equals(config->master_secret) ||
      !again->next_master_secret.Equals(config->next_master_secret) ||
      again->compromised != config->compromised) {
    std::abort();
  }
  return 0;
}
