// The strict verifier: soft-key round trips, a table of malformed and
// attack tokens each rejected for its own reason, key sets, the
// verification cache and the caching token source.
#include "core/jwt/verifier.h"

#include <openssl/bn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/crypto/p256_signature.h"
#include "core/identity/soft_key.h"
#include "core/jwt/issuer.h"
#include "gtest/gtest.h"

namespace cxsec {
namespace {

constexpr int64_t kNow = 1700000000;

std::string B64(absl::string_view text) { return Base64UrlEncode(text); }

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    es_ = std::make_unique<SoftKey>(*SoftKey::Generate(JwtAlgorithm::kEs256));
    ed_ = std::make_unique<SoftKey>(*SoftKey::Generate(JwtAlgorithm::kEdDsa));
  }

  DeviceKeySet Keys(std::vector<DeviceKey> keys, std::string device = "G1") {
    return *DeviceKeySet::Create(std::move(device), std::move(keys));
  }
  DeviceKeySet EsKeys() { return Keys({{es_->SharedPublicKey(), std::nullopt}}); }

  std::string Claims(int64_t iat, int64_t exp, absl::string_view extra = "") {
    return absl::StrCat(R"({"iss":"G1","sub":"G1","aud":"proj","iat":)", iat,
                        R"(,"exp":)", exp, extra, "}");
  }
  std::string GoodClaims() { return Claims(kNow, kNow + 3600); }

  // Signs header.payload (raw JSON text) with `key`.
  std::string Sign(absl::string_view header, absl::string_view payload,
                   SoftKey& key) {
    std::string input = absl::StrCat(B64(header), ".", B64(payload));
    Bytes sig = *key.Sign(AsBytes(input));
    return absl::StrCat(input, ".", Base64UrlEncode(sig));
  }
  std::string Es(absl::string_view header, absl::string_view payload) {
    return Sign(header, payload, *es_);
  }
  std::string WithSig(absl::string_view header, absl::string_view payload,
                      ByteView sig) {
    return absl::StrCat(B64(header), ".", B64(payload), ".",
                        Base64UrlEncode(sig));
  }

  FakeClock clock_{absl::FromUnixSeconds(kNow)};
  std::unique_ptr<SoftKey> es_;
  std::unique_ptr<SoftKey> ed_;
};

constexpr char kEsHeader[] = R"({"alg":"ES256","typ":"JWT"})";

TEST_F(VerifierTest, MintedTokensVerifyForBothAlgorithms) {
  JwtVerifier verifier({.audience = "proj"}, clock_);
  for (SoftKey* key : {es_.get(), ed_.get()}) {
    absl::StatusOr<MintedJwt> minted = MintJwt(
        *key, {.subject = "G1", .audience = "proj"}, clock_.Now());
    ASSERT_TRUE(minted.ok()) << minted.status();
    absl::StatusOr<VerifiedClaims> claims = verifier.VerifyWithKeys(
        minted->token, Keys({{key->SharedPublicKey(), std::nullopt}}));
    ASSERT_TRUE(claims.ok()) << claims.status();
    EXPECT_EQ(claims->subject, "G1");
    EXPECT_EQ(claims->issuer, "G1");
    EXPECT_EQ(claims->audience, "proj");
    EXPECT_EQ(claims->expires_at - claims->issued_at, absl::Hours(1));
    EXPECT_EQ(claims->key_id, key->PublicKey().Thumbprint());
    EXPECT_EQ(claims->jwt_id.size(), 22u);
    // The header carries alg, typ and the thumbprint as kid.
    JwsParts jws = *ParseJws(minted->token);
    EXPECT_EQ(jws.kid, key->PublicKey().Thumbprint());
    EXPECT_EQ(jws.header["typ"], "JWT");
  }
}

