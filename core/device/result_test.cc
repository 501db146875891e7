// Unit test (host) of device::Result.
#include "core/device/result.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace cxsec::device {
namespace {

enum class TestReason : uint8_t { kNone = 0, kBroken = 1 };

TEST(ResultTest, SuccessHoldsTheValue) {
  const auto result = Result<uint32_t, TestReason>::Success(7);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.reason(), TestReason::kNone);
  EXPECT_EQ(result.value(), 7u);
}

TEST(ResultTest, FailureHoldsTheReason) {
  const auto result = Result<uint32_t, TestReason>::Failure(TestReason::kBroken);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.reason(), TestReason::kBroken);
}

TEST(ResultTest, FailureWithoutAReasonTraps) {
  using R = Result<uint32_t, TestReason>;
  EXPECT_DEATH({ (void)R::Failure(TestReason::kNone); }, "");
}

}  // namespace
}  // namespace cxsec::device
