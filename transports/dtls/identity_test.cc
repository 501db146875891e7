#include "transports/dtls/identity.h"

#include "gtest/gtest.h"

namespace cxsec::dtls {
namespace {

TEST(PskIdentityTest, ParsesBareAndEpochForms) {
  auto bare = ParsePskIdentity("D00112233445566aa");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->device_id, "D00112233445566AA");
  EXPECT_FALSE(bare->epoch.has_value());
  auto explicit_epoch = ParsePskIdentity("D00112233445566AA.12");
  ASSERT_TRUE(explicit_epoch.has_value());
  EXPECT_EQ(explicit_epoch->epoch, 12u);
  EXPECT_EQ(FormatPskIdentity("D00112233445566AA", 12), "D00112233445566AA.12");
}

TEST(PskIdentityTest, RejectsEverythingElse) {
  for (const char* bad :
       {"", "D00112233445566A", "G00112233445566AA", "D00112233445566AA.",
        "D00112233445566AA.0", "D00112233445566AA.-1", "D00112233445566AA.1x",
        "D00112233445566AA.99999999999", "D00112233445566AA 1",
        "D00112233445566AA.2147483648", "Client_identity"}) {
    EXPECT_FALSE(ParsePskIdentity(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace cxsec::dtls