// MintJwt writes its JSON by hand; it must produce exactly the bytes the
// nlohmann::ordered_json it replaced produced, escapes included.
TEST_F(VerifierTest, MintedJsonIsWhatNlohmannWouldWrite) {
  const std::string odd[] = {"G1",
                             "quote\"back\\slash",
                             "tab\tnl\nff\fbs\bcr\r",
                             std::string("nul\0x\x01\x1f\x7f", 9),
                             "caf\xc3\xa9 \xf0\x9f\x94\x92",
                             "/slash/",
                             ""};
  for (const std::string& issuer : odd) {
    for (const std::string& subject : {std::string("G1"), issuer}) {
      if (subject.empty()) continue;
      absl::StatusOr<MintedJwt> minted =
          MintJwt(*ed_,
                  {.subject = subject,
                   .audience = issuer.empty() ? "p" : issuer,
                   .issuer = issuer},
                  clock_.Now());
      ASSERT_TRUE(minted.ok()) << minted.status();
      std::vector<std::string> parts = absl::StrSplit(minted->token, '.');
      ASSERT_EQ(parts.size(), 3u);
      nlohmann::ordered_json header;
      header["alg"] = "EdDSA";
      header["typ"] = "JWT";
      header["kid"] = ed_->PublicKey().Thumbprint();
      EXPECT_EQ(ToString(*Base64UrlDecode(parts[0])), header.dump());
      std::string payload = ToString(*Base64UrlDecode(parts[1]));
      nlohmann::ordered_json claims;
      claims["iss"] = issuer.empty() ? subject : issuer;
      claims["sub"] = subject;
      claims["aud"] = issuer.empty() ? "p" : issuer;
      claims["iat"] = kNow;
      claims["exp"] = kNow + 3600;
      claims["jti"] = nlohmann::json::parse(payload)["jti"];
      EXPECT_EQ(payload, claims.dump());
    }
  }
  // Text that is not UTF-8 is refused (nlohmann's dump threw).
  EXPECT_TRUE(absl::IsInvalidArgument(
      MintJwt(*es_, {.subject = "G\xff", .audience = "p"}, clock_.Now())
          .status()));
}

std::string JtiOf(const std::string& token) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return "";
  nlohmann::json claims =
      nlohmann::json::parse(ToString(*Base64UrlDecode(parts[1])));
  return claims["jti"].get<std::string>();
}

// Minting takes jtis from a per-thread block of CSPRNG output: many
// tokens, across several blocks, never share one.
TEST_F(VerifierTest, MintedJtisAreDistinctAcrossManyTokens) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<MintedJwt> minted =
        MintJwt(*ed_, {.subject = "G1", .audience = "p"}, clock_.Now());
    ASSERT_TRUE(minted.ok()) << minted.status();
    std::string jti = JtiOf(minted->token);
    EXPECT_EQ(jti.size(), 22u);  // 16 bytes, base64url
    EXPECT_TRUE(seen.insert(jti).second) << "jti repeated: " << jti;
  }
}

// A forked child must not mint the jtis its parent has yet to use (the
// block of CSPRNG output is copied into the child with the rest of the
// process).
TEST_F(VerifierTest, AForkedChildDoesNotRepeatItsParentsJtis) {
  const JwtIssueOptions options{.subject = "G1", .audience = "p"};
  ASSERT_TRUE(MintJwt(*ed_, options, clock_.Now()).ok());  // a block drawn
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    absl::StatusOr<MintedJwt> minted = MintJwt(*ed_, options, clock_.Now());
    std::string jti = minted.ok() ? JtiOf(minted->token) : "";
    bool written = write(fds[1], jti.data(), jti.size()) ==
                   static_cast<ssize_t>(jti.size());
    _exit(minted.ok() && written ? 0 : 1);
  }
  close(fds[1]);
  char buffer[64];
  ssize_t n = read(fds[0], buffer, sizeof(buffer));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(n, 22);
  absl::StatusOr<MintedJwt> parent = MintJwt(*ed_, options, clock_.Now());
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_NE(JtiOf(parent->token), std::string(buffer, n));
}

TEST_F(VerifierTest, MintRefusesLifetimeAboveOneDay) {
  EXPECT_FALSE(MintJwt(*es_, {.subject = "G1", .audience = "proj",
                              .lifetime = absl::Hours(25)},
                       clock_.Now())
                   .ok());
}

struct AttackCase {
  std::string name;
  std::string token;
  JwtReason expected;
};

