// `cxsec provision` and `cxsec rollover`: deployment keys of the 6LoWPAN
// (CoAP/DTLS-PSK) network. See docs/DTLS_AND_KEYS.md.
//
//   cxsec provision --out DIR --devices D0011223344556677,D...
//     new deployment: a 256-bit master secret from the CSPRNG, a PAN id and
//     key epoch 1 in DIR/security.txt (0600), and DIR/devices/<id>.key
//     (0600) per device for flashing. Never overwrites an existing file.
//   cxsec provision --security DIR/security.txt --out DIR2 --devices ...
//     key files for more devices of an existing deployment.
//   cxsec provision --out DIR --devices D... --mioty-eui HEX
//                   [--mioty-key-file PATH] [--mioty-short HEX] [--mioty-long]
//     a Mioty node: DIR/devices/<id>.keyarea (0600), the binary key area to
//     flash at the node's key area address (core/device/node_key_area.h,
//     docs/NODE_FIRMWARE.md), and DIR/devices/<id>.mioty.csv (0600) for the
//     gateway's `cxsec mioty keys import`. The network key is drawn from
//     the CSPRNG unless --mioty-key-file (32 hex digits, mode 0600) gives it.
//   cxsec provision ... --devices D... --dtls-key-area
//     as above, and per device also DIR/devices/<id>.keyarea (0600): a
//     version 2 key area (core/device/node_key_area.h) holding the DTLS
//     PSK, its epoch and a random DRBG seed, for a firmware DTLS node
//     (targets/node/dtls, node_dtls.elf) to flash at its key area address.
//   cxsec provision --out DIR --seal-new-master
//     the verifier side of sealed readings (docs/SEALED_READINGS.md): a new
//     application master secret in DIR/seal-master.key (0600), for the
//     verifier only, never for a gateway.
//   cxsec provision --out DIR --devices D... --seal-master PATH
//                   [--seal-encryption-master PATH] [--seal-mac-only]
//                   [--seal-epoch N]
//     per device DIR/devices/<id>.seal (0600): the node's sealed-readings
//     MAC and encryption keys of epoch N (default 0), derived from the
//     master(s) (mode 0600 each, refused when broader), and the same keys
//     as DIR/devices/<id>.sealarea (0600), the 4 KiB sector a firmware node
//     holds its seal key area in (core/seal/seal_key_area.h, then erased
//     flash), with DIR/devices/<id>.sealratchet (0600), the erased sector
//     its epoch ratchet takes turns with (docs/NODE_FIRMWARE.md): flashing
//     both leaves no area of an earlier provisioning behind. Writes nothing
//     else.
//   cxsec rollover --security FILE --start [--fresh-master]
//                  [--compromised D...,D...] | --retire
//     start a key rollover (next_epoch = epoch + 1; gateways accept both
//     and nodes fetch their next key over DTLS) or retire the old epoch.
//     --fresh-master derives the next epoch from a new master secret;
//     --compromised refuses the listed devices until re-provisioned.
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/cli/command_line.h"
#include "core/deployment/node_key_file.h"
#include "core/deployment/security_file.h"
#include "core/device/node_key_area.h"
#include "core/encoding/hex.h"
#include "core/seal/seal_key_area.h"
#include "core/seal/seal_master_secret.h"
#include "core/status.h"
#include "platforms/posix/files.h"
#include "targets/node/bootloader/flash_layout.h"
#include "tools/cli/command_registry.h"
#include "transports/dtls/security_loader.h"
#include "transports/mioty/key_store.h"

