#include "targets/verifier/service/telemetry_batch.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "targets/verifier/registry/registry.h"

namespace cxsec::verifier {

using nlohmann::json;

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

absl::StatusOr<std::vector<TelemetryMessage>> ParseTelemetryBatch(
    absl::string_view body) {
  if (!JsonDepthWithin(body, kMaxJsonDepth)) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON nesting deeper than ", kMaxJsonDepth));
  }
  json doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("body is not valid JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("body must be a JSON object");
  auto messages = doc.find("messages");
  if (messages == doc.end() || !messages->is_array()) {
    return absl::InvalidArgumentError("'messages' must be an array");
  }
  if (messages->empty()) return absl::InvalidArgumentError("'messages' is empty");
  if (messages->size() > kMaxMessagesPerBatch) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'messages' has ", messages->size(), " entries; the limit is ",
        kMaxMessagesPerBatch));
  }
  std::vector<TelemetryMessage> out;
  out.reserve(messages->size());
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    auto field_error = [i](absl::string_view field, absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("messages[", i, "].", field, ": ", what));
    };
    if (!m.is_object()) return field_error("", "must be an object");
    TelemetryMessage msg;
    auto device = m.find("deviceId");
    if (device == m.end() || !device->is_string()) {
      return field_error("deviceId", "must be a string");
    }
    msg.device_id = device->get<std::string>();
    absl::Status device_ok = CheckDeviceId(msg.device_id);
    if (!device_ok.ok()) return field_error("deviceId", device_ok.message());
    auto id = m.find("messageId");
    if (id == m.end() || !id->is_string()) {
      return field_error("messageId", "must be a string");
    }
    msg.message_id = id->get<std::string>();
    if (msg.message_id.empty() || msg.message_id.size() > kMaxMessageIdBytes) {
      return field_error("messageId", "must be 1-128 bytes");
    }
    for (char c : msg.message_id) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return field_error("messageId", "must not contain control characters");
      }
    }
    auto ts = m.find("timestamp");
    if (ts == m.end() || !ts->is_number_integer()) {
      return field_error("timestamp", "must be an integer (unix milliseconds)");
    }
    msg.timestamp_ms = ts->get<int64_t>();
    if (msg.timestamp_ms < 0) return field_error("timestamp", "must not be negative");
    auto payload = m.find("payload");
    if (payload == m.end()) return field_error("payload", "is required");
    msg.payload_json = payload->dump(-1, ' ', false,
                                     json::error_handler_t::replace);
    if (msg.payload_json.size() > kMaxPayloadBytes) {
      return field_error("payload", absl::StrCat("exceeds ", kMaxPayloadBytes, " bytes"));
    }
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace cxsec::verifier
