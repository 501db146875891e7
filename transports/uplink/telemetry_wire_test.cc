#include "transports/uplink/telemetry_wire.h"

#include <string>

#include "gtest/gtest.h"

namespace cxsec {
namespace {

VerifiedMessage Sample(std::string id) {
  VerifiedMessage m;
  m.device_id = "D0123456789abcdef";
  m.message_id = std::move(id);
  m.transport = "dtls";
  m.received_at = absl::FromUnixMicros(1714564800123456);
  m.payload = {0xa1, 0x01, 0x02, 0xff};
  return m;
}

TEST(TelemetryWireTest, BatchRoundTrips) {
  std::string body = EncodeTelemetryBatch({Sample("1"), Sample("2")});
  EXPECT_NE(body.find("\"timestamp\":1714564800123"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("\"payload\":\"oQEC_w\""), std::string::npos) << body;
  absl::StatusOr<std::vector<VerifiedMessage>> decoded =
      DecodeTelemetryBatch(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[1].message_id, "2");
  EXPECT_EQ((*decoded)[0].device_id, "D0123456789abcdef");
  EXPECT_EQ((*decoded)[0].transport, "dtls");
  EXPECT_EQ((*decoded)[0].payload, Sample("1").payload);
  EXPECT_EQ((*decoded)[0].received_at, absl::FromUnixMillis(1714564800123));
}

TEST(TelemetryWireTest, ResultsRoundTrip) {
  std::vector<TelemetryResult> results = {
      {"D1", "1", TelemetryVerdict::kAccepted, ""},
      {"D1", "2", TelemetryVerdict::kDuplicate, ""},
      {"D1", "3", TelemetryVerdict::kRejected, "bad signature"},
      {"D1", "4", TelemetryVerdict::kRetry, "busy"}};
  absl::StatusOr<std::vector<TelemetryResult>> decoded =
      DecodeTelemetryResults(EncodeTelemetryResults(results));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*decoded)[i].message_id, results[i].message_id);
    EXPECT_EQ((*decoded)[i].verdict, results[i].verdict);
    EXPECT_EQ((*decoded)[i].reason, results[i].reason);
  }
}

TEST(TelemetryWireTest, MalformedBatchesNameTheProblem) {
  struct Case {
    const char* body;
    const char* error_part;
  } cases[] = {
      {"", "not valid JSON"},
      {"[]", "not a JSON object"},
      {"{}", "missing array 'messages'"},
      {"{\"messages\":[1]}", "[0]: not an object"},
      {"{\"messages\":[{\"messageId\":\"1\"}]}", "[0]: missing 'deviceId'"},
      {"{\"messages\":[{\"deviceId\":7}]}", "[0].deviceId: not a string"},
      {"{\"messages\":[{\"deviceId\":\"D\",\"messageId\":\"1\","
       "\"timestamp\":\"2024-05-01T12:00:00Z\"}]}",
       "[0].timestamp: must be unix milliseconds"},
      {"{\"messages\":[{\"deviceId\":\"D\",\"messageId\":\"1\","
       "\"timestamp\":-5}]}",
       "[0].timestamp"},
      {"{\"messages\":[{\"deviceId\":\"D\",\"messageId\":\"1\","
       "\"timestamp\":1714564800000,\"payload\":\"a+b=\"}]}",
       "[0].payload"},
      {"{\"messages\":[[[[[[[]]]]]]]}", "nesting"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<VerifiedMessage>> decoded =
        DecodeTelemetryBatch(c.body);
    ASSERT_FALSE(decoded.ok()) << c.body;
    EXPECT_NE(decoded.status().message().find(c.error_part), std::string::npos)
        << c.body << " -> " << decoded.status();
  }
}

TEST(TelemetryWireTest, LimitsAreEnforced) {
  TelemetryWireLimits limits;
  limits.max_messages = 1;
  EXPECT_FALSE(DecodeTelemetryBatch(
                   EncodeTelemetryBatch({Sample("1"), Sample("2")}), limits)
                   .ok());
  limits = {};
  limits.max_body_bytes = 10;
  EXPECT_FALSE(DecodeTelemetryBatch(EncodeTelemetryBatch({Sample("1")}), limits)
                   .ok());
  limits = {};
  limits.max_id_bytes = 4;
  EXPECT_FALSE(DecodeTelemetryBatch(EncodeTelemetryBatch({Sample("1")}), limits)
                   .ok());
}

// The verifier's own answer shape (targets/verifier/service on issue-7):
// "error" carries the rejection reason.
TEST(TelemetryWireTest, DecodesTheVerifiersRejectionShape) {
  absl::StatusOr<std::vector<TelemetryResult>> decoded = DecodeTelemetryResults(
      "{\"results\":[{\"messageId\":\"1\",\"deviceId\":\"D1\","
      "\"status\":\"rejected\",\"error\":\"unknown_device\"},"
      "{\"messageId\":\"2\",\"deviceId\":\"D1\",\"status\":\"accepted\"}]}");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].verdict, TelemetryVerdict::kRejected);
  EXPECT_EQ((*decoded)[0].reason, "unknown_device");
  EXPECT_EQ((*decoded)[1].verdict, TelemetryVerdict::kAccepted);
}

TEST(TelemetryWireTest, UnknownVerdictIsAnError) {
  absl::StatusOr<std::vector<TelemetryResult>> decoded = DecodeTelemetryResults(
      "{\"results\":[{\"deviceId\":\"D\",\"messageId\":\"1\","
      "\"status\":\"maybe\"}]}");
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("[0].status"), std::string::npos);
}

}  // namespace
}  // namespace cxsec
