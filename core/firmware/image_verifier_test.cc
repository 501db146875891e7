// Proves the bootloader verifier accepts well-formed signed images (P-256
// and Ed25519, plain and slot-padded, through a file-backed read callback
// and the smallest buffer) and rejects each malformed image for its own,
// named reason, including every single-bit flip of an image.
#include "core/firmware/host_image_verifier.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/firmware/image_format.h"
#include "core/firmware/image_writer.h"
#include "core/firmware/signing_key.h"
#include "gtest/gtest.h"

namespace cxsec::firmware {
namespace {

using Tlv = std::pair<uint16_t, Bytes>;

Bytes U32(uint32_t v) {
  Bytes out(4);
  StoreLe32(out.data(), v);
  return out;
}

// ImageSpec builds images field by field so a test can break exactly one
// thing while keeping the digest and signature consistent with the rest.
struct ImageSpec {
  uint32_t magic = kImageMagic;
  uint16_t hdr_size = 0x20;
  std::optional<uint16_t> protect_tlv_size_override;
  std::optional<uint32_t> img_size_override;
  uint32_t flags = 0;
  Bytes body = Bytes(100, 0x5a);
  std::vector<Tlv> protected_tlvs = {{kTlvSecCnt, U32(7)}};
  uint16_t protected_magic = kProtectedTlvInfoMagic;
  std::optional<uint16_t> protected_length_override;
  uint16_t unprotected_magic = kTlvInfoMagic;
  std::optional<uint16_t> unprotected_length_override;
  // Edits the unprotected entries after SHA256, KEYHASH, signature are
  // computed.
  std::function<void(std::vector<Tlv>&)> edit_unprotected;
  // Raw bytes appended inside the unprotected area (counted in its length).
  Bytes unprotected_trailing;
};

Bytes EncodeTlvs(const std::vector<Tlv>& tlvs) {
  Bytes out;
  for (const auto& [type, value] : tlvs) {
    uint8_t entry[4];
    StoreLe16(entry, type);
    StoreLe16(entry + 2, static_cast<uint16_t>(value.size()));
    out.insert(out.end(), entry, entry + 4);
    out.insert(out.end(), value.begin(), value.end());
  }
  return out;
}

Bytes Build(const ImageSpec& spec, const SigningKey& key) {
  Bytes protected_area;
  if (!spec.protected_tlvs.empty()) {
    Bytes entries = EncodeTlvs(spec.protected_tlvs);
    protected_area.resize(4);
    StoreLe16(&protected_area[0], spec.protected_magic);
    StoreLe16(&protected_area[2],
              spec.protected_length_override.value_or(entries.size() + 4));
    protected_area.insert(protected_area.end(), entries.begin(), entries.end());
  }
  ImageHeader header;
  header.magic = spec.magic;
  header.hdr_size = spec.hdr_size;
  header.protect_tlv_size =
      spec.protect_tlv_size_override.value_or(protected_area.size());
  header.img_size = spec.img_size_override.value_or(spec.body.size());
  header.flags = spec.flags;
  header.version = {1, 2, 3, 4};
  Bytes image(std::max<size_t>(spec.hdr_size, kImageHeaderSize), 0);
  EncodeHeader(header, image.data());
  image.insert(image.end(), spec.body.begin(), spec.body.end());
  image.insert(image.end(), protected_area.begin(), protected_area.end());

  std::array<uint8_t, 32> digest;
  SHA256(image.data(), image.size(), digest.data());
  TrustedKey trusted = key.ToTrustedKey().value();
  Bytes signature = key.SignDigest(digest).value();
  std::vector<Tlv> tlvs = {
      {kTlvSha256, Bytes(digest.begin(), digest.end())},
      {kTlvKeyHash, Bytes(trusted.key_hash.begin(), trusted.key_hash.end())},
      {SignatureTlvFor(key.algorithm()), signature}};
  if (spec.edit_unprotected) spec.edit_unprotected(tlvs);
  Bytes entries = EncodeTlvs(tlvs);
  entries.insert(entries.end(), spec.unprotected_trailing.begin(),
                 spec.unprotected_trailing.end());
  uint8_t info[4];
  StoreLe16(info, spec.unprotected_magic);
  StoreLe16(info + 2,
            spec.unprotected_length_override.value_or(entries.size() + 4));
  image.insert(image.end(), info, info + 4);
  image.insert(image.end(), entries.begin(), entries.end());
  return image;
}

class ImageVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ecdsa_ = std::make_unique<SigningKey>(
        SigningKey::Generate(SignatureAlgorithm::kEcdsaP256).value());
    ed25519_ = std::make_unique<SigningKey>(
        SigningKey::Generate(SignatureAlgorithm::kEd25519).value());
    other_ = std::make_unique<SigningKey>(
        SigningKey::Generate(SignatureAlgorithm::kEcdsaP256).value());
    keys_ = {ecdsa_->ToTrustedKey().value(), ed25519_->ToTrustedKey().value()};
  }

