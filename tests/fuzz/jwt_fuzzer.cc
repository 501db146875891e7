// Fuzzes JWT parsing and strict verification: no input may crash, leak or
// be accepted without a valid signature from the registered key; every
// rejection must carry a reason code. The same input is tried as a gateway
// key enrolment proof and as an enrolment nonce.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "core/clock.h"
#include "core/jwt/enrollment_proof.h"
#include "core/jwt/jws.h"
#include "core/jwt/public_key.h"
#include "core/jwt/verifier.h"

namespace {

// RFC 8037 A.2's public key (the seeds include its A.4 token); the
// private key is not here, so the fuzzer cannot forge valid JWT claims.
constexpr char kEd25519Jwk[] =
    R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";
constexpr char kP256Jwk[] =
    R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cxsec::FakeClock* clock =
      new cxsec::FakeClock(absl::FromUnixSeconds(1300819300));
  static auto* keys = new cxsec::DeviceKeySet(*cxsec::DeviceKeySet::Create(
      "joe",
      {{std::make_shared<const cxsec::JwtPublicKey>(
            *cxsec::JwtPublicKey::FromJwk(kEd25519Jwk)),
        std::nullopt},
       {std::make_shared<const cxsec::JwtPublicKey>(
            *cxsec::JwtPublicKey::FromJwk(kP256Jwk)),
        std::nullopt}}));
  std::string token(reinterpret_cast<const char*>(data), size);
  cxsec::JwtVerifier verifier({.audience = "proj", .cache_capacity = 4}, *clock);
  absl::StatusOr<cxsec::VerifiedClaims> claims = verifier.VerifyWithKeys(token, *keys);
  if (claims.ok()) std::abort();  // no valid token for these keys exists in reach
  if (!cxsec::JwtReasonOf(claims.status()).has_value()) std::abort();
  if (cxsec::VerifyEnrollmentProof(token, keys->keys()[1].key, "joe", *clock).ok()) {
    std::abort();  // nor a valid proof
  }
  (void)cxsec::IsWellFormedEnrollmentNonce(token);
  (void)cxsec::ParseJws(token);
  (void)cxsec::JwtPublicKey::FromJwk(token);
  return 0;
}
