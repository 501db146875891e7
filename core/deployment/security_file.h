// security.txt: the deployment secrets a gateway needs to accept nodes on
// the 6LoWPAN network (CoAP over DTLS-PSK). Copying this file (mode 0600) to
// another gateway is how a gateway is replaced or roaming is set up: every
// per-device PSK is derived from what it holds.
//
// Format (line-oriented, parsed by core/config/key_value_file.h; '#' starts
// a comment; documented in docs/DTLS_AND_KEYS.md):
//
//   format = cxsec-security-v1
//   pan_id = 0x1a2b                  # IEEE 802.15.4 PAN id, 4 hex digits
//   master_secret = <64 hex digits>  # 256-bit deployment master secret
//   epoch = 1                        # current key epoch (1..2^31-1)
//   next_epoch = 2                   # optional: set during a key rollover
//
// While next_epoch is set the gateway accepts both epochs and hands nodes
// their next-epoch PSK; retiring the old epoch means epoch = next_epoch and
// deleting next_epoch. Parsing is pure (no file access) so that it can be
// fuzzed; LoadSecurityFile in transports/dtls adds the 0600 check.
#ifndef CXSEC_CORE_DEPLOYMENT_SECURITY_FILE_H_
#define CXSEC_CORE_DEPLOYMENT_SECURITY_FILE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "core/config/key_value_file.h"
#include "core/deployment/deployment_keys.h"
#include "core/encoding/hex.h"
#include "core/secret_bytes.h"

namespace cxsec {

inline constexpr char kSecurityFileFormat[] = "cxsec-security-v1";
inline constexpr size_t kMaxSecurityFileBytes = 16 * 1024;

// SecurityConfig: the parsed contents of security.txt.
struct SecurityConfig {
  uint16_t pan_id = 0;
  SecretBytes master_secret;
  uint32_t epoch = 0;
  std::optional<uint32_t> next_epoch;  // set during a rollover

  SecurityConfig Clone() const {
    SecurityConfig copy;
    copy.pan_id = pan_id;
    copy.master_secret = master_secret.Clone();
    copy.epoch = epoch;
    copy.next_epoch = next_epoch;
    return copy;
  }

