#include "transports/uplink/telemetry_wire.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/encoding/base64url.h"
#include "nlohmann/json.hpp"

namespace cxsec {
namespace {

using Json = nlohmann::json;

// Unix milliseconds, from 1970 up to the end of the year 9999.
constexpr int64_t kMaxTimestampMillis = 253402300799999;

struct VerdictName {
  TelemetryVerdict verdict;
  absl::string_view name;
};
// The one table of verdict names on the wire.
constexpr VerdictName kVerdictNames[] = {
    {TelemetryVerdict::kAccepted, "accepted"},
    {TelemetryVerdict::kDuplicate, "duplicate"},
    {TelemetryVerdict::kRejected, "rejected"},
    {TelemetryVerdict::kConflict, "conflict"},
    {TelemetryVerdict::kRetry, "retry"},
};

absl::StatusOr<Json> ParseBounded(absl::string_view body, size_t max_bytes,
                                  int max_depth, absl::string_view what) {
  if (body.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": body of ", body.size(), " bytes exceeds ", max_bytes));
  }
  // nlohmann's parser recurses once per nesting level: refuse deep input
  // before it runs.
  if (!JsonDepthWithin(body, max_depth)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": JSON nesting deeper than ", max_depth));
  }
  Json json = Json::parse(body.begin(), body.end(), nullptr,
                          /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not valid JSON"));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not a JSON object"));
  }
  return json;
}

absl::StatusOr<const Json::array_t*> GetArray(const Json& object,
                                              const char* key, size_t max,
                                              absl::string_view what) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", key, "' must be an array"));
  }
  const auto& array = it->get_ref<const Json::array_t&>();
  if (array.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", key, "' is empty"));
  }
  if (array.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", key, "' has ", array.size(),
                     " entries; the limit is ", max));
  }
  return &array;
}

absl::Status FieldError(absl::string_view list, size_t index,
                        absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(list, "[", index, "].", field, ": ", problem));
}

// GetString reads a bounded string field of entry `index` of `list`.
absl::StatusOr<std::string> GetString(const Json& entry, const char* key,
                                      absl::string_view list, size_t index,
                                      size_t max_bytes, bool required) {
  auto it = entry.find(key);
  if (it == entry.end()) {
    if (!required) return std::string();
    return FieldError(list, index, key, "is required");
  }
  if (!it->is_string()) return FieldError(list, index, key, "must be a string");
  const std::string& value = it->get_ref<const std::string&>();
  if (value.size() > max_bytes) {
    return FieldError(list, index, key,
                      absl::StrCat("longer than ", max_bytes, " bytes"));
  }
  if (required && value.empty())
    return FieldError(list, index, key, "is empty");
  return value;
}

bool DeviceIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':';
}

bool HasControlChar(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

bool JsonDepthWithin(absl::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

absl::string_view TelemetryVerdictName(TelemetryVerdict verdict) {
  for (const VerdictName& v : kVerdictNames) {
    if (v.verdict == verdict) return v.name;
  }
  return "retry";
}

std::optional<TelemetryVerdict> ParseTelemetryVerdict(absl::string_view name) {
  for (const VerdictName& v : kVerdictNames) {
    if (v.name == name) return v.verdict;
  }
  return std::nullopt;
}

std::string EncodeTelemetryBatch(const std::vector<VerifiedMessage>& messages) {
  Json array = Json::array();
  for (const VerifiedMessage& m : messages) {
    array.push_back(Json{{"deviceId", m.device_id},
                         {"messageId", m.message_id},
                         {"timestamp", absl::ToUnixMillis(m.received_at)},
                         {"transport", m.transport},
                         {"payload", Base64UrlEncode(ByteView(m.payload))}});
  }
  // Invalid UTF-8 in an id must not throw: replace it (ids are ASCII by
  // construction, so this only guards against a misbehaving transport).
  return Json{{"messages", std::move(array)}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
}

absl::StatusOr<std::vector<TelemetryWireMessage>> DecodeTelemetryBatch(
    absl::string_view body, const TelemetryWireLimits& limits) {
  constexpr absl::string_view kList = "messages";
  absl::StatusOr<Json> json =
      ParseBounded(body, limits.max_body_bytes, limits.max_json_depth, "body");
  if (!json.ok()) return json.status();
  absl::StatusOr<const Json::array_t*> array =
      GetArray(*json, "messages", limits.max_messages, "body");
  if (!array.ok()) return array.status();
  std::vector<TelemetryWireMessage> messages;
  messages.reserve((*array)->size());
  for (size_t i = 0; i < (*array)->size(); ++i) {
    const Json& entry = (**array)[i];
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kList, "[", i, "]: must be an object"));
    }
    TelemetryWireMessage m;
    absl::StatusOr<std::string> field =
        GetString(entry, "deviceId", kList, i, limits.max_id_bytes, true);
    if (!field.ok()) return field.status();
    m.device_id = *std::move(field);
    for (char c : m.device_id) {
      if (!DeviceIdChar(c)) {
        return FieldError(
            kList, i, "deviceId",
            "must be characters of A-Z, a-z, 0-9, '-', '_', '.', ':'");
      }
    }
    field = GetString(entry, "messageId", kList, i, limits.max_id_bytes, true);
    if (!field.ok()) return field.status();
    m.message_id = *std::move(field);
    if (HasControlChar(m.message_id)) {
      return FieldError(kList, i, "messageId",
                        "must not contain control characters");
    }
    field = GetString(entry, "transport", kList, i, limits.max_id_bytes, false);
    if (!field.ok()) return field.status();
    m.transport = *std::move(field);
    if (HasControlChar(m.transport)) {
      return FieldError(kList, i, "transport",
                        "must not contain control characters");
    }
    auto timestamp = entry.find("timestamp");
    if (timestamp == entry.end() || !timestamp->is_number_integer()) {
      return FieldError(kList, i, "timestamp",
                        "must be an integer (unix milliseconds)");
    }
    // Read as unsigned when it is one: get<int64_t> of a value above
    // INT64_MAX would wrap.
    if (timestamp->is_number_unsigned()
            ? timestamp->get<uint64_t>() >
                  static_cast<uint64_t>(kMaxTimestampMillis)
            : (timestamp->get<int64_t>() < 0 ||
               timestamp->get<int64_t>() > kMaxTimestampMillis)) {
      return FieldError(kList, i, "timestamp",
                        "must be unix milliseconds between 1970 and 9999");
    }
    m.timestamp_ms = timestamp->get<int64_t>();
    auto payload = entry.find("payload");
    if (payload == entry.end())
      return FieldError(kList, i, "payload", "is required");
    m.payload_json =
        payload->dump(-1, ' ', false, Json::error_handler_t::replace);
    if (m.payload_json.size() > limits.max_payload_json_bytes) {
      return FieldError(
          kList, i, "payload",
          absl::StrCat("exceeds ", limits.max_payload_json_bytes, " bytes"));
    }
    messages.push_back(std::move(m));
  }
  return messages;
}

