#include "transports/mioty/key_store.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/encoding/hex.h"
#include "core/status.h"
#include "nlohmann/json.hpp"
#include "platforms/posix/files.h"

namespace cxsec::mioty {
namespace {

constexpr char kJsonDevicesKey[] = "mioty_devices";

absl::StatusOr<MiotyDeviceRecord> MakeRecord(absl::string_view eui_text,
                                             absl::string_view short_text,
                                             absl::string_view key_text,
                                             uint32_t min_counter,
                                             absl::string_view device_id) {
  MiotyDeviceRecord record;
  record.min_counter = min_counter;
  CXSEC_ASSIGN_OR_RETURN(record.eui, EuiFromHex(eui_text));
  if (!device_id.empty()) {
    CXSEC_ASSIGN_OR_RETURN(record.device_id, DeviceIdFromText(device_id));
  }
  if (short_text.empty()) {
    record.short_address = ShortAddressOf(record.eui);
  } else {
    CXSEC_ASSIGN_OR_RETURN(record.short_address,
                           ShortAddressFromHex(short_text));
  }
  // The key's text is never echoed: HexDecodeExact names only length and
  // offset.
  CXSEC_ASSIGN_OR_RETURN(
      Bytes key, HexDecodeExact(key_text, kNetworkKeySize, "network key"));
  record.network_key = SecretBytes::CopyFrom(key);
  SecureZero(key.data(), key.size());
  return record;
}

absl::Status At(absl::string_view where, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
}

absl::StatusOr<std::vector<MiotyDeviceRecord>> ParseJson(
    absl::string_view text, absl::string_view source, size_t max_records) {
  nlohmann::json doc = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                             /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not valid JSON"));
  }
  const nlohmann::json* list = &doc;
  if (doc.is_object()) {
    auto it = doc.find(kJsonDevicesKey);
    if (it == doc.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": expected an object with '", kJsonDevicesKey, "'"));
    }
    list = &*it;
  }
  if (!list->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the device list must be a JSON array"));
  }
  if (list->size() > max_records) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": ", list->size(), " devices exceed the limit of ",
        max_records));
  }
  std::vector<MiotyDeviceRecord> records;
  for (size_t i = 0; i < list->size(); ++i) {
    const nlohmann::json& entry = (*list)[i];
    std::string where = absl::StrCat(source, ": device #", i + 1);
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": must be an object"));
    }
    auto text_field = [&](const char* name,
                          bool required) -> absl::StatusOr<std::string> {
      auto it = entry.find(name);
      if (it == entry.end()) {
        if (!required) return std::string();
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": missing '", name, "'"));
      }
      if (!it->is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": '", name, "' must be a hex string"));
      }
      return it->get<std::string>();
    };
    for (auto it = entry.begin(); it != entry.end(); ++it) {
      if (it.key() != "eui" && it.key() != "short_address" &&
          it.key() != "network_key" && it.key() != "min_counter" &&
          it.key() != "device_id") {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": unknown field '", it.key(), "'"));
      }
    }
    CXSEC_ASSIGN_OR_RETURN(std::string eui, text_field("eui", true));
    CXSEC_ASSIGN_OR_RETURN(std::string short_address,
                           text_field("short_address", false));
    uint32_t min_counter = 0;
    if (auto it = entry.find("min_counter"); it != entry.end()) {
      if (!it->is_number_unsigned() ||
          it->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": 'min_counter' must be an integer from 0 to 4294967295"));
      }
      min_counter = static_cast<uint32_t>(it->get<uint64_t>());
    }
    std::string device_id;
    if (auto it = entry.find("device_id"); it != entry.end()) {
      if (!it->is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": 'device_id' must be a string (D + 16 hex digits)"));
      }
      device_id = it->get<std::string>();
      if (device_id.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": 'device_id' is empty (omit it for D + the EUI-64)"));
      }
    }
    CXSEC_ASSIGN_OR_RETURN(std::string key, text_field("network_key", true));
    absl::StatusOr<MiotyDeviceRecord> record =
        MakeRecord(eui, short_address, key, min_counter, device_id);
    SecureZero(key.data(), key.size());
    if (!record.ok()) return At(where, record.status());
    records.push_back(std::move(record).value());
  }
  return records;
}

