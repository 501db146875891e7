// Host run of the node's Mbed TLS known answers (mbedtls_known_answers.h).
#include "platforms/cortex_m/selftest/mbedtls_known_answers.h"

#include <array>
#include <cstdint>

#include "gtest/gtest.h"
#include "mbedtls/memory_buffer_alloc.h"

namespace cxsec::selftest {
namespace {

class MbedtlsKnownAnswersTest : public ::testing::Test {
 protected:
  // The node gives Mbed TLS the same 8 KiB; a host run that needs more
  // would fail on the device too.
  void SetUp() override {
    mbedtls_memory_buffer_alloc_init(heap_.data(), heap_.size());
  }
  void TearDown() override { mbedtls_memory_buffer_alloc_free(); }

 private:
  std::array<unsigned char, 8192> heap_{};
};

TEST_F(MbedtlsKnownAnswersTest, EveryVectorMatches) {
  for (auto* test : kAllKnownAnswerTests) {
    const KnownAnswerResult result = test();
    EXPECT_TRUE(result.passed())
        << result.name << ": outcome " << static_cast<int>(result.outcome)
        << ", Mbed TLS error " << result.mbedtls_error;
  }
}

TEST_F(MbedtlsKnownAnswersTest, WithoutItsBufferMbedtlsAllocationsFail) {
  // Mbed TLS's heap is the buffer and nothing else: without it, ECDSA's
  // bignums cannot be allocated (no fallback to malloc).
  mbedtls_memory_buffer_alloc_free();
  EXPECT_EQ(EcdsaP256Verify().outcome, KnownAnswerOutcome::kError);
  SetUp();
  EXPECT_TRUE(EcdsaP256Verify().passed());
}

}  // namespace
}  // namespace cxsec::selftest
