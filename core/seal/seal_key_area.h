// The seal key area: the small binary blob in a node's flash that holds its
// sealed-readings keys (docs/SEALED_READINGS.md) for the current epoch.
// `cxsec provision --seal-master` writes it (DIR/devices/<id>.sealarea, the
// area at the start of an otherwise erased 4 KiB flash sector); a
// firmware node parses it at start-up and rewrites it when it ratchets to
// the next epoch (DeviceSealKeys::Advance), erasing the old keys. Separate
// from the node key area (core/device/node_key_area.h): the gateway-facing
// keys there and these end-to-end keys are provisioned by different
// parties. One header for both sides: no Abseil, no heap, no exceptions.
// Refusals reuse the node key area's KeyAreaReason list.
//
// Version 1, 56 bytes, multi-byte integers little-endian:
//
//   off size field
//     0    4 magic "CXSK"
//     4    1 version, 1
//     5    1 flags: bit 0 = holds an encryption key; other bits must be 0
//     6    2 length of the whole area incl. CRC, 56
//     8    8 device id: the 16 hex digits of cxsec's "D..." id, as bytes
//    16    4 key epoch
//    20   16 MAC key of that epoch
//    36   16 encryption key of that epoch; all zero unless flag bit 0
//    52    4 CRC-32 (IEEE 802.3, as zlib's crc32) of bytes 0..51
//
// As for the node key area, the CRC catches torn or corrupted writes, not
// an attacker; an erased area (0xFF) reads as kErased.
#ifndef CXSEC_CORE_SEAL_SEAL_KEY_AREA_H_
#define CXSEC_CORE_SEAL_SEAL_KEY_AREA_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/device/node_key_area.h"

namespace cxsec::seal {

inline constexpr std::array<uint8_t, 4> kSealKeyAreaMagic = {'C', 'X', 'S',
                                                             'K'};
inline constexpr uint8_t kSealKeyAreaVersion = 1;
inline constexpr size_t kSealKeyAreaSize = 56;
inline constexpr uint8_t kSealKeyAreaFlagHasEncryptionKey = 0x01;

// SealKeyArea: the parsed contents. Holds keys: wipe it with
// WipeSealKeyArea once they are loaded into DeviceSealKeys.
struct SealKeyArea {
  std::array<uint8_t, 8> device_id{};
  uint32_t epoch = 0;
  bool has_enc_key = false;
  std::array<uint8_t, 16> mac_key{};
  std::array<uint8_t, 16> enc_key{};
};

namespace seal_key_area_internal {
inline constexpr size_t kFlagsOffset = 5;
inline constexpr size_t kLengthOffset = 6;
inline constexpr size_t kDeviceIdOffset = 8;
inline constexpr size_t kEpochOffset = 16;
inline constexpr size_t kMacKeyOffset = 20;
inline constexpr size_t kEncKeyOffset = 36;
inline constexpr size_t kCrcOffset = 52;
inline constexpr size_t kHeaderSize = 8;

constexpr uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) |
         (uint32_t{p[3]} << 24);
}
}  // namespace seal_key_area_internal