  VerifyOutcome Verify(const Bytes& image, VerifyOptions options = {}) {
    uint8_t buffer[512];
    return VerifyImage(MemoryImageSource(image), keys_, options,
                       absl::MakeSpan(buffer));
  }

  RejectReason ReasonFor(const ImageSpec& spec, VerifyOptions options = {}) {
    return Verify(Build(spec, *ecdsa_), options).reason;
  }

  std::unique_ptr<SigningKey> ecdsa_, ed25519_, other_;
  std::vector<TrustedKey> keys_;
};

TEST_F(ImageVerifierTest, AcceptsEcdsaAndEd25519Images) {
  for (const SigningKey* key : {ecdsa_.get(), ed25519_.get()}) {
    Bytes image = Build(ImageSpec{}, *key);
    VerifyOutcome outcome = Verify(image);
    ASSERT_TRUE(outcome.ok()) << RejectReasonText(outcome.reason);
    EXPECT_EQ(outcome.image().security_counter(), 7u);
    EXPECT_TRUE(outcome.image().has_security_counter());
    EXPECT_EQ(outcome.image().algorithm(), key->algorithm());
    EXPECT_EQ(outcome.image().key_index(), key == ecdsa_.get() ? 0u : 1u);
    EXPECT_EQ(outcome.image().image_end(), image.size());
    EXPECT_EQ(outcome.image().header().version, (ImageVersion{1, 2, 3, 4}));
  }
}

TEST_F(ImageVerifierTest, AcceptsWriterOutputPaddedToSlotWithSmallestBuffer) {
  SignOptions options;
  options.version = {2, 0, 0, 0};
  options.security_counter = 3;
  options.pad_to_slot_size = 8192;
  Bytes image = BuildSignedImage(Bytes(3000, 0x11), options, *ed25519_).value();
  ASSERT_EQ(image.size(), 8192u);
  uint8_t buffer[128];
  VerifyOutcome outcome = VerifyImage(MemoryImageSource(image), keys_,
                                      VerifyOptions{}, absl::MakeSpan(buffer));
  ASSERT_TRUE(outcome.ok()) << RejectReasonText(outcome.reason);
  EXPECT_EQ(outcome.image().header().hdr_size, 0x200);
  EXPECT_LT(outcome.image().image_end(), 8192u);
}

TEST_F(ImageVerifierTest, VerifiesThroughFileReadCallback) {
  Bytes image = Build(ImageSpec{}, *ecdsa_);
  std::string path = std::string(getenv("TEST_TMPDIR")) + "/image.bin";
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, image.data(), image.size()),
            static_cast<ssize_t>(image.size()));
  ImageSource source;
  source.context = &fd;
  source.size = image.size();
  source.read = [](void* context, uint32_t offset, uint8_t* out,
                   uint32_t length) -> int {
    int file = *static_cast<int*>(context);
    return pread(file, out, length, offset) == static_cast<ssize_t>(length) ? 0 : -1;
  };
  uint8_t buffer[256];
  VerifyOutcome outcome =
      VerifyImage(source, keys_, VerifyOptions{}, absl::MakeSpan(buffer));
  EXPECT_TRUE(outcome.ok()) << RejectReasonText(outcome.reason);
  // A failing read is reported as such, not as a bad image.
  source.read = [](void*, uint32_t, uint8_t*, uint32_t) -> int { return -5; };
  EXPECT_EQ(VerifyImage(source, keys_, VerifyOptions{}, absl::MakeSpan(buffer)).reason,
            RejectReason::kReadFailed);
  close(fd);
}

