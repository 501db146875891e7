// The node key area: the small binary blob at a fixed flash address that
// gives a node its identity and keys (docs/NODE_FIRMWARE.md, "The key
// area"). `cxsec provision --mioty-eui ...` writes it for a device; the
// node parses it at start-up. One header for both sides: no Abseil, no
// heap, no exceptions, so the writer the host runs and the parser the
// node runs are the same code.
//
// Format version 1 (a Mioty node), 48 bytes, and version 2 (a node that
// also holds a DTLS PSK), 100 bytes. Multi-byte fields little-endian
// unless said. Both versions share the first 44 bytes:
//
//   off size field
//     0    4 magic "CXNK"
//     4    1 version, 1
//     5    1 flags: bit 0 = Mioty long addressing; other bits must be 0
//     6    2 length of the whole area incl. CRC, 48 for version 1
//     8    8 device id: the 16 hex digits of cxsec's "D..." id, as bytes
//    16    8 Mioty EUI-64 (as on the air)
//    24    2 Mioty short address, big-endian (as on the air)
//    26    2 reserved, 0
//    28   16 Mioty network key (AES-128)
//
// Version 1 ends with
//    44    4 CRC-32 (IEEE 802.3, as zlib's crc32) of bytes 0..43
//
// Version 2 continues with
//    44    4 DTLS key epoch, 1..kMaxDtlsEpoch (the PSK identity is
//            "D<device id>.<epoch>", transports/dtls/identity.h)
//    48   16 DTLS PSK (HKDF of the deployment master secret, id and epoch)
//    64   32 DRBG seed: random bytes drawn by `cxsec provision`, unique
//            per device; the node's stand-in for a TRNG (NODE_FIRMWARE.md)
//    96    4 CRC-32 of bytes 0..95
//
// A writer picks the version from the contents: version 2 if the area
// holds a DTLS key (has_dtls), else version 1, so Mioty-only key areas
// stay byte for byte what they were.
//
// The CRC catches a torn or corrupted write, not an attacker: whoever can
// write the node's flash can replace its firmware too. An erased area
// (0xFF) reads as kErased, "not provisioned", rather than as corrupt.
//
//   NodeKeyArea area;
//   KeyAreaReason reason = ParseNodeKeyArea(flash_bytes, area);
//   if (reason != KeyAreaReason::kNone) report(KeyAreaReasonName(reason));
//   ...
//   WipeNodeKeyArea(area);
#ifndef CXSEC_CORE_DEVICE_NODE_KEY_AREA_H_
#define CXSEC_CORE_DEVICE_NODE_KEY_AREA_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace cxsec::device {

inline constexpr std::array<uint8_t, 4> kNodeKeyAreaMagic = {'C', 'X', 'N',
                                                             'K'};
inline constexpr uint8_t kNodeKeyAreaVersion = 1;
inline constexpr uint8_t kNodeKeyAreaVersionDtls = 2;
// Each version's exact size; a node reads at most kNodeKeyAreaMaxSize bytes
// (room for later versions) and parses only what the length field says.
inline constexpr size_t kNodeKeyAreaSize = 48;
inline constexpr size_t kNodeKeyAreaSizeV2 = 100;
inline constexpr uint32_t kMaxDtlsEpoch =
    0x7fffffff;  // core/deployment's kMaxEpoch
inline constexpr size_t kNodeKeyAreaMaxSize = 256;
inline constexpr uint8_t kNodeKeyAreaFlagMiotyLongAddressing = 0x01;

// KeyAreaReason: why a key area was refused. An extend-only list (see
// core/device/result.h); kNone (0) is the only success.
enum class [[nodiscard]] KeyAreaReason : uint8_t{
    kNone = 0,
    kErased = 1,              // never provisioned (magic reads 0xFF)
    kTruncated = 2,           // fewer bytes than the header or its length
    kBadMagic = 3,            // not a key area
    kUnsupportedVersion = 4,  // a version this firmware cannot read
    kBadLength = 5,           // length field wrong for the version
    kUnknownFlags = 6,        // flag bits this version does not define
    kReservedNotZero = 7,     // reserved bytes set
    kCrcMismatch = 8,         // corrupted or torn write
    kBufferTooSmall = 9,      // writer: output smaller than the area
    kBadDtlsEpoch = 10,       // DTLS key epoch 0 or above kMaxDtlsEpoch
};