namespace cxsec::cli {
namespace {

absl::StatusOr<std::vector<std::string>> DeviceList(const CommandLine& cl) {
  std::vector<std::string> ids;
  if (cl.Has("devices")) {
    for (absl::string_view id :
         absl::StrSplit(cl.Value("devices"), ',', absl::SkipWhitespace())) {
      ids.emplace_back(absl::StripAsciiWhitespace(id));
    }
  }
  if (cl.Has("devices-file")) {
    absl::StatusOr<std::string> text =
        ReadFileBounded(cl.Value("devices-file"), 1 << 20);
    if (!text.ok()) return text.status();
    int line = 0;
    for (absl::string_view id : absl::StrSplit(*text, '\n')) {
      ++line;
      id = absl::StripAsciiWhitespace(id);
      if (id.empty() || id[0] == '#') continue;
      if (!IsDeviceId(id)) {
        return absl::InvalidArgumentError(
            absl::StrCat(cl.Value("devices-file"), ":", line,
                         ": not a device id (D + 16 hex digits)"));
      }
      ids.emplace_back(id);
    }
  }
  for (std::string& id : ids) {
    if (!IsDeviceId(id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", id, "' is not a device id (D + 16 hex digits)"));
    }
    id = absl::AsciiStrToUpper(id);
  }
  if (ids.size() > 100000)
    return absl::InvalidArgumentError("too many devices");
  return ids;
}

absl::StatusOr<uint16_t> PanId(const CommandLine& cl) {
  if (!cl.Has("pan-id")) {
    // A random PAN id, avoiding 0xffff (broadcast) and 0xfffe.
    for (int i = 0; i < 16; ++i) {
      absl::StatusOr<Bytes> r = RandomBytes(2);
      if (!r.ok()) return r.status();
      uint16_t pan = static_cast<uint16_t>(((*r)[0] << 8) | (*r)[1]);
      if (pan < 0xfffe) return pan;
    }
    return absl::InternalError("could not draw a PAN id");
  }
  std::string text = cl.Value("pan-id");
  absl::StatusOr<Bytes> bytes =
      text.size() == 6 && text.substr(0, 2) == "0x"
          ? HexDecodeExact(absl::string_view(text).substr(2), 2, "--pan-id")
          : absl::InvalidArgumentError("");
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        "--pan-id must be 0x followed by 4 hex digits");
  }
  return static_cast<uint16_t>(((*bytes)[0] << 8) | (*bytes)[1]);
}

// WriteDtlsKeyArea writes a version 2 key area for a firmware DTLS node:
// its device id, PSK and epoch, and a DRBG seed from the CSPRNG.
absl::Status WriteDtlsKeyArea(const std::string& dir, const std::string& id,
                              uint32_t epoch, const SecretBytes& psk) {
  device::NodeKeyArea area;
  CXSEC_ASSIGN_OR_RETURN(
      Bytes device_id,
      HexDecodeExact(absl::string_view(id).substr(1), 8, "device id"));
  std::copy(device_id.begin(), device_id.end(), area.device_id.begin());
  area.has_dtls = true;
  area.dtls_epoch = epoch;
  ByteView raw_psk = psk.Reveal(SecretAccess::Grant());
  if (raw_psk.size() != area.dtls_psk.size()) {
    return absl::InternalError("device PSK has an unexpected size");
  }
  std::copy(raw_psk.begin(), raw_psk.end(), area.dtls_psk.begin());
  CXSEC_ASSIGN_OR_RETURN(SecretBytes seed,
                         SecretBytes::Random(area.drbg_seed.size()));
  ByteView raw_seed = seed.Reveal(SecretAccess::Grant());
  std::copy(raw_seed.begin(), raw_seed.end(), area.drbg_seed.begin());
  std::string blob(device::NodeKeyAreaSize(area), '\0');
  device::KeyAreaReason written_area = device::WriteNodeKeyArea(
      area, std::span(reinterpret_cast<uint8_t*>(blob.data()), blob.size()));
  device::WipeNodeKeyArea(area);
  if (written_area != device::KeyAreaReason::kNone) {
    SecureZero(blob.data(), blob.size());
    return absl::InternalError(
        absl::StrCat("key area: ", device::KeyAreaReasonName(written_area)));
  }
  absl::Status status =
      CreateFileExclusively(absl::StrCat(dir, "/", id, ".keyarea"), blob, 0600);
  SecureZero(blob.data(), blob.size());
  return status;
}

absl::Status WriteDeviceFiles(const SecurityConfig& security,
                              const std::vector<std::string>& ids,
                              const std::string& out, bool dtls_key_areas) {
  std::string dir = absl::StrCat(out, "/devices");
  CXSEC_RETURN_IF_ERROR(MakeDirectories(dir, 0700));
  for (const std::string& id : ids) {
    // Devices are provisioned for the newest epoch the gateways accept.
    uint32_t epoch = security.next_epoch.value_or(security.epoch);
    CXSEC_ASSIGN_OR_RETURN(SecretBytes psk,
                           DeriveDevicePsk(security.MasterFor(epoch), id, epoch));
    if (dtls_key_areas) {
      CXSEC_RETURN_IF_ERROR(WriteDtlsKeyArea(dir, id, epoch, psk));
    }
    NodeKey key{id, security.pan_id, epoch, std::move(psk)};
    std::string text = FormatNodeKeyFile(key);
    absl::Status written =
        CreateFileExclusively(absl::StrCat(dir, "/", id, ".key"), text, 0600);
    SecureZero(text.data(), text.size());
    CXSEC_RETURN_IF_ERROR(written);
  }
  return absl::OkStatus();
}

// ProvisionMiotyNode writes one Mioty node's key area and the matching
// line for the gateway's key store.
absl::Status ProvisionMiotyNode(const CommandLine& cl, const std::string& out,
                                const std::vector<std::string>& ids) {
  if (ids.size() != 1) {
    return absl::InvalidArgumentError(
        "--mioty-eui provisions one node: give exactly one device id in "
        "--devices");
  }
  if (cl.Has("security")) {
    return absl::InvalidArgumentError(
        "--mioty-eui and --security do not mix: a Mioty key area holds no "
        "DTLS key");
  }
  const std::string& id = ids[0];
  device::NodeKeyArea area;
  CXSEC_ASSIGN_OR_RETURN(
      Bytes device_id,
      HexDecodeExact(absl::string_view(id).substr(1), 8, "device id"));
  std::copy(device_id.begin(), device_id.end(), area.device_id.begin());
  CXSEC_ASSIGN_OR_RETURN(area.mioty_eui,
                         mioty::EuiFromHex(cl.Value("mioty-eui")));
  area.mioty_short_address = mioty::ShortAddressOf(area.mioty_eui);
  if (cl.Has("mioty-short")) {
    CXSEC_ASSIGN_OR_RETURN(area.mioty_short_address,
                           mioty::ShortAddressFromHex(cl.Value("mioty-short")));
  }
  area.mioty_long_addressing = cl.Has("mioty-long");
  const mioty::Eui64 eui = area.mioty_eui;
  const uint16_t short_address = area.mioty_short_address;
  SecretBytes key;
  if (cl.Has("mioty-key-file")) {
    // The key file holds a secret: refused unless private (0600).
    CXSEC_ASSIGN_OR_RETURN(std::string text,
                           ReadPrivateFile(cl.Value("mioty-key-file"), 256));
    absl::StatusOr<Bytes> raw =
        HexDecodeExact(absl::StripAsciiWhitespace(text), mioty::kNetworkKeySize,
                       "--mioty-key-file");
    SecureZero(text.data(), text.size());
    if (!raw.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(cl.Value("mioty-key-file"),
                       ": expected the 16-byte network key as 32 hex digits"));
    }
    key = SecretBytes::CopyFrom(*raw);
    SecureZero(raw->data(), raw->size());
  } else {
    CXSEC_ASSIGN_OR_RETURN(key, SecretBytes::Random(mioty::kNetworkKeySize));
  }
  ByteView raw_key = key.Reveal(SecretAccess::Grant());
  std::copy(raw_key.begin(), raw_key.end(), area.mioty_network_key.begin());

