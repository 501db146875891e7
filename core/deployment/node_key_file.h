// The node's key file: what `cxsec provision` writes per device for
// flashing, and what a node rewrites (atomically, mode 0600) when it
// switches to its next-epoch PSK over the air. Same line-oriented format as
// security.txt (core/config/key_value_file.h):
//
//   format = cxsec-node-key-v1
//   device_id = D0011223344556677
//   pan_id = 0x1a2b
//   epoch = 1
//   psk = <32 hex digits>   # HKDF-SHA256(master, device id, epoch)
#ifndef CXSEC_CORE_DEPLOYMENT_NODE_KEY_FILE_H_
#define CXSEC_CORE_DEPLOYMENT_NODE_KEY_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/config/key_value_file.h"
#include "core/deployment/deployment_keys.h"
#include "core/deployment/security_file.h"
#include "core/encoding/hex.h"
#include "core/secret_bytes.h"

namespace cxsec {

inline constexpr char kNodeKeyFormat[] = "cxsec-node-key-v1";

struct NodeKey {
  std::string device_id;
  uint16_t pan_id = 0;
  uint32_t epoch = 0;
  SecretBytes psk;

  NodeKey Clone() const {
    return NodeKey{device_id, pan_id, epoch, psk.Clone()};
  }
};

[[nodiscard]] inline absl::StatusOr<NodeKey> ParseNodeKeyFile(
    absl::string_view text, absl::string_view source) {
  KeyValueLimits limits;
  limits.max_bytes = 4096;
  limits.max_line_length = 256;
  limits.max_entries = 8;
  absl::StatusOr<KeyValueFile> file = KeyValueFile::Parse(text, source, limits);
  if (!file.ok()) return file.status();
  absl::Status keys = file->CheckKeys({{"format", true, ""},
                                       {"device_id", true, ""},
                                       {"pan_id", true, ""},
                                       {"epoch", true, ""},
                                       {"psk", true, ""}});
  if (!keys.ok()) return keys;
  const KeyValueFile::Entry* format = file->Find("format");
  if (format->value != kNodeKeyFormat) {
    return file->LineError(format->line,
                           absl::StrCat("format must be '", kNodeKeyFormat, "'"));
  }
  NodeKey key;
  const KeyValueFile::Entry* id = file->Find("device_id");
  if (!IsDeviceId(id->value)) {
    return file->LineError(id->line,
                           "device_id must be 'D' followed by 16 hex digits");
  }
  key.device_id = absl::AsciiStrToUpper(id->value);
  const KeyValueFile::Entry* pan = file->Find("pan_id");
  absl::StatusOr<Bytes> pan_bytes =
      pan->value.size() == 6 && pan->value.substr(0, 2) == "0x"
          ? HexDecodeExact(absl::string_view(pan->value).substr(2), 2, "pan_id")
          : absl::InvalidArgumentError("");
  if (!pan_bytes.ok()) {
    return file->LineError(pan->line, "pan_id must be 0x followed by 4 hex digits");
  }
  key.pan_id = static_cast<uint16_t>(((*pan_bytes)[0] << 8) | (*pan_bytes)[1]);
  absl::StatusOr<uint32_t> epoch =
      security_file_internal::ParseEpoch(*file, *file->Find("epoch"));
  if (!epoch.ok()) return epoch.status();
  key.epoch = *epoch;
  const KeyValueFile::Entry* psk = file->Find("psk");
  absl::StatusOr<Bytes> psk_bytes = HexDecodeExact(psk->value, kDevicePskBytes, "psk");
  if (!psk_bytes.ok()) return file->LineError(psk->line, psk_bytes.status().message());
  key.psk = SecretBytes::CopyFrom(*psk_bytes);
  SecureZero(psk_bytes->data(), psk_bytes->size());
  return key;
}

inline std::string FormatNodeKeyFile(const NodeKey& key) {
  return absl::StrCat(
      "# cxsec node key file (docs/DTLS_AND_KEYS.md). Mode 0600. The node\n"
      "# rewrites it when it fetches its next-epoch key over DTLS.\n",
      "format = ", kNodeKeyFormat, "\n", "device_id = ", key.device_id, "\n",
      absl::StrFormat("pan_id = 0x%04x\n", key.pan_id), "epoch = ", key.epoch,
      "\n", "psk = ", HexEncode(key.psk.Reveal(SecretAccess::Grant())), "\n");
}

}  // namespace cxsec

#endif  // CXSEC_CORE_DEPLOYMENT_NODE_KEY_FILE_H_
