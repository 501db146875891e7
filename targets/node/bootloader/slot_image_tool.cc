// Makes the inputs of the bootloader's QEMU tests from a signed image:
// images broken in one precise way, and the boot state record.
//
//   slot_image_tool flip-body IN OUT            one bit in the image body
//   slot_image_tool flip-protected-tlv IN OUT   one bit in the last byte of
//                                               the protected TLV area
//   slot_image_tool strip-signature IN OUT      the ECDSA/Ed25519 TLV removed
//                                               (KEYHASH and SHA256 stay)
//   slot_image_tool rollback-counter N OUT      the 16-byte counter record
//   slot_image_tool storage OUT FILE@OFFSET...  the node's whole storage
//                                               region (erased, 0xFF) with
//                                               each FILE placed at OFFSET
//
// Each edit keeps the rest of the image valid, so a refusal can only come
// from that edit. Host-only (a test helper, not shipped).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/firmware/image_format.h"
#include "targets/node/bootloader/flash_layout.h"
#include "targets/node/bootloader/rollback_counter.h"

namespace {

namespace firmware = cxsec::firmware;
using Bytes = std::vector<uint8_t>;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "slot_image_tool: %s\n", message.c_str());
  std::exit(2);
}

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) Die("cannot write " + path);
}

firmware::ImageHeader HeaderOf(const Bytes& image) {
  if (image.size() < firmware::kImageHeaderSize) Die("image too short");
  const firmware::ImageHeader header = firmware::DecodeHeader(image.data());
  if (header.magic != firmware::kImageMagic) Die("not an MCUboot image");
  if (uint64_t{header.hdr_size} + header.img_size + header.protect_tlv_size +
          firmware::kTlvInfoSize >
      image.size()) {
    Die("image sizes run past the file");
  }
  return header;
}

Bytes StripSignature(const Bytes& image) {
  const firmware::ImageHeader header = HeaderOf(image);
  const size_t area =
      size_t{header.hdr_size} + header.img_size + header.protect_tlv_size;
  if (firmware::LoadLe16(&image[area]) != firmware::kTlvInfoMagic) {
    Die("no unprotected TLV area");
  }
  const size_t area_end = area + firmware::LoadLe16(&image[area + 2]);
  if (area_end > image.size()) Die("TLV area runs past the file");
  Bytes kept;
  for (size_t offset = area + firmware::kTlvInfoSize; offset + 4 <= area_end;) {
    const uint16_t type = firmware::LoadLe16(&image[offset]);
    const size_t entry_end =
        offset + 4 + firmware::LoadLe16(&image[offset + 2]);
    if (entry_end > area_end) Die("TLV runs past its area");
    if (type != firmware::kTlvEcdsaSig && type != firmware::kTlvEd25519) {
      kept.insert(kept.end(), image.begin() + static_cast<long>(offset),
                  image.begin() + static_cast<long>(entry_end));
    }
    offset = entry_end;
  }
  Bytes out(image.begin(), image.begin() + static_cast<long>(area));
  uint8_t info[4];
  firmware::StoreLe16(info, firmware::kTlvInfoMagic);
  firmware::StoreLe16(info + 2, static_cast<uint16_t>(kept.size() + 4));
  out.insert(out.end(), info, info + 4);
  out.insert(out.end(), kept.begin(), kept.end());
  out.insert(out.end(), image.begin() + static_cast<long>(area_end),
             image.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "storage") {
    // One file for QEMU's -device loader: its loaders may not overlap,
    // and the parts of flash no file covers must read as erased.
    Bytes storage(cxsec::node::bootloader::kStorageSize,
                  firmware::kFlashErased);
    for (int i = 3; i < argc; ++i) {
      const std::string part = argv[i];
      const size_t at = part.rfind('@');
      if (at == std::string::npos) Die("want FILE@OFFSET, got " + part);
      const unsigned long offset =
          std::strtoul(part.c_str() + at + 1, nullptr, 0);
      const Bytes bytes = ReadFile(part.substr(0, at));
      if (offset > storage.size() || bytes.size() > storage.size() - offset) {
        Die(part + " does not fit the storage region");
      }
      std::copy(bytes.begin(), bytes.end(),
                storage.begin() + static_cast<long>(offset));
    }
    WriteFile(argv[2], storage);
    return 0;
  }
  if (argc != 4)
    Die("usage: slot_image_tool VERB IN|N OUT (see the file comment)");
  const std::string verb = argv[1];
  if (verb == "rollback-counter") {
    const auto record = cxsec::node::bootloader::EncodeRollbackCounter(
        static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 0)));
    WriteFile(argv[3], Bytes(record.begin(), record.end()));
    return 0;
  }
  Bytes image = ReadFile(argv[2]);
  const firmware::ImageHeader header = HeaderOf(image);
  if (verb == "flip-body") {
    if (header.img_size == 0) Die("empty body");
    image[header.hdr_size + header.img_size / 2] ^= 0x01;
  } else if (verb == "flip-protected-tlv") {
    if (header.protect_tlv_size <= firmware::kTlvInfoSize) {
      Die("no protected TLVs");
    }
    image[size_t{header.hdr_size} + header.img_size + header.protect_tlv_size -
          1] ^= 0x01;
  } else if (verb == "strip-signature") {
    image = StripSignature(image);
  } else {
    Die("unknown verb " + verb);
  }
  WriteFile(argv[3], image);
  return 0;
}
