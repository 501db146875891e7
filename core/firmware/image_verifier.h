// The bootloader-side verifier for MCUboot-format images, one header for
// the host and for a Cortex-M node: no Abseil, no heap, no exceptions, no
// RTTI. It reads the image through a read callback into a caller-provided
// buffer, so the same code verifies a memory-mapped flash slot and a file
// on a gateway disk.
//
// The crypto comes from a policy (FirmwareCryptoPolicy below) that the
// build picks, never an #ifdef: each target composes the verifier once,
//
//   // host (core/firmware/host_image_verifier.h): BoringSSL
//   using HostImageVerifier = ImageVerifier<BoringSslFirmwareCrypto>;
//   // node (targets/node/firmware/node_image_verifier.h): Mbed TLS
//   using NodeImageVerifier = ImageVerifier<MbedTlsFirmwareCrypto>;
//
//   uint8_t buffer[512];
//   VerifyOutcome outcome = NodeImageVerifier::Verify(source, keys, options,
//                                                     buffer);
//   if (!outcome.ok()) log(RejectReasonName(outcome.reason));
//   else boot(outcome.image());   // a VerifiedImage, never a bool
//
// Host code includes host_image_verifier.h instead, which adds
// absl::Status conversion, long reason texts and the absl::Span VerifyImage.
//
// What it enforces, in order: header sanity (magic, hdr_size bounds,
// img_size within the slot, no encryption); both TLV info headers; a
// bounded walk of each area with overflow-checked offsets and a per-area
// allow-list (the unprotected area holds only SHA256, KEYHASH and one
// signature: the CVE-2024-32883 class, where protected-only TLVs were
// trusted from the unsigned area); SHA-256 over header + body + protected
// area compared in constant time; the key picked by KEYHASH from the
// trusted set; the signature; finally anti-rollback (SEC_CNT >= stored).
#ifndef CXSEC_CORE_FIRMWARE_IMAGE_VERIFIER_H_
#define CXSEC_CORE_FIRMWARE_IMAGE_VERIFIER_H_

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "core/firmware/image_format.h"

