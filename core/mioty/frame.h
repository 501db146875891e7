// The TS-UNB (Mioty) fixed uplink MAC frame security, exactly as
// Fraunhofer's TS-UNB-Lib implements ETSI TS 103 357 §6.3.2, so frames from
// real endpoints built on it verify here and frames from cxsec nodes verify
// on real base stations.
//
// MPDU: MAC header (1) | short address (2) or EUI-64 (8) | counter low 24
// bits BE (3) | [MPF (1)] | payload | MIC (4).
//  - AES-128-CTR encrypts MPF + payload; block i's counter block is
//    EUI-64 || 00 || 00 || counter32 BE || 00 || i.
//  - MIC = AES-CMAC(key, B0 || MPDU-so-far)[0..4), B0 = EUI-64 || 00 || 00 ||
//    counter32 BE || FF || FF. The MIC covers the EUI-64 even when the frame
//    only carries the short address, so a receiver must know the EUI.
//
// Nodes call EncodeUplink. Gateways call ParseFrameHeader (clear fields
// only, to find candidate keys), ReconstructCounter (upper 8 counter bits
// from the last accepted counter) and VerifyUplink, which checks the MIC in
// constant time before decrypting into a caller-provided buffer. The
// accepting path allocates nothing; a rejection returns an absl::Status
// naming the reason (building that message is the only allocation).
#ifndef CXSEC_CORE_MIOTY_FRAME_H_
#define CXSEC_CORE_MIOTY_FRAME_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/bytes.h"
#include "core/crypto/primitives.h"
#include "core/mioty/network_key.h"

