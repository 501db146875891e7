#include "core/clock.h"

#include "gtest/gtest.h"

namespace cxsec {
namespace {

TEST(FakeClockTest, MovesOnlyWhenTold) {
  FakeClock clock(absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1700000000));
  clock.Advance(absl::Minutes(10));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1700000600));
  clock.Set(absl::FromUnixSeconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(5));
}

TEST(SystemClockTest, IsCloseToNow) {
  absl::Time now = SystemClock::Default().Now();
  EXPECT_LT(absl::AbsDuration(now - absl::Now()), absl::Minutes(1));
}

TEST(ClockTest, CodeTakesClockByInterface) {
  FakeClock fake(absl::FromUnixSeconds(100));
  Clock& clock = fake;
  EXPECT_EQ(absl::ToUnixSeconds(clock.Now()), 100);
}

}  // namespace
}  // namespace cxsec
