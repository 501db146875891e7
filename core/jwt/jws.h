// JWS compact serialization (RFC 7515 §7.1) as cxsec accepts it: exactly
// three strict-base64url segments, a UTF-8 JSON object header without
// duplicate members, alg ES256 or EdDSA, no key-carrying or key-locating
// headers (jku, x5u, jwk, x5c), no crit, typ "JWT" when present, a kid that
// is a plain lookup key, and a 64-byte signature. ParseJws does all checks
// that need no key; VerifyJws adds the signature check against one key.
//
//   CXSEC_ASSIGN_OR_RETURN(JwsParts jws, VerifyJws(token, public_key));
//   // jws.payload is now authenticated
#ifndef CXSEC_CORE_JWT_JWS_H_
#define CXSEC_CORE_JWT_JWS_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/encoding/base64url.h"
#include "core/encoding/utf8.h"
#include "core/jwt/public_key.h"
#include "core/jwt/reason.h"
#include "core/jwt/strict_json.h"
#include "core/status.h"

namespace cxsec {

// kMaxJwtBytes: tokens above 8 KiB are refused before any decoding.
inline constexpr size_t kMaxJwtBytes = 8 * 1024;
// kMaxKidBytes: a kid is a thumbprint (43 chars) or a short label.
inline constexpr size_t kMaxKidBytes = 128;

// JwsParts: a parsed compact JWS. The views point into the token, which
// must outlive this.
struct JwsParts {
  absl::string_view signing_input;  // "header.payload", what is signed
  absl::string_view payload_b64;
  nlohmann::json header;  // null when parsed for verification only
  JwtAlgorithm algorithm = JwtAlgorithm::kEs256;
  std::string kid;  // empty when absent
  Bytes payload;
  Bytes signature;
};

namespace jwt_internal {

inline absl::StatusOr<Bytes> DecodeSegment(absl::string_view segment,
                                           absl::string_view what) {
  absl::StatusOr<Bytes> raw = Base64UrlDecode(segment, kMaxJwtBytes);
  if (!raw.ok()) {
    return JwtRejection(JwtReason::kBadBase64Url,
                        absl::StrCat(what, ": ", raw.status().message()));
  }
  return raw;
}

// A kid is only ever compared for equality; anything that looks like a
// path, URL or control sequence is refused so no code can be tempted to
// use it as one.
inline bool IsPlainKid(absl::string_view kid) {
  if (kid.empty() || kid.size() > kMaxKidBytes) return false;
  if (absl::StrContains(kid, "..")) return false;
  for (char c : kid) {
    bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

inline absl::Status CheckHeader(const JoseObject& header, JwsParts& out) {
  const JoseValue* alg = header.Find("alg");
  if (alg == nullptr) {
    return JwtRejection(JwtReason::kAlgMissing, "header has no alg");
  }
  if (!alg->is_string()) {
    return JwtRejection(JwtReason::kAlgMissing, "header alg is not a string");
  }
  const std::string& name = alg->string;
  if (absl::EqualsIgnoreCase(name, "none")) {
    return JwtRejection(JwtReason::kAlgNone, "alg 'none' is never accepted");
  }
  if (absl::StartsWithIgnoreCase(name, "HS")) {
    return JwtRejection(JwtReason::kAlgHmac,
                        "HMAC algorithms are not accepted with public keys");
  }
  if (name == "ES256") {
    out.algorithm = JwtAlgorithm::kEs256;
  } else if (name == "EdDSA") {
    out.algorithm = JwtAlgorithm::kEdDsa;
  } else {
    return JwtRejection(JwtReason::kAlgUnsupported,
                        absl::StrCat("alg '", Utf8Excerpt(name, 32),
                                     "' is not ES256 or EdDSA"));
  }
  for (const char* forbidden : {"jku", "x5u", "jwk", "x5c"}) {
    if (header.Contains(forbidden)) {
      return JwtRejection(
          JwtReason::kForbiddenHeader,
          absl::StrCat("header '", forbidden,
                       "' is refused: keys come only from the registry"));
    }
  }
  if (header.Contains("crit")) {
    return JwtRejection(JwtReason::kCritHeader,
                        "header 'crit' is refused (no extensions understood)");
  }
  if (const JoseValue* typ = header.Find("typ"); typ != nullptr) {
    if (!typ->is_string() || typ->string != "JWT") {
      return JwtRejection(JwtReason::kBadTyp, "header typ must be \"JWT\"");
    }
  }
  if (const JoseValue* kid = header.Find("kid"); kid != nullptr) {
    if (!kid->is_string() || !IsPlainKid(kid->string)) {
      return JwtRejection(JwtReason::kBadKid,
                          "header kid must be 1-128 of [A-Za-z0-9._-], no '..'");
    }
    out.kid = kid->string;
  }
  return absl::OkStatus();
}

// ParseJwsParts: ParseJws, leaving `header` null unless `header_json`
// (the verifier reads only alg and kid, which are in JwsParts already).
[[nodiscard]] inline absl::StatusOr<JwsParts> ParseJwsParts(
    absl::string_view token, bool header_json) {
  if (token.size() > kMaxJwtBytes) {
    return JwtRejection(JwtReason::kTokenTooLarge,
                        absl::StrCat("token of ", token.size(),
                                     " bytes exceeds ", kMaxJwtBytes));
  }
  size_t first = token.find('.');
  size_t second = first == absl::string_view::npos
                      ? absl::string_view::npos
                      : token.find('.', first + 1);
  if (second == absl::string_view::npos ||
      token.find('.', second + 1) != absl::string_view::npos) {
    return JwtRejection(JwtReason::kSegmentCount,
                        "a compact JWS has exactly three segments");
  }
  JwsParts out;
  absl::string_view header_b64 = token.substr(0, first);
  out.payload_b64 = token.substr(first + 1, second - first - 1);
  absl::string_view signature_b64 = token.substr(second + 1);
  out.signing_input = token.substr(0, second);

  CXSEC_ASSIGN_OR_RETURN(Bytes header_raw, DecodeSegment(header_b64, "header"));
  CXSEC_ASSIGN_OR_RETURN(
      JoseObject header,
      ParseStrictJoseObject(AsStringView(header_raw), "header"));
  CXSEC_RETURN_IF_ERROR(CheckHeader(header, out));
  if (header_json) {
    // Already known to be strict JSON; this only builds the DOM.
    out.header = nlohmann::json::parse(AsStringView(header_raw), nullptr,
                                       /*allow_exceptions=*/false);
    if (!out.header.is_object()) {
      return JwtRejection(JwtReason::kBadJson, "header is not valid JSON");
    }
  }
  CXSEC_ASSIGN_OR_RETURN(out.payload,
                         DecodeSegment(out.payload_b64, "payload"));
  if (signature_b64.empty()) {
    return JwtRejection(JwtReason::kSignatureMissing, "signature segment is empty");
  }
  CXSEC_ASSIGN_OR_RETURN(out.signature,
                         DecodeSegment(signature_b64, "signature"));
  if (out.signature.size() != 64) {
    return JwtRejection(
        JwtReason::kSignatureLength,
        absl::StrCat("signature must be 64 bytes (raw r||s for ES256), got ",
                     out.signature.size()));
  }
  return out;
}

}  // namespace jwt_internal

// ParseJws: every check that needs no key (see the file comment).
[[nodiscard]] inline absl::StatusOr<JwsParts> ParseJws(
    absl::string_view token) {
  return jwt_internal::ParseJwsParts(token, /*header_json=*/true);
}

// CheckAlgorithmForKey: the key decides the algorithm (RFC 8725 §3.1).
[[nodiscard]] inline absl::Status CheckAlgorithmForKey(const JwsParts& jws,
                                                       const JwtPublicKey& key) {
  if (jws.algorithm != key.algorithm()) {
    return JwtRejection(
        JwtReason::kAlgKeyMismatch,
        absl::StrCat("alg ", JwtAlgorithmName(jws.algorithm),
                     " does not match the key's ",
                     JwtAlgorithmName(key.algorithm())));
  }
  return absl::OkStatus();
}

// VerifyJws: ParseJws plus the signature check with `key`. The payload is
// not interpreted (RFC 8037's example payload is not even JSON); JWT claim
// rules live in JwtVerifier.
[[nodiscard]] inline absl::StatusOr<JwsParts> VerifyJws(absl::string_view token,
                                                        const JwtPublicKey& key) {
  CXSEC_ASSIGN_OR_RETURN(JwsParts jws, ParseJws(token));
  CXSEC_RETURN_IF_ERROR(CheckAlgorithmForKey(jws, key));
  CXSEC_RETURN_IF_ERROR(
      key.VerifySignature(AsBytes(jws.signing_input), jws.signature));
  return jws;
}

}  // namespace cxsec

#endif  // CXSEC_CORE_JWT_JWS_H_
