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
//   next_master_secret = <64 hex>    # optional: a fresh master for next_epoch
//   compromised = D0011223344556677:2,...  # optional: device:first trusted epoch
//
// While next_epoch is set the gateway accepts both epochs and hands nodes
// their next-epoch PSK; retiring the old epoch means epoch = next_epoch and
// deleting next_epoch. A rollover with a fresh master secret derives the
// next epoch's keys from it, so whoever copied the file before the rollover
// cannot derive them; at retirement it becomes master_secret. A device
// listed as compromised is refused under every epoch below its number
// (handshakes, open sessions and GET /k) until it is provisioned again out
// of band with a key of that epoch. Parsing is pure (no file access) so that it can be
// fuzzed; LoadSecurityFile in transports/dtls adds the 0600 check.
#ifndef CXSEC_CORE_DEPLOYMENT_SECURITY_FILE_H_
#define CXSEC_CORE_DEPLOYMENT_SECURITY_FILE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
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
  // A fresh master for next_epoch (empty: next_epoch derives from
  // master_secret too). Only with next_epoch.
  SecretBytes next_master_secret;
  // Device id (upper case) -> the first epoch whose key it is trusted with.
  std::map<std::string, uint32_t> compromised;

  SecurityConfig Clone() const {
    SecurityConfig copy;
    copy.pan_id = pan_id;
    copy.master_secret = master_secret.Clone();
    copy.epoch = epoch;
    copy.next_epoch = next_epoch;
    copy.next_master_secret = next_master_secret.Clone();
    copy.compromised = compromised;
    return copy;
  }

  // AcceptsEpoch: the epochs whose PSKs the gateway currently accepts.
  bool AcceptsEpoch(uint32_t e) const {
    return e == epoch || (next_epoch.has_value() && e == *next_epoch);
  }

  // MasterFor: the master secret epoch `e`'s device keys derive from.
  const SecretBytes& MasterFor(uint32_t e) const {
    if (next_epoch.has_value() && e == *next_epoch &&
        !next_master_secret.empty()) {
      return next_master_secret;
    }
    return master_secret;
  }

  // IsCompromised: `device_id`'s key of epoch `e` must not be trusted.
  bool IsCompromised(const std::string& device_id, uint32_t e) const {
    auto it = compromised.find(device_id);
    return it != compromised.end() && e < it->second;
  }
};

// At most this many devices can be marked compromised in one file; beyond
// that, provision a new deployment.
inline constexpr size_t kMaxCompromisedDevices = 256;

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
  // One compromised line holds up to kMaxCompromisedDevices entries of at
  // most 29 bytes each.
  limits.max_line_length = 8 * 1024;
  limits.max_entries = 16;
  absl::StatusOr<KeyValueFile> file = KeyValueFile::Parse(text, source, limits);
  if (!file.ok()) return file.status();
  absl::Status keys = file->CheckKeys({
      {"format", true, ""},
      {"pan_id", true, ""},
      {"master_secret", true, ""},
      {"epoch", true, ""},
      {"next_epoch", false, ""},
      {"next_master_secret", false, ""},
      {"compromised", false, ""},
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
  if (const KeyValueFile::Entry* next_master = file->Find("next_master_secret")) {
    if (!config.next_epoch.has_value()) {
      return file->LineError(next_master->line,
                             "next_master_secret needs next_epoch");
    }
    absl::StatusOr<Bytes> bytes = HexDecodeExact(
        next_master->value, kMasterSecretBytes, "next_master_secret");
    if (!bytes.ok()) {
      return file->LineError(next_master->line, bytes.status().message());
    }
    config.next_master_secret = SecretBytes::CopyFrom(*bytes);
    SecureZero(bytes->data(), bytes->size());
  }
  if (const KeyValueFile::Entry* compromised = file->Find("compromised")) {
    for (absl::string_view item :
         absl::StrSplit(compromised->value, ',', absl::SkipWhitespace())) {
      item = absl::StripAsciiWhitespace(item);
      size_t colon = item.find(':');
      absl::string_view id = item.substr(0, colon);
      uint32_t trusted_from = 0;
      if (colon == absl::string_view::npos || !IsDeviceId(id) ||
          !absl::SimpleAtoi(item.substr(colon + 1), &trusted_from) ||
          trusted_from == 0 || trusted_from > kMaxEpoch) {
        return file->LineError(
            compromised->line,
            absl::StrCat("compromised entries are D<16 hex digits>:<epoch "
                         "1..2147483647>, comma-separated; not '",
                         item.substr(0, 40), "'"));
      }
      if (config.compromised.size() >= kMaxCompromisedDevices) {
        return file->LineError(
            compromised->line,
            absl::StrCat("more than ", kMaxCompromisedDevices,
                         " compromised devices; provision a new deployment"));
      }
      if (!config.compromised.emplace(absl::AsciiStrToUpper(id), trusted_from)
               .second) {
        return file->LineError(compromised->line,
                               absl::StrCat(id, " is listed twice"));
      }
    }
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
  if (!config.next_master_secret.empty()) {
    absl::StrAppend(
        &text,
        "# Fresh master secret of the next epoch (cxsec rollover --start\n"
        "# --fresh-master): becomes master_secret when the rollover is\n"
        "# retired.\n",
        "next_master_secret = ",
        HexEncode(config.next_master_secret.Reveal(SecretAccess::Grant())),
        "\n");
  }
  if (!config.compromised.empty()) {
    std::vector<std::string> items;
    for (const auto& [id, trusted_from] : config.compromised) {
      items.push_back(absl::StrCat(id, ":", trusted_from));
    }
    absl::StrAppend(&text,
                    "# Devices whose keys below the given epoch are refused\n"
                    "# (cxsec rollover --compromised); re-provision them.\n",
                    "compromised = ", absl::StrJoin(items, ","), "\n");
  }
  return text;
}

}  // namespace cxsec

#endif  // CXSEC_CORE_DEPLOYMENT_SECURITY_FILE_H_
