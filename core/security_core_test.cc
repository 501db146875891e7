#include "core/security_core.h"

#include <string>
#include <vector>

#include "core/policy/transport_set.h"
#include "core/policy/unconfigured.h"
#include "gtest/gtest.h"

namespace cxsec {
namespace {

// In-memory policies that record calls; they exercise the host's wiring.
struct RecordingTransport {
  static constexpr absl::string_view kName = "recording";
  absl::Status Start(MessageSink s) {
    if (fail_start) return absl::UnavailableError("radio down");
    sink = std::move(s);
    started = true;
    return absl::OkStatus();
  }
  void Stop() { started = false; }
  MessageSink sink;
  bool started = false;
  bool fail_start = false;
};

struct SecondTransport : RecordingTransport {
  static constexpr absl::string_view kName = "second";
};

struct FixedIdentity {
  static constexpr absl::string_view kName = "fixed";
  std::string JwsAlgorithm() const { return "ES256"; }
  absl::StatusOr<std::string> KeyId() { return std::string("kid-1"); }
  absl::StatusOr<Bytes> Sign(ByteView) { return Bytes(64, 7); }
};

struct ListUplink {
  static constexpr absl::string_view kName = "list";
  absl::Status Start(BearerTokenSource t) {
    tokens = std::move(t);
    started = true;
    return absl::OkStatus();
  }
  absl::Status Enqueue(VerifiedMessage m) {
    if (full) return absl::ResourceExhaustedError("spool full");
    queued.push_back(std::move(m));
    return absl::OkStatus();
  }
  void Stop() { started = false; }
  BearerTokenSource tokens;
  std::vector<VerifiedMessage> queued;
  bool started = false;
  bool full = false;
};

struct NotATransport {
  void Start() {}
};

static_assert(Transport<RecordingTransport>);
static_assert(Identity<FixedIdentity>);
static_assert(Uplink<ListUplink>);
static_assert(!Transport<NotATransport>);
static_assert(!Transport<FixedIdentity>);
static_assert(!Identity<ListUplink>);
static_assert(!Uplink<RecordingTransport>);
static_assert(Transport<TransportSet<RecordingTransport, SecondTransport>>);

using TestCore = SecurityCore<RecordingTransport, FixedIdentity, ListUplink>;

TEST(SecurityCoreTest, TransportMessagesReachUplink) {
  TestCore core(RecordingTransport{}, FixedIdentity{}, ListUplink{});
  ASSERT_TRUE(core.Start([] { return absl::StatusOr<std::string>("jwt"); }).ok());
  EXPECT_TRUE(core.transport().started);
  EXPECT_TRUE(core.uplink().started);
  VerifiedMessage m;
  m.device_id = "D0011223344556677";
  m.payload = {1, 2, 3};
  ASSERT_TRUE(core.transport().sink(m).ok());
  ASSERT_EQ(core.uplink().queued.size(), 1u);
  EXPECT_EQ(core.uplink().queued[0].device_id, "D0011223344556677");
  EXPECT_EQ(*core.uplink().tokens(), "jwt");
  core.Stop();
  EXPECT_FALSE(core.transport().started);
  EXPECT_FALSE(core.uplink().started);
}

TEST(SecurityCoreTest, UplinkBackpressureReachesTransport) {
  TestCore core(RecordingTransport{}, FixedIdentity{}, ListUplink{});
  ASSERT_TRUE(core.Start(nullptr).ok());
  core.uplink().full = true;
  EXPECT_EQ(core.transport().sink(VerifiedMessage{}).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(SecurityCoreTest, FailedTransportStopsUplink) {
  RecordingTransport broken;
  broken.fail_start = true;
  TestCore core(broken, FixedIdentity{}, ListUplink{});
  EXPECT_EQ(core.Start(nullptr).code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(core.uplink().started);
}

TEST(TransportSetTest, StartsAllAndRollsBackOnFailure) {
  TransportSet<RecordingTransport, SecondTransport> ok_set;
  ASSERT_TRUE(ok_set.Start([](VerifiedMessage) { return absl::OkStatus(); }).ok());
  EXPECT_TRUE(ok_set.Get<RecordingTransport>().started);
  EXPECT_TRUE(ok_set.Get<SecondTransport>().started);

  SecondTransport failing;
  failing.fail_start = true;
  TransportSet<RecordingTransport, SecondTransport> bad_set(RecordingTransport{},
                                                            failing);
  EXPECT_FALSE(bad_set.Start([](VerifiedMessage) { return absl::OkStatus(); }).ok());
  EXPECT_FALSE(bad_set.Get<RecordingTransport>().started);
}

TEST(UnconfiguredPoliciesTest, FailLoudly) {
  SecurityCore<UnconfiguredTransport, UnconfiguredIdentity, ListUplink> core(
      {}, {}, {});
  absl::Status status = core.Start(nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(status.message()).find("without a transport backend"),
            std::string::npos);
  EXPECT_FALSE(core.identity().Sign(Bytes{}).ok());
}

}  // namespace
}  // namespace cxsec
