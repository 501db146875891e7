// The signing-host side of MCUboot images: build a signed image from a raw
// binary (header + body + protected TLVs [SEC_CNT] + SHA256, KEYHASH,
// signature), optionally padded to a slot with imgtool's boot trailer; and
// describe any image (header and every TLV) for `cxsec fw dumpinfo`.
// Host-only: uses the heap.
#ifndef CXSEC_CORE_FIRMWARE_IMAGE_WRITER_H_
#define CXSEC_CORE_FIRMWARE_IMAGE_WRITER_H_

#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/firmware/image_format.h"
#include "core/firmware/signing_key.h"
#include "core/status.h"

namespace cxsec::firmware {

namespace image_writer_internal {
// ParseDecimalField accepts only 1..10 ASCII digits. absl::SimpleAtoi alone
// also takes surrounding whitespace and a '+' sign ("1.2.3\n", "+1.2"),
// which a version string must not carry into signed metadata.
inline bool ParseDecimalField(absl::string_view text, uint32_t* value) {
  if (text.empty() || text.size() > 10) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(text, value);
}
}  // namespace image_writer_internal

// ParseImageVersion reads "M.m.r+b" (".r" and "+b" optional), as imgtool:
// decimal digits only, no signs or whitespace.
[[nodiscard]] inline absl::StatusOr<ImageVersion> ParseImageVersion(
    absl::string_view text) {
  using image_writer_internal::ParseDecimalField;
  ImageVersion version;
  absl::string_view numbers = text;
  uint32_t build = 0;
  if (size_t plus = text.find('+'); plus != absl::string_view::npos) {
    numbers = text.substr(0, plus);
    if (!ParseDecimalField(text.substr(plus + 1), &build)) {
      return absl::InvalidArgumentError(
          absl::StrCat("version '", absl::CHexEscape(text),
                       "': build after '+' is not a u32"));
    }
  }
  std::vector<absl::string_view> parts = absl::StrSplit(numbers, '.');
  if (parts.empty() || parts.size() > 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "version '", absl::CHexEscape(text), "' is not M.m.r+b"));
  }
  const uint32_t limits[3] = {0xff, 0xff, 0xffff};
  uint32_t values[3] = {0, 0, 0};
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!ParseDecimalField(parts[i], &values[i]) || values[i] > limits[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("version '", absl::CHexEscape(text), "': field ",
                       i + 1, " must be 0..", limits[i]));
    }
  }
  version.major = static_cast<uint8_t>(values[0]);
  version.minor = static_cast<uint8_t>(values[1]);
  version.revision = static_cast<uint16_t>(values[2]);
  version.build = build;
  return version;
}

inline std::string FormatImageVersion(const ImageVersion& v) {
  return absl::StrCat(v.major, ".", v.minor, ".", v.revision, "+", v.build);
}

// SignOptions: what `cxsec fw sign` takes.
struct SignOptions {
  ImageVersion version;
  uint16_t header_size = 0x200;
  std::optional<uint32_t> security_counter;
  uint32_t load_addr = 0;
  // Pad with 0xff to this slot size and write the boot trailer magic
  // (imgtool --pad): the slot then requests a swap.
  std::optional<uint32_t> pad_to_slot_size;
  // With padding: set image_ok (imgtool --confirm), a permanent request.
  bool confirm = false;
};

