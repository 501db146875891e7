// Fuzzes the gateway's view of a received Mioty MPDU: header parsing,
// counter reconstruction and verification with a fixed key must never
// crash or read out of bounds, and any frame that verifies must re-encode
// to exactly the received bytes (one encoding per frame).
#include <cstdint>
#include <cstdlib>

#include "core/mioty/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec::mioty;
  static const MiotyNetworkKey key = [] {
    const uint8_t raw[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                             0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
    return std::move(MiotyNetworkKey::FromBytes(cxsec::ByteView(raw, 16)))
        .value();
  }();
  const Eui64 eui = {0x70, 0xb3, 0xd5, 0x67, 0x70, 0x00, 0x12, 0x34};
  cxsec::ByteView mpdu(data, size);
  absl::StatusOr<FrameHeader> header = ParseFrameHeader(mpdu);
  if (!header.ok()) return 0;
  if (header->encrypted_offset + header->encrypted_size + kMicSize != size) {
    std::abort();
  }
  std::optional<uint32_t> counter =
      ReconstructCounter(0x01000000u, header->counter_low24);
  if (!counter) return 0;
  uint8_t plain[kMaxMpduSize];
  absl::StatusOr<VerifiedFrame> frame =
      VerifyUplink(key, *header, eui, *counter, mpdu, absl::MakeSpan(plain));
  if (!frame.ok()) return 0;
  UplinkParams params;
  params.eui = eui;
  params.short_address = header->short_address;
  params.counter = frame->counter;
  params.long_addressing = frame->long_addressing;
  params.mpf = frame->mpf;
  params.mac_flags = frame->mac_header;
  uint8_t again[kMaxMpduSize];
  absl::StatusOr<size_t> n =
      EncodeUplink(key, params, frame->payload, absl::MakeSpan(again));
  if (!n.ok() || *n != size || std::memcmp(again, data, size) != 0) {
    std::abort();
  }
  return 0;
}
