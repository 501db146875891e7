// Tests of Mioty replay protection: the acceptance rules (window 0 and
// larger, jump limit) and that the state is read back from disk by a new
// guard, failing closed on a corrupt file.
#include "transports/mioty/replay_guard.h"

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "platforms/posix/files.h"

namespace cxsec::mioty {
namespace {

std::string TempDir(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

const Eui64 kEui = {0x70, 0xb3, 0xd5, 0x67, 0x70, 0x00, 0x12, 0x34};

TEST(ReplayGuardTest, DefaultWindowRejectsAtOrBelowLast) {
  absl::StatusOr<ReplayGuard> guard = ReplayGuard::Open(TempDir("w0"), {});
  ASSERT_TRUE(guard.ok()) << guard.status();
  absl::StatusOr<ReplayState> s = guard->Admit(ReplayState{}, 100);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->highest, 100u);
  EXPECT_FALSE(guard->Admit(*s, 100).ok());
  EXPECT_FALSE(guard->Admit(*s, 99).ok());
  EXPECT_FALSE(guard->Admit(*s, 0).ok());
  absl::StatusOr<ReplayState> next = guard->Admit(*s, 101);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->highest, 101u);
}

TEST(ReplayGuardTest, MinimumCounterIsAFloorWithOrWithoutState) {
  absl::StatusOr<ReplayGuard> guard = ReplayGuard::Open(TempDir("min"), {});
  ASSERT_TRUE(guard.ok());
  // No state: below the minimum is refused, at or above it is the first.
  absl::Status below = guard->Admit(ReplayState{}, 99, 100).status();
  EXPECT_EQ(below.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(below.message().find("minimum counter 100"), std::string::npos);
  absl::StatusOr<ReplayState> first = guard->Admit(ReplayState{}, 100, 100);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->highest, 100u);
  EXPECT_TRUE(guard->Admit(ReplayState{}, 5'000'000, 100).ok());
  // A state under the minimum (the floor was raised later) is superseded.
  ReplayState stale{50, 1};
  EXPECT_FALSE(guard->Admit(stale, 60, 100).ok());
  EXPECT_TRUE(guard->Admit(stale, 100, 100).ok());
  // A state above it rules as before.
  ReplayState current{200, 1};
  EXPECT_FALSE(guard->Admit(current, 150, 100).ok());
  EXPECT_TRUE(guard->Admit(current, 201, 100).ok());
  // The counter rebuilt for a frame centres on the state or the floor.
  EXPECT_EQ(ReplayGuard::ReferenceCounter(ReplayState{}, 0), std::nullopt);
  EXPECT_EQ(ReplayGuard::ReferenceCounter(ReplayState{}, 100), 99u);
  EXPECT_EQ(ReplayGuard::ReferenceCounter(stale, 100), 99u);
  EXPECT_EQ(ReplayGuard::ReferenceCounter(current, 100), 200u);
}

TEST(ReplayGuardTest, JumpLimit) {
  ReplayPolicy policy;
  policy.max_jump = 1000;
  absl::StatusOr<ReplayGuard> guard = ReplayGuard::Open(TempDir("jump"), policy);
  ASSERT_TRUE(guard.ok());
  ReplayState s{100, 1};
  EXPECT_TRUE(guard->Admit(s, 1100).ok());
  absl::Status too_far = guard->Admit(s, 1101).status();
  EXPECT_EQ(too_far.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(too_far.message().find("jumps 1001"), std::string::npos) << too_far;
  EXPECT_FALSE(ReplayGuard::Open(TempDir("j2"), {0, 1u << 24}).ok());
  EXPECT_FALSE(ReplayGuard::Open(TempDir("j3"), {64, 10}).ok());
}

TEST(ReplayGuardTest, OutOfOrderWindowAcceptsEachCounterOnce) {
  ReplayPolicy policy;
  policy.window = 4;
  absl::StatusOr<ReplayGuard> guard = ReplayGuard::Open(TempDir("w4"), policy);
  ASSERT_TRUE(guard.ok());
  ReplayState s{10, 1};
  absl::StatusOr<ReplayState> late = guard->Admit(s, 8);  // 2 below
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->highest, 10u);
  EXPECT_FALSE(guard->Admit(*late, 8).ok());   // seen
  EXPECT_FALSE(guard->Admit(*late, 10).ok());  // the highest itself
  EXPECT_FALSE(guard->Admit(*late, 6).ok());   // outside the window
  EXPECT_TRUE(guard->Admit(*late, 7).ok());
  // Moving up shifts what was seen: 8 stays seen after 12 arrives.
  absl::StatusOr<ReplayState> up = guard->Admit(*late, 12);
  ASSERT_TRUE(up.ok());
  EXPECT_FALSE(guard->Admit(*up, 8).ok());
  EXPECT_FALSE(guard->Admit(*up, 10).ok());
  EXPECT_TRUE(guard->Admit(*up, 11).ok());
  EXPECT_TRUE(guard->Admit(*up, 9).ok());
}

TEST(ReplayGuardTest, CommittedStateIsReadBackByANewGuard) {
  const std::string dir = TempDir("persist");
  {
    absl::StatusOr<ReplayGuard> guard = ReplayGuard::Open(dir, {});
    ASSERT_TRUE(guard.ok());
    absl::StatusOr<ReplayState> first = guard->State(kEui);
    ASSERT_TRUE(first.ok());
    EXPECT_FALSE(first->highest.has_value());
    ASSERT_TRUE(guard->Commit(kEui, ReplayState{0x01020304, 5}).ok());
  }
  absl::StatusOr<ReplayGuard> again = ReplayGuard::Open(dir, {});
  ASSERT_TRUE(again.ok());
  absl::StatusOr<ReplayState> state = again->State(kEui);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, (ReplayState{0x01020304, 5}));
  EXPECT_FALSE(again->Admit(*state, 0x01020304).ok());
}

TEST(ReplayGuardTest, CorruptStateFailsClosed) {
  const std::string dir = TempDir("corrupt");
  absl::StatusOr<ReplayGuard> guard = ReplayGuard::Open(dir, {});
  ASSERT_TRUE(guard.ok());
  ASSERT_TRUE(WriteFileAtomically(guard->PathFor(kEui),
                                  "mioty-replay-v1 highest=12", 0600)
                  .ok());
  absl::StatusOr<ReplayState> state = guard->State(kEui);
  EXPECT_EQ(state.status().code(), absl::StatusCode::kDataLoss);
  for (const char* text :
       {"", "x\n", "mioty-replay-v1 highest=-1 seen=0000000000000001\n",
        "mioty-replay-v1 highest=5 seen=01\n",
        "mioty-replay-v1 highest=99999999999 seen=0000000000000001\n"}) {
    EXPECT_FALSE(ReplayGuard::DecodeState(text, "f").ok()) << text;
  }
  ReplayState s{7, 0x8000000000000001ull};
  EXPECT_EQ(*ReplayGuard::DecodeState(ReplayGuard::EncodeState(s), "f"), s);
  EXPECT_EQ(*ReplayGuard::DecodeState(ReplayGuard::EncodeState({}), "f"),
            ReplayState{});
}

}  // namespace
}  // namespace cxsec::mioty
