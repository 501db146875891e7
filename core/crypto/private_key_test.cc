// Unit tests of the shared private-key code: generation, PKCS#8 PEM round
// trips for both key types, and the malformed or unsupported inputs that
// must be refused with a reason.
#include "core/crypto/private_key.h"

#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/nid.h>

#include <string>

#include "gtest/gtest.h"

namespace cxsec {
namespace {

Bytes PublicDer(const EVP_PKEY* key) {
  CBB cbb;
  EXPECT_TRUE(CBB_init(&cbb, 128));
  EXPECT_TRUE(EVP_marshal_public_key(&cbb, const_cast<EVP_PKEY*>(key)));
  Bytes der(CBB_data(&cbb), CBB_data(&cbb) + CBB_len(&cbb));
  CBB_cleanup(&cbb);
  return der;
}

std::string Text(const SecretBytes& secret) {
  return std::string(AsStringView(secret.Reveal(SecretAccess::Grant())));
}

SecretBytes Secret(const std::string& text) {
  return SecretBytes::CopyFrom(AsBytes(text));
}

TEST(PrivateKeyTest, Pkcs8PemRoundTripKeepsTheKey) {
  for (PrivateKeyType type : {PrivateKeyType::kP256, PrivateKeyType::kEd25519}) {
    EvpPkeyPtr key = GeneratePrivateKey(type).value();
    EXPECT_EQ(PrivateKeyTypeOf(key.get()).value(), type);
    SecretBytes pem = PrivateKeyToPkcs8Pem(key.get()).value();
    std::string text = Text(pem);
    EXPECT_EQ(text.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u) << text;
    EXPECT_NE(text.find("-----END PRIVATE KEY-----\n"), std::string::npos);
    EvpPkeyPtr loaded = ParsePkcs8PrivateKeyPem(pem).value();
    EXPECT_EQ(PublicDer(loaded.get()), PublicDer(key.get()));
    EXPECT_EQ(PrivateKeyTypeOf(loaded.get()).value(), type);
  }
}

TEST(PrivateKeyTest, TwoGeneratedKeysDiffer) {
  EvpPkeyPtr a = GeneratePrivateKey(PrivateKeyType::kEd25519).value();
  EvpPkeyPtr b = GeneratePrivateKey(PrivateKeyType::kEd25519).value();
  EXPECT_NE(PublicDer(a.get()), PublicDer(b.get()));
}

TEST(PrivateKeyTest, PemLinesAreAtMost64Columns) {
  EvpPkeyPtr key = GeneratePrivateKey(PrivateKeyType::kP256).value();
  std::string text = Text(PrivateKeyToPkcs8Pem(key.get()).value());
  size_t start = 0;
  int lines = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    EXPECT_LE(end - start, 64u);
    ++lines;
  }
  EXPECT_GE(lines, 4);  // BEGIN, at least two body lines, END
}

TEST(PrivateKeyTest, MalformedPemIsRefusedWithAReason) {
  EvpPkeyPtr key = GeneratePrivateKey(PrivateKeyType::kP256).value();
  const std::string good = Text(PrivateKeyToPkcs8Pem(key.get()).value());
  const std::string body = good.substr(good.find('\n') + 1);
  struct Case {
    std::string name;
    std::string text;
    std::string reason;
  };
  const Case cases[] = {
      {"empty", "", "no '-----BEGIN PRIVATE KEY-----' line"},
      {"junk", "junk", "no '-----BEGIN PRIVATE KEY-----' line"},
      {"SEC1 label", "-----BEGIN EC PRIVATE KEY-----\n" + body,
       "no '-----BEGIN PRIVATE KEY-----' line"},
      {"no end line", good.substr(0, good.find("-----END")), "no '-----END PRIVATE KEY-----' line"},
      {"two blocks", good + good, "more than one block"},
      {"url-safe character", "-----BEGIN PRIVATE KEY-----\nMIG_\n-----END PRIVATE KEY-----\n",
       "invalid base64 character"},
      {"not DER", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
       "not an unencrypted PKCS#8 private key"},
      {"oversized", std::string(64 * 1024 + 1, 'A'), "larger than 64 KiB"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<EvpPkeyPtr> parsed = ParsePkcs8PrivateKeyPem(Secret(c.text));
    ASSERT_FALSE(parsed.ok()) << c.name;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(std::string(parsed.status().message()).find(c.reason), std::string::npos)
        << c.name << ": " << parsed.status();
  }
}

TEST(PrivateKeyTest, TrailingBytesAfterTheKeyAreRefused) {
  EvpPkeyPtr key = GeneratePrivateKey(PrivateKeyType::kEd25519).value();
  CBB cbb;
  ASSERT_TRUE(CBB_init(&cbb, 128));
  ASSERT_TRUE(EVP_marshal_private_key(&cbb, key.get()));
  Bytes der(CBB_data(&cbb), CBB_data(&cbb) + CBB_len(&cbb));
  CBB_cleanup(&cbb);
  EXPECT_TRUE(ParsePkcs8PrivateKeyDer(der).ok());
  der.push_back(0);
  EXPECT_FALSE(ParsePkcs8PrivateKeyDer(der).ok());
}

TEST(PrivateKeyTest, KeysOnOtherCurvesAreRefused) {
  EcKeyPtr ec(EC_KEY_new_by_curve_name(NID_secp384r1));
  ASSERT_TRUE(ec && EC_KEY_generate_key(ec.get()));
  EvpPkeyPtr p384(EVP_PKEY_new());
  ASSERT_TRUE(EVP_PKEY_set1_EC_KEY(p384.get(), ec.get()));
  SecretBytes pem = PrivateKeyToPkcs8Pem(p384.get()).value();
  absl::StatusOr<EvpPkeyPtr> parsed = ParsePkcs8PrivateKeyPem(pem);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(std::string(parsed.status().message()).find("not on P-256"), std::string::npos)
      << parsed.status();
}

}  // namespace
}  // namespace cxsec
