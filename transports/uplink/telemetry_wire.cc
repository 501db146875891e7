#include "transports/uplink/telemetry_wire.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/encoding/base64url.h"
#include "nlohmann/json.hpp"

namespace cxsec {
namespace {

using Json = nlohmann::json;

// Nesting deeper than this is never part of the format; refusing it early
// keeps hostile bodies cheap.
constexpr int kMaxDepth = 4;

absl::StatusOr<Json> ParseBounded(absl::string_view body, size_t max_bytes,
                                  absl::string_view what) {
  if (body.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": body of ", body.size(), " bytes exceeds ", max_bytes));
  }
  bool too_deep = false;
  Json::parser_callback_t depth_check =
      [&too_deep](int depth, Json::parse_event_t, Json&) {
        if (depth > kMaxDepth) too_deep = true;
        return !too_deep;
      };
  Json json = Json::parse(body.begin(), body.end(), depth_check,
                          /*allow_exceptions=*/false);
  if (too_deep) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": nesting deeper than ", kMaxDepth));
  }
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not valid JSON"));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not a JSON object"));
  }
  return json;
}

absl::StatusOr<const Json::array_t*> GetArray(const Json& object,
                                              const char* key, size_t max,
                                              absl::string_view what) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": missing array '", key, "'"));
  }
  const auto& array = it->get_ref<const Json::array_t&>();
  if (array.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": ", array.size(), " entries exceed the limit of ", max));
  }
  return &array;
}

// GetString reads a bounded string field of entry `index`.
absl::StatusOr<std::string> GetString(const Json& entry, const char* key,
                                      size_t index, size_t max_bytes,
                                      bool required, absl::string_view what) {
  auto it = entry.find(key);
  if (it == entry.end()) {
    if (!required) return std::string();
    return absl::InvalidArgumentError(
        absl::StrCat(what, "[", index, "]: missing '", key, "'"));
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "[", index, "].", key, ": not a string"));
  }
  const std::string& value = it->get_ref<const std::string&>();
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, "[", index, "].", key, ": longer than ", max_bytes, " bytes"));
  }
  if (required && value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "[", index, "].", key, ": empty"));
  }
  return value;
}

}  // namespace

absl::string_view TelemetryVerdictName(TelemetryVerdict verdict) {
  switch (verdict) {
    case TelemetryVerdict::kAccepted:
      return "accepted";
    case TelemetryVerdict::kDuplicate:
      return "duplicate";
    case TelemetryVerdict::kRejected:
      return "rejected";
    case TelemetryVerdict::kRetry:
      return "retry";
  }
  return "retry";
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

absl::StatusOr<std::vector<VerifiedMessage>> DecodeTelemetryBatch(
    absl::string_view body, const TelemetryWireLimits& limits) {
  constexpr absl::string_view kWhat = "telemetry batch";
  absl::StatusOr<Json> json = ParseBounded(body, limits.max_body_bytes, kWhat);
  if (!json.ok()) return json.status();
  absl::StatusOr<const Json::array_t*> array =
      GetArray(*json, "messages", limits.max_messages, kWhat);
  if (!array.ok()) return array.status();
  std::vector<VerifiedMessage> messages;
  messages.reserve((*array)->size());
  size_t max_payload_text = (limits.max_payload_bytes * 4 + 2) / 3;
  for (size_t i = 0; i < (*array)->size(); ++i) {
    const Json& entry = (**array)[i];
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kWhat, "[", i, "]: not an object"));
    }
    VerifiedMessage m;
    absl::StatusOr<std::string> field =
        GetString(entry, "deviceId", i, limits.max_id_bytes, true, kWhat);
    if (!field.ok()) return field.status();
    m.device_id = *std::move(field);
    field = GetString(entry, "messageId", i, limits.max_id_bytes, true, kWhat);
    if (!field.ok()) return field.status();
    m.message_id = *std::move(field);
    field = GetString(entry, "transport", i, limits.max_id_bytes, false, kWhat);
    if (!field.ok()) return field.status();
    m.transport = *std::move(field);
    auto timestamp = entry.find("timestamp");
    // Unix milliseconds, from 1970 up to the year 9999.
    constexpr int64_t kMaxMillis = 253402300799999;
    if (timestamp == entry.end() || !timestamp->is_number_integer() ||
        timestamp->get<int64_t>() < 0 ||
        timestamp->get<int64_t>() > kMaxMillis) {
      return absl::InvalidArgumentError(absl::StrCat(
          kWhat, "[", i, "].timestamp: must be unix milliseconds"));
    }
    m.received_at = absl::FromUnixMillis(timestamp->get<int64_t>());
    field = GetString(entry, "payload", i, max_payload_text, false, kWhat);
    if (!field.ok()) return field.status();
    absl::StatusOr<Bytes> payload = Base64UrlDecode(*field);
    if (!payload.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          kWhat, "[", i, "].payload: ", payload.status().message()));
    }
    m.payload = *std::move(payload);
    messages.push_back(std::move(m));
  }
  return messages;
}

std::string EncodeTelemetryResults(
    const std::vector<TelemetryResult>& results) {
  Json array = Json::array();
  for (const TelemetryResult& r : results) {
    Json entry{{"deviceId", r.device_id},
               {"messageId", r.message_id},
               {"status", std::string(TelemetryVerdictName(r.verdict))}};
    if (!r.reason.empty()) entry["error"] = r.reason;
    array.push_back(std::move(entry));
  }
  return Json{{"results", std::move(array)}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
}

absl::StatusOr<std::vector<TelemetryResult>> DecodeTelemetryResults(
    absl::string_view body, const TelemetryWireLimits& limits) {
  constexpr absl::string_view kWhat = "telemetry results";
  absl::StatusOr<Json> json = ParseBounded(body, limits.max_body_bytes, kWhat);
  if (!json.ok()) return json.status();
  absl::StatusOr<const Json::array_t*> array =
      GetArray(*json, "results", limits.max_messages, kWhat);
  if (!array.ok()) return array.status();
  std::vector<TelemetryResult> results;
  results.reserve((*array)->size());
  for (size_t i = 0; i < (*array)->size(); ++i) {
    const Json& entry = (**array)[i];
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kWhat, "[", i, "]: not an object"));
    }
    TelemetryResult r;
    absl::StatusOr<std::string> field =
        GetString(entry, "deviceId", i, limits.max_id_bytes, true, kWhat);
    if (!field.ok()) return field.status();
    r.device_id = *std::move(field);
    field = GetString(entry, "messageId", i, limits.max_id_bytes, true, kWhat);
    if (!field.ok()) return field.status();
    r.message_id = *std::move(field);
    field = GetString(entry, "status", i, 16, true, kWhat);
    if (!field.ok()) return field.status();
    if (*field == "accepted") {
      r.verdict = TelemetryVerdict::kAccepted;
    } else if (*field == "duplicate") {
      r.verdict = TelemetryVerdict::kDuplicate;
    } else if (*field == "rejected") {
      r.verdict = TelemetryVerdict::kRejected;
    } else if (*field == "retry") {
      r.verdict = TelemetryVerdict::kRetry;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(kWhat, "[", i, "].status: unknown verdict"));
    }
    field = GetString(entry, "error", i, limits.max_reason_bytes, false, kWhat);
    if (!field.ok()) return field.status();
    r.reason = *std::move(field);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace cxsec