TEST_F(VerifierTest, AttackTableEachRejectedForItsReason) {
  const std::string good = Es(kEsHeader, GoodClaims());
  ASSERT_TRUE(JwtVerifier({.audience = "proj"}, clock_)
                  .VerifyWithKeys(good, EsKeys())
                  .ok());
  const size_t dot1 = good.find('.');
  const size_t dot2 = good.rfind('.');
  const std::string signing_input = good.substr(0, dot2);
  const Bytes good_sig = *Base64UrlDecode(good.substr(dot2 + 1));
  Bytes der_sig = {0x30, 0x44, 0x02, 0x20};
  der_sig.insert(der_sig.end(), good_sig.begin(), good_sig.begin() + 32);
  der_sig.insert(der_sig.end(), {0x02, 0x20});
  der_sig.insert(der_sig.end(), good_sig.begin() + 32, good_sig.end());
  Bytes zero_r = good_sig;
  std::fill(zero_r.begin(), zero_r.begin() + 32, 0);
  Bytes s_is_n = good_sig;
  std::copy(jwt_internal::kP256Order, jwt_internal::kP256Order + 32,
            s_is_n.begin() + 32);
  Bytes flipped = good_sig;
  flipped[10] ^= 0x01;
  std::string sig_b64 = good.substr(dot2 + 1);
  std::string noncanonical = good;
  // 64 bytes use 86 characters; the last one carries 4 unused bits. Set
  // the lowest of them: same bytes, a second encoding.
  noncanonical.back() = base64url_internal::kAlphabet[
      base64url_internal::DecodeChar(noncanonical.back()) ^ 1];
  // HS256 "signed" with the public key bytes as the secret (the classic
  // key-confusion attack).
  std::string hs_input =
      absl::StrCat(B64(R"({"alg":"HS256","typ":"JWT"})"), ".", B64(GoodClaims()));
  Sha256Digest mac = HmacSha256(es_->PublicKey().SpkiDer(), AsBytes(hs_input));
  std::string hs_token = absl::StrCat(hs_input, ".", Base64UrlEncode(ByteView(mac.data(), mac.size())));
  std::string deep = "[[[[[[[[[1]]]]]]]]]";

  std::vector<AttackCase> cases = {
      {"oversized", Es(kEsHeader, Claims(kNow, kNow + 60, absl::StrCat(",\"pad\":\"", std::string(9000, 'a'), "\""))), JwtReason::kTokenTooLarge},
      {"one segment", B64(kEsHeader), JwtReason::kSegmentCount},
      {"two segments", good.substr(0, dot2), JwtReason::kSegmentCount},
      {"four segments", good + ".AAAA", JwtReason::kSegmentCount},
      {"padded header", absl::StrCat(B64(kEsHeader), "=", good.substr(dot1)), JwtReason::kBadBase64Url},
      {"plus in signature", absl::StrCat(signing_input, ".", "+", sig_b64.substr(1)), JwtReason::kBadBase64Url},
      {"slash in payload", absl::StrCat(good.substr(0, dot1 + 1), "/", good.substr(dot1 + 2)), JwtReason::kBadBase64Url},
      {"non-canonical trailing bits", noncanonical, JwtReason::kBadBase64Url},
      {"whitespace in token", absl::StrCat(good.substr(0, dot1), " ", good.substr(dot1)), JwtReason::kBadBase64Url},
      {"header not utf-8", Es("{\"alg\":\"ES256\",\"x\":\"\xc3\x28\"}", GoodClaims()), JwtReason::kBadUtf8},
      {"payload not utf-8", Es(kEsHeader, Claims(kNow, kNow + 60, ",\"x\":\"\xed\xa0\x80\"")), JwtReason::kBadUtf8},
      {"header not json", Es("{alg:ES256}", GoodClaims()), JwtReason::kBadJson},
      {"payload not json", Es(kEsHeader, "Example of Ed25519 signing"), JwtReason::kBadJson},
      {"header is an array", Es(R"(["ES256"])", GoodClaims()), JwtReason::kNotAnObject},
      {"payload is a string", Es(kEsHeader, R"("G1")"), JwtReason::kNotAnObject},
      {"duplicate alg", Es(R"({"alg":"ES256","alg":"none"})", GoodClaims()), JwtReason::kDuplicateMember},
      {"duplicate sub", Es(kEsHeader, Claims(kNow, kNow + 60, R"(,"sub":"G2")")), JwtReason::kDuplicateMember},
      {"deep nesting", Es(kEsHeader, Claims(kNow, kNow + 60, absl::StrCat(",\"x\":", deep))), JwtReason::kJsonTooDeep},
      {"alg missing", Es(R"({"typ":"JWT"})", GoodClaims()), JwtReason::kAlgMissing},
      {"alg not a string", Es(R"({"alg":7})", GoodClaims()), JwtReason::kAlgMissing},
      {"alg none unsigned", absl::StrCat(B64(R"({"alg":"none"})"), ".", B64(GoodClaims()), "."), JwtReason::kAlgNone},
      {"alg NoNe", Es(R"({"alg":"NoNe"})", GoodClaims()), JwtReason::kAlgNone},
      {"alg HS256 with public key as secret", hs_token, JwtReason::kAlgHmac},
      {"alg RS256", Es(R"({"alg":"RS256"})", GoodClaims()), JwtReason::kAlgUnsupported},
      {"alg ES384", Es(R"({"alg":"ES384"})", GoodClaims()), JwtReason::kAlgUnsupported},
      {"alg es256 lowercase", Es(R"({"alg":"es256"})", GoodClaims()), JwtReason::kAlgUnsupported},
      {"EdDSA token for an ES256-only device", Sign(R"({"alg":"EdDSA"})", GoodClaims(), *ed_), JwtReason::kAlgKeyMismatch},
      {"jku header", Es(R"({"alg":"ES256","jku":"https://evil/jwks"})", GoodClaims()), JwtReason::kForbiddenHeader},
      {"x5u header", Es(R"({"alg":"ES256","x5u":"https://evil/cert"})", GoodClaims()), JwtReason::kForbiddenHeader},
      {"embedded jwk", Es(absl::StrCat(R"({"alg":"ES256","jwk":)", es_->PublicKey().Jwk(), "}"), GoodClaims()), JwtReason::kForbiddenHeader},
      {"x5c header", Es(R"({"alg":"ES256","x5c":["MIIB"]})", GoodClaims()), JwtReason::kForbiddenHeader},
      {"crit header", Es(R"({"alg":"ES256","crit":["exp"]})", GoodClaims()), JwtReason::kCritHeader},
      {"typ not JWT", Es(R"({"alg":"ES256","typ":"at+jwt"})", GoodClaims()), JwtReason::kBadTyp},
      {"kid path traversal", Es(R"({"alg":"ES256","kid":"../../etc/passwd"})", GoodClaims()), JwtReason::kBadKid},
      {"kid url", Es(R"({"alg":"ES256","kid":"https://evil/key"})", GoodClaims()), JwtReason::kBadKid},
      {"kid not a string", Es(R"({"alg":"ES256","kid":1})", GoodClaims()), JwtReason::kBadKid},
      {"empty signature", signing_input + ".", JwtReason::kSignatureMissing},
      {"DER signature", WithSig(kEsHeader, GoodClaims(), der_sig), JwtReason::kSignatureLength},
      {"63-byte signature", WithSig(kEsHeader, GoodClaims(), ByteView(good_sig.data(), 63)), JwtReason::kSignatureLength},
      {"r is zero", WithSig(kEsHeader, GoodClaims(), zero_r), JwtReason::kSignatureScalar},
      {"s equals n", WithSig(kEsHeader, GoodClaims(), s_is_n), JwtReason::kSignatureScalar},
      {"flipped signature bit", WithSig(kEsHeader, GoodClaims(), flipped), JwtReason::kSignatureInvalid},
      {"payload swapped under signature", absl::StrCat(B64(kEsHeader), ".", B64(Claims(kNow, kNow + 7200)), ".", sig_b64), JwtReason::kSignatureInvalid},
      {"signed by an unregistered key", Sign(kEsHeader, GoodClaims(), *std::make_unique<SoftKey>(*SoftKey::Generate(JwtAlgorithm::kEs256))), JwtReason::kSignatureInvalid},
      {"exp missing", Es(kEsHeader, R"({"iss":"G1","sub":"G1","aud":"proj","iat":1700000000})"), JwtReason::kExpMissing},
      {"iat missing", Es(kEsHeader, R"({"iss":"G1","sub":"G1","aud":"proj","exp":1700000600})"), JwtReason::kIatMissing},
      {"exp is a string", Es(kEsHeader, R"({"iss":"G1","sub":"G1","aud":"proj","iat":1700000000,"exp":"1700000600"})"), JwtReason::kClaimType},
      {"exp is a float", Es(kEsHeader, R"({"iss":"G1","sub":"G1","aud":"proj","iat":1700000000,"exp":1700000600.5})"), JwtReason::kClaimType},
      {"iat negative", Es(kEsHeader, R"({"iss":"G1","sub":"G1","aud":"proj","iat":-5,"exp":1700000600})"), JwtReason::kClaimType},
      {"expired beyond skew", Es(kEsHeader, Claims(kNow - 3600, kNow - 601)), JwtReason::kExpired},
      {"iat beyond skew", Es(kEsHeader, Claims(kNow + 601, kNow + 3600)), JwtReason::kIatInFuture},
      {"lifetime 24h + 1s", Es(kEsHeader, Claims(kNow, kNow + 86401)), JwtReason::kLifetimeTooLong},
      {"exp before iat", Es(kEsHeader, Claims(kNow, kNow - 1)), JwtReason::kLifetimeNegative},
      {"nbf in the future", Es(kEsHeader, Claims(kNow, kNow + 3600, absl::StrCat(",\"nbf\":", kNow + 1800))), JwtReason::kNotYetValid},
      {"aud missing", Es(kEsHeader, R"({"iss":"G1","sub":"G1","iat":1700000000,"exp":1700000600})"), JwtReason::kAudMissing},
      {"aud other project", Es(kEsHeader, R"({"iss":"G1","sub":"G1","aud":"other","iat":1700000000,"exp":1700000600})"), JwtReason::kAudMismatch},
      {"aud prefix of project", Es(kEsHeader, R"({"iss":"G1","sub":"G1","aud":"pro","iat":1700000000,"exp":1700000600})"), JwtReason::kAudMismatch},
      {"aud two-element array", Es(kEsHeader, R"({"iss":"G1","sub":"G1","aud":["proj","other"],"iat":1700000000,"exp":1700000600})"), JwtReason::kAudMismatch},
      {"aud a number", Es(kEsHeader, R"({"iss":"G1","sub":"G1","aud":5,"iat":1700000000,"exp":1700000600})"), JwtReason::kClaimType},
      {"sub another device", Es(kEsHeader, R"({"iss":"G1","sub":"G2","aud":"proj","iat":1700000000,"exp":1700000600})"), JwtReason::kSubMismatch},
      {"sub missing", Es(kEsHeader, R"({"iss":"G1","aud":"proj","iat":1700000000,"exp":1700000600})"), JwtReason::kSubMissing},
      {"iss wrong", Es(kEsHeader, R"({"iss":"evil","sub":"G1","aud":"proj","iat":1700000000,"exp":1700000600})"), JwtReason::kIssMismatch},
  };
  ASSERT_GE(cases.size(), 30u);
  for (const AttackCase& c : cases) {
    JwtVerifier verifier({.audience = "proj", .issuer = "G1"}, clock_);
    absl::StatusOr<VerifiedClaims> result = verifier.VerifyWithKeys(c.token, EsKeys());
    ASSERT_FALSE(result.ok()) << c.name;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << c.name;
    EXPECT_EQ(JwtReasonOf(result.status()), c.expected)
        << c.name << ": " << result.status();
    EXPECT_TRUE(absl::StartsWith(result.status().message(),
                                 JwtReasonName(c.expected)))
        << c.name;
    EXPECT_EQ(verifier.CachedTokenCount(), 0u) << c.name;
  }
}

// HighSTwin: the token with s replaced by n - s, the second signature
// ECDSA accepts for the same input.
std::string HighSTwin(const std::string& token) {
  const size_t dot2 = token.rfind('.');
  Bytes sig = *Base64UrlDecode(token.substr(dot2 + 1));
  bssl::UniquePtr<BIGNUM> n(BN_bin2bn(kP256Order, 32, nullptr));
  bssl::UniquePtr<BIGNUM> s(BN_bin2bn(sig.data() + 32, 32, nullptr));
  EXPECT_TRUE(BN_sub(s.get(), n.get(), s.get()));
  EXPECT_TRUE(BN_bn2bin_padded(sig.data() + 32, 32, s.get()));
  return absl::StrCat(token.substr(0, dot2), ".", Base64UrlEncode(sig));
}

TEST_F(VerifierTest, HighSTwinOfAValidEs256TokenIsRefused) {
  JwtVerifier verifier({.audience = "proj"}, clock_);
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<MintedJwt> minted =
        MintJwt(*es_, {.subject = "G1", .audience = "proj"}, clock_.Now());
    ASSERT_TRUE(minted.ok()) << minted.status();
    ASSERT_TRUE(verifier.VerifyWithKeys(minted->token, EsKeys()).ok());
    std::string twin = HighSTwin(minted->token);
    absl::StatusOr<VerifiedClaims> claims =
        verifier.VerifyWithKeys(twin, EsKeys());
    ASSERT_FALSE(claims.ok()) << "the n - s twin of a valid token verified";
    EXPECT_EQ(JwtReasonOf(claims.status()), JwtReason::kSignatureHighS)
        << claims.status();
    EXPECT_EQ(JwtReasonOf(VerifyJws(twin, es_->PublicKey()).status()),
              JwtReason::kSignatureHighS);
  }
}

TEST_F(VerifierTest, SoftKeyEs256SignaturesAreAlwaysLowS) {
  // Half of all raw ECDSA signatures have a high s; 300 low ones by chance
  // would happen once in 2^300 runs.
  for (int i = 0; i < 300; ++i) {
    std::string input = absl::StrCat("message ", i);
    absl::StatusOr<Bytes> sig = es_->Sign(AsBytes(input));
    ASSERT_TRUE(sig.ok()) << sig.status();
    ASSERT_EQ(sig->size(), 64u);
    ASSERT_TRUE(P256SIsLow(sig->data() + 32)) << "signature " << i;
    ASSERT_TRUE(es_->PublicKey().VerifySignature(AsBytes(input), *sig).ok());
  }
}

TEST_F(VerifierTest, AudienceAsOneElementArrayAndSkewEdgesAccepted) {
  JwtVerifier verifier({.audience = "proj"}, clock_);
  for (const std::string& claims : {
           std::string(R"({"iss":"G1","sub":"G1","aud":["proj"],"iat":1700000000,"exp":1700000600})"),
           Claims(kNow + 600, kNow + 3600),           // iat exactly at the skew
           Claims(kNow - 3600, kNow - 599),           // exp + skew just ahead
           Claims(kNow, kNow + 86400),                // exactly 24 h
       }) {
    absl::StatusOr<VerifiedClaims> result =
        verifier.VerifyWithKeys(Es(kEsHeader, claims), EsKeys());
    EXPECT_TRUE(result.ok()) << claims << ": " << result.status();
  }
}

TEST_F(VerifierTest, KeySetRules) {
  auto k = [&]() {
    return DeviceKey{std::make_shared<const JwtPublicKey>(
                         SoftKey::Generate(JwtAlgorithm::kEs256)->PublicKey().SpkiDer().empty()
                             ? *JwtPublicKey::FromJwk("{}")
                             : *JwtPublicKey::FromSpkiDer(SoftKey::Generate(JwtAlgorithm::kEs256)->PublicKey().SpkiDer())),
                     std::nullopt};
  };
  EXPECT_FALSE(DeviceKeySet::Create("G1", {k(), k(), k(), k()}).ok());
  EXPECT_TRUE(DeviceKeySet::Create("G1", {k(), k(), k()}).ok());
  EXPECT_FALSE(DeviceKeySet::Create("", {k()}).ok());
  DeviceKey same{es_->SharedPublicKey(), std::nullopt};
  EXPECT_FALSE(DeviceKeySet::Create("G1", {same, same}).ok());
}

TEST_F(VerifierTest, ExpiredKeyIsNeverUsedAndKidPicksKey) {
  JwtVerifier verifier({.audience = "proj"}, clock_);
  std::string token = Es(kEsHeader, GoodClaims());
  DeviceKeySet expired = Keys({{es_->SharedPublicKey(), clock_.Now()}});
  EXPECT_EQ(JwtReasonOf(verifier.VerifyWithKeys(token, expired).status()),
            JwtReason::kNoUsableKey);
  // An expired key next to a valid one: the valid one verifies its tokens,
  // the expired one's tokens fail.
  DeviceKeySet mixed = Keys({{ed_->SharedPublicKey(), clock_.Now() - absl::Seconds(1)},
                             {es_->SharedPublicKey(), clock_.Now() + absl::Hours(1)}});
  EXPECT_TRUE(verifier.VerifyWithKeys(token, mixed).ok());
  std::string ed_token = Sign(R"({"alg":"EdDSA"})", GoodClaims(), *ed_);
  EXPECT_EQ(JwtReasonOf(verifier.VerifyWithKeys(ed_token, mixed).status()),
            JwtReason::kAlgKeyMismatch);
  // Three ES256 keys; the kid selects the right one, and without a kid
  // every key is tried.
  SoftKey other1 = *SoftKey::Generate(JwtAlgorithm::kEs256);
  SoftKey other2 = *SoftKey::Generate(JwtAlgorithm::kEs256);
  DeviceKeySet three = Keys({{other1.SharedPublicKey(), std::nullopt},
                             {other2.SharedPublicKey(), std::nullopt},
                             {es_->SharedPublicKey(), std::nullopt}});
  std::string with_kid = Es(absl::StrCat(R"({"alg":"ES256","kid":")",
                                         es_->PublicKey().Thumbprint(), "\"}"),
                            Claims(kNow, kNow + 100));
  absl::StatusOr<VerifiedClaims> claims = verifier.VerifyWithKeys(with_kid, three);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->key_id, es_->PublicKey().Thumbprint());
  EXPECT_TRUE(verifier.VerifyWithKeys(Es(kEsHeader, Claims(kNow, kNow + 101)), three).ok());
}

TEST_F(VerifierTest, RegistryLooksUpKeysBySubject) {
  JwtVerifier verifier({.audience = "proj"}, clock_);
  std::string token = Es(kEsHeader, GoodClaims());
  EXPECT_EQ(JwtReasonOf(verifier.Verify(token).status()), JwtReason::kUnknownDevice);
  ASSERT_TRUE(verifier.SetDeviceKeys(EsKeys()).ok());
  EXPECT_TRUE(verifier.Verify(token).ok());
  // A token of G1 signed by G2's registered key is refused.
  ASSERT_TRUE(verifier.SetDeviceKeys(Keys({{ed_->SharedPublicKey(), std::nullopt}}, "G2")).ok());
  std::string forged = Sign(R"({"alg":"EdDSA"})", GoodClaims(), *ed_);
  EXPECT_EQ(JwtReasonOf(verifier.Verify(forged).status()), JwtReason::kAlgKeyMismatch);
}

TEST_F(VerifierTest, ParsedTokenVerifiesAndSharesTheCacheWithTheToken) {
  JwtVerifier verifier({.audience = "proj"}, clock_);
  std::string token = Es(kEsHeader, GoodClaims());
  const Sha256Digest digest = Sha256(AsBytes(token));
  absl::StatusOr<ParsedJwt> parsed = ParseJwt(token);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_NE(parsed->claims.Find("sub"),
            nullptr);  // readable before verification
  EXPECT_EQ(parsed->claims.Find("sub")->string, "G1");
  absl::StatusOr<VerifiedClaims> claims =
      verifier.VerifyParsedWithKeys(*parsed, EsKeys(), digest);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "G1");
  EXPECT_EQ(verifier.CachedTokenCount(), 1u);
  EXPECT_TRUE(verifier.VerifyWithKeys(token, EsKeys(), &digest).ok());
  EXPECT_EQ(verifier.CachedTokenCount(), 1u);  // the same entry
  // The parsed form is checked as strictly as the token: wrong keys fail.
  EXPECT_EQ(JwtReasonOf(verifier
                            .VerifyParsedWithKeys(
                                *parsed,
                                Keys({{ed_->SharedPublicKey(), std::nullopt}}),
                                digest)
                            .status()),
            JwtReason::kAlgKeyMismatch);
  EXPECT_EQ(JwtReasonOf(ParseJwt("a.b.c").status()), JwtReason::kBadBase64Url);
}

TEST_F(VerifierTest, CacheHitStillEnforcesExp) {
  JwtVerifier verifier({.audience = "proj"}, clock_);
  ASSERT_TRUE(verifier.SetDeviceKeys(EsKeys()).ok());
  std::string token = Es(kEsHeader, GoodClaims());
  ASSERT_TRUE(verifier.Verify(token).ok());
  EXPECT_EQ(verifier.CachedTokenCount(), 1u);
  ASSERT_TRUE(verifier.Verify(token).ok());  // hit
  clock_.Advance(absl::Seconds(3600 + 600));  // exp + skew reached
  absl::StatusOr<VerifiedClaims> late = verifier.Verify(token);
  EXPECT_EQ(JwtReasonOf(late.status()), JwtReason::kExpired) << late.status();
  EXPECT_EQ(verifier.CachedTokenCount(), 0u);
}

TEST_F(VerifierTest, CacheIsBounded) {
  JwtVerifier verifier({.audience = "proj", .cache_capacity = 8}, clock_);
  ASSERT_TRUE(verifier.SetDeviceKeys(EsKeys()).ok());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(verifier.Verify(Es(kEsHeader, Claims(kNow, kNow + 100 + i))).ok());
    EXPECT_LE(verifier.CachedTokenCount(), 8u);
  }
  EXPECT_EQ(verifier.CachedTokenCount(), 8u);
}

// A gateway that mints a fresh token per request (a compromised one, or a
// buggy one) must not push the other gateways' tokens out of the cache and
// make every one of their requests cost a signature check.
TEST_F(VerifierTest, OneSubjectFloodingTheCacheEvictsOnlyItsOwnTokens) {
  JwtVerifier verifier({.audience = "proj",
                        .cache_capacity = 100,
                        .cache_capacity_per_device = 16},
                       clock_);
  ASSERT_TRUE(verifier.SetDeviceKeys(EsKeys()).ok());
  ASSERT_TRUE(
      verifier
          .SetDeviceKeys(Keys({{ed_->SharedPublicKey(), std::nullopt}}, "G2"))
          .ok());
  std::string g2_token =
      Sign(R"({"alg":"EdDSA"})",
           absl::StrCat(R"({"sub":"G2","aud":"proj","iat":)", kNow,
                        R"(,"exp":)", kNow + 3600, "}"),
           *ed_);
  ASSERT_TRUE(verifier.Verify(g2_token).ok());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(
        verifier.Verify(Es(kEsHeader, Claims(kNow, kNow + 100 + i))).ok());
    ASSERT_LE(verifier.CachedTokenCountFor("G1"), 16u);
  }
  EXPECT_EQ(verifier.CachedTokenCountFor("G1"), 16u);
  EXPECT_EQ(verifier.CachedTokenCountFor("G2"), 1u);
  EXPECT_EQ(verifier.CachedTokenCount(), 17u);
  // Revocation drops G1's share; the count follows, and the cap still holds.
  ASSERT_TRUE(verifier.RevokeKey("G1", es_->PublicKey().Thumbprint()).ok());
  EXPECT_EQ(verifier.CachedTokenCountFor("G1"), 0u);
  EXPECT_EQ(verifier.CachedTokenCount(), 1u);
  EXPECT_TRUE(verifier.Verify(g2_token).ok());
  EXPECT_EQ(verifier.CachedTokenCountFor("G2"), 1u);
}