// --- Malformed images: one reason each. ---

TEST_F(ImageVerifierTest, RejectsBufferTooSmall) {
  Bytes image = Build(ImageSpec{}, *ecdsa_);
  uint8_t buffer[64];
  EXPECT_EQ(VerifyImage(MemoryImageSource(image), keys_, VerifyOptions{},
                        absl::MakeSpan(buffer)).reason,
            RejectReason::kBufferTooSmall);
}

TEST_F(ImageVerifierTest, RejectsTruncatedHeader) {
  Bytes image = Build(ImageSpec{}, *ecdsa_);
  image.resize(20);
  EXPECT_EQ(Verify(image).reason, RejectReason::kTruncatedHeader);
  EXPECT_EQ(Verify(Bytes{}).reason, RejectReason::kTruncatedHeader);
}

TEST_F(ImageVerifierTest, RejectsBadMagic) {
  ImageSpec spec;
  spec.magic = 0x96f3b83c;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kBadMagic);
}

TEST_F(ImageVerifierTest, RejectsHeaderSizeTooSmall) {
  ImageSpec spec;
  spec.hdr_size = 31;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kHeaderSizeTooSmall);
}

TEST_F(ImageVerifierTest, RejectsHeaderSizeTooLarge) {
  ImageSpec spec;
  spec.hdr_size = 0x2000;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kHeaderSizeTooLarge);
  // Within policy but past the end of a tiny image.
  Bytes image = Build(ImageSpec{}, *ecdsa_);
  StoreLe16(&image[8], 0x0fff);
  image.resize(0x100);
  EXPECT_EQ(Verify(image).reason, RejectReason::kHeaderSizeTooLarge);
}

TEST_F(ImageVerifierTest, RejectsImageSizePastEndWithoutWrapping) {
  ImageSpec spec;
  spec.img_size_override = 0xffffffff;  // hdr_size + img_size wraps in u32
  EXPECT_EQ(ReasonFor(spec), RejectReason::kImageSizePastEnd);
  spec.img_size_override = 101 + 1000;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kImageSizePastEnd);
}

TEST_F(ImageVerifierTest, RejectsEncryptedImages) {
  ImageSpec spec;
  spec.flags = kFlagEncryptedAes128;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kEncryptedImageUnsupported);
}

TEST_F(ImageVerifierTest, RejectsMissingTlvInfo) {
  ImageSpec spec;
  spec.protected_tlvs.clear();
  Bytes image = Build(spec, *ecdsa_);
  image.resize(0x20 + 100 + 2);
  EXPECT_EQ(Verify(image).reason, RejectReason::kMissingTlvInfo);
}

TEST_F(ImageVerifierTest, RejectsBadTlvInfoMagic) {
  ImageSpec spec;
  spec.unprotected_magic = 0x6906;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kBadTlvInfoMagic);
}

TEST_F(ImageVerifierTest, RejectsBadProtectedTlvInfoMagic) {
  ImageSpec spec;
  spec.protected_magic = kTlvInfoMagic;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kBadProtectedTlvInfoMagic);
}

TEST_F(ImageVerifierTest, RejectsProtectedAreaSizeMismatch) {
  ImageSpec spec;
  spec.protected_length_override = 8;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kProtectedAreaSizeMismatch);
}

TEST_F(ImageVerifierTest, RejectsProtectedAreaHiddenBehindZeroSize) {
  ImageSpec spec;
  spec.protect_tlv_size_override = 0;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kUnexpectedProtectedArea);
}

TEST_F(ImageVerifierTest, RejectsTlvAreaPastEnd) {
  ImageSpec spec;
  spec.unprotected_length_override = 0xffff;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kTlvAreaPastEnd);
  ImageSpec protected_spec;
  protected_spec.protect_tlv_size_override = 0xfff0;
  protected_spec.protected_length_override = 0xfff0;
  EXPECT_EQ(ReasonFor(protected_spec), RejectReason::kTlvAreaPastEnd);
}