namespace cxsec::firmware {

// RejectReason: why an image was refused. Each malformation has its own
// value so logs and tests can tell them apart. An extend-only list (see
// core/device/result.h): values are never renumbered or reused; kNone (0)
// is the only success.
enum class RejectReason : uint8_t {
  kNone = 0,
  kBufferTooSmall = 1,
  kReadFailed = 2,
  kTruncatedHeader = 3,
  kBadMagic = 4,
  kHeaderSizeTooSmall = 5,
  kHeaderSizeTooLarge = 6,
  kImageSizePastEnd = 7,
  kEncryptedImageUnsupported = 8,
  kMissingTlvInfo = 9,
  kBadTlvInfoMagic = 10,
  kBadProtectedTlvInfoMagic = 11,
  kProtectedAreaSizeMismatch = 12,
  kUnexpectedProtectedArea = 13,
  kTlvAreaPastEnd = 14,
  kTlvAreaTooSmall = 15,
  kTlvHeaderPastArea = 16,
  kTlvLengthOverflowsArea = 17,
  kTooManyTlvs = 18,
  kUnknownTlvInUnprotectedArea = 19,
  kProtectedTlvInUnprotectedArea = 20,
  kTlvNotAllowedInProtectedArea = 21,
  kDuplicateSha256 = 22,
  kDuplicateKeyHash = 23,
  kDuplicateSignature = 24,
  kDuplicateSecurityCounter = 25,
  kBadSha256Length = 26,
  kBadKeyHashLength = 27,
  kBadSignatureLength = 28,
  kBadSecurityCounterLength = 29,
  kMissingSha256 = 30,
  kMissingKeyHash = 31,
  kMissingSignature = 32,
  kMissingSecurityCounter = 33,
  kDigestMismatch = 34,
  kUntrustedKey = 35,
  kSignatureAlgorithmMismatch = 36,
  kBadSignature = 37,
  kRollback = 38,
  // The crypto backend cannot check this signature type (e.g. Ed25519 on
  // the Mbed TLS node backend): refused, never skipped.
  kSignatureTypeUnsupported = 39,
};

// RejectReasonName: a short, stable name for each reason ("digest_mismatch",
// "rollback", ...): what a bootloader prints and a test asserts. Stable like
// the values: a name is never changed once released.
constexpr const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNone:
      return "ok";
    case RejectReason::kBufferTooSmall:
      return "buffer_too_small";
    case RejectReason::kReadFailed:
      return "read_failed";
    case RejectReason::kTruncatedHeader:
      return "truncated_header";
    case RejectReason::kBadMagic:
      return "bad_magic";
    case RejectReason::kHeaderSizeTooSmall:
      return "header_size_too_small";
    case RejectReason::kHeaderSizeTooLarge:
      return "header_size_too_large";
    case RejectReason::kImageSizePastEnd:
      return "image_size_past_end";
    case RejectReason::kEncryptedImageUnsupported:
      return "encrypted_image_unsupported";
    case RejectReason::kMissingTlvInfo:
      return "missing_tlv_info";
    case RejectReason::kBadTlvInfoMagic:
      return "bad_tlv_info_magic";
    case RejectReason::kBadProtectedTlvInfoMagic:
      return "bad_protected_tlv_info_magic";
    case RejectReason::kProtectedAreaSizeMismatch:
      return "protected_area_size_mismatch";
    case RejectReason::kUnexpectedProtectedArea:
      return "unexpected_protected_area";
    case RejectReason::kTlvAreaPastEnd:
      return "tlv_area_past_end";
    case RejectReason::kTlvAreaTooSmall:
      return "tlv_area_too_small";
    case RejectReason::kTlvHeaderPastArea:
      return "tlv_header_past_area";
    case RejectReason::kTlvLengthOverflowsArea:
      return "tlv_length_overflows_area";
    case RejectReason::kTooManyTlvs:
      return "too_many_tlvs";
    case RejectReason::kUnknownTlvInUnprotectedArea:
      return "unknown_tlv_in_unprotected_area";
    case RejectReason::kProtectedTlvInUnprotectedArea:
      return "protected_tlv_in_unprotected_area";
    case RejectReason::kTlvNotAllowedInProtectedArea:
      return "tlv_not_allowed_in_protected_area";
    case RejectReason::kDuplicateSha256:
      return "duplicate_sha256";
    case RejectReason::kDuplicateKeyHash:
      return "duplicate_key_hash";
    case RejectReason::kDuplicateSignature:
      return "duplicate_signature";
    case RejectReason::kDuplicateSecurityCounter:
      return "duplicate_security_counter";
    case RejectReason::kBadSha256Length:
      return "bad_sha256_length";
    case RejectReason::kBadKeyHashLength:
      return "bad_key_hash_length";
    case RejectReason::kBadSignatureLength:
      return "bad_signature_length";
    case RejectReason::kBadSecurityCounterLength:
      return "bad_security_counter_length";
    case RejectReason::kMissingSha256:
      return "missing_sha256";
    case RejectReason::kMissingKeyHash:
      return "missing_key_hash";
    case RejectReason::kMissingSignature:
      return "missing_signature";
    case RejectReason::kMissingSecurityCounter:
      return "missing_security_counter";
    case RejectReason::kDigestMismatch:
      return "digest_mismatch";
    case RejectReason::kUntrustedKey:
      return "untrusted_key";
    case RejectReason::kSignatureAlgorithmMismatch:
      return "signature_algorithm_mismatch";
    case RejectReason::kBadSignature:
      return "bad_signature";
    case RejectReason::kRollback:
      return "rollback";
    case RejectReason::kSignatureTypeUnsupported:
      return "signature_type_unsupported";
  }
  return "unknown";
}

// TrustedKey: one public key the device accepts, with the KEYHASH imgtool
// embeds (SHA-256 of the DER SubjectPublicKeyInfo). Plain data, so a key
// set can be compiled in (constexpr) or loaded from provisioned storage.
struct TrustedKey {
  SignatureAlgorithm algorithm = SignatureAlgorithm::kEcdsaP256;
  std::array<uint8_t, 32> key_hash{};
  // P-256: the 65-byte uncompressed point; Ed25519: 32 raw bytes.
  std::array<uint8_t, 65> public_key{};
  uint8_t public_key_size = 0;
};

// ImageSource: where the image bytes come from. `read` copies `length`
// bytes at `offset` into `out` and returns 0 on success. `size` is the
// readable extent (the slot size or the file size).
struct ImageSource {
  void* context = nullptr;
  uint32_t size = 0;
  int (*read)(void* context, uint32_t offset, uint8_t* out,
              uint32_t length) = nullptr;
};