  std::string blob(device::kNodeKeyAreaSize, '\0');
  device::KeyAreaReason written_area = device::WriteNodeKeyArea(
      area, std::span(reinterpret_cast<uint8_t*>(blob.data()), blob.size()));
  device::WipeNodeKeyArea(area);
  if (written_area != device::KeyAreaReason::kNone) {
    return absl::InternalError(
        absl::StrCat("key area: ", device::KeyAreaReasonName(written_area)));
  }
  std::string dir = absl::StrCat(out, "/devices");
  CXSEC_RETURN_IF_ERROR(MakeDirectories(dir, 0700));
  absl::Status status =
      CreateFileExclusively(absl::StrCat(dir, "/", id, ".keyarea"), blob, 0600);
  SecureZero(blob.data(), blob.size());
  CXSEC_RETURN_IF_ERROR(status);
  char short_hex[5];
  std::snprintf(short_hex, sizeof(short_hex), "%04x", short_address);
  // The device id column makes the gateway send this node's readings under
  // `id`, the form every device is registered under at the verifier.
  std::string csv = absl::StrCat(mioty::EuiToHex(eui), ",", short_hex, ",",
                                 HexEncode(raw_key), ",,", id, "\n");
  status = CreateFileExclusively(absl::StrCat(dir, "/", id, ".mioty.csv"), csv,
                                 0600);
  SecureZero(csv.data(), csv.size());
  CXSEC_RETURN_IF_ERROR(status);
  std::printf(
      "wrote %s/%s.keyarea (flash it at the node's key area) and "
      "%s/%s.mioty.csv (for `cxsec mioty keys import`)\n",
      dir.c_str(), id.c_str(), dir.c_str(), id.c_str());
  return absl::OkStatus();
}