  // AcceptsEpoch: the epochs whose PSKs the gateway currently accepts.
  bool AcceptsEpoch(uint32_t e) const {
    return e == epoch || (next_epoch.has_value() && e == *next_epoch);
  }
};

namespace security_file_internal {

[[nodiscard]] inline absl::StatusOr<uint32_t> ParseEpoch(
    const KeyValueFile& file, const KeyValueFile::Entry& entry) {
  uint32_t value = 0;
  bool digits = !entry.value.empty() && entry.value.size() <= 10;
  for (char c : entry.value) digits = digits && absl::ascii_isdigit(c);
  if (!digits || !absl::SimpleAtoi(entry.value, &value) || value == 0 ||
      value > kMaxEpoch) {
    return file.LineError(entry.line,
                          absl::StrCat("'", entry.key,
                                       "' must be a decimal number in 1..",
                                       kMaxEpoch));
  }
  return value;
}

}  // namespace security_file_internal

// ParseSecurityFile parses security.txt text; `source` names it in errors.
// Every error names the line; no error repeats a value (they are secrets).
[[nodiscard]] inline absl::StatusOr<SecurityConfig> ParseSecurityFile(
    absl::string_view text, absl::string_view source) {
  KeyValueLimits limits;
  limits.max_bytes = kMaxSecurityFileBytes;
  limits.max_line_length = 512;
  limits.max_entries = 16;
  absl::StatusOr<KeyValueFile> file = KeyValueFile::Parse(text, source, limits);
  if (!file.ok()) return file.status();
  absl::Status keys = file->CheckKeys({
      {"format", true, ""},
      {"pan_id", true, ""},
      {"master_secret", true, ""},
      {"epoch", true, ""},
      {"next_epoch", false, ""},
  });
  if (!keys.ok()) return keys;

  const KeyValueFile::Entry* format = file->Find("format");
  if (format->value != kSecurityFileFormat) {
    return file->LineError(format->line, absl::StrCat("format must be '",
                                                      kSecurityFileFormat, "'"));
  }
  SecurityConfig config;
  const KeyValueFile::Entry* pan = file->Find("pan_id");
  absl::string_view pan_text = pan->value;
  if (pan_text.size() != 6 || pan_text.substr(0, 2) != "0x") {
    return file->LineError(pan->line,
                           "pan_id must be 0x followed by 4 hex digits");
  }
  absl::StatusOr<Bytes> pan_bytes =
      HexDecodeExact(pan_text.substr(2), 2, "pan_id");
  if (!pan_bytes.ok()) {
    return file->LineError(pan->line,
                           "pan_id must be 0x followed by 4 hex digits");
  }
  config.pan_id = static_cast<uint16_t>(((*pan_bytes)[0] << 8) | (*pan_bytes)[1]);

  const KeyValueFile::Entry* master = file->Find("master_secret");
  absl::StatusOr<Bytes> master_bytes =
      HexDecodeExact(master->value, kMasterSecretBytes, "master_secret");
  if (!master_bytes.ok()) {
    return file->LineError(master->line, master_bytes.status().message());
  }
  config.master_secret = SecretBytes::CopyFrom(*master_bytes);
  SecureZero(master_bytes->data(), master_bytes->size());

  absl::StatusOr<uint32_t> epoch =
      security_file_internal::ParseEpoch(*file, *file->Find("epoch"));
  if (!epoch.ok()) return epoch.status();
  config.epoch = *epoch;
  if (const KeyValueFile::Entry* next = file->Find("next_epoch")) {
    absl::StatusOr<uint32_t> next_epoch =
        security_file_internal::ParseEpoch(*file, *next);
    if (!next_epoch.ok()) return next_epoch.status();
    if (*next_epoch <= config.epoch) {
      return file->LineError(next->line,
                             "next_epoch must be greater than epoch");
    }
    config.next_epoch = *next_epoch;
  }
  return config;
}

// FormatSecurityFile writes the documented, commented form that
// ParseSecurityFile reads.
inline std::string FormatSecurityFile(const SecurityConfig& config) {
  std::string text = absl::StrCat(
      "# cxsec security.txt: deployment secrets of one 6LoWPAN network.\n"
      "# Keep it mode 0600; gateways refuse it otherwise. Copy it to another\n"
      "# gateway to replace this one or to let nodes roam between them.\n"
      "# See docs/DTLS_AND_KEYS.md. Lines are 'key = value'; '#' comments.\n"
      "format = ", kSecurityFileFormat, "\n",
      "# IEEE 802.15.4 PAN id of the network.\n",
      absl::StrFormat("pan_id = 0x%04x\n", config.pan_id),
      "# 256-bit master secret; per-device PSKs are HKDF-SHA256(master,\n"
      "# device id, epoch). Anyone holding it can impersonate every node.\n"
      "master_secret = ",
      HexEncode(config.master_secret.Reveal(SecretAccess::Grant())), "\n",
      "# Current key epoch. Nodes on an older epoch are rejected.\n",
      "epoch = ", config.epoch, "\n");
  if (config.next_epoch.has_value()) {
    absl::StrAppend(&text,
                    "# Rollover in progress: the next epoch is accepted too,\n"
                    "# and nodes fetch their next-epoch PSK over DTLS.\n",
                    "next_epoch = ", *config.next_epoch, "\n");
  } else {
    absl::StrAppend(&text,
                    "# To start a key rollover, add: next_epoch = ",
                    config.epoch + 1, "\n");
  }
  return text;
}

}  // namespace cxsec

#endif  // CXSEC_CORE_DEPLOYMENT_SECURITY_FILE_H_
