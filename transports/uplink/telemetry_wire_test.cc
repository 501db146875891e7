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
  absl::StatusOr<std::vector<TelemetryWireMessage>> decoded =
      DecodeTelemetryBatch(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[1].message_id, "2");
  EXPECT_EQ((*decoded)[0].payload_json, "\"oQEC_w\"");
  absl::StatusOr<VerifiedMessage> message = ToVerifiedMessage((*decoded)[0]);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->device_id, "D0123456789abcdef");
  EXPECT_EQ(message->transport, "dtls");
  EXPECT_EQ(message->payload, Sample("1").payload);
  EXPECT_EQ(message->received_at, absl::FromUnixMillis(1714564800123));
}

TEST(TelemetryWireTest, ResultsRoundTrip) {
  std::vector<TelemetryResult> results = {
      {"D1", "1", TelemetryVerdict::kAccepted, ""},
      {"D1", "2", TelemetryVerdict::kDuplicate, ""},
      {"D1", "3", TelemetryVerdict::kRejected, "bad signature"},
      {"D1", "4", TelemetryVerdict::kRetry, "registry_unavailable"},
      {"D1", "5", TelemetryVerdict::kConflict, "payload_differs"}};
  absl::StatusOr<std::vector<TelemetryResult>> decoded =
      DecodeTelemetryResults(EncodeTelemetryResults(results));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE((*decoded)[i].verdict_known);
    EXPECT_EQ((*decoded)[i].message_id, results[i].message_id);
    EXPECT_EQ((*decoded)[i].verdict, results[i].verdict);
    EXPECT_EQ((*decoded)[i].reason, results[i].reason);
  }
}

TEST(TelemetryWireTest, ReceiptsRoundTripAndAreOptional) {
  std::vector<TelemetryResult> results = {
      {"D1", "1", TelemetryVerdict::kAccepted, ""},
      {"D1", "2", TelemetryVerdict::kDuplicate, ""}};
  results[0].receipt = "AAAAAAAAAAAAAVJlEbDoyVE8";
  std::string body = EncodeTelemetryResults(results);
  EXPECT_NE(body.find("\"receipt\":\"AAAAAAAAAAAAAVJlEbDoyVE8\""),
            std::string::npos)
      << body;
  // An answer without a receipt has no "receipt" key at all.
  EXPECT_EQ(body.find("receipt", body.find("\"2\"")), std::string::npos)
      << body;
  absl::StatusOr<std::vector<TelemetryResult>> decoded =
      DecodeTelemetryResults(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].receipt, results[0].receipt);
  EXPECT_EQ((*decoded)[1].receipt, "");
}

TEST(TelemetryWireTest, BadReceiptsAreDroppedNotFatal) {
  // Not a string, too long, not base64url: each is dropped and the
  // verdict still counts.
  const std::string body =
      R"({"results":[)"
      R"({"deviceId":"D1","messageId":"1","status":"accepted","receipt":5},)"
      R"({"deviceId":"D1","messageId":"2","status":"accepted","receipt":")" +
      std::string(65, 'A') +
      R"("},)"
      R"({"deviceId":"D1","messageId":"3","status":"duplicate","receipt":"a+b/"},)"
      R"({"deviceId":"D1","messageId":"4","status":"accepted","receipt":"AAEC"}]})";
  absl::StatusOr<std::vector<TelemetryResult>> decoded =
      DecodeTelemetryResults(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 4u);
  EXPECT_EQ((*decoded)[0].receipt, "");
  EXPECT_EQ((*decoded)[1].receipt, "");
  EXPECT_EQ((*decoded)[2].receipt, "");
  EXPECT_EQ((*decoded)[2].verdict, TelemetryVerdict::kDuplicate);
  EXPECT_EQ((*decoded)[3].receipt, "AAEC");
}