TEST_F(ImageVerifierTest, RejectsTlvAreaTooSmall) {
  ImageSpec spec;
  spec.unprotected_length_override = 2;
  EXPECT_EQ(ReasonFor(spec), RejectReason::kTlvAreaTooSmall);
}

TEST_F(ImageVerifierTest, RejectsTlvHeaderPastArea) {
  ImageSpec spec;
  spec.unprotected_trailing = {0x10, 0x00};
  EXPECT_EQ(ReasonFor(spec), RejectReason::kTlvHeaderPastArea);
}

TEST_F(ImageVerifierTest, RejectsTlvLengthOverflowingItsArea) {
  ImageSpec spec;
  // A TLV whose 0xffff length would run far past the area (and the image).
  spec.unprotected_trailing = {0x99, 0x00, 0xff, 0xff};
  EXPECT_EQ(ReasonFor(spec), RejectReason::kTlvLengthOverflowsArea);
  // A protected TLV that reaches into the unprotected area.
  ImageSpec protected_spec;
  protected_spec.protected_tlvs = {{kTlvSecCnt, U32(1)}};
  Bytes image = Build(protected_spec, *ecdsa_);
  StoreLe16(&image[0x20 + 100 + 4 + 2], 12);  // SEC_CNT length 4 -> 12
  EXPECT_EQ(Verify(image).reason, RejectReason::kTlvLengthOverflowsArea);
}

TEST_F(ImageVerifierTest, RejectsTooManyTlvs) {
  ImageSpec spec;
  spec.protected_tlvs.assign(40, Tlv{0x00a0, Bytes{}});
  EXPECT_EQ(ReasonFor(spec), RejectReason::kTooManyTlvs);
}

TEST_F(ImageVerifierTest, RejectsUnknownTlvInUnprotectedArea) {
  ImageSpec spec;
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t.push_back({0x99, Bytes(4)}); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kUnknownTlvInUnprotectedArea);
  // An embedded public key is not trusted either: keys come from the device.
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t.push_back({kTlvPubKey, Bytes(91)}); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kUnknownTlvInUnprotectedArea);
}

// CVE-2024-32883: protected-only TLVs smuggled into the unsigned area.
TEST_F(ImageVerifierTest, RejectsProtectedOnlyTlvsInUnprotectedArea) {
  for (uint16_t type : std::initializer_list<uint16_t>{kTlvSecCnt, kTlvDependency, kTlvBootRecord,
                        kTlvUuidVid, static_cast<uint16_t>(0x00a5)}) {
    ImageSpec spec;
    spec.edit_unprotected = [type](std::vector<Tlv>& t) {
      t.insert(t.begin(), {type, U32(1000)});
    };
    EXPECT_EQ(ReasonFor(spec), RejectReason::kProtectedTlvInUnprotectedArea)
        << "type 0x" << std::hex << type;
  }
}

TEST_F(ImageVerifierTest, RejectsTlvNotAllowedInProtectedArea) {
  ImageSpec spec;
  spec.protected_tlvs.push_back({kTlvSha256, Bytes(32)});
  EXPECT_EQ(ReasonFor(spec), RejectReason::kTlvNotAllowedInProtectedArea);
  spec.protected_tlvs = {{kTlvDependency, Bytes(12)}};
  EXPECT_EQ(ReasonFor(spec), RejectReason::kTlvNotAllowedInProtectedArea);
}

TEST_F(ImageVerifierTest, RejectsDuplicateSha256) {
  ImageSpec spec;
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t.push_back(t[0]); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kDuplicateSha256);
}

TEST_F(ImageVerifierTest, RejectsDuplicateKeyHash) {
  ImageSpec spec;
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t.push_back(t[1]); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kDuplicateKeyHash);
}

TEST_F(ImageVerifierTest, RejectsSecondSignature) {
  ImageSpec spec;
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t.push_back(t[2]); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kDuplicateSignature);
}

