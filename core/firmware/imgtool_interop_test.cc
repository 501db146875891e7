// imgtool compatibility without imgtool at test time: the vectors in
// testdata/ were produced by imgtool 2.4.0 (see testdata/regenerate.sh).
// Proves that cxsec verifies imgtool's P-256 and Ed25519 images (plain and
// slot-padded), computes the same KEYHASH, reads imgtool's PKCS#8 keys
// (only when 0600), and that cxsec's writer, given imgtool's key and the
// same input, produces byte-identical header + body + protected TLVs, so
// the signed digest is the one imgtool computes. (The live check
// "cxsec-signed image -> imgtool verify" is recorded in docs/FIRMWARE.md.)
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "core/firmware/host_image_verifier.h"
#include "core/firmware/image_writer.h"
#include "core/firmware/signing_key.h"
#include "core/encoding/hex.h"
#include "gtest/gtest.h"
#include "platforms/posix/files.h"

namespace cxsec::firmware {
namespace {

std::string TestData(const std::string& name) {
  return "core/firmware/testdata/" + name;
}

Bytes ReadVector(const std::string& name) {
  absl::StatusOr<std::string> data = ReadFileBounded(TestData(name), 1 << 20);
  EXPECT_TRUE(data.ok()) << data.status();
  return ToBytes(data.value_or(""));
}

TrustedKey PublicKey(const std::string& name) {
  absl::StatusOr<std::string> pem = ReadFileBounded(TestData(name), 4096);
  EXPECT_TRUE(pem.ok()) << pem.status();
  absl::StatusOr<TrustedKey> key = TrustedKeyFromPublicKeyPem(*pem);
  EXPECT_TRUE(key.ok()) << key.status();
  return *key;
}

// The repo checks keys out 0644; a signing tool must refuse that, so the
// test copies the key to a private 0600 file first.
SigningKey LoadPrivateCopy(const std::string& name) {
  std::string copy = std::string(getenv("TEST_TMPDIR")) + "/" + name;
  std::string pem = ReadFileBounded(TestData(name), 4096).value();
  EXPECT_TRUE(WriteFileAtomically(copy, pem, 0600).ok());
  std::string text = ReadPrivateFile(copy, 4096).value();
  return SigningKey::FromPem(SecretBytes::CopyFrom(AsBytes(text))).value();
}

VerifyOutcome Verify(const Bytes& image, const TrustedKey& key) {
  uint8_t buffer[1024];
  return VerifyImage(MemoryImageSource(image), absl::MakeConstSpan(&key, 1),
                     VerifyOptions{}, absl::MakeSpan(buffer));
}

TEST(ImgtoolInteropTest, VerifiesImgtoolEcdsaP256Image) {
  VerifyOutcome outcome = Verify(ReadVector("imgtool-p256-signed.bin"),
                                 PublicKey("imgtool-p256.pub.pem"));
  ASSERT_TRUE(outcome.ok()) << RejectReasonText(outcome.reason);
  EXPECT_EQ(outcome.image().header().version, (ImageVersion{1, 2, 3, 4}));
  EXPECT_EQ(outcome.image().security_counter(), 5u);
  EXPECT_EQ(outcome.image().algorithm(), SignatureAlgorithm::kEcdsaP256);
}

TEST(ImgtoolInteropTest, VerifiesImgtoolEd25519Image) {
  VerifyOutcome outcome = Verify(ReadVector("imgtool-ed25519-signed.bin"),
                                 PublicKey("imgtool-ed25519.pub.pem"));
  ASSERT_TRUE(outcome.ok()) << RejectReasonText(outcome.reason);
  EXPECT_EQ(outcome.image().header().version, (ImageVersion{2, 0, 1, 9}));
  EXPECT_EQ(outcome.image().security_counter(), 6u);
}

TEST(ImgtoolInteropTest, VerifiesPaddedImagesAndReadsTheirTrailers) {
  Bytes confirmed = ReadVector("imgtool-p256-padded-confirmed.bin");
  ASSERT_EQ(confirmed.size(), 0x2000u);
  EXPECT_TRUE(Verify(confirmed, PublicKey("imgtool-p256.pub.pem")).ok());
  ImageInfo info = DescribeImage(confirmed);
  EXPECT_TRUE(info.trailer_magic);
  EXPECT_EQ(info.image_ok, kFlagSet);

  Bytes test = ReadVector("imgtool-ed25519-padded-test-nosec.bin");
  VerifyOutcome outcome = Verify(test, PublicKey("imgtool-ed25519.pub.pem"));
  ASSERT_TRUE(outcome.ok()) << RejectReasonText(outcome.reason);
  EXPECT_FALSE(outcome.image().has_security_counter());
  info = DescribeImage(test);
  EXPECT_TRUE(info.trailer_magic);
  EXPECT_EQ(info.image_ok, kFlashErased);
}

TEST(ImgtoolInteropTest, KeyHashMatchesImgtoolGetpubhash) {
  std::string text = ReadFileBounded(TestData("imgtool-p256.keyhash.txt"), 4096).value();
  // imgtool prints the hash as a C array: "0x1f, 0x2e, ...". A plain scan
  // for "0xHH," (std::regex trips GCC 12's -Wmaybe-uninitialized inside
  // libstdc++ under --config=asan, which -Werror turns into a build error).
  auto lower_hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  };
  std::string hex;
  for (size_t i = 0; i + 4 < text.size(); ++i) {
    if (text[i] == '0' && text[i + 1] == 'x' && lower_hex(text[i + 2]) &&
        lower_hex(text[i + 3]) && text[i + 4] == ',') {
      hex += text.substr(i + 2, 2);
      i += 4;
    }
  }
  ASSERT_EQ(hex.size(), 64u);
  EXPECT_EQ(HexEncode(PublicKey("imgtool-p256.pub.pem").key_hash), hex);
  EXPECT_EQ(HexEncode(LoadPrivateCopy("imgtool-p256.pem").ToTrustedKey()->key_hash), hex);
}

TEST(ImgtoolInteropTest, RefusesImgtoolKeyReadableByOthers) {
  std::string copy = std::string(getenv("TEST_TMPDIR")) + "/open.pem";
  std::string pem = ReadFileBounded(TestData("imgtool-p256.pem"), 4096).value();
  ASSERT_TRUE(WriteFileAtomically(copy, pem, 0644).ok());
  absl::StatusOr<std::string> read = ReadPrivateFile(copy, 4096);
  EXPECT_FALSE(read.ok());
}

TEST(ImgtoolInteropTest, WrongKeyAndTamperingRejected) {
  Bytes image = ReadVector("imgtool-p256-signed.bin");
  EXPECT_EQ(Verify(image, PublicKey("imgtool-ed25519.pub.pem")).reason,
            RejectReason::kUntrustedKey);
  image[0x200 + 10] ^= 0x80;
  EXPECT_EQ(Verify(image, PublicKey("imgtool-p256.pub.pem")).reason,
            RejectReason::kDigestMismatch);
}

TEST(ImgtoolInteropTest, CxsecWriterReproducesImgtoolSignedRegion) {
  Bytes body = ReadVector("body.bin");
  for (const auto& [key_name, image_name, version, counter] :
       {std::make_tuple("imgtool-p256.pem", "imgtool-p256-signed.bin",
                        ImageVersion{1, 2, 3, 4}, 5u),
        std::make_tuple("imgtool-ed25519.pem", "imgtool-ed25519-signed.bin",
                        ImageVersion{2, 0, 1, 9}, 6u)}) {
    SigningKey key = LoadPrivateCopy(key_name);
    SignOptions options;
    options.version = version;
    options.header_size = 0x200;
    options.security_counter = counter;
    Bytes ours = BuildSignedImage(body, options, key).value();
    Bytes theirs = ReadVector(image_name);
    const size_t signed_region = 0x200 + body.size() + 12;
    ASSERT_GE(ours.size(), signed_region);
    ASSERT_GE(theirs.size(), signed_region);
    EXPECT_TRUE(std::equal(ours.begin(), ours.begin() + signed_region,
                           theirs.begin()))
        << image_name;
    // Same digest TLV (first unprotected entry) as imgtool's.
    EXPECT_TRUE(std::equal(ours.begin() + signed_region + 4,
                           ours.begin() + signed_region + 40,
                           theirs.begin() + signed_region + 4))
        << image_name;
    if (key.algorithm() == SignatureAlgorithm::kEd25519) {
      // Ed25519 is deterministic: the whole image is byte-identical.
      EXPECT_EQ(ours, theirs);
    }
    TrustedKey trusted = key.ToTrustedKey().value();
    EXPECT_TRUE(Verify(ours, trusted).ok());
  }
}

}  // namespace
}  // namespace cxsec::firmware