// MemoryImageSource: an ImageSource over bytes already in memory (a
// memory-mapped flash slot, or a test buffer). `bytes` must outlive it.
inline ImageSource MemoryImageSource(std::span<const uint8_t> bytes) {
  ImageSource source;
  source.context = const_cast<uint8_t*>(bytes.data());
  source.size = bytes.size() > 0xffffffffu ? 0xffffffffu
                                           : static_cast<uint32_t>(bytes.size());
  source.read = [](void* context, uint32_t offset, uint8_t* out,
                   uint32_t length) -> int {
    // VerifyImage bounds every read by `size` before calling. memcpy, not
    // a byte loop: GCC keeps the loop byte by byte (out may alias the
    // source), which cost a third of a 1 MiB verify on top of the hash.
    std::memcpy(out, static_cast<const uint8_t*>(context) + offset, length);
    return 0;
  };
  return source;
}

// VerifyOptions: device policy.
struct VerifyOptions {
  // The device's stored security counter (trusted NV storage).
  uint32_t stored_security_counter = 0;
  // Refuse images without SEC_CNT (recommended once rollback protection is
  // deployed; an image without it counts as counter 0 otherwise).
  bool require_security_counter = false;
  // MCUboot images use 0x20..0x1000 headers in practice.
  uint16_t max_header_size = 0x1000;
  // Bound on TLV entries per area: the walk ends in bounded time whatever
  // the lengths say.
  uint32_t max_tlvs_per_area = 32;
};

// SignatureCheck: a crypto backend's verdict on one signature. Success is
// a distinct, non-trivial value rather than `true`, so a zeroed or
// uninitialised variable never reads as "valid".
enum class SignatureCheck : uint32_t {
  kInvalid = 0,
  kUnsupported = 1,  // the backend has no implementation of this algorithm
  kValid = 0x5a3c96e1,
};

// FirmwareCryptoPolicy: what the verifier needs from a crypto library, as
// a struct of static functions and one type (no virtual calls, no heap in
// the interface):
//   Sha256Context                      default-constructible hash state
//   Sha256Init(context)                starts a SHA-256
//   Sha256Update(context, bytes)       absorbs bytes
//   Sha256Final(context, digest_out)   writes the 32-byte digest
//   VerifyEcdsaP256(public_key, digest, signature)
//       public_key: 65-byte uncompressed point; signature: DER
//       (ECDSA-Sig-Value, as imgtool writes the ECDSA_SIG TLV)
//   VerifyEd25519(public_key, digest, signature)
//       public_key: 32 bytes; signature: 64 bytes, over the digest
//       (imgtool's "pure=False" mode); kUnsupported if not available.
// A backend that fails this concept fails the build with this one name.
template <class C>
concept FirmwareCryptoPolicy =
    std::default_initializable<typename C::Sha256Context> &&
    requires(typename C::Sha256Context& context, std::span<const uint8_t> bytes,
             std::span<uint8_t, kSha256Size> digest_out,
             std::span<const uint8_t, kSha256Size> digest) {
      { C::Sha256Init(context) } -> std::same_as<void>;
      { C::Sha256Update(context, bytes) } -> std::same_as<void>;
      { C::Sha256Final(context, digest_out) } -> std::same_as<void>;
      { C::VerifyEcdsaP256(bytes, digest, bytes) } -> std::same_as<SignatureCheck>;
      { C::VerifyEd25519(bytes, digest, bytes) } -> std::same_as<SignatureCheck>;
    };

template <FirmwareCryptoPolicy Crypto>
class ImageVerifier;

// VerifiedImage: proof that an image passed every check. Only the verifier
// constructs one, so holding one means "this image may run".
class VerifiedImage {
 public:
  const ImageHeader& header() const { return header_; }
  const std::array<uint8_t, 32>& digest() const { return digest_; }
  uint32_t security_counter() const { return security_counter_; }
  bool has_security_counter() const { return has_security_counter_; }
  // Index into the trusted key set of the key that signed the image.
  size_t key_index() const { return key_index_; }
  SignatureAlgorithm algorithm() const { return algorithm_; }
  // End of the unprotected TLV area: everything after it is slot padding.
  uint32_t image_end() const { return image_end_; }

 private:
  friend struct VerifyOutcome;
  VerifiedImage() = default;
  ImageHeader header_;
  std::array<uint8_t, 32> digest_{};
  uint32_t security_counter_ = 0;
  bool has_security_counter_ = false;
  size_t key_index_ = 0;
  SignatureAlgorithm algorithm_ = SignatureAlgorithm::kEcdsaP256;
  uint32_t image_end_ = 0;
};

