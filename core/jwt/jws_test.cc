// RFC known-answer vectors for the JWS layer and key import/export.
#include "core/jwt/jws.h"

#include <openssl/curve25519.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/jwt/verifier.h"
#include "gtest/gtest.h"

namespace cxsec {
namespace {

// RFC 7515 Appendix A.3 (ES256), compact serialization and public JWK. Its
// s is above n/2, the form cxsec refuses; kA3TokenLowS is the same token
// with s replaced by n - s (both verify under plain ECDSA).
constexpr char kA3Token[] =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
constexpr char kA3TokenLowS[] =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmU69fgrc8OPGycO0lD3tat_FoFp57SETepkeks4eL_QfA";
constexpr char kA3Jwk[] =
    R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";

// RFC 8037 Appendix A.4 (Ed25519) and the A.2 public key.
constexpr char kA4Token[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
constexpr char kA4Jwk[] =
    R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";

TEST(JwsTest, Rfc7515A3Es256VerifiesInItsLowSFormOnly) {
  absl::StatusOr<JwtPublicKey> key = JwtPublicKey::FromJwk(kA3Jwk);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->algorithm(), JwtAlgorithm::kEs256);
  absl::StatusOr<JwsParts> jws = VerifyJws(kA3TokenLowS, *key);
  ASSERT_TRUE(jws.ok()) << jws.status();
  EXPECT_EQ(ToString(jws->payload),
            "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n "
            "\"http://example.com/is_root\":true}");
  // The RFC's own signature is the high-S twin: valid ECDSA, refused here
  // so that a token has exactly one valid signature.
  absl::Status high = VerifyJws(kA3Token, *key).status();
  EXPECT_EQ(JwtReasonOf(high), JwtReason::kSignatureHighS) << high;
  EXPECT_EQ(high.message(),
            "SIGNATURE_HIGH_S: ES256 s is above n/2 (only the low-S form is "
            "accepted)");
}

TEST(JwsTest, Rfc7515A3UnderFullPolicyPassesSignatureAndExpiryThenNeedsIat) {
  // The RFC token has no iat, aud or sub, which the device-JWT policy
  // requires; with the clock injected just before its exp, the verifier
  // gets past the signature and stops at the first missing claim.
  FakeClock clock(absl::FromUnixSeconds(1300819300));
  JwtVerifier verifier({.audience = "p"}, clock);
  auto key = std::make_shared<const JwtPublicKey>(*JwtPublicKey::FromJwk(kA3Jwk));
  auto keys = DeviceKeySet::Create("joe", {{key, std::nullopt}});
  ASSERT_TRUE(keys.ok());
  absl::StatusOr<VerifiedClaims> claims =
      verifier.VerifyWithKeys(kA3TokenLowS, *keys);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(JwtReasonOf(claims.status()), JwtReason::kSubMissing)
      << claims.status();
}

TEST(JwsTest, Rfc8037A4EdDsaVerifies) {
  absl::StatusOr<JwtPublicKey> key = JwtPublicKey::FromJwk(kA4Jwk);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->algorithm(), JwtAlgorithm::kEdDsa);
  absl::StatusOr<JwsParts> jws = VerifyJws(kA4Token, *key);
  ASSERT_TRUE(jws.ok()) << jws.status();
  EXPECT_EQ(ToString(jws->payload), "Example of Ed25519 signing");
}

TEST(JwsTest, Rfc8037A3Thumbprint) {
  absl::StatusOr<JwtPublicKey> key = JwtPublicKey::FromJwk(kA4Jwk);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->Thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

TEST(JwsTest, VectorsFailWithTheOtherKeyAndTamperedPayload) {
  JwtPublicKey es = *JwtPublicKey::FromJwk(kA3Jwk);
  JwtPublicKey ed = *JwtPublicKey::FromJwk(kA4Jwk);
  EXPECT_EQ(JwtReasonOf(VerifyJws(kA3TokenLowS, ed).status()),
            JwtReason::kAlgKeyMismatch);
  EXPECT_EQ(JwtReasonOf(VerifyJws(kA4Token, es).status()),
            JwtReason::kAlgKeyMismatch);
  std::string tampered = kA4Token;
  tampered[std::string(kA4Token).find('.') + 1] = 'S';
  EXPECT_EQ(JwtReasonOf(VerifyJws(tampered, ed).status()),
            JwtReason::kSignatureInvalid);
}

TEST(JwsTest, SpkiAndJwkRoundTrip) {
  for (const char* jwk : {kA3Jwk, kA4Jwk}) {
    JwtPublicKey key = *JwtPublicKey::FromJwk(jwk);
    absl::StatusOr<JwtPublicKey> from_pem = JwtPublicKey::FromSpkiPem(key.SpkiPem());
    ASSERT_TRUE(from_pem.ok()) << from_pem.status();
    EXPECT_EQ(from_pem->Thumbprint(), key.Thumbprint());
    absl::StatusOr<JwtPublicKey> from_jwk = JwtPublicKey::FromJwk(key.Jwk());
    ASSERT_TRUE(from_jwk.ok()) << from_jwk.status();
    EXPECT_EQ(from_jwk->RawPublic(), key.RawPublic());
  }
}

TEST(JwsTest, KeyImportRejectsOffCurvePrivateAndUnsupported) {
  // y changed: the point is not on P-256.
  EXPECT_FALSE(JwtPublicKey::FromJwk(
                   R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1"})")
                   .ok());
  EXPECT_FALSE(JwtPublicKey::FromJwk(
                   R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"})")
                   .ok());
  EXPECT_FALSE(JwtPublicKey::FromJwk(R"({"kty":"oct","k":"c2VjcmV0"})").ok());
  EXPECT_FALSE(JwtPublicKey::FromJwk(
                   R"({"kty":"EC","crv":"P-384","x":"AA","y":"AA"})")
                   .ok());
  EXPECT_FALSE(JwtPublicKey::FromSpkiPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").ok());
}

// The Ed25519 identity point as a public key: with R = identity and S = 0,
// RFC 8032's check [S]B = R + [k]A holds for every message.
Bytes IdentityKey() {
  Bytes key(32, 0);
  key[0] = 0x01;
  return key;
}
std::string ForgedEdDsaToken(absl::string_view payload) {
  Bytes sig(64, 0);
  sig[0] = 0x01;  // R = identity, S = 0
  return absl::StrCat(Base64UrlEncode(std::string(R"({"alg":"EdDSA"})")), ".",
                      Base64UrlEncode(payload), ".", Base64UrlEncode(sig));
}

TEST(JwsTest, SmallOrderEd25519KeyIsRefusedSoItsForgeriesNeverVerify) {
  const std::string forged = ForgedEdDsaToken(R"({"sub":"victim"})");
  // Why: BoringSSL's ED25519_verify accepts the forgery under this key.
  JwsParts parts = *ParseJws(forged);
  EXPECT_EQ(ED25519_verify(
                reinterpret_cast<const uint8_t*>(parts.signing_input.data()),
                parts.signing_input.size(), parts.signature.data(),
                IdentityKey().data()),
            1);
  // Every import path goes through CheckEd25519PublicKey: raw, JWK, SPKI.
  std::string jwk = absl::StrCat(R"({"kty":"OKP","crv":"Ed25519","x":")",
                                 Base64UrlEncode(IdentityKey()), R"("})");
  Bytes spki = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
  const Bytes identity = IdentityKey();
  spki.insert(spki.end(), identity.begin(), identity.end());
  std::vector<absl::StatusOr<JwtPublicKey>> keys;
  keys.push_back(JwtPublicKey::FromEd25519(IdentityKey()));
  keys.push_back(JwtPublicKey::FromJwk(jwk));
  keys.push_back(JwtPublicKey::FromSpkiDer(spki));
  for (const absl::StatusOr<JwtPublicKey>& key : keys) {
    if (key.ok()) {
      EXPECT_FALSE(VerifyJws(forged, *key).ok())
          << "a token signed by nobody verified";
    }
    ASSERT_FALSE(key.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(key.status()));
    EXPECT_EQ(key.status().message(),
              "Ed25519 public key has small order (1): signatures under it "
              "can be forged");
  }
}

TEST(JwsTest, NonCanonicalEd25519KeyEncodingsAreRefused) {
  // The RFC 8037 key is fine; x = 0 with the sign bit, and y + p, are not.
  Bytes good = *Base64UrlDecode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
  EXPECT_TRUE(JwtPublicKey::FromEd25519(good).ok());
  Bytes minus_zero = IdentityKey();
  minus_zero[31] = 0x80;
  EXPECT_EQ(JwtPublicKey::FromEd25519(minus_zero).status().message(),
            "Ed25519 public key is not canonical: x = 0 with the sign bit set");
  Bytes p_plus_one(32, 0xff);
  p_plus_one[0] = 0xee;
  p_plus_one[31] = 0x7f;
  EXPECT_EQ(JwtPublicKey::FromEd25519(p_plus_one).status().message(),
            "Ed25519 public key is not canonical: y >= 2^255-19");
}

}  // namespace
}  // namespace cxsec

