// The two strict JSON parsers: ParseStrictJsonObject (nlohmann, for tools
// and the JWK import) and ParseStrictJoseObject (the verifier's). Each
// tricky text must get the same verdict and reason from both, and the
// JoseObject must carry the values the claim checks read.
#include "core/jwt/strict_json.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cxsec {
namespace {

struct Case {
  std::string text;
  std::optional<JwtReason> rejected;  // nullopt: accepted
};

TEST(StrictJsonTest, BothParsersGiveTheSameVerdict) {
  const Case cases[] = {
      {R"({})", std::nullopt},
      {R"( {"a" : 1 , "b":[ ] } )", std::nullopt},
      {R"({"e":"\ud83d\udd12 \u00e9 \/ \b\f\n\r\t \\ \""})", std::nullopt},
      {"\xef\xbb\xbf{\"a\":1}", std::nullopt},  // nlohmann skips a BOM
      {R"({"n":-0,"f":1.5e3,"u":18446744073709551615,"s":-9223372036854775808})",
       std::nullopt},
      {R"({"big":18446744073709551616,"tiny":1e-400})", std::nullopt},
      {R"({"a":[[[[[[[1]]]]]]]})", std::nullopt},  // depth 8
      {R"({"a":[[[[[[[[1]]]]]]]]})", JwtReason::kJsonTooDeep},
      {R"({"sub":"a","sub":"b"})", JwtReason::kDuplicateMember},
      {R"({"s\u0075b":"a","sub":"b"})", JwtReason::kDuplicateMember},
      {R"({"":1,"":2})", JwtReason::kDuplicateMember},
      {R"({"x":{"a":1,"a":2}})", JwtReason::kDuplicateMember},
      {R"([1,2])", JwtReason::kNotAnObject},
      {R"("text")", JwtReason::kNotAnObject},
      {R"({"a":1e400})", JwtReason::kBadJson},  // not finite as a double
      {R"({"a":01})", JwtReason::kBadJson},
      {R"({"a":1.})", JwtReason::kBadJson},
      {R"({"a":.5})", JwtReason::kBadJson},
      {R"({"a":+1})", JwtReason::kBadJson},
      {R"({"a":-})", JwtReason::kBadJson},
      {R"({"a":1,})", JwtReason::kBadJson},
      {R"({"a":[1,]})", JwtReason::kBadJson},
      {R"({"a":tru})", JwtReason::kBadJson},
      {R"({"a":"\udc00"})", JwtReason::kBadJson},
      {R"({"a":"\ud800"})", JwtReason::kBadJson},
      {R"({"a":"\ud800\u0041"})", JwtReason::kBadJson},
      {R"({"a":"\x"})", JwtReason::kBadJson},
      {"{\"a\":\"tab\there\"}", JwtReason::kBadJson},  // raw control char
      {R"({"a":1} x)", JwtReason::kBadJson},
      {R"({"a":1)", JwtReason::kBadJson},
      {"", JwtReason::kBadJson},
      {"{\"a\":\"\xff\"}", JwtReason::kBadUtf8},
  };
  // Past 16 members the duplicate check switches to a hash set.
  std::string many = "{";
  for (int i = 0; i < 40; ++i) absl::StrAppend(&many, "\"m", i, "\":", i, ",");
  for (const std::string& tail :
       {std::string(R"("m3":0})"), std::string(R"("m40":0})")}) {
    absl::StatusOr<JoseObject> jose = ParseStrictJoseObject(many + tail, "t");
    absl::StatusOr<nlohmann::json> dom =
        ParseStrictJsonObject(many + tail, "t");
    EXPECT_EQ(jose.ok(), dom.ok()) << tail;
    EXPECT_EQ(JwtReasonOf(jose.status()), JwtReasonOf(dom.status())) << tail;
  }
  EXPECT_EQ(
      JwtReasonOf(ParseStrictJoseObject(many + R"("m3":0})", "t").status()),
      JwtReason::kDuplicateMember);
  for (const Case& c : cases) {
    absl::StatusOr<nlohmann::json> dom = ParseStrictJsonObject(c.text, "t");
    absl::StatusOr<JoseObject> jose = ParseStrictJoseObject(c.text, "t");
    if (c.rejected.has_value()) {
      EXPECT_EQ(JwtReasonOf(dom.status()), c.rejected) << c.text;
      EXPECT_EQ(JwtReasonOf(jose.status()), c.rejected) << c.text;
      EXPECT_EQ(dom.status().message(), jose.status().message()) << c.text;
    } else {
      EXPECT_TRUE(dom.ok()) << c.text << ": " << dom.status();
      EXPECT_TRUE(jose.ok()) << c.text << ": " << jose.status();
    }
  }
}

// nlohmann ends its input at a NUL outside a string and ignores the rest;
// the verifier's parser does not let a second object hide behind one.
TEST(StrictJsonTest, NulAfterTheObjectIsRefusedByTheJoseParser) {
  std::string text("{\"sub\":\"a\"}\0{\"sub\":\"b\"}", 23);
  EXPECT_TRUE(ParseStrictJsonObject(text, "t").ok());
  EXPECT_EQ(JwtReasonOf(ParseStrictJoseObject(text, "t").status()),
            JwtReason::kBadJson);
}

TEST(StrictJsonTest, JoseObjectKeepsWhatTheChecksRead) {
  absl::StatusOr<JoseObject> object = ParseStrictJoseObject(
      R"({"sub":"G\u0031","aud":["p",2],"iat":1700000000,"neg":-5,)"
      R"("f":1.0,"big":18446744073709551616,"t":true,"o":{"x":[]},"z":null})",
      "t");
  ASSERT_TRUE(object.ok()) << object.status();
  ASSERT_EQ(object->members().size(), 9u);
  EXPECT_EQ(object->Find("sub")->string, "G1");
  const JoseValue* aud = object->Find("aud");
  EXPECT_EQ(aud->type, JoseValue::Type::kArray);
  EXPECT_EQ(aud->array_size, 2u);
  EXPECT_TRUE(aud->first_is_string);
  EXPECT_EQ(aud->string, "p");
  const JoseValue* iat = object->Find("iat");
  EXPECT_TRUE(iat->integer);
  EXPECT_FALSE(iat->negative);
  EXPECT_EQ(iat->magnitude, 1700000000u);
  EXPECT_TRUE(object->Find("neg")->negative);
  EXPECT_EQ(object->Find("neg")->magnitude, 5u);
  EXPECT_FALSE(object->Find("f")->integer);
  EXPECT_FALSE(object->Find("big")->integer);
  EXPECT_TRUE(object->Find("t")->boolean);
  EXPECT_EQ(object->Find("o")->type, JoseValue::Type::kObject);
  EXPECT_EQ(object->Find("z")->type, JoseValue::Type::kNull);
  EXPECT_EQ(object->Find("missing"), nullptr);
}

}  // namespace
}  // namespace cxsec
