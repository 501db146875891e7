// See tpm_auth_file.h.
#include "platforms/tpm/tpm_auth_file.h"

#include "absl/strings/str_cat.h"
#include "core/crypto/primitives.h"
#include "core/status.h"
#include "platforms/posix/files.h"

namespace cxsec {

absl::StatusOr<SecretBytes> ReadTpmAuthFile(const std::string& path) {
  // One byte more than allowed, so a longer file is told apart from a
  // file of the right size.
  CXSEC_ASSIGN_OR_RETURN(std::string raw,
                         ReadPrivateFile(path, kTpmAuthValueBytes + 1));
  if (raw.size() != kTpmAuthValueBytes) {
    size_t size = raw.size();
    SecureZero(raw.data(), raw.size());
    return absl::InvalidArgumentError(absl::StrCat(
        "TPM authorization file ", path, " holds ", size,
        size > kTpmAuthValueBytes ? " or more" : "", " bytes, not ",
        kTpmAuthValueBytes,
        "; it must be the file `cxsec tpm enroll --auth-file` wrote"));
  }
  SecretBytes auth = SecretBytes::CopyFrom(AsBytes(raw));
  SecureZero(raw.data(), raw.size());
  return auth;
}

absl::StatusOr<SecretBytes> CreateTpmAuthFile(const std::string& path) {
  CXSEC_ASSIGN_OR_RETURN(SecretBytes auth,
                         SecretBytes::Random(kTpmAuthValueBytes));
  ByteView raw = auth.Reveal(SecretAccess::Grant());
  CXSEC_RETURN_IF_ERROR(CreateFileExclusively(
      path,
      absl::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()),
      0600));
  return auth;
}

}  // namespace cxsec
