// Differential fuzzer: ParseStrictJoseObject (the verifier's parser) must
// accept exactly what ParseStrictJsonObject (strict rules on nlohmann)
// accepts, keep the same top-level members with the same values, and
// refuse for the same reason. Two documented exceptions:
// - after a duplicate member the nlohmann callback stops counting closed
//   containers, so it may call a duplicate "too deep"; that pair of
//   reasons may differ;
// - nlohmann's lexer takes a NUL byte outside a string for the end of the
//   input and ignores the rest ({"sub":"a"}\0{"sub":"b"} is {"sub":"a"} to
//   it); ParseStrictJoseObject refuses such text. With a NUL in the input,
//   only "whatever the new parser accepts, nlohmann accepts alike" holds.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/jwt/reason.h"
#include "core/jwt/strict_json.h"

namespace {

bool SameValue(const nlohmann::json& expected, const cxsec::JoseValue& got) {
  using Type = cxsec::JoseValue::Type;
  if (expected.is_null()) return got.type == Type::kNull;
  if (expected.is_boolean()) {
    return got.type == Type::kBoolean && got.boolean == expected.get<bool>();
  }
  if (expected.is_string()) {
    return got.type == Type::kString &&
           got.string == expected.get_ref<const std::string&>();
  }
  if (expected.is_number_unsigned()) {
    return got.type == Type::kNumber && got.integer && !got.negative &&
           got.magnitude == expected.get<uint64_t>();
  }
  if (expected.is_number_integer()) {
    int64_t value = expected.get<int64_t>();
    uint64_t magnitude = value < 0 ? uint64_t{0} - static_cast<uint64_t>(value)
                                   : static_cast<uint64_t>(value);
    return got.type == Type::kNumber && got.integer && got.negative &&
           got.magnitude == magnitude;
  }
  if (expected.is_number_float()) {
    return got.type == Type::kNumber && !got.integer;
  }
  if (expected.is_array()) {
    if (got.type != Type::kArray || got.array_size != expected.size()) {
      return false;
    }
    bool first_is_string = !expected.empty() && expected[0].is_string();
    if (got.first_is_string != first_is_string) return false;
    return !first_is_string ||
           got.string == expected[0].get_ref<const std::string&>();
  }
  return expected.is_object() && got.type == Type::kObject;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<nlohmann::json> expected =
      cxsec::ParseStrictJsonObject(text, "payload");
  absl::StatusOr<cxsec::JoseObject> got =
      cxsec::ParseStrictJoseObject(text, "payload");
  const bool has_nul = text.find('\0') != std::string::npos;
  if (has_nul && !got.ok()) return 0;
  if (expected.ok() != got.ok()) std::abort();
  if (!got.ok()) {
    auto a = cxsec::JwtReasonOf(expected.status());
    auto b = cxsec::JwtReasonOf(got.status());
    if (!a.has_value() || !b.has_value()) std::abort();
    bool deep_or_duplicate = (*a == cxsec::JwtReason::kJsonTooDeep ||
                              *a == cxsec::JwtReason::kDuplicateMember) &&
                             (*b == cxsec::JwtReason::kJsonTooDeep ||
                              *b == cxsec::JwtReason::kDuplicateMember);
    if (*a != *b && !deep_or_duplicate) std::abort();
    return 0;
  }
  if (got->members().size() != expected->size()) std::abort();
  for (const auto& [name, value] : got->members()) {
    auto it = expected->find(name);
    if (it == expected->end() || !SameValue(*it, value)) std::abort();
    if (got->Find(name) != &value) std::abort();
  }
  return 0;
}
