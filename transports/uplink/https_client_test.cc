#include "transports/uplink/https_client.h"

#include "gtest/gtest.h"

namespace cxsec {
namespace {

TEST(CountPemCertificatesTest, RejectsEmptyAndGarbage) {
  EXPECT_FALSE(CountPemCertificates("").ok());
  EXPECT_FALSE(CountPemCertificates("hello").ok());
  EXPECT_FALSE(CountPemCertificates(
                   "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                   .ok());
}

}  // namespace
}  // namespace cxsec
