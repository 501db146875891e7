// The bootloader-side verifier for MCUboot-format images: header-only, no
// heap in cxsec's code, no exceptions. It reads the image through a read
// callback into a caller-provided buffer, so the same code verifies a
// memory-mapped flash slot and a file on a gateway disk.
//
//   uint8_t buffer[4096];
//   VerifyOutcome outcome = VerifyImage(source, keys, options,
//                                       absl::MakeSpan(buffer));
//   if (!outcome.ok()) log(RejectReasonText(outcome.reason));
//   else boot(outcome.image());   // a VerifiedImage, never a bool
//
// What it enforces, in order: header sanity (magic, hdr_size bounds,
// img_size within the slot, no encryption); both TLV info headers; a
// bounded walk of each area with overflow-checked offsets and a per-area
// allow-list (the unprotected area holds only SHA256, KEYHASH and one
// signature: the CVE-2024-32883 class, where protected-only TLVs were
// trusted from the unsigned area); SHA-256 over header + body + protected
// area compared in constant time; the key picked by KEYHASH from the
// trusted set; the signature; finally anti-rollback (SEC_CNT >= stored).
//
// Crypto note: Ed25519 and SHA-256 in BoringSSL allocate nothing; BoringSSL's
// ECDSA verify allocates its EC_KEY/BIGNUM temporaries internally. An MCU
// port swaps VerifySignature for its crypto library.
#ifndef CXSEC_CORE_FIRMWARE_IMAGE_VERIFIER_H_
#define CXSEC_CORE_FIRMWARE_IMAGE_VERIFIER_H_

#include <openssl/base.h>
#include <openssl/curve25519.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/sha.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/firmware/image_format.h"

#if !defined(OPENSSL_IS_BORINGSSL)
#error "cxsec: the firmware verifier needs BoringSSL (@boringssl//:crypto)"
#endif

