// `cxsec fw`: signed firmware images in MCUboot's format, with imgtool's
// verbs and short flags so release scripts can switch between the two:
//
//   cxsec fw keygen -t ecdsa-p256|ed25519 -k KEY.pem
//   cxsec fw getpub -k KEY.pem [--encoding pem|cxx]
//   cxsec fw sign -k KEY.pem -v|--version 1.2.3+4 -H 0x200 -s 5
//                 [-S 0x40000 --pad [--confirm]] firmware.bin signed.bin
//   cxsec fw verify -k KEY.pem|PUB.pem [--stored-counter N] signed.bin
//   cxsec fw dumpinfo signed.bin
//
// Private keys are PKCS#8 PEM files written 0600 and refused when group or
// others can read them.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/bytes.h"
#include "core/cli/command_line.h"
#include "core/encoding/hex.h"
#include "core/firmware/host_image_verifier.h"
#include "core/firmware/image_writer.h"
#include "core/firmware/signing_key.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "platforms/posix/files.h"
#include "tools/cli/command_registry.h"

namespace cxsec::cli {
namespace {

using firmware::SignatureAlgorithm;
using firmware::SigningKey;
using firmware::TrustedKey;

constexpr size_t kMaxKeyFileSize = 16 << 10;
constexpr size_t kMaxImageSize = 64 << 20;

// imgtool's short flags, mapped to cxsec's long ones. For `sign`,
// imgtool's long `--version VER` is the image version too: imgtool users
// type exactly that, and the program version stays under `cxsec --version`.
std::vector<std::string> ExpandShortFlags(int argc, const char* const* argv,
                                          bool version_is_image_version) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      out.insert(out.end(), argv + i, argv + argc);
      break;
    }
    if (version_is_image_version && arg == "--version") {
      arg = "--image-version";
    } else if (version_is_image_version &&
               absl::StartsWith(arg, "--version=")) {
      arg = absl::StrCat("--image-version=",
                         arg.substr(sizeof("--version=") - 1));
    } else if (arg == "-k") {
      arg = "--key";
    } else if (arg == "-t") {
      arg = "--type";
    } else if (arg == "-v") {
      arg = "--image-version";
    } else if (arg == "-H") {
      arg = "--header-size";
    } else if (arg == "-S") {
      arg = "--slot-size";
    } else if (arg == "-s") {
      arg = "--security-counter";
    }
    out.push_back(arg);
  }
  return out;
}

absl::StatusOr<CommandLine> Parse(std::vector<FlagSpec> specs, int argc,
                                  const char* const* argv,
                                  bool version_is_image_version = false) {
  std::vector<std::string> expanded =
      ExpandShortFlags(argc, argv, version_is_image_version);
  std::vector<const char*> pointers;
  for (const std::string& arg : expanded) pointers.push_back(arg.c_str());
  CommandLine command_line(std::move(specs));
  CXSEC_RETURN_IF_ERROR(
      command_line.Parse(static_cast<int>(pointers.size()), pointers.data()));
  return command_line;
}

// Numbers may be decimal or 0x-hex, as imgtool accepts them.
absl::StatusOr<uint64_t> ParseNumber(absl::string_view flag,
                                     absl::string_view text, uint64_t max) {
  uint64_t value = 0;
  bool ok = absl::StartsWithIgnoreCase(text, "0x")
                ? absl::SimpleHexAtoi(text.substr(2), &value)
                : absl::SimpleAtoi(text, &value);
  if (!ok || value > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flag '--", flag, "': '", text, "' is not a number in 0..", max));
  }
  return value;
}