TEST_F(ImageVerifierTest, RejectsDuplicateSecurityCounter) {
  ImageSpec spec;
  spec.protected_tlvs.push_back({kTlvSecCnt, U32(9)});
  EXPECT_EQ(ReasonFor(spec), RejectReason::kDuplicateSecurityCounter);
}

TEST_F(ImageVerifierTest, RejectsBadTlvValueLengths) {
  ImageSpec spec;
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t[0].second.resize(31); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kBadSha256Length);
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t[1].second.resize(33); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kBadKeyHashLength);
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t[2].second.resize(73); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kBadSignatureLength);
  spec.edit_unprotected = nullptr;
  spec.protected_tlvs = {{kTlvSecCnt, Bytes(8)}};
  EXPECT_EQ(ReasonFor(spec), RejectReason::kBadSecurityCounterLength);
  spec.protected_tlvs = {{kTlvSecCnt, U32(1)}};
  spec.edit_unprotected = [](std::vector<Tlv>& t) {
    t[2] = {kTlvEd25519, Bytes(63)};
  };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kBadSignatureLength);
}

TEST_F(ImageVerifierTest, RejectsMissingSha256) {
  ImageSpec spec;
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t.erase(t.begin()); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kMissingSha256);
}

TEST_F(ImageVerifierTest, RejectsMissingKeyHash) {
  ImageSpec spec;
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t.erase(t.begin() + 1); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kMissingKeyHash);
}

TEST_F(ImageVerifierTest, RejectsMissingSignature) {
  ImageSpec spec;
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t.pop_back(); };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kMissingSignature);
}

TEST_F(ImageVerifierTest, RejectsMissingSecurityCounterWhenRequired) {
  ImageSpec spec;
  spec.protected_tlvs.clear();
  VerifyOptions options;
  EXPECT_EQ(ReasonFor(spec, options), RejectReason::kNone);
  options.require_security_counter = true;
  EXPECT_EQ(ReasonFor(spec, options), RejectReason::kMissingSecurityCounter);
}

TEST_F(ImageVerifierTest, RejectsWrongDigest) {
  ImageSpec spec;
  spec.edit_unprotected = [](std::vector<Tlv>& t) { t[0].second[5] ^= 1; };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kDigestMismatch);
}

TEST_F(ImageVerifierTest, RejectsSignatureByUntrustedKey) {
  Bytes image = Build(ImageSpec{}, *other_);
  EXPECT_EQ(Verify(image).reason, RejectReason::kUntrustedKey);
}

TEST_F(ImageVerifierTest, RejectsUntrustedSignatureUnderTrustedKeyHash) {
  // The attacker copies the trusted KEYHASH but signs with its own key.
  TrustedKey trusted = ecdsa_->ToTrustedKey().value();
  ImageSpec spec;
  spec.edit_unprotected = [&](std::vector<Tlv>& t) {
    t[1].second.assign(trusted.key_hash.begin(), trusted.key_hash.end());
  };
  EXPECT_EQ(Verify(Build(spec, *other_)).reason, RejectReason::kBadSignature);
}

TEST_F(ImageVerifierTest, RejectsSignatureTypeThatDoesNotMatchKey) {
  TrustedKey ed = ed25519_->ToTrustedKey().value();
  ImageSpec spec;
  spec.edit_unprotected = [&](std::vector<Tlv>& t) {
    t[1].second.assign(ed.key_hash.begin(), ed.key_hash.end());
  };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kSignatureAlgorithmMismatch);
}

TEST_F(ImageVerifierTest, RejectsSignatureOverAnotherDigest) {
  ImageSpec spec;
  std::array<uint8_t, 32> other_digest{};
  Bytes wrong = ecdsa_->SignDigest(other_digest).value();
  spec.edit_unprotected = [&](std::vector<Tlv>& t) { t[2].second = wrong; };
  EXPECT_EQ(ReasonFor(spec), RejectReason::kBadSignature);
}

