// MCUboot's image format: the constants and the plain data types shared by
// the verifier (bootloaders, no heap) and the writer (signing host). The
// layout follows MCUboot/imgtool so images interoperate both ways:
//
//   [header, 32 bytes LE, padded to hdr_size][body, img_size bytes]
//   [protected TLV area, magic 0x6908, protect_tlv_size bytes] (optional)
//   [unprotected TLV area, magic 0x6907]  [... slot padding, trailer]
//
// SHA256 (TLV 0x10) covers header + body + protected area; the signature
// (ECDSA_SIG 0x22 or ED25519 0x24) signs that digest.
#ifndef CXSEC_CORE_FIRMWARE_IMAGE_FORMAT_H_
#define CXSEC_CORE_FIRMWARE_IMAGE_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace cxsec::firmware {

inline constexpr uint32_t kImageMagic = 0x96f3b83d;
inline constexpr uint32_t kImageHeaderSize = 32;
inline constexpr uint16_t kTlvInfoMagic = 0x6907;
inline constexpr uint16_t kProtectedTlvInfoMagic = 0x6908;
inline constexpr uint32_t kTlvInfoSize = 4;
inline constexpr uint32_t kTlvEntryHeaderSize = 4;
inline constexpr size_t kSha256Size = 32;
inline constexpr size_t kEd25519SignatureSize = 64;
// A DER ECDSA P-256 signature is at most 72 bytes (two 33-byte INTEGERs).
inline constexpr size_t kMaxEcdsaP256SignatureSize = 72;
inline constexpr size_t kMinEcdsaP256SignatureSize = 8;

// Header flags (MCUboot image.h).
inline constexpr uint32_t kFlagPic = 0x01;
inline constexpr uint32_t kFlagEncryptedAes128 = 0x04;
inline constexpr uint32_t kFlagEncryptedAes256 = 0x08;
inline constexpr uint32_t kFlagNonBootable = 0x10;
inline constexpr uint32_t kFlagRamLoad = 0x20;
inline constexpr uint32_t kFlagRomFixed = 0x100;

// TLV types (MCUboot image.h, imgtool image.py).
enum TlvType : uint16_t {
  kTlvKeyHash = 0x01,
  kTlvPubKey = 0x02,
  kTlvSha256 = 0x10,
  kTlvSha384 = 0x11,
  kTlvSha512 = 0x12,
  kTlvRsa2048Pss = 0x20,
  kTlvEcdsaSig = 0x22,
  kTlvRsa3072Pss = 0x23,
  kTlvEd25519 = 0x24,
  kTlvSigPure = 0x25,
  kTlvEncRsa2048 = 0x30,
  kTlvEncKw = 0x31,
  kTlvEncEc256 = 0x32,
  kTlvEncX25519 = 0x33,
  kTlvEncX25519Sha512 = 0x34,
  kTlvDependency = 0x40,
  kTlvSecCnt = 0x50,
  kTlvBootRecord = 0x60,
  kTlvDecompSize = 0x70,
  kTlvDecompSha = 0x71,
  kTlvDecompSignature = 0x72,
  kTlvCompDecSize = 0x73,
  kTlvUuidVid = 0x74,
  kTlvUuidCid = 0x75,
};

// MCUboot reserves 0xa0..0xfffe for vendor TLVs; they are only ever
// accepted in the protected area, where the signature covers them.
inline constexpr uint16_t kFirstVendorTlv = 0x00a0;
inline constexpr uint16_t kLastVendorTlv = 0xfffe;

// ImageVersion: M.m.r+b.
struct ImageVersion {
  uint8_t major = 0;
  uint8_t minor = 0;
  uint16_t revision = 0;
  uint32_t build = 0;
  friend bool operator==(const ImageVersion&, const ImageVersion&) = default;
};

// ImageHeader: the decoded 32-byte header.
struct ImageHeader {
  uint32_t magic = 0;
  uint32_t load_addr = 0;
  uint16_t hdr_size = 0;
  uint16_t protect_tlv_size = 0;
  uint32_t img_size = 0;
  uint32_t flags = 0;
  ImageVersion version;
};

// SignatureAlgorithm: the signature TLVs cxsec accepts.
enum class SignatureAlgorithm : uint8_t { kEcdsaP256 = 1, kEd25519 = 2 };

inline constexpr uint16_t SignatureTlvFor(SignatureAlgorithm algorithm) {
  return algorithm == SignatureAlgorithm::kEcdsaP256 ? kTlvEcdsaSig
                                                     : kTlvEd25519;
}

inline constexpr uint16_t LoadLe16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
inline constexpr uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
inline constexpr void StoreLe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline constexpr void StoreLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// DecodeHeader reads the first 32 bytes of an image (no validation).
inline ImageHeader DecodeHeader(const uint8_t* p) {
  ImageHeader h;
  h.magic = LoadLe32(p);
  h.load_addr = LoadLe32(p + 4);
  h.hdr_size = LoadLe16(p + 8);
  h.protect_tlv_size = LoadLe16(p + 10);
  h.img_size = LoadLe32(p + 12);
  h.flags = LoadLe32(p + 16);
  h.version.major = p[20];
  h.version.minor = p[21];
  h.version.revision = LoadLe16(p + 22);
  h.version.build = LoadLe32(p + 24);
  return h;
}

// EncodeHeader writes the 32-byte header (padding bytes zero).
inline void EncodeHeader(const ImageHeader& h, uint8_t* p) {
  for (uint32_t i = 0; i < kImageHeaderSize; ++i) p[i] = 0;
  StoreLe32(p, h.magic);
  StoreLe32(p + 4, h.load_addr);
  StoreLe16(p + 8, h.hdr_size);
  StoreLe16(p + 10, h.protect_tlv_size);
  StoreLe32(p + 12, h.img_size);
  StoreLe32(p + 16, h.flags);
  p[20] = h.version.major;
  p[21] = h.version.minor;
  StoreLe16(p + 22, h.version.revision);
  StoreLe32(p + 24, h.version.build);
}

// The boot trailer at the end of a slot (MCUboot, BOOT_MAX_ALIGN = 8):
// magic in the last 16 bytes, then image_ok, copy_done, swap_info going
// down in 8-byte steps. imgtool --pad writes the magic; --confirm sets
// image_ok.
inline constexpr uint32_t kTrailerMaxAlign = 8;
inline constexpr std::array<uint8_t, 16> kBootMagic = {
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
    0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};
inline constexpr uint32_t kTrailerMagicOffsetFromEnd = 16;
inline constexpr uint32_t kTrailerImageOkOffsetFromEnd = 16 + 8;
inline constexpr uint32_t kTrailerCopyDoneOffsetFromEnd = 16 + 16;
inline constexpr uint32_t kTrailerSwapInfoOffsetFromEnd = 16 + 24;
// imgtool reserves room for the swap status area as well (128 sectors x 3
// x align 1) plus four flag slots and the magic.
inline constexpr uint32_t kImgtoolTrailerSize = 128 * 3 * 1 + 4 * 8 + 16;
inline constexpr uint8_t kFlashErased = 0xff;
inline constexpr uint8_t kFlagSet = 0x01;

}  // namespace cxsec::firmware

#endif  // CXSEC_CORE_FIRMWARE_IMAGE_FORMAT_H_
