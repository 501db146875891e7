// The firmware image verifier for host code (the CLI, the gateway's A/B
// update, the simulated node boot, tests): the device-side verifier of
// image_verifier.h composed with BoringSSL, plus what only a host wants —
// absl::Span arguments, absl::Status conversion and long reason texts.
//
//   VerifyOutcome outcome = VerifyImage(MemoryImageSource(image), keys,
//                                       options, absl::MakeSpan(buffer));
//   if (!outcome.ok()) return ToStatus(outcome);
//
// Device code includes image_verifier.h and composes its own backend.
#ifndef CXSEC_CORE_FIRMWARE_HOST_IMAGE_VERIFIER_H_
#define CXSEC_CORE_FIRMWARE_HOST_IMAGE_VERIFIER_H_

#include <span>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/firmware/boringssl_firmware_crypto.h"
#include "core/firmware/image_verifier.h"

namespace cxsec::firmware {

// HostImageVerifier: the verifier every host target uses.
using HostImageVerifier = ImageVerifier<BoringSslFirmwareCrypto>;

// RejectReasonText: a sentence for logs and CLI output. For a short,
// stable identifier use RejectReasonName (image_verifier.h).
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
    case RejectReason::kSignatureTypeUnsupported: return "signature type not supported by this build's crypto backend";
  }
  return "unknown reason";
}

// ToStatus: OK for an accepted image, else PermissionDenied naming the
// reason and the offset where it was found.
inline absl::Status ToStatus(const VerifyOutcome& outcome) {
  if (outcome.ok()) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "firmware image rejected: ", RejectReasonText(outcome.reason),
      " (at offset 0x", absl::Hex(outcome.offset), ")"));
}

// VerifyImage: HostImageVerifier::Verify with absl::Span arguments.
[[nodiscard]] inline VerifyOutcome VerifyImage(
    const ImageSource& source, absl::Span<const TrustedKey> trusted_keys,
    const VerifyOptions& options, absl::Span<uint8_t> buffer) {
  return HostImageVerifier::Verify(
      source, std::span<const TrustedKey>(trusted_keys.data(), trusted_keys.size()),
      options, std::span<uint8_t>(buffer.data(), buffer.size()));
}

}  // namespace cxsec::firmware

#endif  // CXSEC_CORE_FIRMWARE_HOST_IMAGE_VERIFIER_H_
