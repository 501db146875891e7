// The host API of the TS-UNB (Mioty) uplink frame codec: the device-side
// codec of core/mioty/frame_codec.h (the one implementation, also compiled
// for the Cortex-M node) composed with BoringSSL, with absl::Status at its
// boundary. Formats, constants, FrameHeader, UplinkParams, VerifiedFrame,
// ReconstructCounter and NextCounter come from frame_codec.h unchanged.
//
// Nodes call EncodeUplink. Gateways call ParseFrameHeader (clear fields
// only, to find candidate keys), ReconstructCounter (upper 8 counter bits
// from the last accepted counter) and VerifyUplink, which checks the MIC in
// constant time before decrypting into a caller-provided buffer. The
// accepting path allocates nothing; a rejection returns an absl::Status
// naming the reason (building that message is the only allocation).
#ifndef CXSEC_CORE_MIOTY_FRAME_H_
#define CXSEC_CORE_MIOTY_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/bytes.h"
#include "core/mioty/boringssl_mioty_crypto.h"
#include "core/mioty/frame_codec.h"
#include "core/mioty/network_key.h"

namespace cxsec::mioty {

// HostFrameCodec: the codec on the host's backend.
using HostFrameCodec = FrameCodec<BoringSslMiotyCrypto>;

namespace frame_internal {

inline std::span<const uint8_t> AsSpan(ByteView bytes) {
  return std::span<const uint8_t>(bytes.data(), bytes.size());
}
inline std::span<uint8_t> AsSpan(MutableByteView bytes) {
  return std::span<uint8_t>(bytes.data(), bytes.size());
}

}  // namespace frame_internal

// ParseFrameHeader reads the clear fields of `mpdu` into `header`. Filling
// a caller's header rather than returning StatusOr<FrameHeader> avoids
// copying it through StatusOr, which GCC does with wide loads right after
// narrow stores; those store-forwarding stalls were a third of the decode
// time (docs/MIOTY.md, performance). On failure `header` means nothing.
[[nodiscard]] inline absl::Status ParseFrameHeader(ByteView mpdu,
                                                   FrameHeader& header) {
  const FrameReason reason =
      HostFrameCodec::ParseHeader(frame_internal::AsSpan(mpdu), header);
  switch (reason) {
    case FrameReason::kNone:
      return absl::OkStatus();
    case FrameReason::kTruncatedFrame:
      return absl::InvalidArgumentError(
          absl::StrCat("mioty: truncated frame: ", mpdu.size(),
                       " bytes, the minimum is ", kMinMpduSize));
    case FrameReason::kFrameTooLong:
      return absl::InvalidArgumentError(
          absl::StrCat("mioty: frame of ", mpdu.size(),
                       " bytes exceeds the maximum of ", kMaxMpduSize));
    case FrameReason::kUnsupportedMacVersion:
      return absl::InvalidArgumentError(
          "mioty: unsupported MAC version 1 in the MAC header");
    case FrameReason::kTruncatedForAddressing:
      return absl::InvalidArgumentError(absl::StrCat(
          "mioty: truncated frame: ", mpdu.size(), " bytes, the minimum with ",
          header.long_addressing ? "long" : "short", " addressing",
          header.has_mpf ? " and MPF" : "", " is ",
          MpduSize(header.long_addressing, header.has_mpf, 0)));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("mioty: ", FrameReasonName(reason)));
  }
}

// ParseFrameHeader returning the header (tools, tests, fuzzers).
[[nodiscard]] inline absl::StatusOr<FrameHeader> ParseFrameHeader(
    ByteView mpdu) {
  FrameHeader header;
  absl::Status status = ParseFrameHeader(mpdu, header);
  if (!status.ok()) return status;
  return header;
}