// BuildSignedImage produces an image imgtool verifies.
[[nodiscard]] inline absl::StatusOr<Bytes> BuildSignedImage(
    ByteView body, const SignOptions& options, const SigningKey& key) {
  if (options.header_size < kImageHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("header size ", options.header_size, " is below 32"));
  }
  if (body.size() > 0xffffffffu - options.header_size) {
    return absl::InvalidArgumentError("binary too large for a u32 img_size");
  }
  Bytes protected_area;
  if (options.security_counter.has_value()) {
    protected_area.resize(kTlvInfoSize + kTlvEntryHeaderSize + 4);
    StoreLe16(&protected_area[0], kProtectedTlvInfoMagic);
    StoreLe16(&protected_area[2], static_cast<uint16_t>(protected_area.size()));
    StoreLe16(&protected_area[4], kTlvSecCnt);
    StoreLe16(&protected_area[6], 4);
    StoreLe32(&protected_area[8], *options.security_counter);
  }
  ImageHeader header;
  header.magic = kImageMagic;
  header.load_addr = options.load_addr;
  header.hdr_size = options.header_size;
  header.protect_tlv_size = static_cast<uint16_t>(protected_area.size());
  header.img_size = static_cast<uint32_t>(body.size());
  header.flags = options.load_addr != 0 ? kFlagRamLoad : 0;
  header.version = options.version;

  // Header padding is the erased-flash value, as imgtool --pad-header
  // writes it, so both tools produce byte-identical signed regions.
  Bytes image(options.header_size, kFlashErased);
  EncodeHeader(header, image.data());
  image.insert(image.end(), body.begin(), body.end());
  image.insert(image.end(), protected_area.begin(), protected_area.end());

  std::array<uint8_t, 32> digest;
  SHA256(image.data(), image.size(), digest.data());
  CXSEC_ASSIGN_OR_RETURN(TrustedKey trusted, key.ToTrustedKey());
  CXSEC_ASSIGN_OR_RETURN(Bytes signature, key.SignDigest(digest));

  Bytes tlvs;
  auto add = [&tlvs](uint16_t type, ByteView value) {
    uint8_t entry[4];
    StoreLe16(entry, type);
    StoreLe16(entry + 2, static_cast<uint16_t>(value.size()));
    tlvs.insert(tlvs.end(), entry, entry + 4);
    tlvs.insert(tlvs.end(), value.begin(), value.end());
  };
  add(kTlvSha256, digest);
  add(kTlvKeyHash, trusted.key_hash);
  add(SignatureTlvFor(key.algorithm()), signature);
  uint8_t info[4];
  StoreLe16(info, kTlvInfoMagic);
  StoreLe16(info + 2, static_cast<uint16_t>(tlvs.size() + kTlvInfoSize));
  image.insert(image.end(), info, info + 4);
  image.insert(image.end(), tlvs.begin(), tlvs.end());

  if (options.pad_to_slot_size.has_value()) {
    const uint64_t slot = *options.pad_to_slot_size;
    if (image.size() + uint64_t{kImgtoolTrailerSize} > slot) {
      return absl::InvalidArgumentError(absl::StrCat(
          "image (", image.size(), " bytes) plus trailer (",
          kImgtoolTrailerSize, ") does not fit the ", slot, "-byte slot"));
    }
    image.resize(slot, kFlashErased);
    std::copy(kBootMagic.begin(), kBootMagic.end(),
              image.end() - kTrailerMagicOffsetFromEnd);
    if (options.confirm) image[slot - kTrailerImageOkOffsetFromEnd] = kFlagSet;
  }
  return image;
}

// TlvEntryInfo / ImageInfo: a lenient, bounded description of an image for
// dumpinfo; it reports where parsing stopped instead of failing outright.
struct TlvEntryInfo {
  bool protected_area = false;
  uint32_t offset = 0;
  uint16_t type = 0;
  uint16_t length = 0;
  Bytes value;
};

struct ImageInfo {
  ImageHeader header;
  std::vector<TlvEntryInfo> tlvs;
  std::string problem;  // empty when the layout parsed completely
  bool trailer_magic = false;
  uint8_t image_ok = kFlashErased;
  uint8_t copy_done = kFlashErased;
};