namespace cxsec::mioty {

using Eui64 = std::array<uint8_t, 8>;

inline constexpr size_t kEuiSize = 8;
inline constexpr size_t kShortAddressSize = 2;
inline constexpr size_t kCounterFieldSize = 3;
inline constexpr size_t kMicSize = 4;
// The TS-UNB PHY carries at most 255 MPDU bytes (one length byte).
inline constexpr size_t kMaxMpduSize = 255;
inline constexpr size_t kMinMpduSize =
    1 + kShortAddressSize + kCounterFieldSize + kMicSize;
inline constexpr uint32_t kCounterLowMask = 0x00ffffff;

// MAC header bits, least significant first (TS-UNB-Lib's MacHeader).
namespace mac_header {
inline constexpr uint8_t kAck = 0x01;
inline constexpr uint8_t kAttach = 0x02;
inline constexpr uint8_t kLongAddressing = 0x04;
inline constexpr uint8_t kRxOpen = 0x08;
inline constexpr uint8_t kResponse = 0x10;
inline constexpr uint8_t kControl = 0x20;
inline constexpr uint8_t kMpfPresent = 0x40;
// Only MAC version 0 exists; a set bit is a format cxsec cannot check.
inline constexpr uint8_t kMacVersion = 0x80;
}  // namespace mac_header

// FrameHeader: the clear fields of a received MPDU. Nothing in it is
// authenticated until VerifyUplink succeeds.
struct FrameHeader {
  uint8_t mac_header = 0;
  bool long_addressing = false;
  bool has_mpf = false;
  uint16_t short_address = 0;  // short addressing only
  Eui64 eui{};                 // long addressing only
  uint32_t counter_low24 = 0;
  size_t encrypted_offset = 0;  // where MPF + payload start
  size_t encrypted_size = 0;    // MPF + payload
  size_t mic_offset = 0;
};

// UplinkParams: what a node puts in the clear part of a frame.
struct UplinkParams {
  Eui64 eui{};
  uint16_t short_address = 0;
  uint32_t counter = 0;
  bool long_addressing = false;
  std::optional<uint8_t> mpf;
  // Further MAC header bits (ack, attach, rx-open, ...); the addressing,
  // MPF and version bits are set from the fields above.
  uint8_t mac_flags = 0;
};

// VerifiedFrame: an authenticated, decrypted uplink. `payload` points into
// the plaintext buffer given to VerifyUplink.
struct VerifiedFrame {
  uint8_t mac_header = 0;
  bool long_addressing = false;
  Eui64 eui{};
  uint16_t short_address = 0;  // short addressing only
  uint32_t counter = 0;
  std::optional<uint8_t> mpf;
  ByteView payload;
};

// ShortAddressOf gives the default short address: the EUI's last two bytes.
inline uint16_t ShortAddressOf(const Eui64& eui) {
  return static_cast<uint16_t>((eui[6] << 8) | eui[7]);
}

// MpduSize is the encoded size for `payload_size` payload bytes.
inline constexpr size_t MpduSize(bool long_addressing, bool has_mpf,
                                 size_t payload_size) {
  return 1 + (long_addressing ? kEuiSize : kShortAddressSize) +
         kCounterFieldSize + (has_mpf ? 1 : 0) + payload_size + kMicSize;
}

// MaxPayloadSize is the largest payload that fits kMaxMpduSize.
inline constexpr size_t MaxPayloadSize(bool long_addressing, bool has_mpf) {
  return kMaxMpduSize - MpduSize(long_addressing, has_mpf, 0);
}

namespace frame_internal {

inline void PutCounter32(uint32_t counter, uint8_t* out) {
  out[0] = static_cast<uint8_t>(counter >> 24);
  out[1] = static_cast<uint8_t>(counter >> 16);
  out[2] = static_cast<uint8_t>(counter >> 8);
  out[3] = static_cast<uint8_t>(counter);
}

// Block(EUI || 00 || 00 || counter32 || tail0 || tail1): both the CTR
// counter block (tail 00 i) and B0 (tail FF FF) have this shape.
inline Block SecurityBlock(const Eui64& eui, uint32_t counter, uint8_t tail0,
                           uint8_t tail1) {
  Block block{};
  std::memcpy(block.data(), eui.data(), kEuiSize);
  block[8] = 0x00;
  block[9] = 0x00;  // uplink direction
  PutCounter32(counter, block.data() + 10);
  block[14] = tail0;
  block[15] = tail1;
  return block;
}

inline void Xor16(uint8_t* state, const uint8_t* data) {
  uint64_t a[2], b[2];
  std::memcpy(a, state, 16);
  std::memcpy(b, data, 16);
  a[0] ^= b[0];
  a[1] ^= b[1];
  std::memcpy(state, a, 16);
}

// CtrXor applies AES-128-CTR from `in` to `out` (which may be the same
// buffer) with BoringSSL's AES_ctr128_encrypt,
// which pipelines blocks (AES-NI). It increments the last 32 bits of the
// counter block (00 || i): at most 255 blocks are needed (kMaxMpduSize),
// so the one-byte block index never carries into the packet counter.
inline void CtrXor(const MiotyNetworkKey& key, const Eui64& eui,
                   uint32_t counter, const uint8_t* in, uint8_t* out,
                   size_t size) {
  static_assert(kMaxMpduSize / kAesBlockSize < 256);
  Block counter_block = SecurityBlock(eui, counter, 0x00, 0x00);
  Block keystream;
  unsigned int used = 0;
  key.CtrXor(in, out, size, counter_block.data(), keystream.data(), &used);
}

// Mic computes the 4-byte MIC: AES-CMAC(key, B0 || mpdu_so_far)[0..4).
// B0 is exactly one block, so it is absorbed directly; the rest is RFC
// 4493 over the MPDU (never empty: a frame has at least 6 clear bytes).
// This is the hot path of every received frame, hence not AesCmac's
// general buffering; the tests hold both to BoringSSL's AES_CMAC.
inline std::array<uint8_t, kMicSize> Mic(const MiotyNetworkKey& key,
                                         const Eui64& eui, uint32_t counter,
                                         ByteView mpdu_so_far) {
  Block state = SecurityBlock(eui, counter, 0xff, 0xff);
  key.EncryptBlock(state.data(), state.data());
  const uint8_t* p = mpdu_so_far.data();
  const size_t n = mpdu_so_far.size();
  size_t offset = 0;
  while (n - offset > kAesBlockSize) {
    Xor16(state.data(), p + offset);
    key.EncryptBlock(state.data(), state.data());
    offset += kAesBlockSize;
  }
  Block last{};
  const size_t rest = n - offset;  // 1..16 (0 only for an empty MPDU)
  if (rest > 0) std::memcpy(last.data(), p + offset, rest);
  if (rest == kAesBlockSize) {
    Xor16(last.data(), key.k1().data());
  } else {
    last[rest] = 0x80;
    Xor16(last.data(), key.k2().data());
  }
  Xor16(state.data(), last.data());
  key.EncryptBlock(state.data(), state.data());
  std::array<uint8_t, kMicSize> mic;
  std::memcpy(mic.data(), state.data(), kMicSize);
  return mic;
}

}  // namespace frame_internal

// ParseFrameHeader reads the clear fields into `header` and checks the
// sizes. The gateway's per-frame path uses this form: filling the caller's
// struct field by field avoids copying it through StatusOr, which GCC does
// with wide loads right after narrow stores; those store-forwarding stalls
// were a third of the decode time (docs/MIOTY.md, performance). On failure
// `header` means nothing.
[[nodiscard]] inline absl::Status ParseFrameHeader(ByteView mpdu,
                                                   FrameHeader& header) {
  if (mpdu.size() < kMinMpduSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mioty: truncated frame: ", mpdu.size(), " bytes, the minimum is ",
        kMinMpduSize));
  }
  if (mpdu.size() > kMaxMpduSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mioty: frame of ", mpdu.size(), " bytes exceeds the maximum of ",
        kMaxMpduSize));
  }
  header = FrameHeader{};
  header.mac_header = mpdu[0];
  if (header.mac_header & mac_header::kMacVersion) {
    return absl::InvalidArgumentError(
        "mioty: unsupported MAC version 1 in the MAC header");
  }
  header.long_addressing = (header.mac_header & mac_header::kLongAddressing) != 0;
  header.has_mpf = (header.mac_header & mac_header::kMpfPresent) != 0;
  size_t minimum = MpduSize(header.long_addressing, header.has_mpf, 0);
  if (mpdu.size() < minimum) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mioty: truncated frame: ", mpdu.size(), " bytes, the minimum with ",
        header.long_addressing ? "long" : "short", " addressing",
        header.has_mpf ? " and MPF" : "", " is ", minimum));
  }
  size_t offset = 1;
  if (header.long_addressing) {
    std::memcpy(header.eui.data(), mpdu.data() + offset, kEuiSize);
    offset += kEuiSize;
  } else {
    header.short_address =
        static_cast<uint16_t>((mpdu[offset] << 8) | mpdu[offset + 1]);
    offset += kShortAddressSize;
  }
  header.counter_low24 = (uint32_t{mpdu[offset]} << 16) |
                         (uint32_t{mpdu[offset + 1]} << 8) | mpdu[offset + 2];
  offset += kCounterFieldSize;
  header.encrypted_offset = offset;
  header.mic_offset = mpdu.size() - kMicSize;
  header.encrypted_size = header.mic_offset - offset;  // >= has_mpf, checked
  return absl::OkStatus();
}

