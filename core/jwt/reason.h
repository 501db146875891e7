// Rejection reason codes of the JWT verifier. Every rejection carries one,
// so logs and metrics can count "why" without parsing prose, and the
// message of the returned absl::Status starts with the code's name:
//
//   UNAUTHENTICATED: "ALG_NONE: alg 'none' is never accepted"
//
// The numeric values are part of the API (they end up in metrics and in
// other services, e.g. the cloud verifier): the enum is only ever extended,
// never renumbered, and a value is never reused.
#ifndef CXSEC_CORE_JWT_REASON_H_
#define CXSEC_CORE_JWT_REASON_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace cxsec {

enum class JwtReason : uint16_t {
  // Encoding.
  kTokenTooLarge = 1,       // more than JwtLimits::kMaxTokenBytes
  kSegmentCount = 2,        // not exactly three '.'-separated segments
  kBadBase64Url = 3,        // padding, '+', '/', bad trailing bits, ...
  kBadUtf8 = 4,             // header or payload is not UTF-8
  kBadJson = 5,             // not parseable JSON
  kDuplicateMember = 6,     // a member name appears twice in one object
  kJsonTooDeep = 7,         // nesting beyond JwtLimits::kMaxJsonDepth
  kNotAnObject = 8,         // header or payload is not a JSON object
  // Header.
  kAlgMissing = 9,
  kAlgNone = 10,            // "none" in any casing
  kAlgHmac = 11,            // HS256/HS384/HS512 (never with public keys)
  kAlgUnsupported = 12,     // anything but ES256 and EdDSA
  kAlgKeyMismatch = 13,     // alg not bound to the key that was tried
  kForbiddenHeader = 14,    // jku, x5u, jwk, x5c
  kCritHeader = 15,         // any crit
  kBadTyp = 16,             // typ present and not "JWT"
  kBadKid = 17,             // kid not a plain lookup key (path, too long)
  // Signature.
  kSignatureMissing = 18,   // empty third segment
  kSignatureLength = 19,    // not exactly 64 bytes (e.g. DER)
  kSignatureScalar = 20,    // ES256 r or s outside [1, n-1]
  kSignatureInvalid = 21,   // the signature does not verify
  // Keys.
  kUnknownDevice = 22,      // no key set registered for the subject
  kNoUsableKey = 23,        // every key of the device is expired / none fit
  // Claims.
  kClaimType = 24,          // a registered claim has the wrong JSON type
  kExpMissing = 25,
  kIatMissing = 26,
  kExpired = 27,            // exp + skew <= now
  kIatInFuture = 28,        // iat > now + skew
  kNotYetValid = 29,        // nbf > now + skew
  kLifetimeTooLong = 30,    // exp - iat > max lifetime
  kLifetimeNegative = 31,   // exp <= iat
  kAudMissing = 32,
  kAudMismatch = 33,        // not the project, or an array of != 1 element
  kIssMismatch = 34,
  kSubMismatch = 35,        // sub differs from the device the keys belong to
  kSubMissing = 36,
  // Signature (added later; numbers are never reused).
  kSignatureHighS = 37,     // ES256 s > n/2: only the low-S form is valid
};

// JwtReasonName: the stable text form used as the message prefix.
inline absl::string_view JwtReasonName(JwtReason reason) {
  switch (reason) {
    case JwtReason::kTokenTooLarge: return "TOKEN_TOO_LARGE";
    case JwtReason::kSegmentCount: return "SEGMENT_COUNT";
    case JwtReason::kBadBase64Url: return "BAD_BASE64URL";
    case JwtReason::kBadUtf8: return "BAD_UTF8";
    case JwtReason::kBadJson: return "BAD_JSON";
    case JwtReason::kDuplicateMember: return "DUPLICATE_MEMBER";
    case JwtReason::kJsonTooDeep: return "JSON_TOO_DEEP";
    case JwtReason::kNotAnObject: return "NOT_AN_OBJECT";
    case JwtReason::kAlgMissing: return "ALG_MISSING";
    case JwtReason::kAlgNone: return "ALG_NONE";
    case JwtReason::kAlgHmac: return "ALG_HMAC";
    case JwtReason::kAlgUnsupported: return "ALG_UNSUPPORTED";
    case JwtReason::kAlgKeyMismatch: return "ALG_KEY_MISMATCH";
    case JwtReason::kForbiddenHeader: return "FORBIDDEN_HEADER";
    case JwtReason::kCritHeader: return "CRIT_HEADER";
    case JwtReason::kBadTyp: return "BAD_TYP";
    case JwtReason::kBadKid: return "BAD_KID";
    case JwtReason::kSignatureMissing: return "SIGNATURE_MISSING";
    case JwtReason::kSignatureLength: return "SIGNATURE_LENGTH";
    case JwtReason::kSignatureScalar: return "SIGNATURE_SCALAR";
    case JwtReason::kSignatureInvalid: return "SIGNATURE_INVALID";
    case JwtReason::kUnknownDevice: return "UNKNOWN_DEVICE";
    case JwtReason::kNoUsableKey: return "NO_USABLE_KEY";
    case JwtReason::kClaimType: return "CLAIM_TYPE";
    case JwtReason::kExpMissing: return "EXP_MISSING";
    case JwtReason::kIatMissing: return "IAT_MISSING";
    case JwtReason::kExpired: return "EXPIRED";
    case JwtReason::kIatInFuture: return "IAT_IN_FUTURE";
    case JwtReason::kNotYetValid: return "NOT_YET_VALID";
    case JwtReason::kLifetimeTooLong: return "LIFETIME_TOO_LONG";
    case JwtReason::kLifetimeNegative: return "LIFETIME_NEGATIVE";
    case JwtReason::kAudMissing: return "AUD_MISSING";
    case JwtReason::kAudMismatch: return "AUD_MISMATCH";
    case JwtReason::kIssMismatch: return "ISS_MISMATCH";
    case JwtReason::kSubMismatch: return "SUB_MISMATCH";
    case JwtReason::kSubMissing: return "SUB_MISSING";
    case JwtReason::kSignatureHighS: return "SIGNATURE_HIGH_S";
  }
  return "UNKNOWN_REASON";
}

// The status payload URL under which the numeric reason is attached.
inline constexpr absl::string_view kJwtReasonPayloadUrl =
    "type.cxsec.dev/jwt.reason";

// JwtRejection builds the Status for a rejection: UNAUTHENTICATED, message
// "<CODE>: <detail>", and the numeric code as a payload. `detail` must not
// contain secrets (tokens are not secrets once rejected, but keep them out
// anyway: a log is no place for bearer credentials).
inline absl::Status JwtRejection(JwtReason reason, absl::string_view detail) {
  absl::Status status = absl::UnauthenticatedError(
      absl::StrCat(JwtReasonName(reason), ": ", detail));
  status.SetPayload(kJwtReasonPayloadUrl,
                    absl::Cord(absl::StrCat(static_cast<int>(reason))));
  return status;
}

// JwtReasonOf recovers the reason from a Status made by JwtRejection.
inline std::optional<JwtReason> JwtReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kJwtReasonPayloadUrl);
  if (!payload) return std::nullopt;
  int value = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &value)) return std::nullopt;
  return static_cast<JwtReason>(value);
}

}  // namespace cxsec

#endif  // CXSEC_CORE_JWT_REASON_H_