// ProvisionSeal: the verifier-side sealed-readings mode (file comment).
absl::Status ProvisionSeal(const CommandLine& cl, const std::string& out,
                           const std::vector<std::string>& ids) {
  for (const char* other :
       {"mioty-eui", "security", "dtls-key-area", "pan-id", "epoch"}) {
    if (cl.Has(other)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--seal-master and --", other,
          " do not mix: sealed-readings keys are provisioned on their own, "
          "from the verifier's master (docs/SEALED_READINGS.md)"));
    }
  }
  if (ids.empty()) {
    return absl::InvalidArgumentError(
        "--seal-master needs the devices to provision (--devices or "
        "--devices-file)");
  }
  if (cl.Has("seal-mac-only") && cl.Has("seal-encryption-master")) {
    return absl::InvalidArgumentError(
        "--seal-mac-only and --seal-encryption-master do not mix: a MAC-only "
        "node holds no encryption key");
  }
  CXSEC_ASSIGN_OR_RETURN(long long epoch,
                         cl.IntValue("seal-epoch", 0, 0, seal::kMaxEpoch));
  CXSEC_ASSIGN_OR_RETURN(SecretBytes mac_master,
                         seal::LoadSealMasterSecret(cl.Value("seal-master")));
  SecretBytes enc_master;
  if (cl.Has("seal-encryption-master")) {
    CXSEC_ASSIGN_OR_RETURN(enc_master, seal::LoadSealMasterSecret(
                                           cl.Value("seal-encryption-master")));
  } else {
    enc_master =
        SecretBytes::CopyFrom(mac_master.Reveal(SecretAccess::Grant()));
  }
  // Every id is checked before a file is written: all or nothing.
  for (const std::string& id : ids) {
    CXSEC_RETURN_IF_ERROR(seal::DeviceIdBytes(id).status());
  }
  std::string dir = absl::StrCat(out, "/devices");
  CXSEC_RETURN_IF_ERROR(MakeDirectories(dir, 0700));
  for (const std::string& id : ids) {
    const uint32_t e = static_cast<uint32_t>(epoch);
    CXSEC_ASSIGN_OR_RETURN(
        SecretBytes mac,
        seal::DeriveSealKey(seal::KeyBranch::kMac, mac_master, id, e));
    std::optional<SecretBytes> enc;
    if (!cl.Has("seal-mac-only")) {
      CXSEC_ASSIGN_OR_RETURN(
          enc,
          seal::DeriveSealKey(seal::KeyBranch::kEncryption, enc_master, id, e));
    }
    // The same keys as a seal key area, for a firmware node's flash.
    seal::SealKeyArea area;
    CXSEC_ASSIGN_OR_RETURN(Bytes device_id, seal::DeviceIdBytes(id));
    std::copy(device_id.begin(), device_id.end(), area.device_id.begin());
    area.epoch = e;
    ByteView raw_mac = mac.Reveal(SecretAccess::Grant());
    std::copy(raw_mac.begin(), raw_mac.end(), area.mac_key.begin());
    area.has_enc_key = enc.has_value();
    if (enc) {
      ByteView raw_enc = enc->Reveal(SecretAccess::Grant());
      std::copy(raw_enc.begin(), raw_enc.end(), area.enc_key.begin());
    }
    // The whole sector, erased (0xFF) after the area: a node that
    // ratcheted before keeps its epoch start record there (8 bytes after
    // the area), which must not outlive a re-provisioning.
    std::string blob(node::bootloader::kSectorSize, '\xff');
    const device::KeyAreaReason written_area = seal::WriteSealKeyArea(
        area, std::span(reinterpret_cast<uint8_t*>(blob.data()),
                        seal::kSealKeyAreaSize));
    seal::WipeSealKeyArea(area);
    if (written_area != device::KeyAreaReason::kNone) {
      SecureZero(blob.data(), blob.size());
      return absl::InternalError(absl::StrCat(
          "seal key area: ", device::KeyAreaReasonName(written_area)));
    }
    absl::Status area_written = CreateFileExclusively(
        absl::StrCat(dir, "/", id, ".sealarea"), blob, 0600);
    SecureZero(blob.data(), blob.size());
    CXSEC_RETURN_IF_ERROR(area_written);
    // The ratchet's other sector, erased: an area a ratchet left there
    // before would otherwise win at boot when its epoch is later than the
    // one provisioned now (node_seal_ratchet.h takes the later epoch).
    CXSEC_RETURN_IF_ERROR(CreateFileExclusively(
        absl::StrCat(dir, "/", id, ".sealratchet"),
        std::string(node::bootloader::kSectorSize, '\xff'), 0600));
    std::string text =
        seal::FormatSealKeyFile(id, e, mac, enc ? &*enc : nullptr);
    absl::Status written =
        CreateFileExclusively(absl::StrCat(dir, "/", id, ".seal"), text, 0600);
    SecureZero(text.data(), text.size());
    CXSEC_RETURN_IF_ERROR(written);
  }
  std::printf(
      "wrote %zu sealed-readings key files and key area sectors (epoch "
      "%lld%s; flash <id>.sealarea at the seal key area, 0x003F8000, and "
      "<id>.sealratchet at its ratchet sector, 0x003F5000) to %s\n",
      ids.size(), epoch, cl.Has("seal-mac-only") ? ", MAC-only" : "",
      dir.c_str());
  return absl::OkStatus();
}

