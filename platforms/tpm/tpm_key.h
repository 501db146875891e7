// TpmKey: a device identity whose ES256 private key lives in a TPM 2.0 and
// never leaves it. Talks to the TPM through tpm2-tss SAPI (tss2-sys,
// tss2-mu, tss2-tctildr) only: ESYS and FAPI link OpenSSL 3, which must
// not share a process with BoringSSL.
//
// The TCTI comes from a config string handed to tctildr:
// "swtpm:host=127.0.0.1,port=2321" (tests, swtpm) or "device:/dev/tpmrm0"
// (a gateway, through the kernel resource manager).
//
// Enrol creates the standard ECC storage primary key in the owner
// hierarchy and a P-256 ECDSA/SHA-256 signing key under it, and makes the
// signing key persistent at a handle in 0x81000000-0x817FFFFF. The key
// carries an authorization value (tpm_auth_file.h) that every signature
// presents, so another local TPM user cannot sign with it; the key is
// exempt from dictionary-attack lockout (noDA) because the value is 32
// random bytes, and lockout would let any local user stop the gateway
// signing by guessing wrong on purpose. Every
// transient handle is flushed on every path, so any number of enrolments
// and signatures never exhausts the TPM's object slots.
//
//   CXSEC_ASSIGN_OR_RETURN(SecretBytes auth, ReadTpmAuthFile(auth_path));
//   CXSEC_ASSIGN_OR_RETURN(TpmKey key, TpmKey::Open("device:/dev/tpmrm0",
//                                                   0x81000010, auth));
//   CachingTokenSource<TpmKey> tokens(key, options, SystemClock::Default());
#ifndef CXSEC_PLATFORMS_TPM_TPM_KEY_H_
#define CXSEC_PLATFORMS_TPM_TPM_KEY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/bytes.h"
#include "core/crypto/primitives.h"
#include "core/jwt/public_key.h"
#include "core/policy/concepts.h"
#include "core/secret_bytes.h"

namespace cxsec {

// The owner persistent range (TPM 2.0 Part 1, 28.3: 0x81000000-0x817FFFFF).
inline constexpr uint32_t kTpmOwnerPersistentFirst = 0x81000000;
inline constexpr uint32_t kTpmOwnerPersistentLast = 0x817FFFFF;
// kTpmDefaultKeyHandle: where `cxsec tpm enroll` puts the key by default.
inline constexpr uint32_t kTpmDefaultKeyHandle = 0x81000010;

// TpmConnection: one SAPI context over one TCTI. Not thread-safe.
class TpmConnection;

class TpmKey {
 public:
  static constexpr absl::string_view kName = "tpm";

  // Open uses an existing persistent key; `auth` is its authorization
  // value (empty for a key enrolled without one). Errors: no TPM reachable
  // (UNAVAILABLE), nothing at `handle` (NOT_FOUND), a key that is not a
  // P-256 signing key (FAILED_PRECONDITION). A wrong `auth` shows at the
  // first signature (PERMISSION_DENIED).
  [[nodiscard]] static absl::StatusOr<TpmKey> Open(
      absl::string_view tcti, uint32_t handle,
      const SecretBytes& auth = SecretBytes());

  // Enroll creates the signing key at `handle` with authorization value
  // `auth` (see the file comment). If `handle` already holds a suitable key
  // it is reused and `*created` is false, but only after a test signature
  // shows that `auth` is its value (PERMISSION_DENIED otherwise); a
  // different object there is an error, never overwritten.
  [[nodiscard]] static absl::StatusOr<TpmKey> Enroll(
      absl::string_view tcti, uint32_t handle,
      const SecretBytes& auth = SecretBytes(), bool* created = nullptr);

  // Reconnect opens the same key again over a new connection (same TCTI,
  // handle and authorization value), after the TPM or its resource manager
  // went away and came back. The value stays in memory for this, because a
  // gateway cannot read its root-only file again after the privilege drop.
  [[nodiscard]] absl::StatusOr<TpmKey> Reconnect() const;

  // Evict removes the persistent key at `handle` (decommissioning, tests).
  [[nodiscard]] static absl::Status Evict(absl::string_view tcti,
                                          uint32_t handle);

  // ParseHandle reads "0x81000010" (or decimal) and checks the owner range.
  [[nodiscard]] static absl::StatusOr<uint32_t> ParseHandle(
      absl::string_view text);

  TpmKey(TpmKey&&) noexcept;
  TpmKey& operator=(TpmKey&&) noexcept;
  ~TpmKey();

  uint32_t handle() const { return handle_; }
  const JwtPublicKey& PublicKey() const { return *public_key_; }
  std::shared_ptr<const JwtPublicKey> SharedPublicKey() const {
    return public_key_;
  }

  // SignDigest is one bare TPM2_Sign over a SHA-256 digest; it returns
  // r||s, each left-padded to 32 bytes.
  [[nodiscard]] absl::StatusOr<Bytes> SignDigest(const Sha256Digest& digest);

  // --- Identity ---
  std::string JwsAlgorithm() const { return "ES256"; }
  absl::StatusOr<std::string> KeyId() { return public_key_->Thumbprint(); }
  absl::StatusOr<Bytes> Sign(ByteView message) {
    return SignDigest(Sha256(message));
  }

 private:
  TpmKey(std::unique_ptr<TpmConnection> connection, std::string tcti,
         uint32_t handle, SecretBytes auth,
         std::shared_ptr<const JwtPublicKey> public_key);

  std::unique_ptr<TpmConnection> connection_;
  std::string tcti_;
  SecretBytes auth_;
  std::unique_ptr<absl::Mutex> mutex_;  // one TPM command at a time
  uint32_t handle_ = 0;
  std::shared_ptr<const JwtPublicKey> public_key_;
};

static_assert(Identity<TpmKey>, "TpmKey must satisfy cxsec::Identity");

}  // namespace cxsec

#endif  // CXSEC_PLATFORMS_TPM_TPM_KEY_H_