absl::StatusOr<SigningKey> LoadSigningKey(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadPrivateFile(path, kMaxKeyFileSize);
  if (!pem.ok()) return pem.status();
  SecretBytes secret = SecretBytes::CopyFrom(AsBytes(*pem));
  SecureZero(pem->data(), pem->size());
  absl::StatusOr<SigningKey> key = SigningKey::FromPem(secret);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

// LoadTrustedKey accepts a public key PEM, or a private key (then only its
// public half is used).
absl::StatusOr<TrustedKey> LoadTrustedKey(const std::string& path) {
  CXSEC_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, kMaxKeyFileSize));
  if (absl::StrContains(text, "PRIVATE KEY")) {
    SecureZero(text.data(), text.size());
    CXSEC_ASSIGN_OR_RETURN(SigningKey key, LoadSigningKey(path));
    return key.ToTrustedKey();
  }
  absl::StatusOr<TrustedKey> key = firmware::TrustedKeyFromPublicKeyPem(text);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "cxsec fw: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

int Keygen(int argc, const char* const* argv) {
  auto cl = Parse({{"key", true, "where to write the PKCS#8 PEM key (0600)", "FILE"},
                   {"type", true, "ecdsa-p256 (default) or ed25519", "TYPE"}},
                  argc, argv);
  if (!cl.ok()) return Fail(cl.status());
  if (cl->Has("help")) {
    std::printf("usage: cxsec fw keygen -t ecdsa-p256|ed25519 -k KEY.pem\n%s",
                cl->Usage().c_str());
    return 0;
  }
  absl::StatusOr<std::string> path = cl->RequiredValue("key");
  if (!path.ok()) return Fail(path.status());
  std::string type = cl->Value("type", "ecdsa-p256");
  SignatureAlgorithm algorithm;
  if (type == "ecdsa-p256") algorithm = SignatureAlgorithm::kEcdsaP256;
  else if (type == "ed25519") algorithm = SignatureAlgorithm::kEd25519;
  else return Fail(absl::InvalidArgumentError(absl::StrCat(
           "key type '", type, "' is not ecdsa-p256 or ed25519")));
  absl::StatusOr<SigningKey> key = SigningKey::Generate(algorithm);
  if (!key.ok()) return Fail(key.status());
  absl::StatusOr<SecretBytes> pem = key->ToPkcs8Pem();
  if (!pem.ok()) return Fail(pem.status());
  absl::Status written = CreateFileExclusively(
      *path, AsStringView(pem->Reveal(SecretAccess::Grant())), 0600);
  if (!written.ok()) return Fail(written);
  std::printf("wrote %s key to %s (mode 0600)\n", type.c_str(), path->c_str());
  return 0;
}

int GetPub(int argc, const char* const* argv) {
  auto cl = Parse({{"key", true, "private or public key PEM", "FILE"},
                   {"encoding", true, "pem (default), cxx (a TrustedKey initializer) or keyhash", "ENC"}},
                  argc, argv);
  if (!cl.ok()) return Fail(cl.status());
  if (cl->Has("help")) {
    std::printf("usage: cxsec fw getpub -k KEY.pem [--encoding pem|cxx|keyhash]\n%s",
                cl->Usage().c_str());
    return 0;
  }
  absl::StatusOr<std::string> path = cl->RequiredValue("key");
  if (!path.ok()) return Fail(path.status());
  std::string encoding = cl->Value("encoding", "pem");
  absl::StatusOr<TrustedKey> trusted = LoadTrustedKey(*path);
  if (!trusted.ok()) return Fail(trusted.status());
  if (encoding == "keyhash") {
    std::printf("%s\n", HexEncode(trusted->key_hash).c_str());
    return 0;
  }
  if (encoding == "cxx") {
    auto array = [](ByteView bytes) {
      std::string out = "{";
      for (size_t i = 0; i < bytes.size(); ++i) {
        absl::StrAppend(&out, i % 12 == 0 ? "\n      " : " ",
                        absl::StrFormat("0x%02x,", bytes[i]));
      }
      return out + "}";
    };
    std::printf(
        "// Generated by `cxsec fw getpub --encoding cxx` from %s\n"
        "const cxsec::firmware::TrustedKey kFirmwareKey = {\n"
        "    cxsec::firmware::SignatureAlgorithm::%s,\n"
        "    /*key_hash=*/%s,\n    /*public_key=*/%s,\n    /*public_key_size=*/%d};\n",
        path->c_str(),
        trusted->algorithm == SignatureAlgorithm::kEd25519 ? "kEd25519" : "kEcdsaP256",
        array(trusted->key_hash).c_str(),
        array(ByteView(trusted->public_key.data(), trusted->public_key_size)).c_str(),
        trusted->public_key_size);
    return 0;
  }
  if (encoding != "pem") {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("encoding '", encoding, "' is not pem, cxx or keyhash")));
  }
  absl::StatusOr<std::string> text = ReadFileBounded(*path, kMaxKeyFileSize);
  if (!text.ok()) return Fail(text.status());
  if (!absl::StrContains(*text, "PRIVATE KEY")) {
    std::printf("%s", text->c_str());
    return 0;
  }
  SecureZero(text->data(), text->size());
  absl::StatusOr<SigningKey> key = LoadSigningKey(*path);
  if (!key.ok()) return Fail(key.status());
  absl::StatusOr<std::string> pem = key->PublicKeyPem();
  if (!pem.ok()) return Fail(pem.status());
  std::printf("%s", pem->c_str());
  return 0;
}

