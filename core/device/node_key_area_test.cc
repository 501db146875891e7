// The node key area format: a round trip, a known-answer blob (so the
// layout in the header comment cannot drift), and one refusal per
// malformation, each with its own reason.
#include "core/device/node_key_area.h"

#include <array>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace cxsec::device {
namespace {

NodeKeyArea Sample() {
  NodeKeyArea area;
  area.device_id = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
  area.mioty_eui = {0x70, 0xb3, 0xd5, 0x67, 0x70, 0x00, 0x12, 0x34};
  area.mioty_short_address = 0x1234;
  area.mioty_long_addressing = true;
  area.mioty_network_key = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                            0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
  return area;
}

std::vector<uint8_t> Encoded(const NodeKeyArea& area) {
  std::vector<uint8_t> out(kNodeKeyAreaSize);
  EXPECT_EQ(WriteNodeKeyArea(area, out), KeyAreaReason::kNone);
  return out;
}

// Rewrites the CRC so a test reaches the check after it.
void FixCrc(std::vector<uint8_t>& bytes) {
  uint32_t crc = Crc32(std::span(bytes.data(), 44));
  for (int i = 0; i < 4; ++i) bytes[44 + i] = uint8_t(crc >> (8 * i));
}

KeyAreaReason Parse(const std::vector<uint8_t>& bytes) {
  NodeKeyArea area;
  return ParseNodeKeyArea(bytes, area);
}

TEST(Crc32Test, MatchesTheStandardCheckValue) {
  const uint8_t text[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  EXPECT_EQ(Crc32(text), 0xCBF43926u);  // the CRC-32/IEEE check value
}

TEST(NodeKeyAreaTest, KnownLayout) {
  std::vector<uint8_t> bytes = Encoded(Sample());
  const std::vector<uint8_t> header = {'C', 'X', 'N', 'K', 1, 1, 48, 0};
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 8), header);
  EXPECT_EQ(bytes[8], 0x00);
  EXPECT_EQ(bytes[15], 0x77);
  EXPECT_EQ(bytes[16], 0x70);
  EXPECT_EQ(bytes[24], 0x12);  // short address big-endian
  EXPECT_EQ(bytes[25], 0x34);
  EXPECT_EQ(bytes[28], 0x2b);
  EXPECT_EQ(bytes[43], 0x3c);
}

TEST(NodeKeyAreaTest, RoundTripsAndIgnoresBytesPastTheArea) {
  std::vector<uint8_t> bytes = Encoded(Sample());
  bytes.resize(kNodeKeyAreaMaxSize, 0xFF);  // the rest of an erased sector
  NodeKeyArea area;
  ASSERT_EQ(ParseNodeKeyArea(bytes, area), KeyAreaReason::kNone);
  NodeKeyArea expected = Sample();
  EXPECT_EQ(area.device_id, expected.device_id);
  EXPECT_EQ(area.mioty_eui, expected.mioty_eui);
  EXPECT_EQ(area.mioty_short_address, 0x1234);
  EXPECT_TRUE(area.mioty_long_addressing);
  EXPECT_EQ(area.mioty_network_key, expected.mioty_network_key);
  WipeNodeKeyArea(area);
  EXPECT_EQ(area.mioty_network_key, (std::array<uint8_t, 16>{}));
}

TEST(NodeKeyAreaTest, ErasedFlashIsNotProvisioned) {
  EXPECT_EQ(Parse(std::vector<uint8_t>(kNodeKeyAreaMaxSize, 0xFF)),
            KeyAreaReason::kErased);
  EXPECT_STREQ(KeyAreaReasonName(KeyAreaReason::kErased), "not_provisioned");
}

TEST(NodeKeyAreaTest, EveryTruncationIsRefused) {
  std::vector<uint8_t> bytes = Encoded(Sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    NodeKeyArea area;
    EXPECT_EQ(ParseNodeKeyArea(std::span(bytes.data(), n), area),
              KeyAreaReason::kTruncated)
        << n;
  }
}