// KeyAreaReasonName: a short, stable name for logs.
constexpr const char* KeyAreaReasonName(KeyAreaReason reason) {
  switch (reason) {
    case KeyAreaReason::kNone:
      return "ok";
    case KeyAreaReason::kErased:
      return "not_provisioned";
    case KeyAreaReason::kTruncated:
      return "truncated";
    case KeyAreaReason::kBadMagic:
      return "bad_magic";
    case KeyAreaReason::kUnsupportedVersion:
      return "unsupported_version";
    case KeyAreaReason::kBadLength:
      return "bad_length";
    case KeyAreaReason::kUnknownFlags:
      return "unknown_flags";
    case KeyAreaReason::kReservedNotZero:
      return "reserved_not_zero";
    case KeyAreaReason::kCrcMismatch:
      return "crc_mismatch";
    case KeyAreaReason::kBufferTooSmall:
      return "buffer_too_small";
    case KeyAreaReason::kBadDtlsEpoch:
      return "bad_dtls_epoch";
  }
  return "unknown";
}

// NodeKeyArea: the parsed contents. Holds the network key: wipe it with
// WipeNodeKeyArea once the key is expanded.
struct NodeKeyArea {
  std::array<uint8_t, 8> device_id{};
  std::array<uint8_t, 8> mioty_eui{};
  uint16_t mioty_short_address = 0;
  bool mioty_long_addressing = false;
  std::array<uint8_t, 16> mioty_network_key{};
  // Version 2 only (has_dtls): the DTLS PSK, its epoch and the DRBG seed.
  bool has_dtls = false;
  uint32_t dtls_epoch = 0;
  std::array<uint8_t, 16> dtls_psk{};
  std::array<uint8_t, 32> drbg_seed{};
};

// NodeKeyAreaSize: how many bytes WriteNodeKeyArea writes for `area`.
constexpr size_t NodeKeyAreaSize(const NodeKeyArea& area) {
  return area.has_dtls ? kNodeKeyAreaSizeV2 : kNodeKeyAreaSize;
}

// Crc32: CRC-32/IEEE (reflected, polynomial 0xEDB88320), bit by bit: a
// few dozen bytes of code and no table, since it runs once per boot.
constexpr uint32_t Crc32(std::span<const uint8_t> bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (uint8_t byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
  }
  return ~crc;
}

namespace key_area_internal {

inline constexpr size_t kFlagsOffset = 5;
inline constexpr size_t kLengthOffset = 6;
inline constexpr size_t kDeviceIdOffset = 8;
inline constexpr size_t kEuiOffset = 16;
inline constexpr size_t kShortAddressOffset = 24;
inline constexpr size_t kReservedOffset = 26;
inline constexpr size_t kNetworkKeyOffset = 28;
inline constexpr size_t kCrcOffset = 44;
inline constexpr size_t kDtlsEpochOffset = 44;
inline constexpr size_t kDtlsPskOffset = 48;
inline constexpr size_t kDrbgSeedOffset = 64;
inline constexpr size_t kCrcOffsetV2 = 96;
inline constexpr size_t kHeaderSize = 8;  // magic, version, flags, length

constexpr uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) |
         (uint32_t{p[3]} << 24);
}

}  // namespace key_area_internal

// ParseNodeKeyArea reads a key area from `bytes` (typically the first
// kNodeKeyAreaMaxSize bytes of its flash sector; bytes past the area's
// length are ignored). `area` is only written on success.
inline KeyAreaReason ParseNodeKeyArea(std::span<const uint8_t> bytes,
                                      NodeKeyArea& area) {
  using namespace key_area_internal;
  if (bytes.size() >= 4 && bytes[0] == 0xFF && bytes[1] == 0xFF &&
      bytes[2] == 0xFF && bytes[3] == 0xFF) {
    return KeyAreaReason::kErased;
  }
  if (bytes.size() < kHeaderSize) return KeyAreaReason::kTruncated;
  for (size_t i = 0; i < kNodeKeyAreaMagic.size(); ++i) {
    if (bytes[i] != kNodeKeyAreaMagic[i]) return KeyAreaReason::kBadMagic;
  }
  const uint8_t version = bytes[4];
  if (version != kNodeKeyAreaVersion && version != kNodeKeyAreaVersionDtls) {
    return KeyAreaReason::kUnsupportedVersion;
  }
  const size_t length =
      size_t{bytes[kLengthOffset]} | (size_t{bytes[kLengthOffset + 1]} << 8);
  const size_t expected =
      version == kNodeKeyAreaVersion ? kNodeKeyAreaSize : kNodeKeyAreaSizeV2;
  if (length != expected) return KeyAreaReason::kBadLength;
  if (bytes.size() < length) return KeyAreaReason::kTruncated;
  const uint8_t flags = bytes[kFlagsOffset];
  if ((flags & ~kNodeKeyAreaFlagMiotyLongAddressing) != 0) {
    return KeyAreaReason::kUnknownFlags;
  }
  if (bytes[kReservedOffset] != 0 || bytes[kReservedOffset + 1] != 0) {
    return KeyAreaReason::kReservedNotZero;
  }
  const size_t crc_offset = length - 4;
  if (Crc32(bytes.first(crc_offset)) != LoadLe32(bytes.data() + crc_offset)) {
    return KeyAreaReason::kCrcMismatch;
  }
  uint32_t dtls_epoch = 0;
  if (version == kNodeKeyAreaVersionDtls) {
    dtls_epoch = LoadLe32(bytes.data() + kDtlsEpochOffset);
    if (dtls_epoch == 0 || dtls_epoch > kMaxDtlsEpoch) {
      return KeyAreaReason::kBadDtlsEpoch;
    }
  }
  for (size_t i = 0; i < 8; ++i) {
    area.device_id[i] = bytes[kDeviceIdOffset + i];
    area.mioty_eui[i] = bytes[kEuiOffset + i];
  }
  area.mioty_short_address = static_cast<uint16_t>(
      (bytes[kShortAddressOffset] << 8) | bytes[kShortAddressOffset + 1]);
  area.mioty_long_addressing =
      (flags & kNodeKeyAreaFlagMiotyLongAddressing) != 0;
  for (size_t i = 0; i < area.mioty_network_key.size(); ++i) {
    area.mioty_network_key[i] = bytes[kNetworkKeyOffset + i];
  }
  area.has_dtls = version == kNodeKeyAreaVersionDtls;
  area.dtls_epoch = dtls_epoch;
  for (size_t i = 0; i < area.dtls_psk.size(); ++i) {
    area.dtls_psk[i] = area.has_dtls ? bytes[kDtlsPskOffset + i] : 0;
  }
  for (size_t i = 0; i < area.drbg_seed.size(); ++i) {
    area.drbg_seed[i] = area.has_dtls ? bytes[kDrbgSeedOffset + i] : 0;
  }
  return KeyAreaReason::kNone;
}

