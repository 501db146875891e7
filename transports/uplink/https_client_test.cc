#include "transports/uplink/https_client.h"

#include "gtest/gtest.h"

namespace cxsec {
namespace {

TEST(ParseHttpsUrlTest, AcceptsHostsPortsAndPrefixes) {
  auto url = ParseHttpsUrl("https://Verifier.Example:8443/api/");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "verifier.example");
  EXPECT_EQ(url->port, 8443);
  EXPECT_EQ(url->path, "/api");
  EXPECT_FALSE(url->host_is_address);
  url = ParseHttpsUrl("https://127.0.0.1");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->port, 443);
  EXPECT_TRUE(url->host_is_address);
  url = ParseHttpsUrl("https://[::1]:9000");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "::1");
  EXPECT_TRUE(url->host_is_address);
}

TEST(ParseHttpsUrlTest, RejectsWhatItDoesNotSupport) {
  for (const char* bad :
       {"http://a.example", "https://", "https://a.example:0",
        "https://a.example:70000", "https://user@a.example",
        "https://a.example/?q=1", "https://a_b.example", "https://[::1"}) {
    EXPECT_FALSE(ParseHttpsUrl(bad).ok()) << bad;
  }
}

TEST(ParseSpkiPinsTest, ParsesListsAndRejectsBadPins) {
  auto pins = ParseSpkiPins(
      "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=, "
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  ASSERT_TRUE(pins.ok()) << pins.status();
  EXPECT_EQ(pins->size(), 2u);
  EXPECT_TRUE(ParseSpkiPins("")->empty());
  EXPECT_FALSE(ParseSpkiPins("abc").ok());
  EXPECT_FALSE(ParseSpkiPins("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF==").ok());
}

TEST(CountPemCertificatesTest, RejectsEmptyAndGarbage) {
  EXPECT_FALSE(CountPemCertificates("").ok());
  EXPECT_FALSE(CountPemCertificates("hello").ok());
  EXPECT_FALSE(CountPemCertificates(
                   "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                   .ok());
}

}  // namespace
}  // namespace cxsec
