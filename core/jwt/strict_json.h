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

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <system_error>
#include <utility>
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
  // A flag, not duplicate.empty(): {"":1,"":2} repeats the empty name.
  bool has_duplicate = false;
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
          if (!open_objects.back().Insert(name) && !has_duplicate) {
            has_duplicate = true;
            duplicate = name;
          }
        }
        break;
      case Event::value:
        break;
    }
    // Returning false once a problem is known stops building values; the
    // lexer still scans the rest, bounded by the caller's size limit.
    return !too_deep && !has_duplicate;
  };
  nlohmann::json value = nlohmann::json::parse(
      text.begin(), text.end(), callback, /*allow_exceptions=*/false,
      /*ignore_comments=*/false);
  if (too_deep) {
    return JwtRejection(JwtReason::kJsonTooDeep,
                        absl::StrCat(what, " nests deeper than ", kMaxJsonDepth));
  }
  if (has_duplicate) {
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

// --- JoseObject: the same rules without building a nlohmann::json -------
//
// Verifying a token reads a handful of members of two small objects; a
// nlohmann DOM (a std::map node and a json value per member, a
// std::function call per parse event) cost several times the base64 and
// more than the rest of the claim checks together. ParseStrictJoseObject
// accepts the texts ParseStrictJsonObject accepts (a differential fuzzer,
// tests/fuzz/jose_json_fuzzer.cc, holds it to that) with one exception, on
// the strict side: nlohmann ends its input at a NUL byte outside a string
// and ignores what follows, so {"sub":"a"}<NUL>{"sub":"b"} passed as
// {"sub":"a"}; here it is invalid JSON. It keeps, per top-level member,
// only what header and claim checks read.

namespace jwt_internal {
class JoseParser;
}  // namespace jwt_internal

// JoseValue: one top-level member's value.
struct JoseValue {
  enum class Type : uint8_t {
    kNull,
    kBoolean,
    kString,
    kNumber,
    kArray,
    kObject
  };
  Type type = Type::kNull;
  // kString: the value, unescaped. kArray: the first element, when that is
  // a string (first_is_string).
  std::string string;
  bool boolean = false;
  // kNumber: `integer` when written without fraction or exponent and in
  // [-2^63, 2^64 - 1], the numbers nlohmann keeps as integers; the value is
  // then -magnitude or +magnitude.
  bool integer = false;
  bool negative = false;
  uint64_t magnitude = 0;
  // kArray
  size_t array_size = 0;
  bool first_is_string = false;

  bool is_string() const { return type == Type::kString; }
};

// JoseObject: a strictly parsed JSON object's top-level members, in order.
class JoseObject {
 public:
  // Find returns the member called `name`, or nullptr.
  const JoseValue* Find(absl::string_view name) const {
    for (const auto& member : members_) {
      if (member.first == name) return &member.second;
    }
    return nullptr;
  }
  bool Contains(absl::string_view name) const { return Find(name) != nullptr; }
  const std::vector<std::pair<std::string, JoseValue>>& members() const {
    return members_;
  }

 private:
  friend class jwt_internal::JoseParser;
  std::vector<std::pair<std::string, JoseValue>> members_;
};

namespace jwt_internal {

// A recursive-descent RFC 8259 parser. Recursion is bounded: a container
// deeper than kMaxJsonDepth fails before anything inside it is parsed.
// Every read is checked against end_; integer values use checked
// arithmetic. The first failure ends the parse.
class JoseParser {
 public:
  enum class Failure { kNone, kBadJson, kTooDeep, kDuplicate, kNotAnObject };

  explicit JoseParser(absl::string_view text)
      : p_(text.data()), end_(text.data() + text.size()) {}

  bool ParseDocument(JoseObject* out) {
    // nlohmann skips a UTF-8 byte order mark; so both accept the same texts.
    if (end_ - p_ >= 3 && static_cast<unsigned char>(p_[0]) == 0xef &&
        static_cast<unsigned char>(p_[1]) == 0xbb &&
        static_cast<unsigned char>(p_[2]) == 0xbf) {
      p_ += 3;
    }
    SkipSpace();
    bool object = p_ < end_ && *p_ == '{';
    JoseValue top;
    if (object ? !ParseObject(&out->members_) : !ParseValue(&top)) return false;
    SkipSpace();
    if (p_ != end_) return Fail(Failure::kBadJson);
    if (!object) return Fail(Failure::kNotAnObject);
    return true;
  }

  Failure failure() const { return failure_; }
  const std::string& duplicate() const { return duplicate_; }

 private:
  // The names seen in one object: a linear scan for the handful JOSE
  // objects have, a hash set past 16 so a thousand members stay linear.
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

  // Linear while the object is small, a hash set of its names past 16
  // members (built once, then kept up to date), as SeenNames does.
  bool IsNewMember(
      const std::vector<std::pair<std::string, JoseValue>>& members,
      const std::string& name) {
    if (members.size() <= 16) {
      for (const auto& member : members) {
        if (member.first == name) return false;
      }
      return true;
    }
    if (top_names_.empty()) {
      for (const auto& member : members) top_names_.insert(member.first);
    }
    return top_names_.insert(name).second;
  }

  bool Fail(Failure failure) {
    if (failure_ == Failure::kNone) failure_ = failure;
    return false;
  }
  void SkipSpace() {
    while (p_ < end_ &&
           (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) {
      ++p_;
    }
  }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  bool ParseValue(JoseValue* value) {
    if (p_ >= end_) return Fail(Failure::kBadJson);
    switch (*p_) {
      case '{':
        value->type = JoseValue::Type::kObject;
        return ParseObject(nullptr);
      case '[':
        value->type = JoseValue::Type::kArray;
        return ParseArray(value);
      case '"':
        value->type = JoseValue::Type::kString;
        return ParseString(&value->string);
      case 't':
        value->type = JoseValue::Type::kBoolean;
        value->boolean = true;
        return Literal("true");
      case 'f':
        value->type = JoseValue::Type::kBoolean;
        return Literal("false");
      case 'n':
        value->type = JoseValue::Type::kNull;
        return Literal("null");
      default:
        return ParseNumber(value);
    }
  }

  bool Literal(absl::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        absl::string_view(p_, word.size()) != word) {
      return Fail(Failure::kBadJson);
    }
    p_ += word.size();
    return true;
  }

  // At '{'. `members` receives the members (top level only).
  bool ParseObject(std::vector<std::pair<std::string, JoseValue>>* members) {
    ++p_;
    if (++depth_ > kMaxJsonDepth) return Fail(Failure::kTooDeep);
    // The top level's names are in `members` already; only nested objects
    // keep a separate set.
    SeenNames seen;
    if (members != nullptr) members->reserve(8);
    SkipSpace();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      --depth_;
      return true;
    }
    for (;;) {
      SkipSpace();
      if (p_ >= end_ || *p_ != '"') return Fail(Failure::kBadJson);
      std::string name;
      if (!ParseString(&name)) return false;
      if (members != nullptr ? !IsNewMember(*members, name)
                             : !seen.Insert(name)) {
        duplicate_ = std::move(name);
        return Fail(Failure::kDuplicate);
      }
      SkipSpace();
      if (p_ >= end_ || *p_ != ':') return Fail(Failure::kBadJson);
      ++p_;
      SkipSpace();
      JoseValue value;
      if (!ParseValue(&value)) return false;
      if (members != nullptr) {
        members->emplace_back(std::move(name), std::move(value));
      }
      SkipSpace();
      if (p_ >= end_) return Fail(Failure::kBadJson);
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '}') return Fail(Failure::kBadJson);
      ++p_;
      --depth_;
      return true;
    }
  }

  // At '['.
  bool ParseArray(JoseValue* array) {
    ++p_;
    if (++depth_ > kMaxJsonDepth) return Fail(Failure::kTooDeep);
    SkipSpace();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      --depth_;
      return true;
    }
    for (;;) {
      SkipSpace();
      JoseValue element;
      if (!ParseValue(&element)) return false;
      if (array->array_size == 0 && element.is_string()) {
        array->first_is_string = true;
        array->string = std::move(element.string);
      }
      ++array->array_size;
      SkipSpace();
      if (p_ >= end_) return Fail(Failure::kBadJson);
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != ']') return Fail(Failure::kBadJson);
      ++p_;
      --depth_;
      return true;
    }
  }

  bool Hex4(uint32_t* out) {
    if (end_ - p_ < 4) return false;
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      char c = *p_++;
      uint32_t digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return false;
      }
      value = (value << 4) | digit;
    }
    *out = value;
    return true;
  }

  static void AppendUtf8(uint32_t code, std::string* out) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
    }
  }

  // At '"'. The text is already known to be UTF-8, so bytes >= 0x80 are
  // copied as they are.
  bool ParseString(std::string* out) {
    ++p_;
    const char* run = p_;
    for (;;) {
      if (p_ >= end_) return Fail(Failure::kBadJson);
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out->append(run, p_ - run);
        ++p_;
        return true;
      }
      if (c < 0x20) return Fail(Failure::kBadJson);
      if (c != '\\') {
        ++p_;
        continue;
      }
      out->append(run, p_ - run);
      ++p_;
      if (p_ >= end_) return Fail(Failure::kBadJson);
      switch (*p_++) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t code = 0;
          if (!Hex4(&code)) return Fail(Failure::kBadJson);
          if (code >= 0xd800 && code <= 0xdbff) {
            // A high surrogate must be followed by an escaped low one.
            uint32_t low = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
              return Fail(Failure::kBadJson);
            }
            p_ += 2;
            if (!Hex4(&low) || low < 0xdc00 || low > 0xdfff) {
              return Fail(Failure::kBadJson);
            }
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          } else if (code >= 0xdc00 && code <= 0xdfff) {
            return Fail(Failure::kBadJson);
          }
          AppendUtf8(code, out);
          break;
        }
        default:
          return Fail(Failure::kBadJson);
      }
      run = p_;
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool ParseNumber(JoseValue* value) {
    value->type = JoseValue::Type::kNumber;
    bool negative = false;
    if (*p_ == '-') {
      negative = true;
      ++p_;
    }
    if (p_ >= end_ || !IsDigit(*p_)) return Fail(Failure::kBadJson);
    const char* digits = p_;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    const char* digits_end = p_;
    bool integer = true;
    if (p_ < end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ >= end_ || !IsDigit(*p_)) return Fail(Failure::kBadJson);
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !IsDigit(*p_)) return Fail(Failure::kBadJson);
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (integer) {
      uint64_t magnitude = 0;
      bool fits = true;
      for (const char* d = digits; d < digits_end; ++d) {
        const uint64_t digit = static_cast<uint64_t>(*d - '0');
        if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
          fits = false;  // beyond 64 bits: nlohmann keeps it as a double
          break;
        }
        magnitude = magnitude * 10 + digit;
      }
      if (fits && (!negative || magnitude <= (uint64_t{1} << 63))) {
        value->integer = true;
        value->negative = negative;
        value->magnitude = magnitude;
        return true;
      }
    }
    return FiniteAsDouble(negative ? digits - 1 : digits, p_, digits_end)
               ? true
               : Fail(Failure::kBadJson);
  }

  // nlohmann refuses a number that is not finite as a double ("number
  // overflow", e.g. 1e400, or 400 digits), and keeps one that underflows
  // (1e-400 is 0). from_chars reports both as out of range; the decimal
  // order of magnitude tells which. `number` is the grammar-checked text,
  // `int_end` the end of its integer digits.
  static bool FiniteAsDouble(const char* number, const char* end,
                             const char* int_end) {
    double ignored = 0;
    std::from_chars_result result = std::from_chars(number, end, ignored);
    if (result.ec != std::errc::result_out_of_range) return true;
    const char* digits = *number == '-' ? number + 1 : number;
    int64_t order = 0;  // position of the first nonzero digit, 10^order
    if (*digits != '0') {
      order = int_end - digits - 1;
    } else {
      const char* d = int_end;
      if (d < end && *d == '.') ++d;
      int64_t zeros = 0;
      while (d < end && *d == '0') ++d, ++zeros;
      if (d >= end || *d < '1' || *d > '9') return true;  // zero
      order = -(zeros + 1);
    }
    const char* e = int_end;
    while (e < end && *e != 'e' && *e != 'E') ++e;
    if (e < end) {
      ++e;
      bool minus = *e == '-';
      if (*e == '-' || *e == '+') ++e;
      int64_t exponent = 0;
      for (; e < end; ++e) {
        exponent = std::min<int64_t>(exponent * 10 + (*e - '0'), 1000000000);
      }
      order += minus ? -exponent : exponent;
    }
    return order < 0;  // underflow
  }

  const char* p_;
  const char* const end_;
  int depth_ = 0;
  Failure failure_ = Failure::kNone;
  std::string duplicate_;
  absl::flat_hash_set<std::string> top_names_;  // see IsNewMember
};

}  // namespace jwt_internal

