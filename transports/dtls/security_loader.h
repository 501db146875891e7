// LoadSecurityFile: reads security.txt from disk for a gateway, refusing
// it unless its mode grants nothing to group or others (0600/0400): a
// master secret other accounts could read must be treated as leaked.
#ifndef CXSEC_TRANSPORTS_DTLS_SECURITY_LOADER_H_
#define CXSEC_TRANSPORTS_DTLS_SECURITY_LOADER_H_

#include <string>

#include "core/deployment/security_file.h"
#include "platforms/posix/files.h"

namespace cxsec::dtls {

// `service_account`: another owner to accept (files.h), for a gateway that
// starts as root and reloads the file after dropping to that account.
[[nodiscard]] inline absl::StatusOr<SecurityConfig> LoadSecurityFile(
    const std::string& path,
    std::optional<uid_t> service_account = std::nullopt) {
  absl::StatusOr<std::string> text =
      ReadPrivateFile(path, kMaxSecurityFileBytes, service_account);
  if (!text.ok()) return text.status();
  absl::StatusOr<SecurityConfig> config = ParseSecurityFile(*text, path);
  SecureZero(text->data(), text->size());
  return config;
}

}  // namespace cxsec::dtls

#endif  // CXSEC_TRANSPORTS_DTLS_SECURITY_LOADER_H_
