// PSK identities of the 6LoWPAN DTLS transport. A node's identity is its
// device id, "D" + 16 hex digits, optionally followed by "." and the key
// epoch its PSK belongs to ("D0011223344556677.2"). The bare device id
// means the gateway's current epoch (what provisioning files and reference
// clients use); the explicit form lets a gateway accept both epochs during
// a rollover, which one identity -> one key lookup could not otherwise do.
#ifndef CXSEC_TRANSPORTS_DTLS_IDENTITY_H_
#define CXSEC_TRANSPORTS_DTLS_IDENTITY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/deployment/deployment_keys.h"

namespace cxsec::dtls {

inline constexpr size_t kMaxIdentityBytes = 64;  // libcoap's limit

struct PskIdentity {
  std::string device_id;          // upper-case hex after the "D"
  std::optional<uint32_t> epoch;  // absent: the gateway's current epoch
};

// ParsePskIdentity returns nullopt for anything but the two forms above.
inline std::optional<PskIdentity> ParsePskIdentity(absl::string_view text) {
  if (text.size() > kMaxIdentityBytes || text.size() < 17) return std::nullopt;
  absl::string_view id = text.substr(0, 17);
  if (!IsDeviceId(id)) return std::nullopt;
  PskIdentity identity{absl::AsciiStrToUpper(id), std::nullopt};
  if (text.size() == 17) return identity;
  absl::string_view rest = text.substr(17);
  if (rest.size() < 2 || rest.size() > 11 || rest[0] != '.') return std::nullopt;
  rest.remove_prefix(1);
  for (char c : rest) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  uint32_t epoch = 0;
  if (!absl::SimpleAtoi(rest, &epoch) || epoch == 0 || epoch > kMaxEpoch) {
    return std::nullopt;
  }
  identity.epoch = epoch;
  return identity;
}

inline std::string FormatPskIdentity(absl::string_view device_id,
                                     uint32_t epoch) {
  return absl::StrCat(device_id, ".", epoch);
}

}  // namespace cxsec::dtls

#endif  // CXSEC_TRANSPORTS_DTLS_IDENTITY_H_