// WriteNodeKeyArea encodes `area` (version 2 if it has a DTLS key, else
// version 1) into the first NodeKeyAreaSize(area) bytes of `out`. What
// `cxsec provision` runs.
inline KeyAreaReason WriteNodeKeyArea(const NodeKeyArea& area,
                                      std::span<uint8_t> out) {
  using namespace key_area_internal;
  const size_t size = NodeKeyAreaSize(area);
  if (out.size() < size) return KeyAreaReason::kBufferTooSmall;
  if (area.has_dtls &&
      (area.dtls_epoch == 0 || area.dtls_epoch > kMaxDtlsEpoch)) {
    return KeyAreaReason::kBadDtlsEpoch;
  }
  for (size_t i = 0; i < size; ++i) out[i] = 0;
  for (size_t i = 0; i < kNodeKeyAreaMagic.size(); ++i) {
    out[i] = kNodeKeyAreaMagic[i];
  }
  out[4] = area.has_dtls ? kNodeKeyAreaVersionDtls : kNodeKeyAreaVersion;
  out[kFlagsOffset] =
      area.mioty_long_addressing ? kNodeKeyAreaFlagMiotyLongAddressing : 0;
  out[kLengthOffset] = static_cast<uint8_t>(size);
  out[kLengthOffset + 1] = static_cast<uint8_t>(size >> 8);
  for (size_t i = 0; i < 8; ++i) {
    out[kDeviceIdOffset + i] = area.device_id[i];
    out[kEuiOffset + i] = area.mioty_eui[i];
  }
  out[kShortAddressOffset] =
      static_cast<uint8_t>(area.mioty_short_address >> 8);
  out[kShortAddressOffset + 1] = static_cast<uint8_t>(area.mioty_short_address);
  for (size_t i = 0; i < area.mioty_network_key.size(); ++i) {
    out[kNetworkKeyOffset + i] = area.mioty_network_key[i];
  }
  if (area.has_dtls) {
    for (size_t i = 0; i < 4; ++i) {
      out[kDtlsEpochOffset + i] =
          static_cast<uint8_t>(area.dtls_epoch >> (8 * i));
    }
    for (size_t i = 0; i < area.dtls_psk.size(); ++i) {
      out[kDtlsPskOffset + i] = area.dtls_psk[i];
    }
    for (size_t i = 0; i < area.drbg_seed.size(); ++i) {
      out[kDrbgSeedOffset + i] = area.drbg_seed[i];
    }
  }
  const size_t crc_offset = size - 4;
  const uint32_t crc = Crc32(out.first(crc_offset));
  for (size_t i = 0; i < 4; ++i) {
    out[crc_offset + i] = static_cast<uint8_t>(crc >> (8 * i));
  }
  return KeyAreaReason::kNone;
}

// WipeNodeKeyArea zeroes `area` through a volatile pointer, so the
// compiler cannot drop the stores as dead.
inline void WipeNodeKeyArea(NodeKeyArea& area) {
  volatile uint8_t* bytes = reinterpret_cast<volatile uint8_t*>(&area);
  for (size_t i = 0; i < sizeof(area); ++i) bytes[i] = 0;
}

}  // namespace cxsec::device

#endif  // CXSEC_CORE_DEVICE_NODE_KEY_AREA_H_