TEST(TelemetryWireTest, MalformedBatchesNameTheProblem) {
  struct Case {
    const char* body;
    const char* error_part;
  } cases[] = {
      {"", "not valid JSON"},
      {"[]", "not a JSON object"},
      {"{}", "'messages' must be an array"},
      {"{\"messages\":[]}", "'messages' is empty"},
      {"{\"messages\":[1]}", "messages[0]: must be an object"},
      {"{\"messages\":[{\"messageId\":\"1\"}]}",
       "messages[0].deviceId: is required"},
      {"{\"messages\":[{\"deviceId\":7}]}", "[0].deviceId: must be a string"},
      {"{\"messages\":[{\"deviceId\":\"D 1\"}]}",
       "[0].deviceId: must be characters"},
      {"{\"messages\":[{\"deviceId\":\"D\",\"messageId\":\"a\\nb\"}]}",
       "[0].messageId: must not contain control"},
      {"{\"messages\":[{\"deviceId\":\"D\",\"messageId\":\"1\","
       "\"timestamp\":18446744073709551615}]}",
       "[0].timestamp: must be unix milliseconds"},
      {"{\"messages\":[{\"deviceId\":\"D\",\"messageId\":\"1\","
       "\"timestamp\":1}]}",
       "[0].payload: is required"},
      {"{\"messages\":[{\"deviceId\":\"D\",\"messageId\":\"1\","
       "\"timestamp\":\"2024-05-01T12:00:00Z\"}]}",
       "[0].timestamp: must be an integer"},
      {"{\"messages\":[{\"deviceId\":\"D\",\"messageId\":\"1\","
       "\"timestamp\":-5}]}",
       "[0].timestamp"},
      {"{\"messages\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]"
       "]]]]]]]]]]]]]]]]]]]]]]]}",
       "nesting"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<TelemetryWireMessage>> decoded =
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

// A verdict this build does not know (added to the verifier later) is
// never final: it decodes as retry, and the rest of the answer still counts.
TEST(TelemetryWireTest, UnknownVerdictDecodesAsRetry) {
  absl::StatusOr<std::vector<TelemetryResult>> decoded = DecodeTelemetryResults(
      "{\"results\":[{\"deviceId\":\"D\",\"messageId\":\"1\","
      "\"status\":\"quarantined\"},{\"deviceId\":\"D\",\"messageId\":\"2\","
      "\"status\":\"accepted\"}]}");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].verdict, TelemetryVerdict::kRetry);
  EXPECT_FALSE((*decoded)[0].verdict_known);
  EXPECT_EQ((*decoded)[1].verdict, TelemetryVerdict::kAccepted);
}

TEST(TelemetryWireTest, EveryVerdictHasOneName) {
  for (TelemetryVerdict v :
       {TelemetryVerdict::kAccepted, TelemetryVerdict::kDuplicate,
        TelemetryVerdict::kRejected, TelemetryVerdict::kConflict,
        TelemetryVerdict::kRetry}) {
    EXPECT_EQ(ParseTelemetryVerdict(TelemetryVerdictName(v)), v);
  }
  EXPECT_EQ(ParseTelemetryVerdict("Accepted"), std::nullopt);
}

TEST(TelemetryWireTest, PayloadIsAnyJsonValueWithinItsLimit) {
  absl::StatusOr<std::vector<TelemetryWireMessage>> decoded =
      DecodeTelemetryBatch(
          "{\"messages\":[{\"deviceId\":\"dev-1\",\"messageId\":\"1\","
          "\"timestamp\":1,\"payload\":{\"t\": 21.5, \"a\": [1, 2]}}]}");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)[0].payload_json, "{\"a\":[1,2],\"t\":21.5}");
  EXPECT_FALSE(ToVerifiedMessage((*decoded)[0]).ok());
  TelemetryWireLimits limits;
  limits.max_payload_json_bytes = 7;  // "oQEC_w" is 8 bytes as JSON
  EXPECT_FALSE(
      DecodeTelemetryBatch(EncodeTelemetryBatch({Sample("1")}), limits).ok());
}

}  // namespace
}  // namespace cxsec