// EncodeUplink writes the MPDU into `out` and returns its size.
[[nodiscard]] inline absl::StatusOr<size_t> EncodeUplink(
    const MiotyNetworkKey& key, const UplinkParams& params, ByteView payload,
    MutableByteView out) {
  size_t size = 0;
  const FrameReason reason =
      HostFrameCodec::EncodeUplink(key, params, frame_internal::AsSpan(payload),
                                   frame_internal::AsSpan(out), size);
  const bool has_mpf = params.mpf.has_value();
  switch (reason) {
    case FrameReason::kNone:
      return size;
    case FrameReason::kPayloadTooLarge:
      return absl::InvalidArgumentError(
          absl::StrCat("mioty: payload of ", payload.size(),
                       " bytes exceeds the maximum of ",
                       MaxPayloadSize(params.long_addressing, has_mpf)));
    case FrameReason::kOutputBufferTooSmall:
      return absl::InvalidArgumentError(
          absl::StrCat("mioty: output buffer of ", out.size(), " bytes, need ",
                       HostFrameCodec::EncodedSize(params, payload.size())));
    default:
      return absl::InternalError(
          absl::StrCat("mioty: encoding failed: ", FrameReasonName(reason)));
  }
}

// EncodeUplink returning an owned MPDU (node side; allocates).
[[nodiscard]] inline absl::StatusOr<Bytes> EncodeUplink(
    const MiotyNetworkKey& key, const UplinkParams& params, ByteView payload) {
  Bytes out(HostFrameCodec::EncodedSize(params, payload.size()));
  absl::StatusOr<size_t> size =
      EncodeUplink(key, params, payload, absl::MakeSpan(out));
  if (!size.ok()) return size.status();
  return out;
}

// VerifyUplink checks `mpdu` as a frame from the device with `eui` and the
// full 32-bit `counter` (ReconstructCounter), using that device's key. On
// success the MPF and payload are decrypted into `plaintext` (at least
// header.encrypted_size bytes), which VerifiedFrame::payload points into.
// The MIC is compared in constant time and nothing is decrypted before it
// matched. No allocation unless it fails. The result goes into `frame`
// (untouched on failure) for the same reason as ParseFrameHeader's.
[[nodiscard]] inline absl::Status VerifyUplink(const MiotyNetworkKey& key,
                                               const FrameHeader& header,
                                               const Eui64& eui,
                                               uint32_t counter, ByteView mpdu,
                                               MutableByteView plaintext,
                                               VerifiedFrame& frame) {
  const FrameReason reason = HostFrameCodec::VerifyUplink(
      key, header, eui, counter, frame_internal::AsSpan(mpdu),
      frame_internal::AsSpan(plaintext), frame);
  switch (reason) {
    case FrameReason::kNone:
      return absl::OkStatus();
    case FrameReason::kHeaderDoesNotMatchFrame:
      return absl::InvalidArgumentError(
          "mioty: frame header does not describe this frame");
    case FrameReason::kEuiMismatch:
      return absl::InvalidArgumentError(
          "mioty: frame EUI-64 differs from the device's");
    case FrameReason::kCounterMismatch:
      return absl::InvalidArgumentError(
          "mioty: counter does not match the frame's low 24 bits");
    case FrameReason::kPlaintextBufferTooSmall:
      return absl::InvalidArgumentError(
          absl::StrCat("mioty: plaintext buffer of ", plaintext.size(),
                       " bytes, need ", header.encrypted_size));
    case FrameReason::kMicMismatch:
      return absl::UnauthenticatedError("mioty: MIC mismatch");
    default:
      return absl::InternalError(absl::StrCat("mioty: verification failed: ",
                                              FrameReasonName(reason)));
  }
}

// VerifyUplink returning the frame (tools, tests, fuzzers).
[[nodiscard]] inline absl::StatusOr<VerifiedFrame> VerifyUplink(
    const MiotyNetworkKey& key, const FrameHeader& header, const Eui64& eui,
    uint32_t counter, ByteView mpdu, MutableByteView plaintext) {
  VerifiedFrame frame;
  absl::Status status =
      VerifyUplink(key, header, eui, counter, mpdu, plaintext, frame);
  if (!status.ok()) return status;
  return frame;
}

}  // namespace cxsec::mioty

#endif  // CXSEC_CORE_MIOTY_FRAME_H_