int Sign(int argc, const char* const* argv) {
  auto cl = Parse(
      {{"key", true, "signing key, PKCS#8 PEM, mode 0600", "FILE"},
       {"image-version", true, "M.m.r+b (also -v and --version, as imgtool)",
        "VER"},
       {"header-size", true, "header size, e.g. 0x200 (short: -H)", "N"},
       {"security-counter", true, "SEC_CNT, protected TLV (short: -s)", "N"},
       {"slot-size", true, "slot size for --pad (short: -S)", "N"},
       {"pad", false, "pad to the slot size and add the boot trailer magic",
        ""},
       {"confirm", false, "with --pad: mark the image confirmed (permanent)",
        ""},
       {"load-addr", true, "RAM load address (sets RAM_LOAD)", "ADDR"}},
      argc, argv, /*version_is_image_version=*/true);
  if (!cl.ok()) return Fail(cl.status());
  if (cl->Has("help")) {
    std::printf(
        "usage: cxsec fw sign -k KEY.pem -v|--version M.m.r+b -H HDR "
        "[-s SEC_CNT] "
        "[-S SLOT --pad [--confirm]] IN.bin OUT.bin\n%s",
        cl->Usage().c_str());
    return 0;
  }
  if (cl->positionals().size() != 2) {
    return Fail(absl::InvalidArgumentError("sign needs INPUT and OUTPUT files"));
  }
  firmware::SignOptions options;
  absl::StatusOr<std::string> version = cl->RequiredValue("image-version");
  if (!version.ok()) return Fail(version.status());
  absl::StatusOr<firmware::ImageVersion> parsed = firmware::ParseImageVersion(*version);
  if (!parsed.ok()) return Fail(parsed.status());
  options.version = *parsed;
  absl::StatusOr<uint64_t> header_size =
      ParseNumber("header-size", cl->Value("header-size", "0x200"), 0x1000);
  if (!header_size.ok()) return Fail(header_size.status());
  options.header_size = static_cast<uint16_t>(*header_size);
  if (cl->Has("security-counter")) {
    absl::StatusOr<uint64_t> counter = ParseNumber(
        "security-counter", cl->Value("security-counter"), 0xffffffffu);
    if (!counter.ok()) return Fail(counter.status());
    options.security_counter = static_cast<uint32_t>(*counter);
  }
  if (cl->Has("load-addr")) {
    absl::StatusOr<uint64_t> addr =
        ParseNumber("load-addr", cl->Value("load-addr"), 0xffffffffu);
    if (!addr.ok()) return Fail(addr.status());
    options.load_addr = static_cast<uint32_t>(*addr);
  }
  if (cl->Has("pad")) {
    absl::StatusOr<std::string> slot_text = cl->RequiredValue("slot-size");
    if (!slot_text.ok()) return Fail(slot_text.status());
    absl::StatusOr<uint64_t> slot = ParseNumber("slot-size", *slot_text, kMaxImageSize);
    if (!slot.ok()) return Fail(slot.status());
    options.pad_to_slot_size = static_cast<uint32_t>(*slot);
    options.confirm = cl->Has("confirm");
  } else if (cl->Has("confirm")) {
    return Fail(absl::InvalidArgumentError("--confirm needs --pad"));
  }
  absl::StatusOr<std::string> key_path = cl->RequiredValue("key");
  if (!key_path.ok()) return Fail(key_path.status());
  absl::StatusOr<SigningKey> key = LoadSigningKey(*key_path);
  if (!key.ok()) return Fail(key.status());
  absl::StatusOr<std::string> body =
      ReadFileBounded(cl->positionals()[0], kMaxImageSize);
  if (!body.ok()) return Fail(body.status());
  absl::StatusOr<Bytes> image =
      firmware::BuildSignedImage(AsBytes(*body), options, *key);
  if (!image.ok()) return Fail(image.status());
  absl::Status written =
      WriteFileAtomically(cl->positionals()[1], AsStringView(*image), 0644);
  if (!written.ok()) return Fail(written);
  std::printf("signed %s -> %s (%zu bytes, version %s)\n",
              cl->positionals()[0].c_str(), cl->positionals()[1].c_str(),
              image->size(), firmware::FormatImageVersion(options.version).c_str());
  return 0;
}

