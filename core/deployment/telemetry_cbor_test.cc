#include "core/deployment/telemetry_cbor.h"

#include "gtest/gtest.h"

namespace cxsec {
namespace {

Bytes Cbor(const nlohmann::json& j) { return nlohmann::json::to_cbor(j); }

TEST(TelemetryCborTest, DecodesPeriodicAndEvent) {
  Bytes payload = EncodeTelemetry(false, {{"t", 21500}, {"h", 40}});
  absl::StatusOr<Telemetry> t = DecodeTelemetry(payload);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE(t->event);
  EXPECT_EQ(t->data["t"], 21500);
  t = DecodeTelemetry(EncodeTelemetry(true, {{"a", {0, -3, 1000}}}));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->event);
}

void ExpectRejected(const Bytes& payload, const std::string& why) {
  absl::StatusOr<Telemetry> t = DecodeTelemetry(payload);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(why), std::string::npos) << t.status();
}

TEST(TelemetryCborTest, RejectsWrongShapes) {
  ExpectRejected(Cbor({{"v2", {{"s", "p"}, {"d", nlohmann::json::object()}}}}),
                 "single key");
  ExpectRejected(Cbor({{"v3", {{"s", "x"}, {"d", nlohmann::json::object()}}}}),
                 "\"s\"");
  ExpectRejected(Cbor({{"v3", {{"s", "p"}, {"d", 5}}}}), "\"d\"");
  ExpectRejected(Cbor({{"v3", {{"s", "p"}, {"d", {{"t", {{"x", 1}}}}}}}}),
                 "sensor value");
  ExpectRejected(Cbor({{"v3", {{"s", "p"}}}}), "\"v3\"");
  ExpectRejected(Cbor(nlohmann::json::array({1, 2})), "single key");
}

TEST(TelemetryCborTest, RejectsMalformedAndOversized) {
  Bytes good = EncodeTelemetry(false, {{"t", 1}});
  ExpectRejected({}, "empty");
  ExpectRejected(Bytes(good.begin(), good.end() - 1), "malformed");
  Bytes trailing = good;
  trailing.push_back(0x00);
  ExpectRejected(trailing, "malformed");
  ExpectRejected(Bytes(2000, 0xa1), "exceeds the limit");
  // 0xbf: indefinite map never closed; 0x5f...: byte string.
  ExpectRejected({0xbf, 0x61, 0x61}, "malformed");
  ExpectRejected({0xa1, 0x62, 'v', '3', 0x42, 1, 2}, "byte strings");
  // Tag 0 (date/time) is refused.
  ExpectRejected({0xc0, 0x61, 'x'}, "malformed");
  // Deep nesting: [[[[[[1]]]]]].
  ExpectRejected({0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01}, "deeper");
  // Huge declared lengths must not allocate.
  ExpectRejected({0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                 "malformed");
  ExpectRejected({0x7b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                 "malformed");
}

TEST(TelemetryCborTest, RejectsDuplicateKeys) {
  // {"v3": {"s": "p", "s": "e", "d": {}}} written by hand.
  Bytes dup = {0xa1, 0x62, 'v', '3', 0xa3, 0x61, 's', 0x61, 'p',
               0x61, 's',  0x61, 'e', 0x61, 'd', 0xa0};
  ExpectRejected(dup, "duplicate");
}

TEST(TelemetryCborTest, RejectsTooManyItems) {
  nlohmann::json d;
  for (int i = 0; i < 40; ++i) d[absl::StrCat("k", i)] = i;
  ExpectRejected(EncodeTelemetry(false, d), "at most");
  nlohmann::json big;
  big["a"] = nlohmann::json::array();
  for (int i = 0; i < 200; ++i) big["a"].push_back(i);
  ExpectRejected(EncodeTelemetry(false, big), "too many items");
}

}  // namespace
}  // namespace cxsec
