// The TPM signing key's authorization value, kept in a root-only file.
//
// Without an authValue any local account that can open the TPM (tss group,
// /dev/tpmrm0) could ask it to sign a gateway JWT. The gateway reads this
// file while still root, before it drops to its service account, and keeps
// the value in memory (SecretBytes) for reconnects. The file holds the raw
// 32 bytes, the format tpm2-tools reads with `-p file:PATH`.
//
//   CXSEC_ASSIGN_OR_RETURN(SecretBytes auth, ReadTpmAuthFile(path));
//   CXSEC_ASSIGN_OR_RETURN(TpmKey key, TpmKey::Open(tcti, handle, auth));
#ifndef CXSEC_PLATFORMS_TPM_TPM_AUTH_FILE_H_
#define CXSEC_PLATFORMS_TPM_TPM_AUTH_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "core/secret_bytes.h"

namespace cxsec {

// 32 bytes: the most a key whose name algorithm is SHA-256 accepts
// (TPM 2.0 Part 1, 19.6.4), and more than anyone can guess.
inline constexpr size_t kTpmAuthValueBytes = 32;

// ReadTpmAuthFile reads an existing authorization file. It must be a
// private file (regular, at most 0600, owned by the running account or
// root) of exactly kTpmAuthValueBytes bytes.
[[nodiscard]] absl::StatusOr<SecretBytes> ReadTpmAuthFile(
    const std::string& path);

// CreateTpmAuthFile draws a fresh random value and writes it to a new file
// (0600, created exclusively: an existing file is never replaced, because
// the key it belongs to would become unusable).
[[nodiscard]] absl::StatusOr<SecretBytes> CreateTpmAuthFile(
    const std::string& path);

}  // namespace cxsec

#endif  // CXSEC_PLATFORMS_TPM_TPM_AUTH_FILE_H_