TEST_F(VerifierTest, RevokingOrRemovingAKeyDropsItsCachedTokens) {
  JwtVerifier verifier({.audience = "proj"}, clock_);
  ASSERT_TRUE(verifier.SetDeviceKeys(Keys({{es_->SharedPublicKey(), std::nullopt},
                                           {ed_->SharedPublicKey(), std::nullopt}})).ok());
  std::string es_token = Es(kEsHeader, GoodClaims());
  std::string ed_token = Sign(R"({"alg":"EdDSA"})", GoodClaims(), *ed_);
  ASSERT_TRUE(verifier.Verify(es_token).ok());
  ASSERT_TRUE(verifier.Verify(ed_token).ok());
  EXPECT_EQ(verifier.CachedTokenCount(), 2u);
  ASSERT_TRUE(verifier.RevokeKey("G1", es_->PublicKey().Thumbprint()).ok());
  EXPECT_EQ(verifier.CachedTokenCount(), 1u);
  EXPECT_EQ(JwtReasonOf(verifier.Verify(es_token).status()), JwtReason::kAlgKeyMismatch);
  EXPECT_TRUE(verifier.Verify(ed_token).ok());
  // Replacing the key set without the Ed25519 key drops it too.
  ASSERT_TRUE(verifier.SetDeviceKeys(EsKeys()).ok());
  EXPECT_EQ(verifier.CachedTokenCount(), 0u);
  EXPECT_FALSE(verifier.Verify(ed_token).ok());
  verifier.RemoveDevice("G1");
  EXPECT_EQ(JwtReasonOf(verifier.Verify(es_token).status()), JwtReason::kUnknownDevice);
}