namespace cxsec::firmware {

// RejectReason: why an image was refused. Each malformation has its own
// value so logs and tests can tell them apart.
enum class RejectReason : uint8_t {
  kNone = 0,
  kBufferTooSmall,
  kReadFailed,
  kTruncatedHeader,
  kBadMagic,
  kHeaderSizeTooSmall,
  kHeaderSizeTooLarge,
  kImageSizePastEnd,
  kEncryptedImageUnsupported,
  kMissingTlvInfo,
  kBadTlvInfoMagic,
  kBadProtectedTlvInfoMagic,
  kProtectedAreaSizeMismatch,
  kUnexpectedProtectedArea,
  kTlvAreaPastEnd,
  kTlvAreaTooSmall,
  kTlvHeaderPastArea,
  kTlvLengthOverflowsArea,
  kTooManyTlvs,
  kUnknownTlvInUnprotectedArea,
  kProtectedTlvInUnprotectedArea,
  kTlvNotAllowedInProtectedArea,
  kDuplicateSha256,
  kDuplicateKeyHash,
  kDuplicateSignature,
  kDuplicateSecurityCounter,
  kBadSha256Length,
  kBadKeyHashLength,
  kBadSignatureLength,
  kBadSecurityCounterLength,
  kMissingSha256,
  kMissingKeyHash,
  kMissingSignature,
  kMissingSecurityCounter,
  kDigestMismatch,
  kUntrustedKey,
  kSignatureAlgorithmMismatch,
  kBadSignature,
  kRollback,
};

inline const char* RejectReasonText(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNone: return "ok";
    case RejectReason::kBufferTooSmall: return "read buffer smaller than 128 bytes";
    case RejectReason::kReadFailed: return "reading the image failed";
    case RejectReason::kTruncatedHeader: return "image shorter than the 32-byte header";
    case RejectReason::kBadMagic: return "bad image magic (want 0x96f3b83d)";
    case RejectReason::kHeaderSizeTooSmall: return "hdr_size smaller than 32";
    case RejectReason::kHeaderSizeTooLarge: return "hdr_size larger than allowed";
    case RejectReason::kImageSizePastEnd: return "img_size runs past the end of the slot";
    case RejectReason::kEncryptedImageUnsupported: return "encrypted images are not supported";
    case RejectReason::kMissingTlvInfo: return "no room for the TLV info header";
    case RejectReason::kBadTlvInfoMagic: return "bad unprotected TLV info magic (want 0x6907)";
    case RejectReason::kBadProtectedTlvInfoMagic: return "bad protected TLV info magic (want 0x6908)";
    case RejectReason::kProtectedAreaSizeMismatch: return "protected TLV area length differs from protect_tlv_size";
    case RejectReason::kUnexpectedProtectedArea: return "protected TLV area present but protect_tlv_size is 0";
    case RejectReason::kTlvAreaPastEnd: return "TLV area runs past the end of the slot";
    case RejectReason::kTlvAreaTooSmall: return "TLV area length smaller than its info header";
    case RejectReason::kTlvHeaderPastArea: return "TLV entry header runs past its area";
    case RejectReason::kTlvLengthOverflowsArea: return "TLV length runs past its area";
    case RejectReason::kTooManyTlvs: return "too many TLV entries";
    case RejectReason::kUnknownTlvInUnprotectedArea: return "TLV type not allowed in the unprotected area";
    case RejectReason::kProtectedTlvInUnprotectedArea: return "protected-only TLV found in the unprotected area";
    case RejectReason::kTlvNotAllowedInProtectedArea: return "TLV type not allowed in the protected area";
    case RejectReason::kDuplicateSha256: return "duplicate SHA256 TLV";
    case RejectReason::kDuplicateKeyHash: return "duplicate KEYHASH TLV";
    case RejectReason::kDuplicateSignature: return "more than one signature TLV";
    case RejectReason::kDuplicateSecurityCounter: return "duplicate SEC_CNT TLV";
    case RejectReason::kBadSha256Length: return "SHA256 TLV length is not 32";
    case RejectReason::kBadKeyHashLength: return "KEYHASH TLV length is not 32";
    case RejectReason::kBadSignatureLength: return "signature TLV length out of range";
    case RejectReason::kBadSecurityCounterLength: return "SEC_CNT TLV length is not 4";
    case RejectReason::kMissingSha256: return "no SHA256 TLV";
    case RejectReason::kMissingKeyHash: return "no KEYHASH TLV";
    case RejectReason::kMissingSignature: return "no signature TLV";
    case RejectReason::kMissingSecurityCounter: return "no SEC_CNT TLV but the device requires one";
    case RejectReason::kDigestMismatch: return "image digest does not match the SHA256 TLV";
    case RejectReason::kUntrustedKey: return "KEYHASH names no trusted key";
    case RejectReason::kSignatureAlgorithmMismatch: return "signature type does not match the trusted key";
    case RejectReason::kBadSignature: return "signature does not verify";
    case RejectReason::kRollback: return "SEC_CNT below the device's stored security counter (rollback)";
  }
  return "unknown reason";
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
inline ImageSource MemoryImageSource(absl::Span<const uint8_t> bytes) {
  ImageSource source;
  source.context = const_cast<uint8_t*>(bytes.data());
  source.size = bytes.size() > 0xffffffffu ? 0xffffffffu
                                           : static_cast<uint32_t>(bytes.size());
  source.read = [](void* context, uint32_t offset, uint8_t* out,
                   uint32_t length) -> int {
    // VerifyImage bounds every read by `size` before calling.
    const auto* base = static_cast<const uint8_t*>(context);
    for (uint32_t i = 0; i < length; ++i) out[i] = base[offset + i];
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
// the first problem. No heap; ToStatus() converts for host code.
struct VerifyOutcome {
  RejectReason reason = RejectReason::kNone;
  uint32_t offset = 0;  // where the problem was found, when it has a place

  bool ok() const { return reason == RejectReason::kNone; }
  // Only meaningful when ok().
  const VerifiedImage& image() const { return image_; }

  absl::Status ToStatus() const {
    if (ok()) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(
        "firmware image rejected: ", RejectReasonText(reason),
        " (at offset 0x", absl::Hex(offset), ")"));
  }

  static VerifyOutcome Reject(RejectReason reason, uint64_t offset);

 private:
  // Only VerifyImage may produce an accepted outcome.
  friend VerifyOutcome VerifyImage(const ImageSource& source,
                                   absl::Span<const TrustedKey> trusted_keys,
                                   const VerifyOptions& options,
                                   absl::Span<uint8_t> buffer);
  static VerifyOutcome Accept(const ImageHeader& header,
                              const std::array<uint8_t, 32>& digest,
                              uint32_t security_counter, bool has_counter,
                              size_t key_index, SignatureAlgorithm algorithm,
                              uint32_t image_end) {
    VerifyOutcome out;
    out.image_.header_ = header;
    out.image_.digest_ = digest;
    out.image_.security_counter_ = security_counter;
    out.image_.has_security_counter_ = has_counter;
    out.image_.key_index_ = key_index;
    out.image_.algorithm_ = algorithm;
    out.image_.image_end_ = image_end;
    return out;
  }

  VerifiedImage image_;
};

inline VerifyOutcome VerifyOutcome::Reject(RejectReason reason,
                                           uint64_t offset) {
  VerifyOutcome out;
  out.reason = reason;
  out.offset = offset > 0xffffffffu ? 0xffffffffu : static_cast<uint32_t>(offset);
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

inline bool VerifySignature(const TrustedKey& key,
                            const std::array<uint8_t, 32>& digest,
                            const uint8_t* signature, size_t signature_size) {
  if (key.algorithm == SignatureAlgorithm::kEd25519) {
    if (key.public_key_size != 32 || signature_size != 64) return false;
    return ED25519_verify(digest.data(), digest.size(), signature,
                          key.public_key.data()) == 1;
  }
  EC_KEY* ec_key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  if (ec_key == nullptr) return false;
  bool ok = false;
  EC_POINT* point = EC_POINT_new(EC_KEY_get0_group(ec_key));
  if (point != nullptr &&
      EC_POINT_oct2point(EC_KEY_get0_group(ec_key), point,
                         key.public_key.data(), key.public_key_size,
                         nullptr) == 1 &&
      EC_KEY_set_public_key(ec_key, point) == 1) {
    // ECDSA_verify parses strict DER, so a re-encoded signature fails.
    ok = ECDSA_verify(0, digest.data(), digest.size(), signature,
                      signature_size, ec_key) == 1;
  }
  EC_POINT_free(point);
  EC_KEY_free(ec_key);
  return ok;
}

}  // namespace internal

// VerifyImage checks one image. `trusted_keys` is the device's key set,
// `buffer` the caller's scratch (at least 128 bytes; larger hashes faster).
[[nodiscard]] inline VerifyOutcome VerifyImage(
    const ImageSource& source, absl::Span<const TrustedKey> trusted_keys,
    const VerifyOptions& options, absl::Span<uint8_t> buffer) {
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
  SHA256_CTX sha;
  SHA256_Init(&sha);
  for (uint64_t offset = 0; offset < protected_end;) {
    const uint64_t chunk = protected_end - offset < buffer.size()
                               ? protected_end - offset
                               : buffer.size();
    if (!ReadExact(source, offset, buffer.data(), chunk)) {
      return VerifyOutcome::Reject(RejectReason::kReadFailed, offset);
    }
    SHA256_Update(&sha, buffer.data(), chunk);
    offset += chunk;
  }
  std::array<uint8_t, 32> digest;
  SHA256_Final(digest.data(), &sha);
  if (CRYPTO_memcmp(digest.data(), tlvs.sha256.data(), digest.size()) != 0) {
    return VerifyOutcome::Reject(RejectReason::kDigestMismatch, protected_end);
  }

  // KEYHASH is public, so a plain search is fine; what matters is that the
  // key comes from the trusted set and never from the image.
  const TrustedKey* key = nullptr;
  size_t key_index = 0;
  for (size_t i = 0; i < trusted_keys.size(); ++i) {
    if (CRYPTO_memcmp(trusted_keys[i].key_hash.data(), tlvs.key_hash.data(),
                      32) == 0) {
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
  if (!internal::VerifySignature(*key, digest, tlvs.signature.data(),
                                 tlvs.signature_size)) {
    return VerifyOutcome::Reject(RejectReason::kBadSignature, protected_end);
  }

  if (!tlvs.has_security_counter && options.require_security_counter) {
    return VerifyOutcome::Reject(RejectReason::kMissingSecurityCounter, body_end);
  }
  const uint32_t image_counter = tlvs.has_security_counter ? tlvs.security_counter : 0;
  if (image_counter < options.stored_security_counter) {
    return VerifyOutcome::Reject(RejectReason::kRollback, body_end);
  }

  return VerifyOutcome::Accept(header, digest, image_counter,
                               tlvs.has_security_counter, key_index,
                               key->algorithm,
                               static_cast<uint32_t>(unprotected_end));
}

}  // namespace cxsec::firmware

#endif  // CXSEC_CORE_FIRMWARE_IMAGE_VERIFIER_H_
