// Enrolment proofs: proof that whoever asks the cloud verifier to register
// a public key for a gateway holds the private half of that key, so an
// administrator cannot enrol a key of their own and impersonate the gateway.
//
// The verifier hands out a single-use challenge (a random nonce) per
// gateway; the new key signs a compact JWS over it:
//   header  {"alg":"ES256"|"EdDSA","typ":"JWT","kid":<thumbprint>}
//   claims  {"aud":"cxsec:gateway-key-enrollment","sub":<gateway id>,
//            "nonce":<challenge>,"jkt":<RFC 7638 thumbprint of the new key>,
//            "iat":...,"exp":...}   exp - iat at most 10 minutes
// MintEnrollmentProof signs one with any Identity (a software key, or a TPM
// key whose signature is made inside the TPM); VerifyEnrollmentProof checks
// one with the same JwtVerifier code paths as gateway tokens (ES256 low-S
// only, small-order Ed25519 keys refused) plus nonce and jkt.
//
//   CXSEC_ASSIGN_OR_RETURN(std::string proof,
//       MintEnrollmentProof(tpm_key, gateway_id, nonce, absl::Now()));
//   ...
//   CXSEC_ASSIGN_OR_RETURN(VerifiedEnrollmentProof verified,
//       VerifyEnrollmentProof(proof, new_key, gateway_id, clock));
//   registry.AddGatewayKey(principal, verified, expires_at);
#ifndef CXSEC_CORE_JWT_ENROLLMENT_PROOF_H_
#define CXSEC_CORE_JWT_ENROLLMENT_PROOF_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/encoding/base64url.h"
#include "core/jwt/jws.h"
#include "core/jwt/public_key.h"
#include "core/jwt/strict_json.h"
#include "core/jwt/verifier.h"
#include "core/policy/concepts.h"
#include "core/status.h"
#include "nlohmann/json.hpp"

namespace cxsec {

// The proof's aud. The ':' cannot occur in a project id, so no gateway
// token (aud = project) is ever an enrolment proof, nor the other way.
inline constexpr absl::string_view kEnrollmentProofAudience =
    "cxsec:gateway-key-enrollment";
inline constexpr absl::Duration kMaxEnrollmentProofLifetime = absl::Minutes(10);
inline constexpr absl::Duration kDefaultEnrollmentProofLifetime =
    absl::Minutes(5);
// Clocks of the enrolling host and the verifier may differ this much.
inline constexpr absl::Duration kEnrollmentProofClockSkew = absl::Minutes(2);
// A challenge is 32 random bytes, base64url without padding: 43 characters.
inline constexpr size_t kEnrollmentNonceBytes = 32;
inline constexpr size_t kEnrollmentNonceChars = 43;

// IsWellFormedEnrollmentNonce: exactly the shape the verifier issues, so a
// nonce can be used in a store key without further escaping.
inline bool IsWellFormedEnrollmentNonce(absl::string_view nonce) {
  if (nonce.size() != kEnrollmentNonceChars) return false;
  absl::StatusOr<Bytes> raw = Base64UrlDecode(nonce, kEnrollmentNonceChars);
  return raw.ok() && raw->size() == kEnrollmentNonceBytes;
}

// MintEnrollmentProof signs a proof for `gateway_id` and `nonce` with
// `identity` (the key being enrolled) at `now`.
template <Identity I>
[[nodiscard]] absl::StatusOr<std::string> MintEnrollmentProof(
    I& identity, absl::string_view gateway_id, absl::string_view nonce,
    absl::Time now, absl::Duration lifetime = kDefaultEnrollmentProofLifetime) {
  if (gateway_id.empty()) {
    return absl::InvalidArgumentError("gateway id must not be empty");
  }
  if (!IsWellFormedEnrollmentNonce(nonce)) {
    return absl::InvalidArgumentError(
        "challenge must be the 43-character nonce the verifier issued");
  }
  if (lifetime <= absl::ZeroDuration() ||
      lifetime > kMaxEnrollmentProofLifetime) {
    return absl::InvalidArgumentError(
        absl::StrCat("proof lifetime must be in (0, ",
                     absl::FormatDuration(kMaxEnrollmentProofLifetime), "]"));
  }
  CXSEC_ASSIGN_OR_RETURN(std::string thumbprint, identity.KeyId());
  nlohmann::ordered_json header;
  header["alg"] = std::string(identity.JwsAlgorithm());
  header["typ"] = "JWT";
  header["kid"] = thumbprint;
  int64_t iat = absl::ToUnixSeconds(now);
  nlohmann::ordered_json claims;
  claims["aud"] = std::string(kEnrollmentProofAudience);
  claims["sub"] = std::string(gateway_id);
  claims["nonce"] = std::string(nonce);
  claims["jkt"] = thumbprint;
  claims["iat"] = iat;
  claims["exp"] = iat + absl::ToInt64Seconds(lifetime);
  std::string proof = absl::StrCat(Base64UrlEncode(header.dump()), ".",
                                   Base64UrlEncode(claims.dump()));
  CXSEC_ASSIGN_OR_RETURN(Bytes signature, identity.Sign(AsBytes(proof)));
  if (signature.size() != 64) {
    return absl::InternalError(absl::StrCat(
        "identity produced a ", signature.size(), "-byte signature, not 64"));
  }
  absl::StrAppend(&proof, ".", Base64UrlEncode(signature));
  return proof;
}

// VerifiedEnrollmentProof: what a proof that passed every check vouches
// for. Only VerifyEnrollmentProof makes one, so code that takes it (the
// registry's AddGatewayKey) cannot be reached without a proof.
class VerifiedEnrollmentProof {
 public:
  const std::string& gateway_id() const { return gateway_id_; }
  const std::string& nonce() const { return nonce_; }
  const std::shared_ptr<const JwtPublicKey>& key() const { return key_; }