absl::StatusOr<std::vector<MiotyDeviceRecord>> ParseCsv(
    absl::string_view text, absl::string_view source, size_t max_records) {
  std::vector<MiotyDeviceRecord> records;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    std::string where = absl::StrCat(source, ":", line_number);
    size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    for (absl::string_view& f : fields) f = absl::StripAsciiWhitespace(f);
    if (fields.size() < 3 || fields.size() > 5) {
      return absl::InvalidArgumentError(absl::StrCat(
          where,
          ": expected 3 to 5 fields "
          "(eui,short_address,network_key[,min_counter[,device_id]]), got ",
          fields.size()));
    }
    if (records.empty() && absl::AsciiStrToLower(fields[0]) == "eui") {
      continue;  // header line
    }
    if (records.size() >= max_records) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": more than ", max_records, " devices"));
    }
    uint32_t min_counter = 0;
    if (fields.size() >= 4 && !fields[3].empty()) {
      absl::StatusOr<uint32_t> parsed = MinCounterFromText(fields[3]);
      if (!parsed.ok()) return At(where, parsed.status());
      min_counter = *parsed;
    }
    absl::StatusOr<MiotyDeviceRecord> record =
        MakeRecord(fields[0], fields[1], fields[2], min_counter,
                   fields.size() == 5 ? fields[4] : absl::string_view());
    if (!record.ok()) return At(where, record.status());
    records.push_back(std::move(record).value());
  }
  return records;
}

}  // namespace

absl::StatusOr<uint32_t> MinCounterFromText(absl::string_view text) {
  uint32_t value = 0;
  if (text.empty() || text.size() > 10 ||
      !std::all_of(text.begin(), text.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        "min_counter must be decimal digits, 0 to 4294967295");
  }
  return value;
}

std::string DefaultDeviceId(const Eui64& eui) {
  return absl::StrCat("D", absl::AsciiStrToUpper(EuiToHex(eui)));
}

absl::StatusOr<std::string> DeviceIdFromText(absl::string_view text) {
  bool hex = text.size() == 17 && text[0] == 'D' &&
             std::all_of(text.begin() + 1, text.end(), [](char c) {
               return absl::ascii_isxdigit(static_cast<unsigned char>(c));
             });
  if (!hex) {
    // Not quoted: a shifted CSV column can put a network key here.
    return absl::InvalidArgumentError(
        absl::StrCat("device id of ", text.size(),
                     " characters: expected D followed by 16 hex digits"));
  }
  return absl::StrCat("D", absl::AsciiStrToUpper(text.substr(1)));
}

std::string EuiToHex(const Eui64& eui) {
  return HexEncode(ByteView(eui.data(), eui.size()));
}

absl::StatusOr<Eui64> EuiFromHex(absl::string_view text) {
  CXSEC_ASSIGN_OR_RETURN(Bytes raw, HexDecodeExact(text, kEuiSize, "EUI-64"));
  Eui64 eui{};  // value-initialized: GCC -O2 cannot see the copy fills it
  std::copy(raw.begin(), raw.end(), eui.begin());
  return eui;
}

absl::StatusOr<uint16_t> ShortAddressFromHex(absl::string_view text) {
  CXSEC_ASSIGN_OR_RETURN(Bytes raw,
                         HexDecodeExact(text, 2, "short address"));
  return static_cast<uint16_t>((raw[0] << 8) | raw[1]);
}

uint64_t MiotyKeyStore::EuiKey(const Eui64& eui) {
  uint64_t key = 0;
  for (uint8_t b : eui) key = (key << 8) | b;
  return key;
}

