// The device-side reading encoder writes exactly the bytes of the host's
// EncodeTelemetry (what cxsec-node posts), and the gateway's decoder
// accepts them.
#include "core/device/reading_cbor.h"

#include <array>
#include <cstdint>
#include <vector>

#include "core/deployment/telemetry_cbor.h"
#include "gtest/gtest.h"

namespace cxsec::device {
namespace {

std::vector<uint8_t> Encode(const char* key, int64_t value, bool event) {
  std::array<uint8_t, kReadingCborMaxSize> out{};
  const size_t n = EncodeReadingCbor(key, value, event, out);
  return std::vector<uint8_t>(out.begin(), out.begin() + n);
}

TEST(ReadingCborTest, SameBytesAsTheHostEncoder) {
  for (int64_t value :
       {int64_t{0}, int64_t{1}, int64_t{23}, int64_t{24}, int64_t{255},
        int64_t{256}, int64_t{21500}, int64_t{65535}, int64_t{65536},
        int64_t{4294967295}, int64_t{4294967296}, int64_t{-1}, int64_t{-24},
        int64_t{-25}, int64_t{-21500}, INT64_MAX, INT64_MIN}) {
    for (bool event : {false, true}) {
      const Bytes host = EncodeTelemetry(event, {{"t", value}});
      EXPECT_EQ(Encode("t", value, event),
                std::vector<uint8_t>(host.begin(), host.end()))
          << value;
    }
  }
  const Bytes host = EncodeTelemetry(false, {{"humidity", 40}});
  EXPECT_EQ(Encode("humidity", 40, false),
            std::vector<uint8_t>(host.begin(), host.end()));
}

TEST(ReadingCborTest, TheGatewayDecodesIt) {
  const std::vector<uint8_t> bytes = Encode("t", 21500, false);
  absl::StatusOr<Telemetry> decoded =
      DecodeTelemetry(ByteView(bytes.data(), bytes.size()));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_FALSE(decoded->event);
  EXPECT_EQ(decoded->data["t"], 21500);
}

TEST(ReadingCborTest, RefusesBadKeysAndSmallBuffers) {
  std::array<uint8_t, kReadingCborMaxSize> out{};
  EXPECT_EQ(EncodeReadingCbor("", 1, false, out), 0u);
  EXPECT_EQ(EncodeReadingCbor("abcdefghijklmnopqrstuvwx", 1, false, out), 0u);
  EXPECT_NE(EncodeReadingCbor("abcdefghijklmnopqrstuvw", INT64_MIN, false, out),
            0u);
  const size_t full = EncodeReadingCbor("t", 21500, false, out);
  for (size_t n = 0; n < full; ++n) {
    EXPECT_EQ(EncodeReadingCbor("t", 21500, false, std::span(out.data(), n)),
              0u)
        << n;
  }
}

}  // namespace
}  // namespace cxsec::device
