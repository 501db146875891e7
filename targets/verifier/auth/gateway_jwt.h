// Gateway JWT checks for the verifier (ES256 compact JWS). This is the
// verifier's interim verifier until core/jwt (identity issue) lands; the
// service only sees the GatewayTokenVerifier interface in
// targets/verifier/service/, so swapping it in touches one file.
//
// Token shape: header {"alg":"ES256","typ":"JWT","kid":<optional>},
// claims {"sub": gateway id, "aud": project id, "exp", optional "nbf"/"iat"}.
#ifndef CXSEC_TARGETS_VERIFIER_AUTH_GATEWAY_JWT_H_
#define CXSEC_TARGETS_VERIFIER_AUTH_GATEWAY_JWT_H_

#include <openssl/ec_key.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/bytes.h"
#include "nlohmann/json.hpp"

namespace cxsec::verifier {

inline constexpr size_t kMaxJwtBytes = 4096;

struct EcKeyDeleter {
  void operator()(EC_KEY* key) const { EC_KEY_free(key); }
};
using SharedEcKey = std::shared_ptr<EC_KEY>;

// ParseP256PublicKeyPem accepts a "BEGIN PUBLIC KEY" SPKI PEM of a P-256
// key and returns it with its key id (16 hex digits of SHA-256 over DER).
struct ParsedPublicKey {
  SharedEcKey key;
  std::string kid;
};
[[nodiscard]] absl::StatusOr<ParsedPublicKey> ParseP256PublicKeyPem(
    absl::string_view pem);

// A structurally valid token whose signature is not yet checked.
struct UnverifiedJwt {
  nlohmann::json header;
  nlohmann::json claims;
  std::string signing_input;  // "<b64 header>.<b64 claims>"
  Bytes signature;            // r || s, 64 bytes for ES256
};

// ParseJwt enforces the size limit, three base64url segments, JSON objects,
// alg == "ES256" exactly (no "none", no HMAC confusion) and no "crit".
[[nodiscard]] absl::StatusOr<UnverifiedJwt> ParseJwt(absl::string_view token);

// VerifyEs256 checks the signature over signing_input.
[[nodiscard]] absl::Status VerifyEs256(const UnverifiedJwt& jwt, const EC_KEY* key);

// CheckClaims: sub == gateway, aud == (or contains) audience, exp present
// and in the future, nbf/iat not in the future (with `skew`).
[[nodiscard]] absl::Status CheckClaims(const UnverifiedJwt& jwt,
                                       absl::string_view gateway_id,
                                       absl::string_view audience,
                                       absl::Time now, absl::Duration skew);

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_AUTH_GATEWAY_JWT_H_
