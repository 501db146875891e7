// Enrolment proofs: a proof minted by the new key verifies; one signed by
// another key, for another gateway, with a malformed nonce, a foreign jkt,
// a long lifetime or past its expiry is refused, each saying why.
#include "core/jwt/enrollment_proof.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/identity/soft_key.h"
#include "gtest/gtest.h"

namespace cxsec {
namespace {

constexpr char kGateway[] = "G0123456789abcdef01";
const std::string kNonce(43, 'A');

class EnrollmentProofTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (JwtAlgorithm alg : {JwtAlgorithm::kEs256, JwtAlgorithm::kEdDsa}) {
      absl::StatusOr<SoftKey> key = SoftKey::Generate(alg);
      ASSERT_TRUE(key.ok()) << key.status();
      keys_.push_back(std::make_unique<SoftKey>(*std::move(key)));
    }
  }
  // Signs arbitrary claims with `key`, as a hostile client could.
  std::string SignClaims(SoftKey& key, const nlohmann::json& claims) {
    nlohmann::json header = {{"alg", key.JwsAlgorithm()}, {"typ", "JWT"}};
    std::string input = absl::StrCat(Base64UrlEncode(header.dump()), ".",
                                     Base64UrlEncode(claims.dump()));
    absl::StatusOr<Bytes> sig = key.Sign(AsBytes(input));
    EXPECT_TRUE(sig.ok());
    return absl::StrCat(input, ".", Base64UrlEncode(*sig));
  }
  nlohmann::json Claims(SoftKey& key) {
    int64_t now = absl::ToUnixSeconds(clock_.Now());
    return {{"aud", std::string(kEnrollmentProofAudience)},
            {"sub", kGateway},
            {"nonce", kNonce},
            {"jkt", *key.KeyId()},
            {"iat", now},
            {"exp", now + 300}};
  }

  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::vector<std::unique_ptr<SoftKey>> keys_;
};

TEST_F(EnrollmentProofTest, ProofMintedByTheNewKeyVerifies) {
  for (auto& key : keys_) {
    absl::StatusOr<std::string> proof =
        MintEnrollmentProof(*key, kGateway, kNonce, clock_.Now());
    ASSERT_TRUE(proof.ok()) << proof.status();
    absl::StatusOr<VerifiedEnrollmentProof> verified =
        VerifyEnrollmentProof(*proof, key->SharedPublicKey(), kGateway, clock_);
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_EQ(verified->gateway_id(), kGateway);
    EXPECT_EQ(verified->nonce(), kNonce);
    EXPECT_EQ(verified->key()->Thumbprint(), *key->KeyId());
  }
}

TEST_F(EnrollmentProofTest, MintRefusesMalformedInput) {
  EXPECT_FALSE(
      MintEnrollmentProof(*keys_[0], kGateway, "short", clock_.Now()).ok());
  EXPECT_FALSE(MintEnrollmentProof(*keys_[0], "", kNonce, clock_.Now()).ok());
  EXPECT_FALSE(MintEnrollmentProof(*keys_[0], kGateway, kNonce, clock_.Now(),
                                   absl::Minutes(11))
                   .ok());
  // 43 characters that do not decode to 32 bytes (bad trailing bits).
  EXPECT_FALSE(MintEnrollmentProof(*keys_[0], kGateway,
                                   std::string(42, 'A') + "B", clock_.Now())
                   .ok());
}

TEST_F(EnrollmentProofTest, EachDefectIsRefusedWithItsReason) {
  SoftKey& key = *keys_[0];
  SoftKey& other = *keys_[1];
  auto with = [&](const char* name, nlohmann::json value) {
    nlohmann::json c = Claims(key);
    if (value.is_null())
      c.erase(name);
    else
      c[name] = value;
    return SignClaims(key, c);
  };
  int64_t now = absl::ToUnixSeconds(clock_.Now());
  struct Case {
    const char* name;
    std::string proof;
    const char* message_part;
  } cases[] = {
      {"signed by another key", SignClaims(other, Claims(key)),
       "ALG_KEY_MISMATCH"},
      {"wrong sub", with("sub", "Gfedcba9876543210ff"), "SUB_MISMATCH"},
      {"gateway-token audience", with("aud", "acme"), "AUD_MISMATCH"},
      {"expired",
       [&] {
         nlohmann::json c = Claims(key);
         c["iat"] = now - 1200;
         c["exp"] = now - 900;
         return SignClaims(key, c);
       }(),
       "EXPIRED"},
      {"long lifetime", with("exp", now + 3600), "LIFETIME_TOO_LONG"},
      {"no nonce", with("nonce", nullptr), "nonce"},
      {"malformed nonce", with("nonce", "../../principals/admin"), "nonce"},
      {"no jkt", with("jkt", nullptr), "jkt"},
      {"foreign jkt", with("jkt", *other.KeyId()), "jkt"},
      {"garbage", "a.b.c", "BAD"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<VerifiedEnrollmentProof> verified =
        VerifyEnrollmentProof(c.proof, key.SharedPublicKey(), kGateway, clock_);
    ASSERT_FALSE(verified.ok()) << c.name;
    EXPECT_TRUE(absl::StrContains(verified.status().message(), c.message_part))
        << c.name << ": " << verified.status();
  }
  // Signed by another key of the same algorithm: the signature fails.
  absl::StatusOr<SoftKey> same_alg = SoftKey::Generate(JwtAlgorithm::kEs256);
  ASSERT_TRUE(same_alg.ok());
  absl::StatusOr<VerifiedEnrollmentProof> verified =
      VerifyEnrollmentProof(SignClaims(*same_alg, Claims(key)),
                            key.SharedPublicKey(), kGateway, clock_);
  ASSERT_FALSE(verified.ok());
  EXPECT_TRUE(
      absl::StrContains(verified.status().message(), "SIGNATURE_INVALID"))
      << verified.status();
}

}  // namespace
}  // namespace cxsec
