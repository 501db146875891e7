#include "platforms/posix/endpoint.h"

#include "gtest/gtest.h"

namespace cxsec {
namespace {

TEST(EndpointTest, ParsesHostPort) {
  absl::StatusOr<HostPort> endpoint = ParseHostPort("gateway.local:5684");
  ASSERT_TRUE(endpoint.ok());
  EXPECT_EQ(endpoint->host, "gateway.local");
  EXPECT_EQ(endpoint->port, 5684);
  EXPECT_EQ(ParseHostPort("[::1]:5684")->host, "[::1]");
}

TEST(EndpointTest, RejectsBadEndpoints) {
  for (absl::string_view bad :
       {"", "host", "host:", ":80", "host:-1", "host:65536", "host:http",
        "host:0"}) {
    EXPECT_FALSE(ParseHostPort(bad).ok()) << bad;
  }
  EXPECT_TRUE(ParseHostPort("host:0", /*allow_port_zero=*/true).ok());
}

TEST(EndpointTest, Ipv4) {
  absl::StatusOr<sockaddr_in> addr = ParseIpv4Endpoint("127.0.0.1:1700");
  ASSERT_TRUE(addr.ok());
  EXPECT_EQ(ntohs(addr->sin_port), 1700);
  EXPECT_EQ(ntohl(addr->sin_addr.s_addr), 0x7f000001u);
  EXPECT_FALSE(ParseIpv4Endpoint("localhost:1700").ok());
  EXPECT_FALSE(ParseIpv4Endpoint("127.0.0.1:0").ok());
  EXPECT_TRUE(ParseIpv4Endpoint("127.0.0.1:0", true).ok());
}

}  // namespace
}  // namespace cxsec