// VerifyOutcome: either a VerifiedImage or the reason and byte offset of
// the first problem. No heap; host code converts it with ToStatus()
// from host_image_verifier.h.
struct [[nodiscard]] VerifyOutcome {
  RejectReason reason = RejectReason::kNone;
  uint32_t offset = 0;  // where the problem was found, when it has a place

  bool ok() const { return reason == RejectReason::kNone; }
  // Only meaningful when ok().
  const VerifiedImage& image() const { return image_; }

  static VerifyOutcome Reject(RejectReason reason, uint64_t offset);

 private:
  // Only an ImageVerifier may produce an accepted outcome.
  template <FirmwareCryptoPolicy Crypto>
  friend class ImageVerifier;
  // The verifier builds its answer in place, in the caller's outcome: the
  // header and digest go straight into it while it is still a rejection
  // (Pending), so they need no copy on the verifier's stack during the
  // signature check; Accept then turns it into an accepted outcome.
  static VerifyOutcome Pending() {
    VerifyOutcome out;
    out.reason = RejectReason::kBadSignature;  // fails closed until Accept
    return out;
  }
  ImageHeader& pending_header() { return image_.header_; }
  std::span<uint8_t, 32> pending_digest() { return image_.digest_; }
  // Fail makes this a rejection (an offset past 32 bits is clamped) and
  // clears what a pending outcome held.
  void Fail(RejectReason why, uint64_t where) {
    reason = why;
    offset = where > 0xffffffffu ? 0xffffffffu : static_cast<uint32_t>(where);
    image_.header_ = ImageHeader{};
    image_.digest_.fill(0);
  }
  void Accept(uint32_t security_counter, bool has_counter, size_t key_index,
              SignatureAlgorithm algorithm, uint32_t image_end) {
    image_.security_counter_ = security_counter;
    image_.has_security_counter_ = has_counter;
    image_.key_index_ = key_index;
    image_.algorithm_ = algorithm;
    image_.image_end_ = image_end;
    reason = RejectReason::kNone;
    offset = 0;
  }

  VerifiedImage image_;
};

inline VerifyOutcome VerifyOutcome::Reject(RejectReason reason,
                                           uint64_t offset) {
  VerifyOutcome out;
  out.Fail(reason, offset);
  return out;
}