// ProvisionSealMaster writes a new sealed-readings master secret.
absl::Status ProvisionSealMaster(const CommandLine& cl,
                                 const std::string& out) {
  if (cl.Has("seal-master") || cl.Has("devices") || cl.Has("devices-file")) {
    return absl::InvalidArgumentError(
        "--seal-new-master only creates the master: provision devices with "
        "--seal-master in a second step");
  }
  CXSEC_ASSIGN_OR_RETURN(SecretBytes master,
                         SecretBytes::Random(seal::kMasterSecretSize));
  std::string text = seal::FormatSealMasterSecret(master);
  const std::string path = absl::StrCat(out, "/seal-master.key");
  absl::Status written = CreateFileExclusively(path, text, 0600);
  SecureZero(text.data(), text.size());
  CXSEC_RETURN_IF_ERROR(written);
  std::printf("wrote %s (the verifier's only; never give it to a gateway)\n",
              path.c_str());
  return absl::OkStatus();
}

absl::Status Provision(const CommandLine& cl) {
  CXSEC_ASSIGN_OR_RETURN(std::string out, cl.RequiredValue("out"));
  CXSEC_ASSIGN_OR_RETURN(std::vector<std::string> ids, DeviceList(cl));
  CXSEC_RETURN_IF_ERROR(MakeDirectories(out, 0700));
  if (cl.Has("seal-new-master")) return ProvisionSealMaster(cl, out);
  if (cl.Has("seal-master")) return ProvisionSeal(cl, out, ids);
  if (cl.Has("seal-encryption-master") || cl.Has("seal-mac-only") ||
      cl.Has("seal-epoch")) {
    return absl::InvalidArgumentError(
        "--seal-encryption-master, --seal-mac-only and --seal-epoch need "
        "--seal-master");
  }
  if (cl.Has("mioty-eui")) {
    if (cl.Has("dtls-key-area")) {
      return absl::InvalidArgumentError(
          "--mioty-eui and --dtls-key-area do not mix: provision a Mioty "
          "node and a DTLS node separately");
    }
    return ProvisionMiotyNode(cl, out, ids);
  }
  const bool dtls_key_areas = cl.Has("dtls-key-area");
  if (cl.Has("security")) {
    CXSEC_ASSIGN_OR_RETURN(SecurityConfig security,
                           dtls::LoadSecurityFile(cl.Value("security")));
    CXSEC_RETURN_IF_ERROR(WriteDeviceFiles(security, ids, out, dtls_key_areas));
    std::printf("wrote %zu device key files to %s/devices\n", ids.size(),
                out.c_str());
    return absl::OkStatus();
  }
  SecurityConfig security;
  CXSEC_ASSIGN_OR_RETURN(security.pan_id, PanId(cl));
  CXSEC_ASSIGN_OR_RETURN(long long epoch,
                         cl.IntValue("epoch", 1, 1, kMaxEpoch));
  security.epoch = static_cast<uint32_t>(epoch);
  // The CSPRNG (BoringSSL, seeded from getrandom). Mixing in TPM randomness
  // is a documented follow-up (docs/DTLS_AND_KEYS.md).
  CXSEC_ASSIGN_OR_RETURN(security.master_secret,
                         SecretBytes::Random(kMasterSecretBytes));
  std::string text = FormatSecurityFile(security);
  absl::Status written =
      CreateFileExclusively(absl::StrCat(out, "/security.txt"), text, 0600);
  SecureZero(text.data(), text.size());
  CXSEC_RETURN_IF_ERROR(written);
  CXSEC_RETURN_IF_ERROR(WriteDeviceFiles(security, ids, out, dtls_key_areas));
  std::printf(
      "wrote %s/security.txt (PAN id 0x%04x, epoch %u) and %zu device key "
      "files to %s/devices\n",
      out.c_str(), security.pan_id, security.epoch, ids.size(), out.c_str());
  return absl::OkStatus();
}