TEST(NodeKeyAreaTest, EachMalformationHasItsReason) {
  const std::vector<uint8_t> good = Encoded(Sample());
  auto with = [&](size_t offset, uint8_t value, bool fix_crc) {
    std::vector<uint8_t> bytes = good;
    bytes[offset] = value;
    if (fix_crc) FixCrc(bytes);
    return bytes;
  };
  EXPECT_EQ(Parse(with(0, 'X', true)), KeyAreaReason::kBadMagic);
  EXPECT_EQ(Parse(with(4, 3, true)), KeyAreaReason::kUnsupportedVersion);
  // Version 2 with version 1's length.
  EXPECT_EQ(Parse(with(4, 2, true)), KeyAreaReason::kBadLength);
  EXPECT_EQ(Parse(with(4, 0, true)), KeyAreaReason::kUnsupportedVersion);
  EXPECT_EQ(Parse(with(6, 47, true)), KeyAreaReason::kBadLength);
  EXPECT_EQ(Parse(with(7, 1, true)), KeyAreaReason::kBadLength);  // 304
  EXPECT_EQ(Parse(with(5, 0x03, true)), KeyAreaReason::kUnknownFlags);
  EXPECT_EQ(Parse(with(5, 0x80, true)), KeyAreaReason::kUnknownFlags);
  EXPECT_EQ(Parse(with(26, 1, true)), KeyAreaReason::kReservedNotZero);
  EXPECT_EQ(Parse(with(27, 1, true)), KeyAreaReason::kReservedNotZero);
  // Without the CRC fixed up, any other changed byte is a CRC mismatch.
  for (size_t offset : {size_t{8}, size_t{16}, size_t{24}, size_t{28},
                        size_t{43}, size_t{44}, size_t{47}}) {
    EXPECT_EQ(Parse(with(offset, good[offset] ^ 0x01, false)),
              KeyAreaReason::kCrcMismatch)
        << offset;
  }
}

TEST(NodeKeyAreaTest, EveryBitFlipIsRefused) {
  const std::vector<uint8_t> good = Encoded(Sample());
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bytes = good;
      bytes[byte] ^= uint8_t(1 << bit);
      EXPECT_NE(Parse(bytes), KeyAreaReason::kNone) << byte << ":" << bit;
    }
  }
}

TEST(NodeKeyAreaTest, WriterNeedsRoom) {
  std::array<uint8_t, kNodeKeyAreaSize - 1> small{};
  EXPECT_EQ(WriteNodeKeyArea(Sample(), small), KeyAreaReason::kBufferTooSmall);
}

// -- Version 2: a node with a DTLS PSK ---------------------------------------

NodeKeyArea SampleDtls() {
  NodeKeyArea area = Sample();
  area.has_dtls = true;
  area.dtls_epoch = 0x01020304;
  for (size_t i = 0; i < area.dtls_psk.size(); ++i) {
    area.dtls_psk[i] = uint8_t(0xA0 + i);
  }
  for (size_t i = 0; i < area.drbg_seed.size(); ++i) {
    area.drbg_seed[i] = uint8_t(0x40 + i);
  }
  return area;
}

std::vector<uint8_t> EncodedV2(const NodeKeyArea& area) {
  std::vector<uint8_t> out(kNodeKeyAreaSizeV2);
  EXPECT_EQ(WriteNodeKeyArea(area, out), KeyAreaReason::kNone);
  return out;
}

void FixCrcV2(std::vector<uint8_t>& bytes) {
  uint32_t crc = Crc32(std::span(bytes.data(), 96));
  for (int i = 0; i < 4; ++i) bytes[96 + i] = uint8_t(crc >> (8 * i));
}

TEST(NodeKeyAreaV2Test, KnownLayout) {
  NodeKeyArea sample = SampleDtls();
  sample.dtls_epoch = 7;
  EXPECT_EQ(NodeKeyAreaSize(sample), 100u);
  std::vector<uint8_t> bytes = EncodedV2(sample);
  const std::vector<uint8_t> header = {'C', 'X', 'N', 'K', 2, 1, 100, 0};
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 8), header);
  EXPECT_EQ(bytes[28], 0x2b);  // the Mioty part as in version 1
  EXPECT_EQ(bytes[43], 0x3c);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 44, bytes.begin() + 48),
            (std::vector<uint8_t>{7, 0, 0, 0}));
  EXPECT_EQ(bytes[48], 0xA0);
  EXPECT_EQ(bytes[63], 0xAF);
  EXPECT_EQ(bytes[64], 0x40);
  EXPECT_EQ(bytes[95], 0x5F);
  const uint32_t crc = Crc32(std::span(bytes.data(), 96));
  EXPECT_EQ(bytes[96], uint8_t(crc));
  EXPECT_EQ(bytes[99], uint8_t(crc >> 24));
}