int Verify(int argc, const char* const* argv) {
  auto cl = Parse({{"key", true, "trusted key: public PEM or private PEM (repeatable via comma)", "FILE[,FILE]"},
                   {"stored-counter", true, "the device's stored security counter", "N"},
                   {"require-security-counter", false, "refuse images without SEC_CNT", ""}},
                  argc, argv);
  if (!cl.ok()) return Fail(cl.status());
  if (cl->Has("help")) {
    std::printf("usage: cxsec fw verify -k KEY.pem[,KEY2.pem] [--stored-counter N] IMAGE\n%s",
                cl->Usage().c_str());
    return 0;
  }
  if (cl->positionals().size() != 1) {
    return Fail(absl::InvalidArgumentError("verify needs one IMAGE file"));
  }
  absl::StatusOr<std::string> key_paths = cl->RequiredValue("key");
  if (!key_paths.ok()) return Fail(key_paths.status());
  std::vector<TrustedKey> keys;
  for (absl::string_view path : absl::StrSplit(*key_paths, ',')) {
    absl::StatusOr<TrustedKey> key = LoadTrustedKey(std::string(path));
    if (!key.ok()) return Fail(key.status());
    keys.push_back(*key);
  }
  firmware::VerifyOptions options;
  if (cl->Has("stored-counter")) {
    absl::StatusOr<uint64_t> counter =
        ParseNumber("stored-counter", cl->Value("stored-counter"), 0xffffffffu);
    if (!counter.ok()) return Fail(counter.status());
    options.stored_security_counter = static_cast<uint32_t>(*counter);
  }
  options.require_security_counter = cl->Has("require-security-counter");
  absl::StatusOr<std::string> image =
      ReadFileBounded(cl->positionals()[0], kMaxImageSize);
  if (!image.ok()) return Fail(image.status());
  std::vector<uint8_t> buffer(4096);
  firmware::VerifyOutcome outcome = firmware::VerifyImage(
      firmware::MemoryImageSource(AsBytes(*image)), keys, options,
      absl::MakeSpan(buffer));
  if (!outcome.ok()) {
    std::printf("%s: REJECTED: %s (offset 0x%x)\n", cl->positionals()[0].c_str(),
                firmware::RejectReasonText(outcome.reason), outcome.offset);
    return 1;
  }
  const firmware::VerifiedImage& verified = outcome.image();
  std::printf("%s: OK: version %s, security counter %u%s, %s, sha256 %s\n",
              cl->positionals()[0].c_str(),
              firmware::FormatImageVersion(verified.header().version).c_str(),
              verified.security_counter(),
              verified.has_security_counter() ? "" : " (no SEC_CNT)",
              verified.algorithm() == SignatureAlgorithm::kEd25519 ? "ed25519"
                                                                   : "ecdsa-p256",
              HexEncode(verified.digest()).c_str());
  return 0;
}