TEST_F(ImageVerifierTest, RejectsSecurityCounterRollbackButAcceptsEqual) {
  VerifyOptions options;
  options.stored_security_counter = 7;
  EXPECT_EQ(ReasonFor(ImageSpec{}, options), RejectReason::kNone);
  options.stored_security_counter = 8;
  EXPECT_EQ(ReasonFor(ImageSpec{}, options), RejectReason::kRollback);
}

TEST_F(ImageVerifierTest, EveryBitFlipIsRejected) {
  for (const SigningKey* key : {ecdsa_.get(), ed25519_.get()}) {
    ImageSpec spec;
    spec.body = Bytes(40, 0xa5);
    Bytes image = Build(spec, *key);
    ASSERT_TRUE(Verify(image).ok());
    for (size_t byte = 0; byte < image.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes flipped = image;
        flipped[byte] ^= static_cast<uint8_t>(1 << bit);
        VerifyOutcome outcome = Verify(flipped);
        ASSERT_FALSE(outcome.ok()) << "flip at byte " << byte << " bit " << bit;
      }
    }
  }
}

TEST_F(ImageVerifierTest, OutcomeConvertsToStatusNamingReasonAndOffset) {
  ImageSpec spec;
  spec.magic = 1;
  absl::Status status = ToStatus(Verify(Build(spec, *ecdsa_)));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(status.message().find("bad image magic"), absl::string_view::npos);
  EXPECT_NE(status.message().find("offset 0x0"), absl::string_view::npos);
}

TEST(ImageVersionTest, ParsesAndRejects) {
  EXPECT_EQ(ParseImageVersion("1.2.3+4").value(), (ImageVersion{1, 2, 3, 4}));
  EXPECT_EQ(ParseImageVersion("1.2").value(), (ImageVersion{1, 2, 0, 0}));
  EXPECT_FALSE(ParseImageVersion("256.0.0").ok());
  EXPECT_FALSE(ParseImageVersion("1.2.3.4").ok());
  EXPECT_FALSE(ParseImageVersion("1.x").ok());
  EXPECT_FALSE(ParseImageVersion("1.0+z").ok());
}

// Regression (image_version_fuzzer, corpus/image_version/crash-trailing-
// newline): absl::SimpleAtoi let whitespace and '+' signs through, so
// "1.2.42729\n" was accepted. Only decimal digits may make a field.
TEST(ImageVersionTest, RejectsWhitespaceAndSigns) {
  EXPECT_FALSE(ParseImageVersion("1.2.42729\n").ok());
  EXPECT_FALSE(ParseImageVersion(" 1.2.3").ok());
  EXPECT_FALSE(ParseImageVersion("1.2.3+ 4").ok());
  EXPECT_FALSE(ParseImageVersion("+1.2.3").ok());
  EXPECT_FALSE(ParseImageVersion("1.-0.3").ok());
  EXPECT_FALSE(ParseImageVersion("1.2.3+").ok());
  EXPECT_FALSE(ParseImageVersion("").ok());
  EXPECT_EQ(ParseImageVersion("255.255.65535+4294967295").value(),
            (ImageVersion{255, 255, 65535, 4294967295u}));
  // The error shows control characters escaped, not raw.
  EXPECT_EQ(ParseImageVersion("1.2.3\n").status().message(),
            "version '1.2.3\\n': field 3 must be 0..65535");
}

TEST(SigningKeyTest, PemRoundTripKeepsKeyHash) {
  for (auto algorithm : {SignatureAlgorithm::kEcdsaP256, SignatureAlgorithm::kEd25519}) {
    SigningKey key = SigningKey::Generate(algorithm).value();
    SecretBytes pem = key.ToPkcs8Pem().value();
    SigningKey loaded = SigningKey::FromPem(pem).value();
    EXPECT_EQ(loaded.ToTrustedKey()->key_hash, key.ToTrustedKey()->key_hash);
    TrustedKey from_pem = TrustedKeyFromPublicKeyPem(key.PublicKeyPem().value()).value();
    EXPECT_EQ(from_pem.key_hash, key.ToTrustedKey()->key_hash);
  }
  EXPECT_FALSE(SigningKey::FromPem(SecretBytes::CopyFrom(AsBytes("junk"))).ok());
}

}  // namespace
}  // namespace cxsec::firmware