TEST_F(VerifierTest, CacheHitHonoursKeyExpiryAndCallerKeySet) {
  JwtVerifier verifier({.audience = "proj"}, clock_);
  DeviceKeySet soon = Keys({{es_->SharedPublicKey(), clock_.Now() + absl::Minutes(5)}});
  std::string token = Es(kEsHeader, GoodClaims());
  ASSERT_TRUE(verifier.VerifyWithKeys(token, soon).ok());
  // Same token, a key set without that key: no cached acceptance.
  DeviceKeySet other = Keys({{ed_->SharedPublicKey(), std::nullopt}});
  EXPECT_FALSE(verifier.VerifyWithKeys(token, other).ok());
  // Nor through the registry, where G1 is unknown.
  EXPECT_EQ(JwtReasonOf(verifier.Verify(token).status()), JwtReason::kUnknownDevice);
  clock_.Advance(absl::Minutes(6));
  EXPECT_EQ(JwtReasonOf(verifier.VerifyWithKeys(token, soon).status()),
            JwtReason::kNoUsableKey);
}

TEST_F(VerifierTest, TokenSourceMintsAgainAfterEightyPercent) {
  CachingTokenSource<SoftKey> source(
      *es_, {.subject = "G1", .audience = "proj", .lifetime = absl::Seconds(1000)},
      clock_);
  BearerTokenSource bearer = source.AsBearerTokenSource();
  std::string first = *bearer();
  EXPECT_EQ(*bearer(), first);
  clock_.Advance(absl::Seconds(799));
  EXPECT_EQ(*bearer(), first);
  EXPECT_EQ(source.MintCount(), 1);
  clock_.Advance(absl::Seconds(1));
  std::string second = *bearer();
  EXPECT_NE(second, first);
  EXPECT_EQ(source.MintCount(), 2);
  JwtVerifier verifier({.audience = "proj"}, clock_);
  EXPECT_TRUE(verifier.VerifyWithKeys(second, EsKeys()).ok());
}

}  // namespace
}  // namespace cxsec
