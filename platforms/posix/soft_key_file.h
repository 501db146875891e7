// Software identity keys on disk: the private key as PKCS#8 PEM with mode
// 0600 (refused on load when group or others have any access), the public
// key as SPKI PEM and JWK beside it. Kept out of core/ so core stays free
// of file I/O.
//
//   CXSEC_ASSIGN_OR_RETURN(SoftKeyFiles files, WriteNewSoftKey(key, "/etc/cxsec/id"));
//   CXSEC_ASSIGN_OR_RETURN(SoftKey key, LoadSoftKey("/etc/cxsec/id/private_key.pem"));
#ifndef CXSEC_PLATFORMS_POSIX_SOFT_KEY_FILE_H_
#define CXSEC_PLATFORMS_POSIX_SOFT_KEY_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/identity/soft_key.h"
#include "core/jwt/public_key.h"

namespace cxsec {

struct SoftKeyFiles {
  std::string private_key;  // DIR/private_key.pem (0600)
  std::string public_pem;   // DIR/public_key.pem
  std::string public_jwk;   // DIR/public_key.jwk
};

// WriteNewSoftKey creates DIR (0700) if needed and writes the three files;
// it never overwrites an existing private key.
[[nodiscard]] absl::StatusOr<SoftKeyFiles> WriteNewSoftKey(
    const SoftKey& key, const std::string& dir);

// LoadSoftKey reads a private key file, refusing it when its mode grants
// anything to group or others (the error names the file and its mode).
[[nodiscard]] absl::StatusOr<SoftKey> LoadSoftKey(const std::string& path);

// LoadPublicKey reads an SPKI PEM or a JWK file.
[[nodiscard]] absl::StatusOr<JwtPublicKey> LoadPublicKey(
    const std::string& path);

}  // namespace cxsec

#endif  // CXSEC_PLATFORMS_POSIX_SOFT_KEY_FILE_H_