namespace internal {

inline constexpr size_t kMinBufferSize = 128;

// ReadExact reads [offset, offset+length) after checking it lies inside
// the source, with 64-bit arithmetic so no sum can wrap.
inline bool ReadExact(const ImageSource& source, uint64_t offset,
                      uint8_t* out, uint64_t length) {
  if (offset > source.size || length > source.size - offset) return false;
  if (length == 0) return true;
  return source.read(source.context, static_cast<uint32_t>(offset), out,
                     static_cast<uint32_t>(length)) == 0;
}

inline bool IsProtectedOnlyTlv(uint16_t type) {
  return type == kTlvSecCnt || type == kTlvDependency ||
         type == kTlvBootRecord || type == kTlvUuidVid || type == kTlvUuidCid ||
         type == kTlvDecompSize || type == kTlvDecompSha ||
         type == kTlvDecompSignature || type == kTlvCompDecSize ||
         (type >= kFirstVendorTlv && type <= kLastVendorTlv);
}

// Protected area allow-list: what cxsec understands or what is inert.
// DEPENDENCY and compression TLVs change boot semantics that this verifier
// does not implement, so it fails closed on them.
inline bool AllowedInProtectedArea(uint16_t type) {
  return type == kTlvSecCnt || type == kTlvBootRecord ||
         type == kTlvUuidVid || type == kTlvUuidCid ||
         (type >= kFirstVendorTlv && type <= kLastVendorTlv);
}

// What the TLV walk collected; fixed-size, on the stack.
struct CollectedTlvs {
  bool has_sha256 = false;
  bool has_key_hash = false;
  bool has_signature = false;
  bool has_security_counter = false;
  uint16_t signature_type = 0;
  uint8_t signature_size = 0;
  uint32_t security_counter = 0;
  std::array<uint8_t, 32> sha256{};
  std::array<uint8_t, 32> key_hash{};
  std::array<uint8_t, kMaxEcdsaP256SignatureSize> signature{};
};

// WalkArea visits every entry of one TLV area [begin, end) (after the
// info header), applying the area's allow-list and collecting values.
inline VerifyOutcome WalkArea(const ImageSource& source, uint64_t begin,
                              uint64_t end, bool protected_area,
                              const VerifyOptions& options,
                              CollectedTlvs& tlvs) {
  uint64_t offset = begin;
  uint32_t count = 0;
  while (offset < end) {
    if (++count > options.max_tlvs_per_area) {
      return VerifyOutcome::Reject(RejectReason::kTooManyTlvs, offset);
    }
    if (end - offset < kTlvEntryHeaderSize) {
      return VerifyOutcome::Reject(RejectReason::kTlvHeaderPastArea, offset);
    }
    uint8_t entry[kTlvEntryHeaderSize];
    if (!ReadExact(source, offset, entry, sizeof(entry))) {
      return VerifyOutcome::Reject(RejectReason::kReadFailed, offset);
    }
    const uint16_t type = LoadLe16(entry);
    const uint16_t length = LoadLe16(entry + 2);
    const uint64_t value_offset = offset + kTlvEntryHeaderSize;
    if (length > end - value_offset) {
      return VerifyOutcome::Reject(RejectReason::kTlvLengthOverflowsArea, offset);
    }
    if (protected_area) {
      if (!AllowedInProtectedArea(type)) {
        return VerifyOutcome::Reject(RejectReason::kTlvNotAllowedInProtectedArea, offset);
      }
      if (type == kTlvSecCnt) {
        if (tlvs.has_security_counter) {
          return VerifyOutcome::Reject(RejectReason::kDuplicateSecurityCounter, offset);
        }
        if (length != 4) {
          return VerifyOutcome::Reject(RejectReason::kBadSecurityCounterLength, offset);
        }
        uint8_t value[4];
        if (!ReadExact(source, value_offset, value, 4)) {
          return VerifyOutcome::Reject(RejectReason::kReadFailed, value_offset);
        }
        tlvs.security_counter = LoadLe32(value);
        tlvs.has_security_counter = true;
      }
    } else {
      switch (type) {
        case kTlvSha256:
          if (tlvs.has_sha256) {
            return VerifyOutcome::Reject(RejectReason::kDuplicateSha256, offset);
          }
          if (length != kSha256Size) {
            return VerifyOutcome::Reject(RejectReason::kBadSha256Length, offset);
          }
          if (!ReadExact(source, value_offset, tlvs.sha256.data(), length)) {
            return VerifyOutcome::Reject(RejectReason::kReadFailed, value_offset);
          }
          tlvs.has_sha256 = true;
          break;
        case kTlvKeyHash:
          if (tlvs.has_key_hash) {
            return VerifyOutcome::Reject(RejectReason::kDuplicateKeyHash, offset);
          }
          if (length != kSha256Size) {
            return VerifyOutcome::Reject(RejectReason::kBadKeyHashLength, offset);
          }
          if (!ReadExact(source, value_offset, tlvs.key_hash.data(), length)) {
            return VerifyOutcome::Reject(RejectReason::kReadFailed, value_offset);
          }
          tlvs.has_key_hash = true;
          break;
        case kTlvEcdsaSig:
        case kTlvEd25519: {
          if (tlvs.has_signature) {
            return VerifyOutcome::Reject(RejectReason::kDuplicateSignature, offset);
          }
          const bool size_ok =
              type == kTlvEd25519
                  ? length == kEd25519SignatureSize
                  : (length >= kMinEcdsaP256SignatureSize &&
                     length <= kMaxEcdsaP256SignatureSize);
          if (!size_ok) {
            return VerifyOutcome::Reject(RejectReason::kBadSignatureLength, offset);
          }
          if (!ReadExact(source, value_offset, tlvs.signature.data(), length)) {
            return VerifyOutcome::Reject(RejectReason::kReadFailed, value_offset);
          }
          tlvs.has_signature = true;
          tlvs.signature_type = type;
          tlvs.signature_size = static_cast<uint8_t>(length);
          break;
        }
        default:
          return VerifyOutcome::Reject(
              IsProtectedOnlyTlv(type)
                  ? RejectReason::kProtectedTlvInUnprotectedArea
                  : RejectReason::kUnknownTlvInUnprotectedArea,
              offset);
      }
    }
    offset = value_offset + length;
  }
  return VerifyOutcome{};
}

// ConstantTimeEquals compares `size` bytes without an early exit, so the
// time taken does not tell how many leading bytes of a digest matched.
inline bool ConstantTimeEquals(const uint8_t* a, const uint8_t* b,
                               size_t size) {
  volatile uint8_t difference = 0;
  for (size_t i = 0; i < size; ++i) {
    difference = static_cast<uint8_t>(difference | (a[i] ^ b[i]));
  }
  return difference == 0;
}

// HashedImage: what ImageVerifier's first phase (ParseAndHash: header, TLV
// walk, hash, key lookup) hands to the signature check. Only this stays on
// the verifier's stack while the crypto backend verifies the signature
// (BoringSSL's checks alone take about 4 KiB), so it holds a few values,
// not the walk's or the hash's working state. The header and digest wait
// in the caller's outcome (VerifyOutcome::Pending), the signature in the
// caller's buffer at kSignatureAt, which hashing no longer needs.
inline constexpr size_t kSignatureAt = 0;
static_assert(kSignatureAt + kMaxEcdsaP256SignatureSize <= kMinBufferSize);
struct HashedImage {
  uint8_t signature_size = 0;
  bool has_security_counter = false;
  uint32_t security_counter = 0;
  // Offsets within the source (whose size is a uint32_t).
  uint32_t body_end = 0;
  uint32_t protected_end = 0;
  uint32_t unprotected_end = 0;
  size_t key_index = 0;  // into the trusted key set
};

// Rejection: ParseAndHash's verdict, the reason and offset of a
// VerifyOutcome without its VerifiedImage, so that the frame which then
// calls the signature check holds 8 bytes rather than a whole outcome.
// Converts implicitly from the VerifyOutcome::Reject(...) the checks
// return.
struct Rejection {
  RejectReason reason = RejectReason::kNone;
  uint32_t offset = 0;

