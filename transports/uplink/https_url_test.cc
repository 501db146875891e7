#include "transports/uplink/https_url.h"

#include <string>

#include "absl/strings/match.h"
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

TEST(ParseHttpsUrlTest, RefusesBytesThatCouldEndTheRequestLine) {
  // CI's fuzzer found control bytes accepted in the path
  // (shared/findings/https_url_fuzzer-crash-0c2128f8): a CR or LF there
  // would reach the HTTP request line and start a header of its own.
  for (const char* bad :
       {"https://a.example/x\r\nHost:evil", "https://a.example/\x0c",
        "https://a.example/a\tb", "https://a.example/\x7f",
        "https://a.example/caf\xc3\xa9", "https://a.example/%0",
        "https://a.example/%zz", "https://a.example/a\"b",
        "https://a.example/<script>"}) {
    auto url = ParseHttpsUrl(bad);
    ASSERT_FALSE(url.ok()) << bad;
    EXPECT_TRUE(absl::StrContains(url.status().message(), "URL path"))
        << url.status();
  }
  auto url = ParseHttpsUrl("https://a.example/x\ry");
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.status().message(),
            "URL path has byte 0x0d at offset 2, which a URL path may not hold "
            "(control bytes, spaces and non-ASCII must not reach the HTTP "
            "request line)");
  // What RFC 3986 allows in a path still parses, percent-escapes included.
  url = ParseHttpsUrl("https://a.example/v1/a-b_c.d~e!$&'()*+,;=:%2Fx");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->path, "/v1/a-b_c.d~e!$&'()*+,;=:%2Fx");
}

TEST(ParseHttpsUrlTest, RefusesTheFuzzerFinding) {
  // The 2048-byte input itself: "https://1/" then CR, FF and commas.
  std::string finding = "https://1/";
  while (finding.size() < kMaxHttpsUrlLength) {
    finding += (finding.size() % 3 == 0) ? '\r' : ',';
  }
  auto url = ParseHttpsUrl(finding);
  ASSERT_FALSE(url.ok());
  EXPECT_TRUE(absl::StrContains(url.status().message(), "byte 0x0d"));
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
