#include "targets/verifier/auth/gateway_jwt.h"

#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/crypto/primitives.h"
#include "core/encoding/base64url.h"
#include "core/encoding/hex.h"

namespace cxsec::verifier {

using nlohmann::json;

absl::StatusOr<ParsedPublicKey> ParseP256PublicKeyPem(absl::string_view pem) {
  if (pem.size() > 4096) {
    return absl::InvalidArgumentError("publicKeyPem: longer than 4096 bytes");
  }
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        "publicKeyPem: not a PEM SubjectPublicKeyInfo (BEGIN PUBLIC KEY)");
  }
  EC_KEY* ec = EVP_PKEY_get1_EC_KEY(pkey);
  CBB cbb;
  uint8_t* der = nullptr;
  size_t der_len = 0;
  bool marshalled = CBB_init(&cbb, 128) && EVP_marshal_public_key(&cbb, pkey) &&
                    CBB_finish(&cbb, &der, &der_len);
  EVP_PKEY_free(pkey);
  if (!marshalled) {
    CBB_cleanup(&cbb);
    EC_KEY_free(ec);
    return absl::InvalidArgumentError("publicKeyPem: cannot re-encode key");
  }
  Sha256Digest digest = Sha256(ByteView(der, der_len));
  OPENSSL_free(der);
  if (ec == nullptr || EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) !=
                           NID_X9_62_prime256v1) {
    EC_KEY_free(ec);
    return absl::InvalidArgumentError("publicKeyPem: key is not ECDSA P-256");
  }
  return ParsedPublicKey{SharedEcKey(ec, EcKeyDeleter()),
                         HexEncode(ByteView(digest.data(), 8))};
}

namespace {
absl::StatusOr<json> DecodeJsonSegment(absl::string_view segment,
                                       absl::string_view name) {
  absl::StatusOr<Bytes> raw = Base64UrlDecode(segment, kMaxJwtBytes);
  if (!raw.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("JWT ", name, ": ", raw.status().message()));
  }
  json value = json::parse(AsStringView(*raw), nullptr, false);
  if (value.is_discarded() || !value.is_object()) {
    return absl::UnauthenticatedError(
        absl::StrCat("JWT ", name, ": not a JSON object"));
  }
  return value;
}

absl::StatusOr<int64_t> NumericDate(const json& claims, const char* name,
                                    bool required) {
  auto it = claims.find(name);
  if (it == claims.end()) {
    if (required) {
      return absl::UnauthenticatedError(
          absl::StrCat("JWT claim '", name, "' is required"));
    }
    return int64_t{-1};
  }
  if (!it->is_number_integer()) {
    return absl::UnauthenticatedError(
        absl::StrCat("JWT claim '", name, "' must be an integer"));
  }
  return it->get<int64_t>();
}
}  // namespace

absl::StatusOr<UnverifiedJwt> ParseJwt(absl::string_view token) {
  if (token.size() > kMaxJwtBytes) {
    return absl::UnauthenticatedError(absl::StrCat(
        "JWT of ", token.size(), " bytes exceeds the limit of ", kMaxJwtBytes));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) {
    return absl::UnauthenticatedError(
        absl::StrCat("JWT must have 3 dot-separated parts, has ", parts.size()));
  }
  UnverifiedJwt jwt;
  absl::StatusOr<json> header = DecodeJsonSegment(parts[0], "header");
  if (!header.ok()) return header.status();
  jwt.header = std::move(*header);
  auto alg = jwt.header.find("alg");
  if (alg == jwt.header.end() || !alg->is_string() ||
      alg->get<std::string>() != "ES256") {
    return absl::UnauthenticatedError("JWT header 'alg' must be \"ES256\"");
  }
  if (jwt.header.contains("crit")) {
    return absl::UnauthenticatedError("JWT header 'crit' is not supported");
  }
  if (jwt.header.contains("kid") && !jwt.header["kid"].is_string()) {
    return absl::UnauthenticatedError("JWT header 'kid' must be a string");
  }
  absl::StatusOr<json> claims = DecodeJsonSegment(parts[1], "claims");
  if (!claims.ok()) return claims.status();
  jwt.claims = std::move(*claims);
  absl::StatusOr<Bytes> signature = Base64UrlDecode(parts[2], kMaxJwtBytes);
  if (!signature.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("JWT signature: ", signature.status().message()));
  }
  if (signature->size() != 64) {
    return absl::UnauthenticatedError(absl::StrCat(
        "JWT ES256 signature must be 64 bytes, is ", signature->size()));
  }
  jwt.signature = std::move(*signature);
  jwt.signing_input = absl::StrCat(parts[0], ".", parts[1]);
  return jwt;
}

absl::Status VerifyEs256(const UnverifiedJwt& jwt, const EC_KEY* key) {
  Sha256Digest digest = Sha256(AsBytes(jwt.signing_input));
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (sig == nullptr) return absl::ResourceExhaustedError("out of memory");
  BIGNUM* r = BN_bin2bn(jwt.signature.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(jwt.signature.data() + 32, 32, nullptr);
  if (r == nullptr || s == nullptr || !ECDSA_SIG_set0(sig, r, s)) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return absl::ResourceExhaustedError("out of memory");
  }
  int ok = ECDSA_do_verify(digest.data(), digest.size(), sig, key);
  ECDSA_SIG_free(sig);
  if (ok != 1) return absl::UnauthenticatedError("JWT signature is invalid");
  return absl::OkStatus();
}

absl::Status CheckClaims(const UnverifiedJwt& jwt, absl::string_view gateway_id,
                         absl::string_view audience, absl::Time now,
                         absl::Duration skew) {
  const json& claims = jwt.claims;
  auto iss = claims.find("sub");
  if (iss == claims.end() || !iss->is_string() ||
      iss->get<std::string>() != gateway_id) {
    return absl::UnauthenticatedError("JWT 'sub' must be the gateway id");
  }
  auto aud = claims.find("aud");
  bool audience_ok = false;
  if (aud != claims.end() && aud->is_string()) {
    audience_ok = aud->get<std::string>() == audience;
  } else if (aud != claims.end() && aud->is_array() && aud->size() <= 16) {
    for (const json& a : *aud) {
      if (a.is_string() && a.get<std::string>() == audience) audience_ok = true;
    }
  }
  if (!audience_ok) {
    return absl::UnauthenticatedError(absl::StrCat(
        "JWT 'aud' must be the gateway's project '", audience, "'"));
  }
  int64_t now_s = absl::ToUnixSeconds(now);
  int64_t skew_s = absl::ToInt64Seconds(skew);
  absl::StatusOr<int64_t> exp = NumericDate(claims, "exp", true);
  if (!exp.ok()) return exp.status();
  if (*exp + skew_s <= now_s) return absl::UnauthenticatedError("JWT has expired");
  for (const char* name : {"nbf", "iat"}) {
    absl::StatusOr<int64_t> t = NumericDate(claims, name, false);
    if (!t.ok()) return t.status();
    if (*t > now_s + skew_s) {
      return absl::UnauthenticatedError(
          absl::StrCat("JWT '", name, "' is in the future"));
    }
  }
  return absl::OkStatus();
}

}  // namespace cxsec::verifier