// ParseFrameHeader returning the header (tools, tests, fuzzers).
[[nodiscard]] inline absl::StatusOr<FrameHeader> ParseFrameHeader(
    ByteView mpdu) {
  FrameHeader header;
  absl::Status status = ParseFrameHeader(mpdu, header);
  if (!status.ok()) return status;
  return header;
}

// ReconstructCounter rebuilds the 32-bit counter from its low 24 bits: the
// value with those bits nearest to `last_accepted` (ties go forward). So a
// replayed or late frame is rebuilt as the old counter it is, and rejected
// as a replay, while the low bits wrapping past 0xffffff move the upper
// byte on. Without a last accepted counter the upper bits are taken as 0.
// nullopt: the nearest value lies past 2^32 (the counter is exhausted).
inline std::optional<uint32_t> ReconstructCounter(
    std::optional<uint32_t> last_accepted, uint32_t low24) {
  low24 &= kCounterLowMask;
  if (!last_accepted) return low24;
  constexpr int64_t kEpoch = int64_t{kCounterLowMask} + 1;
  const int64_t last = *last_accepted;
  int64_t best = (last & ~int64_t{kCounterLowMask}) | low24;
  if (best - last > kEpoch / 2) {
    best -= kEpoch;
  } else if (last - best >= kEpoch / 2) {
    best += kEpoch;
  }
  if (best < 0) best += kEpoch;
  if (best > int64_t{UINT32_MAX}) return std::nullopt;
  return static_cast<uint32_t>(best);
}