  Rejection() = default;
  Rejection(const VerifyOutcome& outcome)
      : reason(outcome.reason), offset(outcome.offset) {}
};

}  // namespace internal

// ImageVerifier: the verifier composed with one crypto backend. A target
// names it once (an alias), e.g. ImageVerifier<MbedTlsFirmwareCrypto>.
template <FirmwareCryptoPolicy Crypto>
class ImageVerifier {
 public:
  // Verify checks one image. `trusted_keys` is the device's key set,
  // `buffer` the caller's scratch (at least 128 bytes; larger hashes
  // faster). Returns a VerifiedImage or the first problem found.
  [[nodiscard]] static VerifyOutcome Verify(
      const ImageSource& source, std::span<const TrustedKey> trusted_keys,
      const VerifyOptions& options, std::span<uint8_t> buffer);

 private:
  // ParseAndHash: every check up to the signature, filling `image`. Kept
  // out of line so that its working state (the TLV walk, the hash
  // context) is off the stack before the signature check runs: that check
  // is the deepest call (BoringSSL's ED25519_verify alone takes about
  // 4 KiB), and the two frames used to add up.
  [[gnu::noinline]] static internal::Rejection ParseAndHash(
      const ImageSource& source, std::span<const TrustedKey> trusted_keys,
      const VerifyOptions& options, std::span<uint8_t> buffer,
      internal::HashedImage& image, VerifyOutcome& pending);
};

template <FirmwareCryptoPolicy Crypto>
VerifyOutcome ImageVerifier<Crypto>::Verify(
    const ImageSource& source, std::span<const TrustedKey> trusted_keys,
    const VerifyOptions& options, std::span<uint8_t> buffer) {
  // Every return is `out`, so it is built in the caller's storage.
  VerifyOutcome out = VerifyOutcome::Pending();
  internal::HashedImage image;
  const internal::Rejection parsed =
      ParseAndHash(source, trusted_keys, options, buffer, image, out);
  if (parsed.reason != RejectReason::kNone) {
    out.Fail(parsed.reason, parsed.offset);
    return out;
  }
  const TrustedKey& key = trusted_keys[image.key_index];
  const std::span<const uint8_t> public_key(key.public_key.data(),
                                            key.public_key_size);
  const std::span<const uint8_t> signature(
      buffer.data() + internal::kSignatureAt, image.signature_size);
  const std::span<const uint8_t, kSha256Size> signed_digest(
      out.pending_digest());
  SignatureCheck check = SignatureCheck::kInvalid;
  if (key.algorithm == SignatureAlgorithm::kEd25519) {
    if (key.public_key_size == 32 &&
        image.signature_size == kEd25519SignatureSize) {
      check = Crypto::VerifyEd25519(public_key, signed_digest, signature);
    }
  } else {
    check = Crypto::VerifyEcdsaP256(public_key, signed_digest, signature);
  }
  if (check == SignatureCheck::kUnsupported) {
    out.Fail(RejectReason::kSignatureTypeUnsupported, image.protected_end);
    return out;
  }
  if (check != SignatureCheck::kValid) {
    out.Fail(RejectReason::kBadSignature, image.protected_end);
    return out;
  }

  if (!image.has_security_counter && options.require_security_counter) {
    out.Fail(RejectReason::kMissingSecurityCounter, image.body_end);
    return out;
  }
  const uint32_t image_counter =
      image.has_security_counter ? image.security_counter : 0;
  if (image_counter < options.stored_security_counter) {
    out.Fail(RejectReason::kRollback, image.body_end);
    return out;
  }

  out.Accept(image_counter, image.has_security_counter, image.key_index,
             key.algorithm, image.unprotected_end);
  return out;
}