absl::Status Rollover(const CommandLine& cl) {
  CXSEC_ASSIGN_OR_RETURN(std::string path, cl.RequiredValue("security"));
  CXSEC_ASSIGN_OR_RETURN(SecurityConfig security, dtls::LoadSecurityFile(path));
  if (cl.Has("start") == cl.Has("retire")) {
    return absl::InvalidArgumentError("give exactly one of --start, --retire");
  }
  if (cl.Has("start")) {
    if (security.next_epoch.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": a rollover to epoch ", *security.next_epoch,
                       " is already in progress"));
    }
    if (security.epoch >= kMaxEpoch) {
      return absl::FailedPreconditionError("key epochs exhausted");
    }
    security.next_epoch = security.epoch + 1;
    if (cl.Has("fresh-master")) {
      CXSEC_ASSIGN_OR_RETURN(security.next_master_secret,
                             SecretBytes::Random(kMasterSecretBytes));
    }
    if (cl.Has("compromised")) {
      for (absl::string_view id :
           absl::StrSplit(cl.Value("compromised"), ',', absl::SkipEmpty())) {
        if (!IsDeviceId(id)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--compromised: '", id, "' is not a device id (D + 16 hex)"));
        }
        security.compromised[absl::AsciiStrToUpper(id)] = *security.next_epoch;
      }
      if (security.compromised.size() > kMaxCompromisedDevices) {
        return absl::InvalidArgumentError(absl::StrCat(
            "more than ", kMaxCompromisedDevices,
            " compromised devices; provision a new deployment"));
      }
    }
  } else {
    if (cl.Has("fresh-master") || cl.Has("compromised")) {
      return absl::InvalidArgumentError(
          "--fresh-master and --compromised go with --start");
    }
    if (!security.next_epoch.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": no rollover in progress"));
    }
    security.epoch = *security.next_epoch;
    security.next_epoch.reset();
    if (!security.next_master_secret.empty()) {
      security.master_secret = std::move(security.next_master_secret);
      security.next_master_secret = SecretBytes();
    }
    // An entry only refuses epochs below its number; once those are all
    // retired it says nothing more.
    std::erase_if(security.compromised, [&](const auto& entry) {
      return entry.second <= security.epoch;
    });
  }
  std::string text = FormatSecurityFile(security);
  absl::Status written = WriteFileAtomically(path, text, 0600);
  SecureZero(text.data(), text.size());
  CXSEC_RETURN_IF_ERROR(written);
  std::printf(
      "%s: epoch %u%s\n", path.c_str(), security.epoch,
      security.next_epoch.has_value()
          ? absl::StrCat(", rolling over to ", *security.next_epoch).c_str()
          : " (old epoch retired)");
  return absl::OkStatus();
}

int RunWith(const char* name, std::vector<FlagSpec> flags,
            absl::Status (*body)(const CommandLine&), const char* usage,
            int argc, const char* const* argv) {
  CommandLine cl(std::move(flags));
  absl::Status parsed = cl.Parse(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "cxsec %s: %s\n", name,
                 std::string(parsed.message()).c_str());
    return 2;
  }
  if (cl.Has("help")) {
    std::printf("%s\nFlags:\n%s", usage, cl.Usage().c_str());
    return 0;
  }
  absl::Status status = body(cl);
  if (!status.ok()) {
    std::fprintf(stderr, "cxsec %s: %s\n", name,
                 std::string(status.message()).c_str());
    return absl::IsInvalidArgument(status) ? 2 : 1;
  }
  return 0;
}