// ParseSealKeyArea reads a seal key area from `bytes` (bytes past its
// length are ignored). `area` is only written on success.
inline device::KeyAreaReason ParseSealKeyArea(std::span<const uint8_t> bytes,
                                              SealKeyArea& area) {
  using device::KeyAreaReason;
  using namespace seal_key_area_internal;
  if (bytes.size() >= 4 && bytes[0] == 0xFF && bytes[1] == 0xFF &&
      bytes[2] == 0xFF && bytes[3] == 0xFF) {
    return KeyAreaReason::kErased;
  }
  if (bytes.size() < kHeaderSize) return KeyAreaReason::kTruncated;
  for (size_t i = 0; i < kSealKeyAreaMagic.size(); ++i) {
    if (bytes[i] != kSealKeyAreaMagic[i]) return KeyAreaReason::kBadMagic;
  }
  if (bytes[4] != kSealKeyAreaVersion) {
    return KeyAreaReason::kUnsupportedVersion;
  }
  const size_t length =
      size_t{bytes[kLengthOffset]} | (size_t{bytes[kLengthOffset + 1]} << 8);
  if (length != kSealKeyAreaSize) return KeyAreaReason::kBadLength;
  if (bytes.size() < length) return KeyAreaReason::kTruncated;
  const uint8_t flags = bytes[kFlagsOffset];
  if ((flags & ~kSealKeyAreaFlagHasEncryptionKey) != 0) {
    return KeyAreaReason::kUnknownFlags;
  }
  if (device::Crc32(bytes.first(kCrcOffset)) !=
      LoadLe32(bytes.data() + kCrcOffset)) {
    return KeyAreaReason::kCrcMismatch;
  }
  const bool has_enc_key = (flags & kSealKeyAreaFlagHasEncryptionKey) != 0;
  if (!has_enc_key) {
    for (size_t i = 0; i < 16; ++i) {
      if (bytes[kEncKeyOffset + i] != 0) return KeyAreaReason::kReservedNotZero;
    }
  }
  for (size_t i = 0; i < 8; ++i) {
    area.device_id[i] = bytes[kDeviceIdOffset + i];
  }
  area.epoch = LoadLe32(bytes.data() + kEpochOffset);
  area.has_enc_key = has_enc_key;
  for (size_t i = 0; i < 16; ++i) {
    area.mac_key[i] = bytes[kMacKeyOffset + i];
    area.enc_key[i] = bytes[kEncKeyOffset + i];
  }
  return KeyAreaReason::kNone;
}

// WriteSealKeyArea encodes `area` into the first kSealKeyAreaSize bytes of
// `out`: what `cxsec provision` runs, and a node after ratcheting.
inline device::KeyAreaReason WriteSealKeyArea(const SealKeyArea& area,
                                              std::span<uint8_t> out) {
  using namespace seal_key_area_internal;
  if (out.size() < kSealKeyAreaSize) {
    return device::KeyAreaReason::kBufferTooSmall;
  }
  for (size_t i = 0; i < kSealKeyAreaSize; ++i) out[i] = 0;
  for (size_t i = 0; i < kSealKeyAreaMagic.size(); ++i) {
    out[i] = kSealKeyAreaMagic[i];
  }
  out[4] = kSealKeyAreaVersion;
  out[kFlagsOffset] = area.has_enc_key ? kSealKeyAreaFlagHasEncryptionKey : 0;
  out[kLengthOffset] = static_cast<uint8_t>(kSealKeyAreaSize);
  out[kLengthOffset + 1] = static_cast<uint8_t>(kSealKeyAreaSize >> 8);
  for (size_t i = 0; i < 8; ++i) out[kDeviceIdOffset + i] = area.device_id[i];
  for (size_t i = 0; i < 4; ++i) {
    out[kEpochOffset + i] = static_cast<uint8_t>(area.epoch >> (8 * i));
  }
  for (size_t i = 0; i < 16; ++i) {
    out[kMacKeyOffset + i] = area.mac_key[i];
    out[kEncKeyOffset + i] = area.has_enc_key ? area.enc_key[i] : 0;
  }
  const uint32_t crc = device::Crc32(out.first(kCrcOffset));
  for (size_t i = 0; i < 4; ++i) {
    out[kCrcOffset + i] = static_cast<uint8_t>(crc >> (8 * i));
  }
  return device::KeyAreaReason::kNone;
}

// WipeSealKeyArea zeroes `area` through a volatile pointer, so the
// compiler cannot drop the stores as dead.
inline void WipeSealKeyArea(SealKeyArea& area) {
  volatile uint8_t* bytes = reinterpret_cast<volatile uint8_t*>(&area);
  for (size_t i = 0; i < sizeof(area); ++i) bytes[i] = 0;
}

}  // namespace cxsec::seal

#endif  // CXSEC_CORE_SEAL_SEAL_KEY_AREA_H_