template <FirmwareCryptoPolicy Crypto>
internal::Rejection ImageVerifier<Crypto>::ParseAndHash(
    const ImageSource& source, std::span<const TrustedKey> trusted_keys,
    const VerifyOptions& options, std::span<uint8_t> buffer,
    internal::HashedImage& image, VerifyOutcome& pending) {
  using internal::ReadExact;
  if (buffer.size() < internal::kMinBufferSize) {
    return VerifyOutcome::Reject(RejectReason::kBufferTooSmall, 0);
  }
  if (source.read == nullptr) {
    return VerifyOutcome::Reject(RejectReason::kReadFailed, 0);
  }
  if (source.size < kImageHeaderSize) {
    return VerifyOutcome::Reject(RejectReason::kTruncatedHeader, source.size);
  }
  if (!ReadExact(source, 0, buffer.data(), kImageHeaderSize)) {
    return VerifyOutcome::Reject(RejectReason::kReadFailed, 0);
  }
  const ImageHeader header = DecodeHeader(buffer.data());
  if (header.magic != kImageMagic) {
    return VerifyOutcome::Reject(RejectReason::kBadMagic, 0);
  }
  if (header.hdr_size < kImageHeaderSize) {
    return VerifyOutcome::Reject(RejectReason::kHeaderSizeTooSmall, 8);
  }
  if (header.hdr_size > options.max_header_size ||
      header.hdr_size > source.size) {
    return VerifyOutcome::Reject(RejectReason::kHeaderSizeTooLarge, 8);
  }
  if ((header.flags & (kFlagEncryptedAes128 | kFlagEncryptedAes256)) != 0) {
    return VerifyOutcome::Reject(RejectReason::kEncryptedImageUnsupported, 16);
  }
  // All offsets from here on are 64-bit sums of 16/32-bit fields: they
  // cannot wrap, and each is compared with the source size before use.
  const uint64_t body_end = uint64_t{header.hdr_size} + header.img_size;
  if (body_end > source.size) {
    return VerifyOutcome::Reject(RejectReason::kImageSizePastEnd, 12);
  }

  internal::CollectedTlvs tlvs;
  uint64_t protected_end = body_end;
  uint8_t info[kTlvInfoSize];
  if (header.protect_tlv_size != 0) {
    if (header.protect_tlv_size < kTlvInfoSize) {
      return VerifyOutcome::Reject(RejectReason::kTlvAreaTooSmall, 10);
    }
    protected_end = body_end + header.protect_tlv_size;
    if (protected_end > source.size) {
      return VerifyOutcome::Reject(RejectReason::kTlvAreaPastEnd, body_end);
    }
    if (!ReadExact(source, body_end, info, kTlvInfoSize)) {
      return VerifyOutcome::Reject(RejectReason::kReadFailed, body_end);
    }
    if (LoadLe16(info) != kProtectedTlvInfoMagic) {
      return VerifyOutcome::Reject(RejectReason::kBadProtectedTlvInfoMagic, body_end);
    }
    if (LoadLe16(info + 2) != header.protect_tlv_size) {
      return VerifyOutcome::Reject(RejectReason::kProtectedAreaSizeMismatch, body_end);
    }
    VerifyOutcome walked = internal::WalkArea(
        source, body_end + kTlvInfoSize, protected_end, true, options, tlvs);
    if (!walked.ok()) return walked;
  }

  if (source.size - protected_end < kTlvInfoSize) {
    return VerifyOutcome::Reject(RejectReason::kMissingTlvInfo, protected_end);
  }
  if (!ReadExact(source, protected_end, info, kTlvInfoSize)) {
    return VerifyOutcome::Reject(RejectReason::kReadFailed, protected_end);
  }
  if (LoadLe16(info) != kTlvInfoMagic) {
    return VerifyOutcome::Reject(
        LoadLe16(info) == kProtectedTlvInfoMagic && header.protect_tlv_size == 0
            ? RejectReason::kUnexpectedProtectedArea
            : RejectReason::kBadTlvInfoMagic,
        protected_end);
  }
  const uint16_t unprotected_size = LoadLe16(info + 2);
  if (unprotected_size < kTlvInfoSize) {
    return VerifyOutcome::Reject(RejectReason::kTlvAreaTooSmall, protected_end);
  }
  const uint64_t unprotected_end = protected_end + unprotected_size;
  if (unprotected_end > source.size) {
    return VerifyOutcome::Reject(RejectReason::kTlvAreaPastEnd, protected_end);
  }
  VerifyOutcome walked = internal::WalkArea(
      source, protected_end + kTlvInfoSize, unprotected_end, false, options, tlvs);
  if (!walked.ok()) return walked;

  if (!tlvs.has_sha256) {
    return VerifyOutcome::Reject(RejectReason::kMissingSha256, protected_end);
  }
  if (!tlvs.has_key_hash) {
    return VerifyOutcome::Reject(RejectReason::kMissingKeyHash, protected_end);
  }
  if (!tlvs.has_signature) {
    return VerifyOutcome::Reject(RejectReason::kMissingSignature, protected_end);
  }

  // Hash header + body + protected area through the caller's buffer.
  typename Crypto::Sha256Context sha;
  Crypto::Sha256Init(sha);
  for (uint64_t offset = 0; offset < protected_end;) {
    const uint64_t chunk = protected_end - offset < buffer.size()
                               ? protected_end - offset
                               : buffer.size();
    if (!ReadExact(source, offset, buffer.data(), chunk)) {
      return VerifyOutcome::Reject(RejectReason::kReadFailed, offset);
    }
    Crypto::Sha256Update(sha, buffer.first(static_cast<size_t>(chunk)));
    offset += chunk;
  }
  std::array<uint8_t, 32> digest;
  Crypto::Sha256Final(sha, std::span<uint8_t, kSha256Size>(digest));
  if (!internal::ConstantTimeEquals(digest.data(), tlvs.sha256.data(),
                                    digest.size())) {
    return VerifyOutcome::Reject(RejectReason::kDigestMismatch, protected_end);
  }

  // KEYHASH is public, so a plain search is fine; what matters is that the
  // key comes from the trusted set and never from the image.
  const TrustedKey* key = nullptr;
  size_t key_index = 0;
  for (size_t i = 0; i < trusted_keys.size(); ++i) {
    if (internal::ConstantTimeEquals(trusted_keys[i].key_hash.data(),
                                     tlvs.key_hash.data(), 32)) {
      key = &trusted_keys[i];
      key_index = i;
      break;
    }
  }
  if (key == nullptr) {
    return VerifyOutcome::Reject(RejectReason::kUntrustedKey, protected_end);
  }
  if (SignatureTlvFor(key->algorithm) != tlvs.signature_type) {
    return VerifyOutcome::Reject(RejectReason::kSignatureAlgorithmMismatch, protected_end);
  }

  // Every offset is at most source.size, a uint32_t.
  pending.pending_header() = header;
  std::memcpy(pending.pending_digest().data(), digest.data(), kSha256Size);
  std::memcpy(buffer.data() + internal::kSignatureAt, tlvs.signature.data(),
              tlvs.signature_size);
  image.signature_size = tlvs.signature_size;
  image.has_security_counter = tlvs.has_security_counter;
  image.security_counter = tlvs.security_counter;
  image.body_end = static_cast<uint32_t>(body_end);
  image.protected_end = static_cast<uint32_t>(protected_end);
  image.unprotected_end = static_cast<uint32_t>(unprotected_end);
  image.key_index = key_index;
  return internal::Rejection{};
}

}  // namespace cxsec::firmware

#endif  // CXSEC_CORE_FIRMWARE_IMAGE_VERIFIER_H_