namespace cxsec {
namespace {

TEST(StrictJsonTest, DuplicatesFoundInSmallAndLargeObjectsAndNested) {
  EXPECT_TRUE(ParseStrictJsonObject(R"({"a":1,"b":{"a":2}})", "x").ok());
  EXPECT_EQ(JwtReasonOf(ParseStrictJsonObject(R"({"a":1,"b":{"c":2,"c":3}})", "x").status()),
            JwtReason::kDuplicateMember);
  std::string big = "{";
  for (int i = 0; i < 40; ++i) absl::StrAppend(&big, "\"k", i, "\":", i, ",");
  EXPECT_TRUE(ParseStrictJsonObject(big + "\"z\":0}", "x").ok());
  EXPECT_EQ(JwtReasonOf(ParseStrictJsonObject(big + "\"k3\":0}", "x").status()),
            JwtReason::kDuplicateMember);
  EXPECT_EQ(JwtReasonOf(ParseStrictJsonObject(big + "\"k39\":0}", "x").status()),
            JwtReason::kDuplicateMember);
  // Escapes decode before comparison: "\u0061" is "a".
  EXPECT_EQ(JwtReasonOf(ParseStrictJsonObject(R"({"a":1,"\u0061":2})", "x").status()),
            JwtReason::kDuplicateMember);
}

}  // namespace
}  // namespace cxsec
