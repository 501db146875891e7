// JwtPublicKey: a verification key bound to exactly one JWS algorithm
// (P-256 -> ES256, Ed25519 -> EdDSA), so alg confusion cannot happen: the
// key, not the token, decides what is acceptable.
//
// Imports: SubjectPublicKeyInfo (DER or PEM), JWK (RFC 7517/8037), raw EC
// point coordinates (what a TPM returns). Exports: SPKI PEM, JWK, and the
// RFC 7638 thumbprint that cxsec uses as the `kid`.
//
//   CXSEC_ASSIGN_OR_RETURN(JwtPublicKey key, JwtPublicKey::FromSpkiPem(pem));
//   CXSEC_RETURN_IF_ERROR(key.VerifySignature(signing_input, signature));
#ifndef CXSEC_CORE_JWT_PUBLIC_KEY_H_
#define CXSEC_CORE_JWT_PUBLIC_KEY_H_

#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/curve25519.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/crypto/ed25519_public_key.h"
#include "core/crypto/p256_signature.h"
#include "core/crypto/primitives.h"
#include "core/crypto/private_key.h"
#include "core/encoding/base64url.h"
#include "core/encoding/utf8.h"
#include "core/jwt/reason.h"
#include "core/jwt/strict_json.h"
#include "core/status.h"

namespace cxsec {

// JwtAlgorithm: the only two algorithms cxsec issues or accepts.
enum class JwtAlgorithm { kEs256, kEdDsa };

inline absl::string_view JwtAlgorithmName(JwtAlgorithm alg) {
  return alg == JwtAlgorithm::kEs256 ? "ES256" : "EdDSA";
}

// ParseJwtAlgorithm accepts exactly "ES256" or "EdDSA" (case-sensitive, as
// JOSE algorithm names are).
[[nodiscard]] inline absl::StatusOr<JwtAlgorithm> ParseJwtAlgorithm(
    absl::string_view name) {
  if (name == "ES256") return JwtAlgorithm::kEs256;
  if (name == "EdDSA") return JwtAlgorithm::kEdDsa;
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported algorithm '", Utf8Excerpt(name, 32),
                   "' (expected ES256 or EdDSA)"));
}

namespace jwt_internal {

// Kept for callers of the old names; the definitions live in
// core/crypto/p256_signature.h, shared with the signers.
inline constexpr const uint8_t (&kP256Order)[32] = ::cxsec::kP256Order;
inline bool ScalarInRange(const uint8_t* value) {
  return P256ScalarInRange(value);
}

}  // namespace jwt_internal

// JwtPublicKey: see the file comment. Immutable once built; share it with
// std::shared_ptr<const JwtPublicKey>.
class JwtPublicKey {
 public:
  JwtPublicKey(JwtPublicKey&&) = default;
  JwtPublicKey& operator=(JwtPublicKey&&) = default;

  JwtAlgorithm algorithm() const { return algorithm_; }
  // Thumbprint: RFC 7638 SHA-256 thumbprint, base64url (the cxsec kid).
  const std::string& Thumbprint() const { return thumbprint_; }
  // Jwk: the public JWK with kid, alg and use.
  std::string Jwk() const {
    nlohmann::ordered_json jwk = CanonicalJwk();
    jwk["kid"] = thumbprint_;
    jwk["alg"] = std::string(JwtAlgorithmName(algorithm_));
    jwk["use"] = "sig";
    return jwk.dump();
  }
  const Bytes& SpkiDer() const { return spki_der_; }
  std::string SpkiPem() const {
    return PemEncode("PUBLIC KEY", spki_der_);
  }
  // RawPublic: the P-256 point (x||y, 64 bytes) or the Ed25519 key (32).
  const Bytes& RawPublic() const { return raw_; }

