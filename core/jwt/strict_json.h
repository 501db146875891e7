// Strict JSON for JOSE headers and JWT claims. nlohmann/json keeps the last
// of two members with the same name, and other libraries keep the first, so
// a token with {"sub":"a","sub":"b"} means different things to different
// readers (RFC 8725 §3.1/§2.5). This parser rejects duplicate member names,
// input that is not UTF-8, and nesting deeper than a fixed bound, and says
// which, as a JwtReason rejection.
//
//   CXSEC_ASSIGN_OR_RETURN(nlohmann::json header, ParseStrictJsonObject(text));
#ifndef CXSEC_CORE_JWT_STRICT_JSON_H_
#define CXSEC_CORE_JWT_STRICT_JSON_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/encoding/utf8.h"
#include "core/jwt/reason.h"
#include "nlohmann/json.hpp"

namespace cxsec {

// kMaxJsonDepth: objects and arrays nested more deeply are refused. JWT
// headers and claims are flat; 8 leaves room for structured private claims.
inline constexpr int kMaxJsonDepth = 8;

// ParseStrictJsonObject parses `text` (already size-bounded by the caller)
// into a JSON object. `what` names the part ("header", "payload") in errors.
[[nodiscard]] inline absl::StatusOr<nlohmann::json> ParseStrictJsonObject(
    absl::string_view text, absl::string_view what) {
  if (!IsValidUtf8(text)) {
    return JwtRejection(JwtReason::kBadUtf8, absl::StrCat(what, " is not UTF-8"));
  }
  // The names seen in each open object; arrays push nothing but count
  // towards depth. JOSE objects have a handful of members, so a linear
  // scan beats hashing; past 16 names a hash set keeps a hostile object
  // with a thousand members from costing quadratic time.
  struct SeenNames {
    std::vector<std::string> few;
    absl::flat_hash_set<std::string> many;
    bool Insert(const std::string& name) {
      if (!many.empty()) return many.insert(name).second;
      for (const std::string& other : few) {
        if (other == name) return false;
      }
      few.push_back(name);
      if (few.size() > 16) {
        many.insert(few.begin(), few.end());
        few.clear();
      }
      return true;
    }
  };
  std::vector<SeenNames> open_objects;
  int depth = 0;
  bool too_deep = false;
  std::string duplicate;
  auto callback = [&](int /*nlohmann_depth*/, nlohmann::json::parse_event_t event,
                      nlohmann::json& parsed) -> bool {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
        open_objects.emplace_back();
        if (++depth > kMaxJsonDepth) too_deep = true;
        break;
      case Event::array_start:
        if (++depth > kMaxJsonDepth) too_deep = true;
        break;
      case Event::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        --depth;
        break;
      case Event::array_end:
        --depth;
        break;
      case Event::key:
        if (!open_objects.empty() && parsed.is_string()) {
          const std::string& name = parsed.get_ref<const std::string&>();
          if (!open_objects.back().Insert(name) && duplicate.empty()) {
            duplicate = name;
          }
        }
        break;
      case Event::value:
        break;
    }
    // Returning false once a problem is known stops building values; the
    // lexer still scans the rest, bounded by the caller's size limit.
    return !too_deep && duplicate.empty();
  };
  nlohmann::json value = nlohmann::json::parse(
      text.begin(), text.end(), callback, /*allow_exceptions=*/false,
      /*ignore_comments=*/false);
  if (too_deep) {
    return JwtRejection(JwtReason::kJsonTooDeep,
                        absl::StrCat(what, " nests deeper than ", kMaxJsonDepth));
  }
  if (!duplicate.empty()) {
    return JwtRejection(JwtReason::kDuplicateMember,
                        absl::StrCat(what, " has member '",
                                     Utf8Excerpt(duplicate, 64), "' twice"));
  }
  if (value.is_discarded()) {
    return JwtRejection(JwtReason::kBadJson,
                        absl::StrCat(what, " is not valid JSON"));
  }
  if (!value.is_object()) {
    return JwtRejection(JwtReason::kNotAnObject,
                        absl::StrCat(what, " is not a JSON object"));
  }
  return value;
}

}  // namespace cxsec

#endif  // CXSEC_CORE_JWT_STRICT_JSON_H_
