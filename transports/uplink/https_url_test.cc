#include "transports/uplink/https_url.h"

#include <string>

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

TEST(ParseHttpsUrlTest, RefusesLooseHostsAndPorts) {
  // Found while moving the parser out of the Asio client: a bracketed host
  // had to be any IP address or DNS name, a port could be "+443" or empty.
  for (const char* bad :
       {"https://a.example:", "https://a.example:+443",
        "https://a.example: 443", "https://[a.example]",
        "https://[127.0.0.1]:443", "https://[fe80::1%eth0]",
        "https://a.example:000000443", "https://[::1]x"}) {
    EXPECT_FALSE(ParseHttpsUrl(bad).ok()) << bad;
  }
  auto url = ParseHttpsUrl("https://[::FFFF:10.0.0.1]:443/x");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::ffff:10.0.0.1");
  EXPECT_TRUE(url->host_is_address);
  url = ParseHttpsUrl("https://999.1.1.1");  // not an address: a DNS name
  ASSERT_TRUE(url.ok());
  EXPECT_FALSE(url->host_is_address);
}

TEST(ParseHttpsUrlTest, RefusesOverlongUrls) {
  std::string url = "https://a.example/" + std::string(kMaxHttpsUrlLength, 'p');
  EXPECT_FALSE(ParseHttpsUrl(url).ok());
}

TEST(ParseSpkiPinsTest, RefusesOverlongLists) {
  std::string pins;
  while (pins.size() <= kMaxSpkiPinsLength) {
    pins += "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=,";
  }
  EXPECT_FALSE(ParseSpkiPins(pins).ok());
}

}  // namespace
}  // namespace cxsec