 private:
  VerifiedEnrollmentProof(std::string gateway_id, std::string nonce,
                          std::shared_ptr<const JwtPublicKey> key)
      : gateway_id_(std::move(gateway_id)),
        nonce_(std::move(nonce)),
        key_(std::move(key)) {}
  friend absl::StatusOr<VerifiedEnrollmentProof> VerifyEnrollmentProof(
      absl::string_view, std::shared_ptr<const JwtPublicKey>, absl::string_view,
      const Clock&);

  std::string gateway_id_;
  std::string nonce_;
  std::shared_ptr<const JwtPublicKey> key_;
};

// VerifyEnrollmentProof checks that `proof` is signed by `new_key`, names
// `gateway_id` as sub, the enrolment audience, a well-formed nonce and the
// key's own thumbprint as jkt, and is within its (short) lifetime. It does
// not check the nonce against issued challenges: the registry consumes it.
// Errors are UNAUTHENTICATED with a JwtReason (signature, claims) or
// INVALID_ARGUMENT (nonce, jkt); their messages name the defect.
[[nodiscard]] inline absl::StatusOr<VerifiedEnrollmentProof>
VerifyEnrollmentProof(absl::string_view proof,
                      std::shared_ptr<const JwtPublicKey> new_key,
                      absl::string_view gateway_id, const Clock& clock) {
  if (new_key == nullptr) return absl::InvalidArgumentError("no key to check");
  JwtVerifier verifier(
      JwtVerifierOptions{.audience = std::string(kEnrollmentProofAudience),
                         .clock_skew = kEnrollmentProofClockSkew,
                         .max_lifetime = kMaxEnrollmentProofLifetime,
                         .cache_capacity = 0},
      clock);
  CXSEC_ASSIGN_OR_RETURN(
      DeviceKeySet keys,
      DeviceKeySet::Create(std::string(gateway_id), {{new_key, std::nullopt}}));
  CXSEC_ASSIGN_OR_RETURN(VerifiedClaims verified,
                         verifier.VerifyWithKeys(proof, keys));
  (void)verified;
  // The signature and registered claims are good; the payload parses (it
  // just did inside the verifier), so read the two claims of our own.
  CXSEC_ASSIGN_OR_RETURN(JwsParts jws, ParseJws(proof));
  CXSEC_ASSIGN_OR_RETURN(
      nlohmann::json claims,
      ParseStrictJsonObject(AsStringView(jws.payload), "payload"));
  auto nonce = claims.find("nonce");
  if (nonce == claims.end() || !nonce->is_string()) {
    return absl::InvalidArgumentError("claim nonce is missing or not a string");
  }
  const std::string& nonce_text = nonce->get_ref<const std::string&>();
  if (!IsWellFormedEnrollmentNonce(nonce_text)) {
    return absl::InvalidArgumentError(
        "claim nonce is not a challenge this verifier issues (43 base64url "
        "characters)");
  }
  auto jkt = claims.find("jkt");
  if (jkt == claims.end() || !jkt->is_string()) {
    return absl::InvalidArgumentError("claim jkt is missing or not a string");
  }
  if (jkt->get_ref<const std::string&>() != new_key->Thumbprint()) {
    return absl::InvalidArgumentError(
        "claim jkt is not the thumbprint of the key being enrolled");
  }
  return VerifiedEnrollmentProof(std::string(gateway_id), nonce_text,
                                 std::move(new_key));
}

}  // namespace cxsec

#endif  // CXSEC_CORE_JWT_ENROLLMENT_PROOF_H_