absl::StatusOr<VerifiedMessage> ToVerifiedMessage(
    const TelemetryWireMessage& message) {
  Json payload = Json::parse(message.payload_json, nullptr, false);
  if (!payload.is_string()) {
    return absl::InvalidArgumentError("payload: must be a base64url string");
  }
  absl::StatusOr<Bytes> bytes =
      Base64UrlDecode(payload.get_ref<const std::string&>());
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload: ", bytes.status().message()));
  }
  VerifiedMessage m;
  m.device_id = message.device_id;
  m.message_id = message.message_id;
  m.transport = message.transport;
  m.received_at = absl::FromUnixMillis(message.timestamp_ms);
  m.payload = *std::move(bytes);
  return m;
}

std::string EncodeTelemetryResults(
    const std::vector<TelemetryResult>& results) {
  Json array = Json::array();
  for (const TelemetryResult& r : results) {
    Json entry{{"messageId", r.message_id},
               {"deviceId", r.device_id},
               {"status", std::string(TelemetryVerdictName(r.verdict))}};
    if (!r.reason.empty()) entry["error"] = r.reason;
    if (!r.receipt.empty()) entry["receipt"] = r.receipt;
    array.push_back(std::move(entry));
  }
  return Json{{"results", std::move(array)}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
}

absl::StatusOr<std::vector<TelemetryResult>> DecodeTelemetryResults(
    absl::string_view body, const TelemetryWireLimits& limits) {
  constexpr absl::string_view kList = "results";
  absl::StatusOr<Json> json = ParseBounded(body, limits.max_body_bytes,
                                           limits.max_json_depth, "answer");
  if (!json.ok()) return json.status();
  absl::StatusOr<const Json::array_t*> array =
      GetArray(*json, "results", limits.max_messages, "answer");
  if (!array.ok()) return array.status();
  std::vector<TelemetryResult> results;
  results.reserve((*array)->size());
  for (size_t i = 0; i < (*array)->size(); ++i) {
    const Json& entry = (**array)[i];
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kList, "[", i, "]: must be an object"));
    }
    TelemetryResult r;
    absl::StatusOr<std::string> field =
        GetString(entry, "deviceId", kList, i, limits.max_id_bytes, true);
    if (!field.ok()) return field.status();
    r.device_id = *std::move(field);
    field = GetString(entry, "messageId", kList, i, limits.max_id_bytes, true);
    if (!field.ok()) return field.status();
    r.message_id = *std::move(field);
    field = GetString(entry, "status", kList, i, limits.max_id_bytes, true);
    if (!field.ok()) return field.status();
    std::optional<TelemetryVerdict> verdict = ParseTelemetryVerdict(*field);
    // A verdict added after this build is never taken as final.
    r.verdict = verdict.value_or(TelemetryVerdict::kRetry);
    r.verdict_known = verdict.has_value();
    field = GetString(entry, "error", kList, i, limits.max_reason_bytes, false);
    if (!field.ok()) return field.status();
    r.reason = *std::move(field);
    // Tolerant: a bad receipt is dropped, never fails the answer.
    if (auto it = entry.find("receipt");
        it != entry.end() && it->is_string()) {
      const std::string& receipt = it->get_ref<const std::string&>();
      if (!receipt.empty() && receipt.size() <= limits.max_receipt_bytes &&
          Base64UrlDecode(receipt).ok()) {
        r.receipt = receipt;
      }
    }
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace cxsec