int DumpInfo(int argc, const char* const* argv) {
  auto cl = Parse({}, argc, argv);
  if (!cl.ok()) return Fail(cl.status());
  if (cl->Has("help") || cl->positionals().size() != 1) {
    std::printf("usage: cxsec fw dumpinfo IMAGE\n");
    return cl->Has("help") ? 0 : 2;
  }
  absl::StatusOr<std::string> image =
      ReadFileBounded(cl->positionals()[0], kMaxImageSize);
  if (!image.ok()) return Fail(image.status());
  firmware::ImageInfo info = firmware::DescribeImage(AsBytes(*image));
  const firmware::ImageHeader& h = info.header;
  std::printf("header:\n  magic:            0x%08x%s\n", h.magic,
              h.magic == firmware::kImageMagic ? "" : " (BAD)");
  std::printf("  load_addr:        0x%08x\n  hdr_size:         0x%04x\n",
              h.load_addr, h.hdr_size);
  std::printf("  protect_tlv_size: 0x%04x\n  img_size:         0x%08x (%u)\n",
              h.protect_tlv_size, h.img_size, h.img_size);
  std::printf("  flags:            0x%08x\n  version:          %s\n", h.flags,
              firmware::FormatImageVersion(h.version).c_str());
  std::printf("tlvs:\n");
  for (const firmware::TlvEntryInfo& tlv : info.tlvs) {
    std::string value = HexEncode(tlv.value);
    if (tlv.type == firmware::kTlvSecCnt && tlv.value.size() == 4) {
      value = absl::StrCat(firmware::LoadLe32(tlv.value.data()));
    }
    std::printf("  [%s] 0x%04x %-12s len %-4u at 0x%06x: %s\n",
                tlv.protected_area ? "protected  " : "unprotected", tlv.type,
                firmware::TlvTypeName(tlv.type), tlv.length, tlv.offset,
                value.c_str());
  }
  std::printf("trailer:\n  magic: %s\n  image_ok: 0x%02x\n  copy_done: 0x%02x\n",
              info.trailer_magic ? "good" : "absent", info.image_ok, info.copy_done);
  if (!info.problem.empty()) {
    std::printf("problem: %s\n", info.problem.c_str());
    return 1;
  }
  return 0;
}

int RunFirmwareCommand(int argc, const char* const* argv) {
  const char* usage =
      "usage: cxsec fw keygen|getpub|sign|verify|dumpinfo [--help] ...\n";
  if (argc < 1) {
    std::fprintf(stderr, "%s", usage);
    return 2;
  }
  std::string verb = argv[0];
  if (verb == "keygen") return Keygen(argc - 1, argv + 1);
  if (verb == "getpub") return GetPub(argc - 1, argv + 1);
  if (verb == "sign") return Sign(argc - 1, argv + 1);
  if (verb == "verify") return Verify(argc - 1, argv + 1);
  if (verb == "dumpinfo") return DumpInfo(argc - 1, argv + 1);
  if (verb == "--help" || verb == "help") {
    std::printf("%s", usage);
    return 0;
  }
  std::fprintf(stderr, "cxsec fw: unknown verb '%s'\n%s", verb.c_str(), usage);
  return 2;
}

}  // namespace

CXSEC_REGISTER_COMMAND(fw, "signed firmware images (MCUboot format)",
                       RunFirmwareCommand);

}  // namespace cxsec::cli