absl::StatusOr<MiotyKeyStore> MiotyKeyStore::Load(
    const std::string& path, MiotyKeyStoreLimits limits,
    std::optional<uid_t> service_account) {
  CXSEC_ASSIGN_OR_RETURN(
      std::string text,
      ReadPrivateFile(path, limits.max_file_bytes, service_account));
  MiotyKeyStore store(limits);
  absl::StatusOr<std::vector<MiotyDeviceRecord>> records =
      ParseJson(text, path, limits.max_devices);
  SecureZero(text.data(), text.size());
  if (!records.ok()) return records.status();
  for (MiotyDeviceRecord& record : *records) {
    std::string eui = EuiToHex(record.eui);
    absl::Status added = store.Add(std::move(record));
    if (!added.ok()) return At(absl::StrCat(path, ": device ", eui), added);
  }
  return store;
}

absl::Status MiotyKeyStore::Save(const std::string& path) const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& device : devices_) {
    uint8_t short_raw[2] = {static_cast<uint8_t>(device->short_address >> 8),
                            static_cast<uint8_t>(device->short_address)};
    list.push_back({
        {"eui", EuiToHex(device->eui)},
        {"short_address", HexEncode(ByteView(short_raw, 2))},
        {"network_key",
         HexEncode(device->raw_key.Reveal(SecretAccess::Grant()))},
    });
    // Written only when set, so stores without floors keep their format.
    if (device->min_counter > 0)
      list.back()["min_counter"] = device->min_counter;
    if (device->device_id != DefaultDeviceId(device->eui))
      list.back()["device_id"] = device->device_id;
  }
  nlohmann::json doc = {{kJsonDevicesKey, std::move(list)}};
  std::string text = doc.dump(2) + "\n";
  absl::Status written = WriteFileAtomically(path, text, 0600);
  SecureZero(text.data(), text.size());
  return written;
}

absl::Status MiotyKeyStore::Add(MiotyDeviceRecord record,
                                std::string* collision) {
  if (by_eui_.size() >= limits_.max_devices) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "mioty key store: the limit of ", limits_.max_devices,
        " devices is reached"));
  }
  const uint64_t eui_key = EuiKey(record.eui);
  if (by_eui_.contains(eui_key)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "mioty key store: EUI-64 ", EuiToHex(record.eui),
        " is already registered"));
  }
  std::string device_id = record.device_id.empty()
                              ? DefaultDeviceId(record.eui)
                              : std::move(record.device_id);
  if (device_ids_.contains(device_id)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "mioty key store: device id ", device_id,
        " is already used by another EUI-64 (each device needs its own id)"));
  }
  auto& sharing = by_short_[record.short_address];
  if (sharing.size() >= limits_.max_candidates) {
    if (sharing.empty()) by_short_.erase(record.short_address);
    return absl::ResourceExhaustedError(absl::StrCat(
        "mioty key store: short address ",
        absl::Hex(record.short_address, absl::kZeroPad4), " is already used by ",
        sharing.size(), " devices (the limit of keys tried per frame)"));
  }
  CXSEC_ASSIGN_OR_RETURN(
      MiotyNetworkKey key,
      MiotyNetworkKey::FromBytes(record.network_key.Reveal(SecretAccess::Grant())));
  auto device = std::make_unique<MiotyDevice>(MiotyDevice{
      record.eui, record.short_address, std::move(record.network_key),
      std::move(key), record.min_counter, std::move(device_id)});
  sharing.push_back(device.get());
  by_eui_[eui_key] = device.get();
  device_ids_.insert(device->device_id);
  if (collision != nullptr && sharing.size() > 1) {
    std::vector<std::string> euis;
    for (const MiotyDevice* d : sharing) euis.push_back(EuiToHex(d->eui));
    *collision = absl::StrCat("short address ",
                              absl::Hex(record.short_address, absl::kZeroPad4),
                              ": ", absl::StrJoin(euis, ", "));
  }
  devices_.push_back(std::move(device));
  return absl::OkStatus();
}

