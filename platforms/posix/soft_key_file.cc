// Software identity key files; see soft_key_file.h.
#include "platforms/posix/soft_key_file.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "platforms/posix/files.h"

namespace cxsec {

namespace {
constexpr size_t kMaxKeyFileBytes = 64 * 1024;
}  // namespace

absl::StatusOr<SoftKeyFiles> WriteNewSoftKey(const SoftKey& key,
                                             const std::string& dir) {
  CXSEC_RETURN_IF_ERROR(MakeDirectories(dir, 0700));
  SoftKeyFiles files{absl::StrCat(dir, "/private_key.pem"),
                     absl::StrCat(dir, "/public_key.pem"),
                     absl::StrCat(dir, "/public_key.jwk")};
  CXSEC_ASSIGN_OR_RETURN(SecretBytes pem, key.ToPkcs8Pem());
  CXSEC_RETURN_IF_ERROR(CreateFileExclusively(
      files.private_key, AsStringView(pem.Reveal(SecretAccess::Grant())), 0600));
  CXSEC_RETURN_IF_ERROR(
      WriteFileAtomically(files.public_pem, key.PublicKey().SpkiPem(), 0644));
  CXSEC_RETURN_IF_ERROR(WriteFileAtomically(
      files.public_jwk, absl::StrCat(key.PublicKey().Jwk(), "\n"), 0644));
  return files;
}

absl::StatusOr<SoftKey> LoadSoftKey(const std::string& path) {
  CXSEC_ASSIGN_OR_RETURN(std::string text, ReadPrivateFile(path, kMaxKeyFileBytes));
  SecretBytes pem = SecretBytes::CopyFrom(AsBytes(text));
  SecureZero(text.data(), text.size());
  absl::StatusOr<SoftKey> key = SoftKey::FromPkcs8Pem(pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

absl::StatusOr<JwtPublicKey> LoadPublicKey(const std::string& path) {
  CXSEC_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, kMaxKeyFileBytes));
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  absl::StatusOr<JwtPublicKey> key =
      absl::StartsWith(trimmed, "{") ? JwtPublicKey::FromJwk(trimmed)
                                     : JwtPublicKey::FromSpkiPem(text);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

}  // namespace cxsec