  // FromP256Coordinates: x and y, 32 bytes each; off-curve points fail.
  [[nodiscard]] static absl::StatusOr<JwtPublicKey> FromP256Coordinates(
      ByteView x, ByteView y) {
    if (x.size() != 32 || y.size() != 32) {
      return absl::InvalidArgumentError(
          "P-256 coordinates must be 32 bytes each");
    }
    EcKeyPtr key(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
    if (!key) return absl::InternalError("EC_KEY_new_by_curve_name failed");
    uint8_t point[65];
    point[0] = 0x04;
    std::memcpy(point + 1, x.data(), 32);
    std::memcpy(point + 33, y.data(), 32);
    const EC_GROUP* group = EC_KEY_get0_group(key.get());
    EC_POINT* ec_point = EC_POINT_new(group);
    bool ok = ec_point != nullptr &&
              EC_POINT_oct2point(group, ec_point, point, sizeof(point),
                                 nullptr) == 1 &&
              EC_KEY_set_public_key(key.get(), ec_point) == 1 &&
              EC_KEY_check_key(key.get()) == 1;
    EC_POINT_free(ec_point);
    if (!ok) {
      return absl::InvalidArgumentError("P-256 point is not on the curve");
    }
    return FromEcKey(std::move(key));
  }

  // FromEd25519: the 32-byte Ed25519 public key. Every Ed25519 key (SPKI,
  // JWK, EVP_PKEY) comes through here, so CheckEd25519PublicKey refuses
  // small-order, non-canonical and off-curve keys for every caller: at
  // enrolment, in the CLI and when the registry's stored keys are loaded
  // for verification.
  [[nodiscard]] static absl::StatusOr<JwtPublicKey> FromEd25519(ByteView raw) {
    CXSEC_RETURN_IF_ERROR(CheckEd25519PublicKey(raw));
    JwtPublicKey out(JwtAlgorithm::kEdDsa);
    out.raw_ = ToBytes(raw);
    EvpPkeyPtr pkey(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
    if (!pkey) return absl::InvalidArgumentError("invalid Ed25519 public key");
    CXSEC_RETURN_IF_ERROR(out.Finish(pkey.get()));
    return out;
  }

  // FromSpkiDer: a DER SubjectPublicKeyInfo of a P-256 or Ed25519 key.
  [[nodiscard]] static absl::StatusOr<JwtPublicKey> FromSpkiDer(ByteView der) {
    CBS cbs;
    CBS_init(&cbs, der.data(), der.size());
    EvpPkeyPtr pkey(EVP_parse_public_key(&cbs));
    if (!pkey || CBS_len(&cbs) != 0) {
      return absl::InvalidArgumentError(
          "not a DER SubjectPublicKeyInfo (or trailing bytes)");
    }
    return FromEvpPkey(pkey.get());
  }

  [[nodiscard]] static absl::StatusOr<JwtPublicKey> FromSpkiPem(
      absl::string_view pem) {
    CXSEC_ASSIGN_OR_RETURN(Bytes der,
                           PemDecode(pem, "PUBLIC KEY"));
    return FromSpkiDer(der);
  }

  // FromEvpPkey: a BoringSSL key (public part used).
  [[nodiscard]] static absl::StatusOr<JwtPublicKey> FromEvpPkey(
      const EVP_PKEY* pkey) {
    int type = EVP_PKEY_id(pkey);
    if (type == EVP_PKEY_EC) {
      const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(const_cast<EVP_PKEY*>(pkey));
      if (ec == nullptr || EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) !=
                               NID_X9_62_prime256v1) {
        return absl::InvalidArgumentError(
            "EC key is not on P-256 (only ES256 keys are accepted)");
      }
      EcKeyPtr copy(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
      if (!copy || !EC_KEY_set_public_key(copy.get(), EC_KEY_get0_public_key(ec)) ||
          !EC_KEY_check_key(copy.get())) {
        return absl::InvalidArgumentError("invalid P-256 public key");
      }
      return FromEcKey(std::move(copy));
    }
    if (type == EVP_PKEY_ED25519) {
      uint8_t raw[32];
      size_t size = sizeof(raw);
      if (!EVP_PKEY_get_raw_public_key(pkey, raw, &size) || size != 32) {
        return absl::InvalidArgumentError("invalid Ed25519 public key");
      }
      return FromEd25519(ByteView(raw, 32));
    }
    return absl::InvalidArgumentError(
        "unsupported key type (only P-256 and Ed25519)");
  }

  // FromJwk: {"kty":"EC","crv":"P-256","x","y"} or
  // {"kty":"OKP","crv":"Ed25519","x"}. Private members ("d") are refused so
  // a private key is never stored where a public one belongs.
  [[nodiscard]] static absl::StatusOr<JwtPublicKey> FromJwk(
      absl::string_view text) {
    if (text.size() > 4096) return absl::InvalidArgumentError("JWK too large");
    absl::StatusOr<nlohmann::json> jwk = ParseStrictJsonObject(text, "JWK");
    if (!jwk.ok()) {
      return absl::InvalidArgumentError(jwk.status().message());
    }
    auto member = [&](const char* name) -> absl::StatusOr<std::string> {
      auto it = jwk->find(name);
      if (it == jwk->end() || !it->is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("JWK: member '", name, "' missing or not a string"));
      }
      return it->get<std::string>();
    };
    if (jwk->contains("d")) {
      return absl::InvalidArgumentError(
          "JWK contains a private key ('d'); give the public key only");
    }
    CXSEC_ASSIGN_OR_RETURN(std::string kty, member("kty"));
    CXSEC_ASSIGN_OR_RETURN(std::string crv, member("crv"));
    CXSEC_ASSIGN_OR_RETURN(std::string x64, member("x"));
    CXSEC_ASSIGN_OR_RETURN(Bytes x, Base64UrlDecode(x64, 128));
    if (kty == "EC" && crv == "P-256") {
      CXSEC_ASSIGN_OR_RETURN(std::string y64, member("y"));
      CXSEC_ASSIGN_OR_RETURN(Bytes y, Base64UrlDecode(y64, 128));
      return FromP256Coordinates(x, y);
    }
    if (kty == "OKP" && crv == "Ed25519") return FromEd25519(x);
    return absl::InvalidArgumentError(absl::StrCat(
        "JWK: unsupported kty/crv '", Utf8Excerpt(kty, 16), "/",
        Utf8Excerpt(crv, 16), "' (expected EC/P-256 or OKP/Ed25519)"));
  }

  // VerifySignature checks a JWS signature over `signing_input` with this
  // key. Rejections carry kSignatureLength, kSignatureScalar,
  // kSignatureHighS (ES256 s > n/2: the other of the two valid forms, see
  // core/crypto/p256_signature.h) or kSignatureInvalid.
  [[nodiscard]] absl::Status VerifySignature(ByteView signing_input,
                                             ByteView signature) const {
    if (signature.size() != 64) {
      return JwtRejection(
          JwtReason::kSignatureLength,
          absl::StrCat(JwtAlgorithmName(algorithm_),
                       " signature must be 64 bytes, got ", signature.size()));
    }
    if (algorithm_ == JwtAlgorithm::kEdDsa) {
      if (ED25519_verify(signing_input.data(), signing_input.size(),
                         signature.data(), raw_.data()) != 1) {
        return JwtRejection(JwtReason::kSignatureInvalid,
                            "EdDSA signature does not verify");
      }
      return absl::OkStatus();
    }
    if (!jwt_internal::ScalarInRange(signature.data()) ||
        !jwt_internal::ScalarInRange(signature.data() + 32)) {
      return JwtRejection(JwtReason::kSignatureScalar,
                          "ES256 r or s is outside [1, n-1]");
    }
    if (!P256SIsLow(signature.data() + 32)) {
      return JwtRejection(JwtReason::kSignatureHighS,
                          "ES256 s is above n/2 (only the low-S form is "
                          "accepted)");
    }
    Sha256Digest digest = Sha256(signing_input);
    ECDSA_SIG* sig = ECDSA_SIG_new();
    if (sig == nullptr) return absl::InternalError("ECDSA_SIG_new failed");
    BIGNUM* r = BN_bin2bn(signature.data(), 32, nullptr);
    BIGNUM* s = BN_bin2bn(signature.data() + 32, 32, nullptr);
    if (r == nullptr || s == nullptr || !ECDSA_SIG_set0(sig, r, s)) {
      BN_free(r);
      BN_free(s);
      ECDSA_SIG_free(sig);
      return absl::InternalError("ECDSA_SIG_set0 failed");
    }
    int ok = ECDSA_do_verify(digest.data(), digest.size(), sig, ec_key_.get());
    ECDSA_SIG_free(sig);
    if (ok != 1) {
      return JwtRejection(JwtReason::kSignatureInvalid,
                          "ES256 signature does not verify");
    }
    return absl::OkStatus();
  }

 private:
  explicit JwtPublicKey(JwtAlgorithm algorithm) : algorithm_(algorithm) {}

  static absl::StatusOr<JwtPublicKey> FromEcKey(EcKeyPtr key) {
    JwtPublicKey out(JwtAlgorithm::kEs256);
    uint8_t point[65];
    if (EC_POINT_point2oct(EC_KEY_get0_group(key.get()),
                           EC_KEY_get0_public_key(key.get()),
                           POINT_CONVERSION_UNCOMPRESSED, point, sizeof(point),
                           nullptr) != sizeof(point)) {
      return absl::InvalidArgumentError("cannot encode P-256 point");
    }
    out.raw_.assign(point + 1, point + 65);
    EvpPkeyPtr pkey(EVP_PKEY_new());
    if (!pkey || !EVP_PKEY_set1_EC_KEY(pkey.get(), key.get())) {
      return absl::InternalError("EVP_PKEY_set1_EC_KEY failed");
    }
    out.ec_key_ = std::move(key);
    CXSEC_RETURN_IF_ERROR(out.Finish(pkey.get()));
    return out;
  }

  // Finish computes the SPKI and the thumbprint once, at construction.
  absl::Status Finish(EVP_PKEY* pkey) {
    CBB cbb;
    uint8_t* der = nullptr;
    size_t der_size = 0;
    if (!CBB_init(&cbb, 128) || !EVP_marshal_public_key(&cbb, pkey) ||
        !CBB_finish(&cbb, &der, &der_size)) {
      CBB_cleanup(&cbb);
      return absl::InternalError("cannot encode SubjectPublicKeyInfo");
    }
    spki_der_.assign(der, der + der_size);
    OPENSSL_free(der);
    // RFC 7638: required members only, lexicographic order, no whitespace.
    std::string canonical = CanonicalJwk().dump();
    Sha256Digest digest = Sha256(AsBytes(canonical));
    thumbprint_ = Base64UrlEncode(ByteView(digest.data(), digest.size()));
    return absl::OkStatus();
  }

  nlohmann::ordered_json CanonicalJwk() const {
    nlohmann::ordered_json jwk;
    if (algorithm_ == JwtAlgorithm::kEs256) {
      jwk["crv"] = "P-256";
      jwk["kty"] = "EC";
      jwk["x"] = Base64UrlEncode(ByteView(raw_.data(), 32));
      jwk["y"] = Base64UrlEncode(ByteView(raw_.data() + 32, 32));
    } else {
      jwk["crv"] = "Ed25519";
      jwk["kty"] = "OKP";
      jwk["x"] = Base64UrlEncode(ByteView(raw_.data(), raw_.size()));
    }
    return jwk;
  }

  JwtAlgorithm algorithm_;
  Bytes raw_;
  Bytes spki_der_;
  std::string thumbprint_;
  EcKeyPtr ec_key_;
};

}  // namespace cxsec

#endif  // CXSEC_CORE_JWT_PUBLIC_KEY_H_
