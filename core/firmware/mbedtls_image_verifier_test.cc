// Unit test (host) of the verifier composed with the node's Mbed TLS
// backend: the same image_verifier.h the bootloader runs, checked against
// images signed by the host's writer (BoringSSL), so the two backends agree
// on what a valid MCUboot image is. Also pins the RejectReason values and
// names, which are extend-only.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/firmware/boringssl_firmware_crypto.h"
#include "core/firmware/image_format.h"
#include "core/firmware/image_verifier.h"
#include "core/firmware/image_writer.h"
#include "core/firmware/mbedtls_firmware_crypto.h"
#include "core/firmware/signing_key.h"
#include "gtest/gtest.h"
#include "mbedtls/memory_buffer_alloc.h"

namespace cxsec::firmware {
namespace {

using NodeVerifier = ImageVerifier<MbedTlsFirmwareCrypto>;
using HostVerifier = ImageVerifier<BoringSslFirmwareCrypto>;

class MbedTlsImageVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mbedtls_memory_buffer_alloc_init(heap_.data(), heap_.size());
  }
  void TearDown() override { mbedtls_memory_buffer_alloc_free(); }

  static Bytes Sign(const SigningKey& key, uint32_t counter) {
    SignOptions options;
    options.version = ImageVersion{1, 2, 3, 4};
    options.header_size = 0x200;
    options.security_counter = counter;
    return BuildSignedImage(Bytes(1000, 0xa5), options, key).value();
  }

  template <class Verifier>
  static VerifyOutcome Verify(const Bytes& image, const TrustedKey& key,
                              uint32_t stored_counter = 0) {
    std::array<uint8_t, 256> buffer;
    VerifyOptions options;
    options.stored_security_counter = stored_counter;
    return Verifier::Verify(MemoryImageSource(image),
                            std::span<const TrustedKey>(&key, 1), options,
                            buffer);
  }

  std::array<unsigned char, 8192> heap_{};
};

TEST_F(MbedTlsImageVerifierTest, AcceptsAnEcdsaP256ImageLikeTheHostBackend) {
  const SigningKey key = SigningKey::Generate(SignatureAlgorithm::kEcdsaP256).value();
  const TrustedKey trusted = key.ToTrustedKey().value();
  const Bytes image = Sign(key, 5);
  const VerifyOutcome node = Verify<NodeVerifier>(image, trusted);
  ASSERT_TRUE(node.ok()) << RejectReasonName(node.reason);
  EXPECT_EQ(node.image().security_counter(), 5u);
  const VerifyOutcome host = Verify<HostVerifier>(image, trusted);
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(node.image().digest(), host.image().digest());
}

TEST_F(MbedTlsImageVerifierTest, RefusesAFlippedBodyByteAndAWrongSignature) {
  const SigningKey key = SigningKey::Generate(SignatureAlgorithm::kEcdsaP256).value();
  const TrustedKey trusted = key.ToTrustedKey().value();
  Bytes flipped = Sign(key, 1);
  flipped[0x200 + 10] ^= 0x01;
  EXPECT_EQ(Verify<NodeVerifier>(flipped, trusted).reason,
            RejectReason::kDigestMismatch);

  const Bytes image = Sign(key, 1);
  TrustedKey wrong_point = trusted;
  const SigningKey other_key =
      SigningKey::Generate(SignatureAlgorithm::kEcdsaP256).value();
  const TrustedKey other_trusted = other_key.ToTrustedKey().value();
  // The trusted entry keeps the image's KEYHASH but holds another key's
  // point, so only the signature check can tell.
  wrong_point.public_key = other_trusted.public_key;
  EXPECT_EQ(Verify<NodeVerifier>(image, wrong_point).reason,
            RejectReason::kBadSignature);
  EXPECT_EQ(Verify<HostVerifier>(image, wrong_point).reason,
            RejectReason::kBadSignature);
}

TEST_F(MbedTlsImageVerifierTest, RefusesRollbackBelowTheStoredCounter) {
  const SigningKey key = SigningKey::Generate(SignatureAlgorithm::kEcdsaP256).value();
  const TrustedKey trusted = key.ToTrustedKey().value();
  EXPECT_EQ(Verify<NodeVerifier>(Sign(key, 3), trusted, 4).reason,
            RejectReason::kRollback);
  EXPECT_TRUE(Verify<NodeVerifier>(Sign(key, 4), trusted, 4).ok());
}

TEST_F(MbedTlsImageVerifierTest, RefusesEd25519AsUnsupportedNotAsValid) {
  const SigningKey key = SigningKey::Generate(SignatureAlgorithm::kEd25519).value();
  const TrustedKey trusted = key.ToTrustedKey().value();
  const Bytes image = Sign(key, 1);
  EXPECT_EQ(Verify<NodeVerifier>(image, trusted).reason,
            RejectReason::kSignatureTypeUnsupported);
  EXPECT_TRUE(Verify<HostVerifier>(image, trusted).ok());
}

TEST_F(MbedTlsImageVerifierTest, EcdsaFailsClosedWithoutMbedTlsHeap) {
  const SigningKey key = SigningKey::Generate(SignatureAlgorithm::kEcdsaP256).value();
  const TrustedKey trusted = key.ToTrustedKey().value();
  const Bytes image = Sign(key, 1);
  mbedtls_memory_buffer_alloc_free();
  EXPECT_EQ(Verify<NodeVerifier>(image, trusted).reason,
            RejectReason::kBadSignature);
  mbedtls_memory_buffer_alloc_init(heap_.data(), heap_.size());
}

// Reason values are extend-only: logs and the bootloader's output use them.
TEST(RejectReasonTest, ValuesAndNamesNeverChange) {
  EXPECT_EQ(static_cast<int>(RejectReason::kNone), 0);
  EXPECT_EQ(static_cast<int>(RejectReason::kBadMagic), 4);
  EXPECT_EQ(static_cast<int>(RejectReason::kDigestMismatch), 34);
  EXPECT_EQ(static_cast<int>(RejectReason::kUntrustedKey), 35);
  EXPECT_EQ(static_cast<int>(RejectReason::kBadSignature), 37);
  EXPECT_EQ(static_cast<int>(RejectReason::kRollback), 38);
  EXPECT_EQ(static_cast<int>(RejectReason::kSignatureTypeUnsupported), 39);
  EXPECT_STREQ(RejectReasonName(RejectReason::kDigestMismatch), "digest_mismatch");
  EXPECT_STREQ(RejectReasonName(RejectReason::kMissingSignature), "missing_signature");
  EXPECT_STREQ(RejectReasonName(RejectReason::kRollback), "rollback");
  EXPECT_STREQ(RejectReasonName(RejectReason::kSignatureTypeUnsupported),
               "signature_type_unsupported");
}

}  // namespace
}  // namespace cxsec::firmware