absl::Status MiotyKeyStore::Remove(const Eui64& eui) {
  auto it = by_eui_.find(EuiKey(eui));
  if (it == by_eui_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "mioty key store: EUI-64 ", EuiToHex(eui), " is not registered"));
  }
  MiotyDevice* device = it->second;
  by_eui_.erase(it);
  device_ids_.erase(device->device_id);
  auto& sharing = by_short_[device->short_address];
  sharing.erase(std::find(sharing.begin(), sharing.end(), device));
  if (sharing.empty()) by_short_.erase(device->short_address);
  devices_.erase(std::find_if(devices_.begin(), devices_.end(),
                              [&](const auto& d) { return d.get() == device; }));
  return absl::OkStatus();
}

absl::Status MiotyKeyStore::SetMinCounter(const Eui64& eui,
                                          uint32_t min_counter) {
  auto it = by_eui_.find(EuiKey(eui));
  if (it == by_eui_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "mioty key store: EUI-64 ", EuiToHex(eui), " is not registered"));
  }
  it->second->min_counter = min_counter;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<MiotyDeviceRecord>> MiotyKeyStore::ParseRecords(
    absl::string_view text, absl::string_view source, size_t max_records) {
  absl::string_view body = absl::StripLeadingAsciiWhitespace(text);
  if (!body.empty() && (body[0] == '{' || body[0] == '[')) {
    return ParseJson(text, source, max_records);
  }
  return ParseCsv(text, source, max_records);
}

absl::StatusOr<ImportReport> MiotyKeyStore::Import(absl::string_view text,
                                                   absl::string_view source) {
  CXSEC_ASSIGN_OR_RETURN(std::vector<MiotyDeviceRecord> records,
                         ParseRecords(text, source, limits_.max_devices));
  // Check everything against a copy first so a failing import changes
  // nothing (duplicates within the file included).
  MiotyKeyStore trial(limits_);
  for (const auto& device : devices_) {
    CXSEC_RETURN_IF_ERROR(trial.Add(
        MiotyDeviceRecord{device->eui, device->short_address,
                          device->raw_key.Clone(), device->min_counter,
                          device->device_id}));
  }
  ImportReport report;
  absl::flat_hash_map<uint16_t, std::string> collisions;
  for (MiotyDeviceRecord& record : records) {
    std::string collision;
    uint16_t short_address = record.short_address;
    absl::Status added = trial.Add(std::move(record), &collision);
    if (!added.ok()) {
      return At(absl::StrCat(source, ": device #", report.added + 1), added);
    }
    if (!collision.empty()) collisions[short_address] = collision;
    ++report.added;
  }
  for (auto& [unused, text_line] : collisions) {
    report.collisions.push_back(std::move(text_line));
  }
  std::sort(report.collisions.begin(), report.collisions.end());
  *this = std::move(trial);
  return report;
}

absl::StatusOr<ImportReport> MiotyKeyStore::ImportFile(const std::string& path) {
  CXSEC_ASSIGN_OR_RETURN(std::string text,
                         ReadPrivateFile(path, limits_.max_file_bytes));
  absl::StatusOr<ImportReport> report = Import(text, path);
  SecureZero(text.data(), text.size());
  return report;
}

const MiotyDevice* MiotyKeyStore::FindByEui(const Eui64& eui) const {
  auto it = by_eui_.find(EuiKey(eui));
  return it == by_eui_.end() ? nullptr : it->second;
}

absl::Span<const MiotyDevice* const> MiotyKeyStore::CandidatesFor(
    uint16_t short_address) const {
  auto it = by_short_.find(short_address);
  if (it == by_short_.end()) return {};
  absl::Span<const MiotyDevice* const> all(it->second.data(),
                                           it->second.size());
  return all.subspan(0, std::min(all.size(), limits_.max_candidates));
}

std::vector<const MiotyDevice*> MiotyKeyStore::Devices() const {
  std::vector<const MiotyDevice*> out;
  for (const auto& device : devices_) out.push_back(device.get());
  return out;
}

}  // namespace cxsec::mioty
