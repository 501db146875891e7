// The verifier side of sealed readings (docs/SEALED_READINGS.md, "Key
// derivation"), host only: the application master secret file, which only
// the verifier (and `cxsec provision` run on its behalf) ever reads, and
// the per-device key file `cxsec provision --seal-master` writes for a node.
// Nothing here is ever written to security.txt, the Mioty key store or any
// file a gateway reads.
//
//   CXSEC_ASSIGN_OR_RETURN(SecretBytes master, LoadSealMasterSecret(path));
//   CXSEC_ASSIGN_OR_RETURN(SecretBytes mac,
//       DeriveSealKey(seal::KeyBranch::kMac, master, "D0011223344556677", 0));
//
// Master file format: the 32-byte secret as 64 hex digits, optionally
// followed by whitespace (a newline). Mode 0600 (or 0400): a file that
// group or others may read is refused, naming the file and its mode.
#ifndef CXSEC_CORE_SEAL_SEAL_MASTER_SECRET_H_
#define CXSEC_CORE_SEAL_SEAL_MASTER_SECRET_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/encoding/hex.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/sealed_reading.h"
#include "core/secret_bytes.h"
#include "platforms/posix/files.h"

namespace cxsec::seal {

// A master file is 64 hex digits and a little whitespace; anything much
// longer is not one.
inline constexpr size_t kMaxMasterSecretFileSize = 256;

// ParseSealMasterSecret reads the master from the text of `source` (a file
// name for errors). The error never quotes the text: it is a secret.
[[nodiscard]] inline absl::StatusOr<SecretBytes> ParseSealMasterSecret(
    absl::string_view text, absl::string_view source) {
  absl::string_view hex = absl::StripAsciiWhitespace(text);
  if (hex.size() != 2 * kMasterSecretSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": a sealed-readings master secret is ", 2 * kMasterSecretSize,
        " hex digits (32 bytes); found ", hex.size(), " characters"));
  }
  absl::StatusOr<Bytes> raw = HexDecodeExact(hex, kMasterSecretSize, source);
  if (!raw.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source,
        ": a sealed-readings master secret is 64 hex digits; it holds "
        "other characters"));
  }
  SecretBytes master = SecretBytes::CopyFrom(*raw);
  SecureZero(raw->data(), raw->size());
  return master;
}

// LoadSealMasterSecret reads the master file at `path`: refused unless
// private (mode 0600/0400, checked on the opened file), then parsed.
[[nodiscard]] inline absl::StatusOr<SecretBytes> LoadSealMasterSecret(
    const std::string& path) {
  absl::StatusOr<std::string> text =
      ReadPrivateFile(path, kMaxMasterSecretFileSize);
  if (!text.ok()) return text.status();
  absl::StatusOr<SecretBytes> master = ParseSealMasterSecret(*text, path);
  SecureZero(text->data(), text->size());
  return master;
}

// FormatSealMasterSecret: the master file's text for `master`.
inline std::string FormatSealMasterSecret(const SecretBytes& master) {
  return absl::StrCat(HexEncode(master.Reveal(SecretAccess::Grant())), "\n");
}

// DeviceIdBytes: the 8 bytes of a "D" + 16 hex digits device id.
[[nodiscard]] inline absl::StatusOr<Bytes> DeviceIdBytes(
    absl::string_view device_id) {
  if (device_id.size() != 1 + 2 * kDeviceIdSize || device_id[0] != 'D') {
    return absl::InvalidArgumentError(
        absl::StrCat("device id \"", device_id.substr(0, 40),
                     "\": expected D followed by 16 hex digits"));
  }
  return HexDecodeExact(device_id.substr(1), kDeviceIdSize, "device id");
}

// DeriveSealKey: the `branch` key of `device_id` at `epoch` from `master`
// (SEALED_READINGS.md). Costs `epoch` HMACs.
[[nodiscard]] inline absl::StatusOr<SecretBytes> DeriveSealKey(
    KeyBranch branch, const SecretBytes& master, absl::string_view device_id,
    uint32_t epoch) {
  absl::StatusOr<Bytes> id = DeviceIdBytes(device_id);
  if (!id.ok()) return id.status();
  SecretBytes key(kSealKeySize);
  MutableByteView out = key.RevealMutable(SecretAccess::Grant());
  ByteView raw_master = master.Reveal(SecretAccess::Grant());
  const SealReason reason = DeriveEpochKey<BoringSslSealCrypto>(
      branch, std::span<const uint8_t>(raw_master.data(), raw_master.size()),
      std::span<const uint8_t>(id->data(), id->size()), epoch,
      std::span<uint8_t>(out.data(), out.size()));
  if (reason != SealReason::kNone) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sealed-readings key derivation: ", SealReasonName(reason)));
  }
  return key;
}

// FormatSealKeyFile: the node's sealed-readings key file, what `cxsec
// provision --seal-master` writes (mode 0600) beside the node's other key
// files. One "name = value" per line; `enc_key` is absent for a MAC-only
// node (SEALED_READINGS.md, "Who holds which key").
inline std::string FormatSealKeyFile(absl::string_view device_id,
                                     uint32_t epoch, const SecretBytes& mac_key,
                                     const SecretBytes* enc_key,
                                     uint32_t epoch_start = 0) {
  std::string text = absl::StrCat(
      "# cxsec sealed-readings keys (docs/SEALED_READINGS.md). Secret: the\n"
      "# node's only, never a gateway's.\n",
      "device = ", device_id, "\n", "seal_epoch = ", epoch, "\n",
      "seal_mac_key = ", HexEncode(mac_key.Reveal(SecretAccess::Grant())),
      "\n");
  if (enc_key != nullptr) {
    absl::StrAppend(&text, "seal_enc_key = ",
                    HexEncode(enc_key->Reveal(SecretAccess::Grant())), "\n");
  }
  // Written by a node that ratcheted (seal_key_file.h); provisioning
  // starts every epoch at sequence 0.
  if (epoch_start > 0) {
    absl::StrAppend(&text, "seal_epoch_start = ", epoch_start, "\n");
  }
  return text;
}

}  // namespace cxsec::seal

#endif  // CXSEC_CORE_SEAL_SEAL_MASTER_SECRET_H_