int RunProvision(int argc, const char* const* argv) {
  return RunWith(
      "provision",
      {{"out", true, "output directory (created 0700)", "DIR"},
       {"devices", true, "comma-separated device ids (D + 16 hex)", "IDS"},
       {"devices-file", true, "file with one device id per line", "PATH"},
       {"pan-id", true, "PAN id, 0x + 4 hex digits (default: random)",
        "0xNNNN"},
       {"epoch", true, "first key epoch (default 1)", "N"},
       {"security", true, "existing security.txt: only write device files",
        "PATH"},
       {"mioty-eui", true, "Mioty node: its EUI-64; writes its key area",
        "HEX"},
       {"mioty-key-file", true,
        "Mioty node: network key, 32 hex, mode 0600 (default: random)", "PATH"},
       {"mioty-short", true,
        "Mioty node: short address (default: EUI's last 2 bytes)", "HEX"},
       {"mioty-long", false, "Mioty node: send the EUI-64 (long addressing)",
        ""},
       {"dtls-key-area", false,
        "also write each device's DTLS key area (firmware nodes)", ""},
       {"seal-new-master", false,
        "sealed readings: write a new verifier master DIR/seal-master.key", ""},
       {"seal-master", true,
        "sealed readings: verifier master (0600); writes <id>.seal per device",
        "PATH"},
       {"seal-encryption-master", true,
        "sealed readings: separate master for encryption keys (customer's)",
        "PATH"},
       {"seal-mac-only", false,
        "sealed readings: MAC key only (the node seals MAC-only)", ""},
       {"seal-epoch", true, "sealed readings: key epoch (default 0)", "N"}},
      Provision,
      "Usage: cxsec provision --out DIR [--devices IDS] [--devices-file PATH]\n"
      "       [--pan-id 0xNNNN] [--epoch N] [--security security.txt]\n"
      "       [--dtls-key-area]\n"
      "       cxsec provision --out DIR --devices ID --mioty-eui HEX\n"
      "       [--mioty-key-file PATH] [--mioty-short HEX] [--mioty-long]\n"
      "       cxsec provision --out DIR --seal-new-master\n"
      "       cxsec provision --out DIR --devices IDS --seal-master PATH\n"
      "       [--seal-encryption-master PATH] [--seal-mac-only] [--seal-epoch "
      "N]\n"
      "Generates a 6LoWPAN deployment (security.txt, mode 0600) and "
      "per-device\n"
      "key files for flashing nodes (DIR/devices/<id>.key, mode 0600), or "
      "with\n"
      "--mioty-eui a Mioty node's key area (DIR/devices/<id>.keyarea) and its\n"
      "gateway key store line (DIR/devices/<id>.mioty.csv), both mode 0600.\n",
      argc, argv);
}

int RunRollover(int argc, const char* const* argv) {
  return RunWith(
      "rollover",
      {{"security", true, "the deployment's security.txt", "PATH"},
       {"start", false, "start a rollover: next_epoch = epoch + 1", ""},
       {"retire", false, "finish it: epoch = next_epoch", ""},
       {"fresh-master", false,
        "with --start: derive the next epoch's keys from a new master "
        "secret (recovers from a copied security.txt, see "
        "docs/DTLS_AND_KEYS.md)",
        ""},
       {"compromised", true,
        "with --start: refuse these devices' current keys and GET /k; they "
        "must be provisioned again with a next-epoch key",
        "D...,D..."}},
      Rollover,
      "Usage: cxsec rollover --security PATH (--start [--fresh-master] "
      "[--compromised D...,D...] | --retire)\n"
      "Starts or finishes an over-the-air key rollover. Copy the file to "
      "every\n"
      "gateway and send each SIGHUP after each step.\n",
      argc, argv);
}

}  // namespace

CXSEC_REGISTER_COMMAND(
    provision,
    "generate 6LoWPAN deployment keys (security.txt, device key files)",
    RunProvision);
CXSEC_REGISTER_COMMAND(rollover,
                       "start or retire an over-the-air DTLS key rollover",
                       RunRollover);

}  // namespace cxsec::cli
