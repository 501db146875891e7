// The node's sealed-readings key file (docs/SEALED_READINGS.md,
// "Provisioning"): what `cxsec provision --seal-master` writes as
// DIR/devices/<id>.seal (FormatSealKeyFile in seal_master_secret.h) and what
// a host node (`cxsec-node`, seal_key_file = PATH) reads to seal its
// readings. Host only (Abseil); the firmware node reads the binary seal key
// area (seal_key_area.h) instead.
//
//   CXSEC_ASSIGN_OR_RETURN(SealKeyFile keys, LoadSealKeyFile(path));
//   if (keys.device_id != my_device_id) ...   // refuse another node's keys
//
// Format, one "name = value" per line (core/config/key_value_file.h):
//
//   device = D0011223344556677
//   seal_epoch = 0
//   seal_mac_key = <32 hex digits>
//   seal_enc_key = <32 hex digits>   (absent: the node seals MAC-only)
//   seal_epoch_start = N             (optional, default 0: the sequence at
//                                     which the node entered this epoch,
//                                     written when it ratchets)
//
// Mode 0600 (or 0400), owned by the running account or root: a broader file
// is refused (ReadPrivateFile). Errors name the file and line, never a key.
#ifndef CXSEC_CORE_SEAL_SEAL_KEY_FILE_H_
#define CXSEC_CORE_SEAL_SEAL_KEY_FILE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/config/key_value_file.h"
#include "core/encoding/hex.h"
#include "core/seal/sealed_reading.h"
#include "core/secret_bytes.h"
#include "platforms/posix/files.h"

namespace cxsec::seal {

// A .seal file is four short lines and a comment; anything much longer is
// not one.
inline constexpr size_t kMaxSealKeyFileSize = 1024;

// SealKeyFile: a node's sealed-readings keys of one epoch. `enc_key` is
// absent for a node provisioned MAC-only (--seal-mac-only).
struct SealKeyFile {
  std::string device_id;  // "D" + 16 upper-case hex digits
  uint32_t epoch = 0;
  SecretBytes mac_key;                 // 16 bytes
  std::optional<SecretBytes> enc_key;  // 16 bytes when present
  // The sequence (DTLS) or packet counter (Mioty) at which the node moved
  // into this epoch; 0 for a provisioned file.
  uint32_t epoch_start = 0;
};

// ParseSealKeyFile reads the text of a .seal file; `source` names it in
// errors. Unknown keys, a missing device/epoch/MAC key, a device id that is
// not D + 16 hex digits and keys that are not 32 hex digits are refused.
// The device id comes back upper-case, as `cxsec provision` writes it.
[[nodiscard]] inline absl::StatusOr<SealKeyFile> ParseSealKeyFile(
    absl::string_view text, absl::string_view source) {
  KeyValueLimits limits;
  limits.max_bytes = kMaxSealKeyFileSize;
  limits.max_line_length = 256;
  limits.max_entries = 8;
  absl::StatusOr<KeyValueFile> file = KeyValueFile::Parse(text, source, limits);
  if (!file.ok()) return file.status();
  absl::Status keys = file->CheckKeys({{"device", true, ""},
                                       {"seal_epoch", true, ""},
                                       {"seal_mac_key", true, ""},
                                       {"seal_enc_key", false, ""},
                                       {"seal_epoch_start", false, ""}});
  if (!keys.ok()) return keys;
  SealKeyFile out;
  const KeyValueFile::Entry* device = file->Find("device");
  bool id_ok = device->value.size() == 1 + 2 * kDeviceIdSize &&
               device->value[0] == 'D';
  for (size_t i = 1; id_ok && i < device->value.size(); ++i) {
    id_ok = absl::ascii_isxdigit(static_cast<unsigned char>(device->value[i]));
  }
  if (!id_ok) {
    return file->LineError(device->line,
                           "'device' must be 'D' followed by 16 hex digits");
  }
  out.device_id = absl::AsciiStrToUpper(device->value);
  absl::StatusOr<long long> epoch =
      file->GetInt("seal_epoch", 0, 0, static_cast<long long>(kMaxEpoch));
  if (!epoch.ok()) return epoch.status();
  out.epoch = static_cast<uint32_t>(*epoch);
  absl::StatusOr<long long> start =
      file->GetInt("seal_epoch_start", 0, 0, 0xffffffffLL);
  if (!start.ok()) return start.status();
  out.epoch_start = static_cast<uint32_t>(*start);
  auto key = [&](absl::string_view name) -> absl::StatusOr<SecretBytes> {
    const KeyValueFile::Entry* entry = file->Find(name);
    // HexDecodeExact's errors give lengths and offsets, never the digits.
    absl::StatusOr<Bytes> raw = HexDecodeExact(entry->value, kSealKeySize, name);
    if (!raw.ok()) return file->LineError(entry->line, raw.status().message());
    SecretBytes secret = SecretBytes::CopyFrom(*raw);
    SecureZero(raw->data(), raw->size());
    return secret;
  };
  absl::StatusOr<SecretBytes> mac = key("seal_mac_key");
  if (!mac.ok()) return mac.status();
  out.mac_key = *std::move(mac);
  if (file->Find("seal_enc_key") != nullptr) {
    absl::StatusOr<SecretBytes> enc = key("seal_enc_key");
    if (!enc.ok()) return enc.status();
    out.enc_key = *std::move(enc);
  }
  return out;
}

// LoadSealKeyFile reads and parses the .seal file at `path`: refused unless
// private (mode 0600/0400, owner the running account or root, checked on
// the opened file), so a key other accounts could read is never used.
[[nodiscard]] inline absl::StatusOr<SealKeyFile> LoadSealKeyFile(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadPrivateFile(path, kMaxSealKeyFileSize);
  if (!text.ok()) return text.status();
  absl::StatusOr<SealKeyFile> keys = ParseSealKeyFile(*text, path);
  SecureZero(text->data(), text->size());
  return keys;
}

}  // namespace cxsec::seal

#endif  // CXSEC_CORE_SEAL_SEAL_KEY_FILE_H_
