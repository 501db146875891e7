// The seal key area: the documented layout byte for byte, a round trip,
// and every malformed area refused with its reason.
#include "core/seal/seal_key_area.h"

#include <array>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace cxsec::seal {
namespace {

using device::KeyAreaReason;

SealKeyArea Example(bool with_enc) {
  SealKeyArea area;
  area.device_id = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
  area.epoch = 0x01020304;
  area.has_enc_key = with_enc;
  for (uint8_t i = 0; i < 16; ++i) {
    area.mac_key[i] = static_cast<uint8_t>(0xa0 + i);
    area.enc_key[i] = static_cast<uint8_t>(0xb0 + i);
  }
  return area;
}

std::vector<uint8_t> Written(const SealKeyArea& area) {
  std::vector<uint8_t> out(kSealKeyAreaSize);
  EXPECT_EQ(WriteSealKeyArea(area, out), KeyAreaReason::kNone);
  return out;
}

// Rewrites the CRC so a test reaches the check after it.
void FixCrc(std::vector<uint8_t>& bytes) {
  const uint32_t crc = device::Crc32(std::span(bytes).first(52));
  for (size_t i = 0; i < 4; ++i) bytes[52 + i] = uint8_t(crc >> (8 * i));
}

TEST(SealKeyAreaTest, LayoutIsTheDocumentedOne) {
  const std::vector<uint8_t> bytes = Written(Example(true));
  const std::vector<uint8_t> head = {'C',  'X',  'S',  'K',  1,    1,    56,
                                     0,    0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
                                     0x66, 0x77, 0x04, 0x03, 0x02, 0x01};
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 20), head);
  EXPECT_EQ(bytes[20], 0xa0);
  EXPECT_EQ(bytes[35], 0xaf);
  EXPECT_EQ(bytes[36], 0xb0);
  EXPECT_EQ(bytes[51], 0xbf);
  const uint32_t crc = device::Crc32(std::span(bytes).first(52));
  EXPECT_EQ(bytes[52], uint8_t(crc));
  EXPECT_EQ(bytes[55], uint8_t(crc >> 24));
}

TEST(SealKeyAreaTest, RoundTripsWithAndWithoutEncryptionKey) {
  for (bool with_enc : {true, false}) {
    std::vector<uint8_t> bytes = Written(Example(with_enc));
    bytes.resize(256, 0xff);  // what follows in the sector is ignored
    SealKeyArea area;
    ASSERT_EQ(ParseSealKeyArea(bytes, area), KeyAreaReason::kNone);
    EXPECT_EQ(area.epoch, 0x01020304u);
    EXPECT_EQ(area.has_enc_key, with_enc);
    EXPECT_EQ(area.mac_key, Example(with_enc).mac_key);
    if (with_enc) {
      EXPECT_EQ(area.enc_key, Example(true).enc_key);
    } else {
      EXPECT_EQ(area.enc_key, (std::array<uint8_t, 16>{}));
    }
    WipeSealKeyArea(area);
    EXPECT_EQ(area.mac_key, (std::array<uint8_t, 16>{}));
  }
}

TEST(SealKeyAreaTest, RefusesMalformedAreas) {
  const std::vector<uint8_t> good = Written(Example(false));
  SealKeyArea area;
  EXPECT_EQ(ParseSealKeyArea(std::vector<uint8_t>(64, 0xff), area),
            KeyAreaReason::kErased);
  EXPECT_EQ(ParseSealKeyArea({}, area), KeyAreaReason::kTruncated);
  EXPECT_EQ(ParseSealKeyArea(std::span(good).first(55), area),
            KeyAreaReason::kTruncated);
  std::vector<uint8_t> bad = good;
  bad[0] = 'X';
  EXPECT_EQ(ParseSealKeyArea(bad, area), KeyAreaReason::kBadMagic);
  bad = good;
  bad[4] = 2;
  EXPECT_EQ(ParseSealKeyArea(bad, area), KeyAreaReason::kUnsupportedVersion);
  bad = good;
  bad[6] = 57;
  EXPECT_EQ(ParseSealKeyArea(bad, area), KeyAreaReason::kBadLength);
  bad = good;
  bad[7] = 1;
  EXPECT_EQ(ParseSealKeyArea(bad, area), KeyAreaReason::kBadLength);
  bad = good;
  bad[5] = 0x02;
  EXPECT_EQ(ParseSealKeyArea(bad, area), KeyAreaReason::kUnknownFlags);
  bad = good;
  bad[30] ^= 1;
  EXPECT_EQ(ParseSealKeyArea(bad, area), KeyAreaReason::kCrcMismatch);
  bad = good;
  bad[40] = 1;  // an encryption key byte without the flag
  FixCrc(bad);
  EXPECT_EQ(ParseSealKeyArea(bad, area), KeyAreaReason::kReservedNotZero);
  // `area` was never written by a refused parse.
  EXPECT_EQ(area.epoch, 0u);
  std::array<uint8_t, 55> small{};
  EXPECT_EQ(WriteSealKeyArea(Example(true), small),
            KeyAreaReason::kBufferTooSmall);
}

}  // namespace
}  // namespace cxsec::seal