// ParseStrictJoseObject: ParseStrictJsonObject's rules and rejections
// (same JwtReason, same message) into a JoseObject.
[[nodiscard]] inline absl::StatusOr<JoseObject> ParseStrictJoseObject(
    absl::string_view text, absl::string_view what) {
  if (!IsValidUtf8(text)) {
    return JwtRejection(JwtReason::kBadUtf8,
                        absl::StrCat(what, " is not UTF-8"));
  }
  JoseObject out;
  jwt_internal::JoseParser parser(text);
  if (parser.ParseDocument(&out)) return out;
  using Failure = jwt_internal::JoseParser::Failure;
  switch (parser.failure()) {
    case Failure::kTooDeep:
      return JwtRejection(
          JwtReason::kJsonTooDeep,
          absl::StrCat(what, " nests deeper than ", kMaxJsonDepth));
    case Failure::kDuplicate:
      return JwtRejection(
          JwtReason::kDuplicateMember,
          absl::StrCat(what, " has member '",
                       Utf8Excerpt(parser.duplicate(), 64), "' twice"));
    case Failure::kNotAnObject:
      return JwtRejection(JwtReason::kNotAnObject,
                          absl::StrCat(what, " is not a JSON object"));
    case Failure::kBadJson:
    case Failure::kNone:
      break;
  }
  return JwtRejection(JwtReason::kBadJson,
                      absl::StrCat(what, " is not valid JSON"));
}

}  // namespace cxsec

#endif  // CXSEC_CORE_JWT_STRICT_JSON_H_