TEST(NodeKeyAreaV2Test, RoundTrips) {
  std::vector<uint8_t> bytes = EncodedV2(SampleDtls());
  bytes.resize(kNodeKeyAreaMaxSize, 0xFF);
  NodeKeyArea area;
  ASSERT_EQ(ParseNodeKeyArea(bytes, area), KeyAreaReason::kNone);
  const NodeKeyArea expected = SampleDtls();
  EXPECT_TRUE(area.has_dtls);
  EXPECT_EQ(area.dtls_epoch, expected.dtls_epoch);
  EXPECT_EQ(area.dtls_psk, expected.dtls_psk);
  EXPECT_EQ(area.drbg_seed, expected.drbg_seed);
  EXPECT_EQ(area.mioty_network_key, expected.mioty_network_key);
  WipeNodeKeyArea(area);
  EXPECT_EQ(area.dtls_psk, (std::array<uint8_t, 16>{}));
  EXPECT_EQ(area.drbg_seed, (std::array<uint8_t, 32>{}));
}

TEST(NodeKeyAreaV2Test, VersionOneHasNoDtlsKey) {
  NodeKeyArea area;
  ASSERT_EQ(ParseNodeKeyArea(Encoded(Sample()), area), KeyAreaReason::kNone);
  EXPECT_FALSE(area.has_dtls);
  EXPECT_EQ(area.dtls_epoch, 0u);
}

TEST(NodeKeyAreaV2Test, EveryTruncationIsRefused) {
  std::vector<uint8_t> bytes = EncodedV2(SampleDtls());
  for (size_t n = 0; n < bytes.size(); ++n) {
    NodeKeyArea area;
    EXPECT_EQ(ParseNodeKeyArea(std::span(bytes.data(), n), area),
              KeyAreaReason::kTruncated)
        << n;
  }
}

TEST(NodeKeyAreaV2Test, EachMalformationHasItsReason) {
  const std::vector<uint8_t> good = EncodedV2(SampleDtls());
  auto with = [&](size_t offset, uint8_t value, bool fix_crc) {
    std::vector<uint8_t> bytes = good;
    bytes[offset] = value;
    if (fix_crc) FixCrcV2(bytes);
    return bytes;
  };
  EXPECT_EQ(Parse(with(6, 48, true)), KeyAreaReason::kBadLength);
  EXPECT_EQ(Parse(with(6, 99, true)), KeyAreaReason::kBadLength);
  EXPECT_EQ(Parse(with(5, 0x02, true)), KeyAreaReason::kUnknownFlags);
  EXPECT_EQ(Parse(with(26, 1, true)), KeyAreaReason::kReservedNotZero);
  std::vector<uint8_t> zero_epoch = good;
  for (size_t i = 44; i < 48; ++i) zero_epoch[i] = 0;
  FixCrcV2(zero_epoch);
  EXPECT_EQ(Parse(zero_epoch), KeyAreaReason::kBadDtlsEpoch);
  EXPECT_EQ(Parse(with(47, 0xFF, true)), KeyAreaReason::kBadDtlsEpoch);
  for (size_t offset : {size_t{44}, size_t{48}, size_t{63}, size_t{64},
                        size_t{95}, size_t{96}, size_t{99}}) {
    EXPECT_EQ(Parse(with(offset, good[offset] ^ 0x01, false)),
              KeyAreaReason::kCrcMismatch)
        << offset;
  }
}

TEST(NodeKeyAreaV2Test, EveryBitFlipIsRefused) {
  const std::vector<uint8_t> good = EncodedV2(SampleDtls());
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bytes = good;
      bytes[byte] ^= uint8_t(1 << bit);
      EXPECT_NE(Parse(bytes), KeyAreaReason::kNone) << byte << ":" << bit;
    }
  }
}

TEST(NodeKeyAreaV2Test, WriterChecksRoomAndEpoch) {
  std::array<uint8_t, kNodeKeyAreaSizeV2 - 1> small{};
  EXPECT_EQ(WriteNodeKeyArea(SampleDtls(), small),
            KeyAreaReason::kBufferTooSmall);
  std::array<uint8_t, kNodeKeyAreaSizeV2> room{};
  NodeKeyArea area = SampleDtls();
  area.dtls_epoch = 0;
  EXPECT_EQ(WriteNodeKeyArea(area, room), KeyAreaReason::kBadDtlsEpoch);
  area.dtls_epoch = kMaxDtlsEpoch + 1;
  EXPECT_EQ(WriteNodeKeyArea(area, room), KeyAreaReason::kBadDtlsEpoch);
}

}  // namespace
}  // namespace cxsec::device