inline const char* TlvTypeName(uint16_t type) {
  switch (type) {
    case kTlvKeyHash: return "KEYHASH";
    case kTlvPubKey: return "PUBKEY";
    case kTlvSha256: return "SHA256";
    case kTlvSha384: return "SHA384";
    case kTlvSha512: return "SHA512";
    case kTlvRsa2048Pss: return "RSA2048_PSS";
    case kTlvEcdsaSig: return "ECDSA_SIG";
    case kTlvRsa3072Pss: return "RSA3072_PSS";
    case kTlvEd25519: return "ED25519";
    case kTlvSigPure: return "SIG_PURE";
    case kTlvEncRsa2048: return "ENC_RSA2048";
    case kTlvEncKw: return "ENC_KW";
    case kTlvEncEc256: return "ENC_EC256";
    case kTlvEncX25519: return "ENC_X25519";
    case kTlvEncX25519Sha512: return "ENC_X25519_SHA512";
    case kTlvDependency: return "DEPENDENCY";
    case kTlvSecCnt: return "SEC_CNT";
    case kTlvBootRecord: return "BOOT_RECORD";
    case kTlvDecompSize: return "DECOMP_SIZE";
    case kTlvDecompSha: return "DECOMP_SHA";
    case kTlvDecompSignature: return "DECOMP_SIGNATURE";
    case kTlvCompDecSize: return "COMP_DEC_SIZE";
    case kTlvUuidVid: return "UUID_VID";
    case kTlvUuidCid: return "UUID_CID";
  }
  return "UNKNOWN";
}

[[nodiscard]] inline ImageInfo DescribeImage(ByteView image) {
  ImageInfo info;
  if (image.size() < kImageHeaderSize) {
    info.problem = "shorter than the 32-byte header";
    return info;
  }
  info.header = DecodeHeader(image.data());
  if (info.header.magic != kImageMagic) {
    info.problem = "bad image magic";
    return info;
  }
  if (image.size() >= 64) {
    const uint8_t* end = image.data() + image.size();
    info.trailer_magic = std::equal(kBootMagic.begin(), kBootMagic.end(),
                                    end - kTrailerMagicOffsetFromEnd);
    info.image_ok = *(end - kTrailerImageOkOffsetFromEnd);
    info.copy_done = *(end - kTrailerCopyDoneOffsetFromEnd);
  }
  uint64_t offset = uint64_t{info.header.hdr_size} + info.header.img_size;
  for (int area = 0; area < 2; ++area) {
    if (image.size() < offset + kTlvInfoSize) {
      info.problem = absl::StrCat("no TLV info at offset ", offset);
      return info;
    }
    const uint16_t magic = LoadLe16(&image[offset]);
    const uint16_t length = LoadLe16(&image[offset + 2]);
    const bool is_protected = magic == kProtectedTlvInfoMagic;
    if (area == 0 && !is_protected) {
      ++area;  // no protected area
    }
    if (!is_protected && magic != kTlvInfoMagic) {
      info.problem = absl::StrCat("bad TLV info magic 0x", absl::Hex(magic),
                                  " at offset ", offset);
      return info;
    }
    const uint64_t end = offset + length;
    if (end > image.size() || length < kTlvInfoSize) {
      info.problem = absl::StrCat("TLV area at offset ", offset,
                                  " has bad length ", length);
      return info;
    }
    uint64_t entry = offset + kTlvInfoSize;
    for (int count = 0; entry < end && count < 256; ++count) {
      if (end - entry < kTlvEntryHeaderSize) {
        info.problem = absl::StrCat("TLV header past area end at ", entry);
        return info;
      }
      TlvEntryInfo tlv;
      tlv.protected_area = is_protected;
      tlv.offset = static_cast<uint32_t>(entry);
      tlv.type = LoadLe16(&image[entry]);
      tlv.length = LoadLe16(&image[entry + 2]);
      if (tlv.length > end - entry - kTlvEntryHeaderSize) {
        info.problem = absl::StrCat("TLV at ", entry, " overflows its area");
        return info;
      }
      tlv.value.assign(image.begin() + entry + 4,
                       image.begin() + entry + 4 + tlv.length);
      entry += kTlvEntryHeaderSize + tlv.length;
      info.tlvs.push_back(std::move(tlv));
    }
    offset = end;
    if (!is_protected) break;
  }
  return info;
}

}  // namespace cxsec::firmware

#endif  // CXSEC_CORE_FIRMWARE_IMAGE_WRITER_H_
