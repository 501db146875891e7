// Decoding of the CBOR telemetry nodes post over CoAP/DTLS:
//   {"v3": {"s": "p" | "e", "d": {"t": 21500, "h": 40, "a": [0, 0, 1000]}}}
// "s" says periodic or event; "d" holds short sensor keys (PROTOCOLS.md).
//
// The bytes come from a radio, so decoding is strict and bounded: a size
// cap before any parsing, a SAX pre-pass that enforces nesting depth, item
// count, string length and unique map keys (nlohmann would silently keep
// the last duplicate), no CBOR tags, no trailing bytes, then a shape check.
//
//   CXSEC_ASSIGN_OR_RETURN(Telemetry t, DecodeTelemetry(payload));
#ifndef CXSEC_CORE_DEPLOYMENT_TELEMETRY_CBOR_H_
#define CXSEC_CORE_DEPLOYMENT_TELEMETRY_CBOR_H_

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/bytes.h"
#include "nlohmann/json.hpp"

namespace cxsec {

struct TelemetryLimits {
  size_t max_bytes = 1024;
  size_t max_depth = 4;        // root map, v3 map, d map, an array in d
  size_t max_items = 128;      // every value and key counted
  size_t max_string_bytes = 64;
  size_t max_sensor_values = 32;
};

// Telemetry: a decoded, shape-checked payload.
struct Telemetry {
  bool event = false;       // "s": "e" (event) or "p" (periodic)
  nlohmann::json data;      // the "d" map: short key -> number/array/string
};

namespace telemetry_internal {

// BoundedCborSax: a SAX consumer that only checks the limits.
class BoundedCborSax {
 public:
  using number_integer_t = nlohmann::json::number_integer_t;
  using number_unsigned_t = nlohmann::json::number_unsigned_t;
  using number_float_t = nlohmann::json::number_float_t;
  using string_t = nlohmann::json::string_t;
  using binary_t = nlohmann::json::binary_t;

  explicit BoundedCborSax(const TelemetryLimits& limits) : limits_(limits) {}

  bool null() { return Item(); }
  bool boolean(bool) { return Item(); }
  bool number_integer(number_integer_t) { return Item(); }
  bool number_unsigned(number_unsigned_t) { return Item(); }
  bool number_float(number_float_t, const string_t&) { return Item(); }
  bool string(string_t& value) {
    return Item() && Fail(value.size() > limits_.max_string_bytes,
                          "string longer than limit");
  }
  bool binary(binary_t&) { return Fail(true, "byte strings not allowed"); }
  bool start_object(std::size_t) { return Open(true); }
  bool key(string_t& value) {
    if (!Item()) return false;
    if (!Fail(value.size() > limits_.max_string_bytes, "key longer than limit"))
      return false;
    if (!keys_.empty() && !keys_.back().insert(value).second) {
      return Fail(true, "duplicate map key");
    }
    return true;
  }
  bool end_object() { return Close(); }
  bool start_array(std::size_t) { return Open(false); }
  bool end_array() { return Close(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception&) {
    if (error_.empty()) error_ = absl::StrCat("malformed CBOR at byte ", position);
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  // Fail records `message` when `failed`; returns whether to continue.
  bool Fail(bool failed, const char* message) {
    if (failed && error_.empty()) error_ = message;
    return !failed;
  }
  bool Item() { return Fail(++items_ > limits_.max_items, "too many items"); }
  bool Open(bool object) {
    if (!Item()) return false;
    if (!Fail(++depth_ > limits_.max_depth, "nested deeper than limit"))
      return false;
    keys_.emplace_back();
    if (!object) keys_.back().clear();
    return true;
  }
  bool Close() {
    --depth_;
    keys_.pop_back();
    return true;
  }

  const TelemetryLimits& limits_;
  size_t depth_ = 0;
  size_t items_ = 0;
  std::vector<std::set<std::string>> keys_;
  std::string error_;
};

}  // namespace telemetry_internal

// DecodeTelemetry decodes and shape-checks one telemetry payload.
[[nodiscard]] inline absl::StatusOr<Telemetry> DecodeTelemetry(
    ByteView payload, const TelemetryLimits& limits = TelemetryLimits()) {
  if (payload.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("telemetry: payload of ", payload.size(),
                     " bytes exceeds the limit of ", limits.max_bytes));
  }
  if (payload.empty()) {
    return absl::InvalidArgumentError("telemetry: empty payload");
  }
  telemetry_internal::BoundedCborSax sax(limits);
  bool ok = nlohmann::json::sax_parse(payload.begin(), payload.end(), &sax,
                                      nlohmann::json::input_format_t::cbor,
                                      /*strict=*/true);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "telemetry: ", sax.error().empty() ? "malformed CBOR" : sax.error()));
  }
  nlohmann::json root = nlohmann::json::from_cbor(
      payload.begin(), payload.end(), /*strict=*/true,
      /*allow_exceptions=*/false,
      nlohmann::json::cbor_tag_handler_t::error);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError("telemetry: malformed CBOR");
  }
  if (!root.is_object() || root.size() != 1 || !root.contains("v3")) {
    return absl::InvalidArgumentError(
        "telemetry: top level must be a map with the single key \"v3\"");
  }
  const nlohmann::json& v3 = root["v3"];
  if (!v3.is_object() || v3.size() != 2 || !v3.contains("s") ||
      !v3.contains("d")) {
    return absl::InvalidArgumentError(
        "telemetry: \"v3\" must be a map with keys \"s\" and \"d\"");
  }
  const nlohmann::json& s = v3["s"];
  if (!s.is_string() || (s != "p" && s != "e")) {
    return absl::InvalidArgumentError(
        "telemetry: \"s\" must be \"p\" (periodic) or \"e\" (event)");
  }
  const nlohmann::json& d = v3["d"];
  if (!d.is_object() || d.size() > limits.max_sensor_values) {
    return absl::InvalidArgumentError(absl::StrCat(
        "telemetry: \"d\" must be a map of at most ", limits.max_sensor_values,
        " sensor values"));
  }
  for (const auto& [key, value] : d.items()) {
    bool scalar = value.is_number() || value.is_string() || value.is_boolean();
    bool numbers = value.is_array();
    if (numbers) {
      for (const nlohmann::json& element : value) {
        numbers = numbers && element.is_number();
      }
    }
    if (key.empty() || (!scalar && !numbers)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "telemetry: sensor value \"", key.size() <= 8 ? key : "...",
          "\" must be a number, string, boolean or array of numbers"));
    }
  }
  return Telemetry{s == "e", d};
}

// EncodeTelemetry: the node side (cxsec-node, tests, benchmarks).
inline Bytes EncodeTelemetry(bool event, const nlohmann::json& data) {
  nlohmann::json root = {{"v3", {{"s", event ? "e" : "p"}, {"d", data}}}};
  return nlohmann::json::to_cbor(root);
}

}  // namespace cxsec

#endif  // CXSEC_CORE_DEPLOYMENT_TELEMETRY_CBOR_H_
