// SLIP framing: round trips of frames full of END/ESC bytes, frames split
// across noise, and each malformed stream dropped with its event.
#include "core/device/slip.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace cxsec::device {
namespace {

std::vector<uint8_t> Encode(const std::vector<uint8_t>& frame) {
  std::vector<uint8_t> out(SlipEncodedSizeMax(frame.size()));
  size_t n = SlipEncode(frame, out);
  EXPECT_GT(n, 0u);
  out.resize(n);
  return out;
}

template <size_t Max>
std::vector<std::vector<uint8_t>> DecodeAll(SlipDecoder<Max>& decoder,
                                            const std::vector<uint8_t>& wire,
                                            std::vector<SlipEvent>* events) {
  std::vector<std::vector<uint8_t>> frames;
  for (uint8_t byte : wire) {
    SlipEvent event = decoder.Push(byte);
    if (event == SlipEvent::kFrame) {
      frames.emplace_back(decoder.frame().begin(), decoder.frame().end());
    } else if (event != SlipEvent::kNone && events != nullptr) {
      events->push_back(event);
    }
  }
  return frames;
}

TEST(SlipTest, EscapesEndAndEsc) {
  EXPECT_EQ(
      Encode({0x01, 0xC0, 0xDB, 0x02}),
      (std::vector<uint8_t>{0xC0, 0x01, 0xDB, 0xDC, 0xDB, 0xDD, 0x02, 0xC0}));
}

TEST(SlipTest, RoundTripsEveryByteValueAndBackToBackFrames) {
  std::vector<uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = uint8_t(i);
  std::vector<uint8_t> wire = Encode(all);
  std::vector<uint8_t> second = Encode({0xC0, 0xC0});
  wire.insert(wire.end(), second.begin(), second.end());
  SlipDecoder<256> decoder;
  auto frames = DecodeAll(decoder, wire, nullptr);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], all);
  EXPECT_EQ(frames[1], (std::vector<uint8_t>{0xC0, 0xC0}));
}

TEST(SlipTest, TooSmallOutputWritesNothingUsable) {
  std::vector<uint8_t> out(5);
  EXPECT_EQ(SlipEncode(std::vector<uint8_t>{1, 2, 0xC0}, out), 0u);
  EXPECT_EQ(SlipEncode(std::vector<uint8_t>{1, 2, 3}, out), 5u);
}

TEST(SlipTest, OversizeFrameIsDroppedAndDecodingResumes) {
  SlipDecoder<4> decoder;
  std::vector<uint8_t> wire = Encode({1, 2, 3, 4, 5});
  std::vector<uint8_t> good = Encode({6, 7});
  wire.insert(wire.end(), good.begin(), good.end());
  std::vector<SlipEvent> events;
  auto frames = DecodeAll(decoder, wire, &events);
  EXPECT_EQ(events, std::vector<SlipEvent>{SlipEvent::kOversize});
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], (std::vector<uint8_t>{6, 7}));
}

TEST(SlipTest, BadEscapeDropsTheFrame) {
  SlipDecoder<16> decoder;
  std::vector<uint8_t> wire = {0xC0, 1, 0xDB, 0x42, 2, 0xC0, 3, 0xC0};
  std::vector<SlipEvent> events;
  auto frames = DecodeAll(decoder, wire, &events);
  EXPECT_EQ(events, std::vector<SlipEvent>{SlipEvent::kBadEscape});
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], (std::vector<uint8_t>{3}));
}

TEST(SlipTest, EmptyFramesAndLeadingNoiseAreSkipped) {
  SlipDecoder<16> decoder;
  // Noise before the first END is a frame of its own (SLIP cannot tell);
  // the receiver's MPDU check rejects it. Empty frames produce nothing.
  auto frames = DecodeAll(decoder, {0xC0, 0xC0, 0xC0, 9, 0xC0}, nullptr);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], (std::vector<uint8_t>{9}));
}

}  // namespace
}  // namespace cxsec::device