// EncodeUplink writes the MPDU into `out` and returns its size.
[[nodiscard]] inline absl::StatusOr<size_t> EncodeUplink(
    const MiotyNetworkKey& key, const UplinkParams& params, ByteView payload,
    MutableByteView out) {
  const bool has_mpf = params.mpf.has_value();
  if (payload.size() > MaxPayloadSize(params.long_addressing, has_mpf)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mioty: payload of ", payload.size(), " bytes exceeds the maximum of ",
        MaxPayloadSize(params.long_addressing, has_mpf)));
  }
  const size_t size = MpduSize(params.long_addressing, has_mpf, payload.size());
  if (out.size() < size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mioty: output buffer of ", out.size(), " bytes, need ", size));
  }
  uint8_t* p = out.data();
  uint8_t header = params.mac_flags &
                   static_cast<uint8_t>(~(mac_header::kLongAddressing |
                                          mac_header::kMpfPresent |
                                          mac_header::kMacVersion));
  if (params.long_addressing) header |= mac_header::kLongAddressing;
  if (has_mpf) header |= mac_header::kMpfPresent;
  size_t offset = 0;
  p[offset++] = header;
  if (params.long_addressing) {
    std::memcpy(p + offset, params.eui.data(), kEuiSize);
    offset += kEuiSize;
  } else {
    p[offset++] = static_cast<uint8_t>(params.short_address >> 8);
    p[offset++] = static_cast<uint8_t>(params.short_address);
  }
  p[offset++] = static_cast<uint8_t>(params.counter >> 16);
  p[offset++] = static_cast<uint8_t>(params.counter >> 8);
  p[offset++] = static_cast<uint8_t>(params.counter);
  const size_t encrypted_offset = offset;
  if (has_mpf) p[offset++] = *params.mpf;
  if (!payload.empty()) std::memcpy(p + offset, payload.data(), payload.size());
  offset += payload.size();
  frame_internal::CtrXor(key, params.eui, params.counter,
                         p + encrypted_offset, p + encrypted_offset,
                         offset - encrypted_offset);
  std::array<uint8_t, kMicSize> mic = frame_internal::Mic(
      key, params.eui, params.counter, ByteView(p, offset));
  std::memcpy(p + offset, mic.data(), kMicSize);
  return size;
}

// EncodeUplink returning an owned MPDU (node side; allocates).
[[nodiscard]] inline absl::StatusOr<Bytes> EncodeUplink(
    const MiotyNetworkKey& key, const UplinkParams& params, ByteView payload) {
  Bytes out(MpduSize(params.long_addressing, params.mpf.has_value(),
                     payload.size()));
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
[[nodiscard]] inline absl::Status VerifyUplink(
    const MiotyNetworkKey& key, const FrameHeader& header, const Eui64& eui,
    uint32_t counter, ByteView mpdu, MutableByteView plaintext,
    VerifiedFrame& frame) {
  if (header.mic_offset + kMicSize != mpdu.size() ||
      header.encrypted_offset + header.encrypted_size != header.mic_offset) {
    return absl::InvalidArgumentError(
        "mioty: frame header does not describe this frame");
  }
  if (header.long_addressing && header.eui != eui) {
    return absl::InvalidArgumentError(
        "mioty: frame EUI-64 differs from the device's");
  }
  if ((counter & kCounterLowMask) != header.counter_low24) {
    return absl::InvalidArgumentError(
        "mioty: counter does not match the frame's low 24 bits");
  }
  if (plaintext.size() < header.encrypted_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mioty: plaintext buffer of ", plaintext.size(), " bytes, need ",
        header.encrypted_size));
  }
  std::array<uint8_t, kMicSize> expected = frame_internal::Mic(
      key, eui, counter, mpdu.subspan(0, header.mic_offset));
  if (!ConstantTimeEquals(ByteView(expected.data(), kMicSize),
                          mpdu.subspan(header.mic_offset, kMicSize))) {
    return absl::UnauthenticatedError("mioty: MIC mismatch");
  }
  uint8_t* out = plaintext.data();
  if (header.encrypted_size > 0) {
    frame_internal::CtrXor(key, eui, counter,
                           mpdu.data() + header.encrypted_offset, out,
                           header.encrypted_size);
  }
  frame.mac_header = header.mac_header;
  frame.long_addressing = header.long_addressing;
  frame.eui = eui;
  frame.short_address = header.short_address;
  frame.counter = counter;
  frame.mpf.reset();
  size_t payload_offset = 0;
  if (header.has_mpf) {
    frame.mpf = out[0];
    payload_offset = 1;
  }
  frame.payload = ByteView(out + payload_offset,
                           header.encrypted_size - payload_offset);
  return absl::OkStatus();
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
