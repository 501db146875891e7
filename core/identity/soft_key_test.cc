// SoftKey: generation, PKCS#8 round trip, signatures that verify.
#include "core/identity/soft_key.h"

#include "core/jwt/jws.h"
#include "gtest/gtest.h"

namespace cxsec {
namespace {

TEST(SoftKeyTest, Pkcs8RoundTripKeepsTheKeyAndSignaturesVerify) {
  for (JwtAlgorithm alg : {JwtAlgorithm::kEs256, JwtAlgorithm::kEdDsa}) {
    absl::StatusOr<SoftKey> key = SoftKey::Generate(alg);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->JwsAlgorithm(), JwtAlgorithmName(alg));
    absl::StatusOr<SecretBytes> pem = key->ToPkcs8Pem();
    ASSERT_TRUE(pem.ok());
    EXPECT_TRUE(absl::StartsWith(AsStringView(pem->Reveal(SecretAccess::Grant())),
                                 "-----BEGIN PRIVATE KEY-----\n"));
    absl::StatusOr<SoftKey> loaded = SoftKey::FromPkcs8Pem(*pem);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(*loaded->KeyId(), *key->KeyId());
    Bytes sig = *loaded->Sign(AsBytes("message"));
    ASSERT_EQ(sig.size(), 64u);
    EXPECT_TRUE(key->PublicKey().VerifySignature(AsBytes("message"), sig).ok());
    EXPECT_FALSE(key->PublicKey().VerifySignature(AsBytes("messagf"), sig).ok());
  }
}

TEST(SoftKeyTest, RejectsGarbageAndPublicKeys) {
  SoftKey key = *SoftKey::Generate(JwtAlgorithm::kEs256);
  EXPECT_FALSE(SoftKey::FromPkcs8Pem(SecretBytes::CopyFrom(AsBytes(key.PublicKey().SpkiPem()))).ok());
  EXPECT_FALSE(SoftKey::FromPkcs8Pem(SecretBytes::CopyFrom(AsBytes(
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))).ok());
  EXPECT_FALSE(SoftKey::FromPkcs8Der(ByteView()).ok());
}

}  // namespace
}  // namespace cxsec
