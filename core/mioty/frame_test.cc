// Tests of the Mioty frame codec: RFC 4493 CMAC, the TS-UNB-Lib vector,
// frames built independently from the layout (raw AES + BoringSSL's own
// CMAC), all four addressing/MPF forms, and every rejection.
#include "core/mioty/frame.h"

#include <openssl/aes.h>
#include <openssl/cmac.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "core/encoding/hex.h"
#include "gtest/gtest.h"

// Counts heap allocations so a test can show that verifying allocates
// nothing.
static std::atomic<long> g_allocations{0};
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace cxsec::mioty {
namespace {

Bytes Hex(absl::string_view text) {
  absl::StatusOr<Bytes> out = HexDecode(text);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : Bytes();
}

Eui64 EuiOf(absl::string_view text) {
  Bytes raw = Hex(text);
  Eui64 eui{};
  std::copy(raw.begin(), raw.end(), eui.begin());
  return eui;
}

MiotyNetworkKey KeyOf(absl::string_view text) {
  absl::StatusOr<MiotyNetworkKey> key = MiotyNetworkKey::FromBytes(Hex(text));
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

constexpr absl::string_view kKey = "2b7e151628aed2a6abf7158809cf4f3c";
constexpr absl::string_view kEui = "70b3d56770001234";

std::string CmacHex(const MiotyNetworkKey& key, ByteView message) {
  AesCmac cmac(key);
  cmac.Update(message);
  Block tag = cmac.Final();
  return HexEncode(ByteView(tag.data(), tag.size()));
}

TEST(AesCmacTest, Rfc4493Vectors) {
  MiotyNetworkKey key = KeyOf(kKey);
  Bytes m = Hex(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
  ByteView all(m);
  EXPECT_EQ(CmacHex(key, all.subspan(0, 0)), "bb1d6929e95937287fa37d129b756746");
  EXPECT_EQ(CmacHex(key, all.subspan(0, 16)), "070a16b46b4d4144f79bdd9dd04a287c");
  EXPECT_EQ(CmacHex(key, all.subspan(0, 40)), "dfa66747de9ae63030ca32611497c827");
  EXPECT_EQ(CmacHex(key, all.subspan(0, 64)), "51f0bebf7e3b9d92fc49741779363cfe");
}

TEST(AesCmacTest, MatchesBoringSslForEveryLengthAndSplit) {
  Bytes raw = Hex(kKey);
  MiotyNetworkKey key = KeyOf(kKey);
  Bytes message(100);
  for (size_t i = 0; i < message.size(); ++i) message[i] = uint8_t(i * 7 + 3);
  for (size_t n = 0; n <= message.size(); ++n) {
    uint8_t expected[16];
    ASSERT_EQ(AES_CMAC(expected, raw.data(), raw.size(), message.data(), n), 1);
    for (size_t split : {size_t{0}, n / 3, n}) {
      AesCmac cmac(key);
      cmac.Update(ByteView(message.data(), split));
      cmac.Update(ByteView(message.data() + split, n - split));
      Block tag = cmac.Final();
      EXPECT_EQ(HexEncode(ByteView(tag.data(), 16)),
                HexEncode(ByteView(expected, 16)))
          << "length " << n << " split " << split;
    }
  }
}

// The MIC's block-wise CMAC (a whole first block, then the rest), at and
// around every block boundary of the rest.
TEST(AesCmacTest, BlockThenRestMatchesBoringSslForEveryRestLength) {
  Bytes raw = Hex(kKey);
  MiotyNetworkKey key = KeyOf(kKey);
  Bytes message(16 + 100);
  for (size_t i = 0; i < message.size(); ++i) message[i] = uint8_t(i * 5 + 1);
  Block first;
  std::copy(message.begin(), message.begin() + 16, first.begin());
  for (size_t n = 1; n <= 100; ++n) {
    uint8_t expected[16];
    ASSERT_EQ(
        AES_CMAC(expected, raw.data(), raw.size(), message.data(), 16 + n), 1);
    Block tag = CmacBlockThenRest(
        key, first, std::span<const uint8_t>(message.data() + 16, n));
    EXPECT_EQ(HexEncode(ByteView(tag.data(), 16)),
              HexEncode(ByteView(expected, 16)))
        << "rest length " << n;
  }
}

TEST(MiotyFrameTest, TsUnbLibVector) {
  MiotyNetworkKey key = KeyOf(kKey);
  UplinkParams params;
  params.eui = EuiOf(kEui);
  params.short_address = 0x1234;
  params.counter = 0x01020304;
  Bytes payload(20);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t(i);
  absl::StatusOr<Bytes> mpdu = EncodeUplink(key, params, payload);
  ASSERT_TRUE(mpdu.ok()) << mpdu.status();
  EXPECT_EQ(HexEncode(*mpdu),
            "001234020304178ac8d513a6a8b1a995eb6e94498674908c5993f6bd7fd3");

  absl::StatusOr<FrameHeader> header = ParseFrameHeader(*mpdu);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_FALSE(header->long_addressing);
  EXPECT_EQ(header->short_address, 0x1234);
  EXPECT_EQ(header->counter_low24, 0x020304u);
  std::optional<uint32_t> counter =
      ReconstructCounter(0x01020000u, header->counter_low24);
  ASSERT_EQ(counter, 0x01020304u);
  uint8_t plain[kMaxMpduSize];
  absl::StatusOr<VerifiedFrame> frame = VerifyUplink(
      key, *header, params.eui, *counter, *mpdu, absl::MakeSpan(plain));
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(ToBytes(frame->payload), payload);
  EXPECT_FALSE(frame->mpf.has_value());
  EXPECT_EQ(frame->counter, 0x01020304u);
}

// BuildIndependently follows the layout in PROTOCOLS.md with raw AES
// blocks and BoringSSL's AES_CMAC, sharing no code with the codec.
Bytes BuildIndependently(const Bytes& raw_key, const Eui64& eui,
                         uint16_t short_address, uint32_t counter, bool long_addr,
                         std::optional<uint8_t> mpf, const Bytes& payload) {
  AES_KEY aes;
  EXPECT_EQ(AES_set_encrypt_key(raw_key.data(), 128, &aes), 0);
  Bytes frame;
  frame.push_back(uint8_t((long_addr ? 0x04 : 0) | (mpf ? 0x40 : 0)));
  if (long_addr) {
    frame.insert(frame.end(), eui.begin(), eui.end());
  } else {
    frame.push_back(uint8_t(short_address >> 8));
    frame.push_back(uint8_t(short_address));
  }
  frame.push_back(uint8_t(counter >> 16));
  frame.push_back(uint8_t(counter >> 8));
  frame.push_back(uint8_t(counter));
  Bytes clear;
  if (mpf) clear.push_back(*mpf);
  clear.insert(clear.end(), payload.begin(), payload.end());
  uint8_t c32[4] = {uint8_t(counter >> 24), uint8_t(counter >> 16),
                    uint8_t(counter >> 8), uint8_t(counter)};
  for (size_t i = 0; i < clear.size(); ++i) {
    uint8_t block[16] = {0}, stream[16];
    std::copy(eui.begin(), eui.end(), block);
    std::copy(c32, c32 + 4, block + 10);
    block[15] = uint8_t(i / 16);
    AES_encrypt(block, stream, &aes);
    frame.push_back(clear[i] ^ stream[i % 16]);
  }
  Bytes mac_input(16, 0);
  std::copy(eui.begin(), eui.end(), mac_input.begin());
  std::copy(c32, c32 + 4, mac_input.begin() + 10);
  mac_input[14] = mac_input[15] = 0xff;
  mac_input.insert(mac_input.end(), frame.begin(), frame.end());
  uint8_t tag[16];
  EXPECT_EQ(AES_CMAC(tag, raw_key.data(), 16, mac_input.data(),
                     mac_input.size()),
            1);
  frame.insert(frame.end(), tag, tag + 4);
  return frame;
}

struct Form {
  bool long_addressing;
  bool with_mpf;
};

class MiotyFormTest : public ::testing::TestWithParam<Form> {};

TEST_P(MiotyFormTest, IndependentFramesDecodeAndCodecMatchesThem) {
  const Form form = GetParam();
  Bytes raw_key = Hex("000102030405060708090a0b0c0d0e0f");
  MiotyNetworkKey key = KeyOf("000102030405060708090a0b0c0d0e0f");
  Eui64 eui = EuiOf("0011223344556677");
  for (size_t n : {size_t{0}, size_t{1}, size_t{10}, size_t{15}, size_t{16},
                   size_t{17}, size_t{40},
                   MaxPayloadSize(form.long_addressing, form.with_mpf)}) {
    Bytes payload(n);
    for (size_t i = 0; i < n; ++i) payload[i] = uint8_t(0xa5 ^ i);
    std::optional<uint8_t> mpf;
    if (form.with_mpf) mpf = 0x3c;
    const uint32_t counter = 0x7f00fffe + uint32_t(n);
    Bytes independent = BuildIndependently(raw_key, eui, 0x6677, counter,
                                           form.long_addressing, mpf, payload);
    UplinkParams params;
    params.eui = eui;
    params.short_address = 0x6677;
    params.counter = counter;
    params.long_addressing = form.long_addressing;
    params.mpf = mpf;
    absl::StatusOr<Bytes> encoded = EncodeUplink(key, params, payload);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    EXPECT_EQ(HexEncode(*encoded), HexEncode(independent)) << "payload " << n;
    EXPECT_EQ(independent.size(),
              MpduSize(form.long_addressing, form.with_mpf, n));

    absl::StatusOr<FrameHeader> header = ParseFrameHeader(independent);
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(header->long_addressing, form.long_addressing);
    EXPECT_EQ(header->has_mpf, form.with_mpf);
    if (form.long_addressing) {
      EXPECT_EQ(header->eui, eui);
    } else {
      EXPECT_EQ(header->short_address, 0x6677);
    }
    uint8_t plain[kMaxMpduSize];
    absl::StatusOr<VerifiedFrame> frame =
        VerifyUplink(key, *header, eui, counter, independent,
                     absl::MakeSpan(plain));
    ASSERT_TRUE(frame.ok()) << frame.status();
    EXPECT_EQ(ToBytes(frame->payload), payload);
    EXPECT_EQ(frame->mpf, mpf);
    EXPECT_EQ(frame->counter, counter);
  }
}

INSTANTIATE_TEST_SUITE_P(AllForms, MiotyFormTest,
                         ::testing::Values(Form{false, false}, Form{false, true},
                                           Form{true, false}, Form{true, true}),
                         [](const auto& info) {
                           return std::string(info.param.long_addressing
                                                  ? "Long"
                                                  : "Short") +
                                  (info.param.with_mpf ? "Mpf" : "NoMpf");
                         });

class MiotyRejectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    params_.eui = EuiOf(kEui);
    params_.short_address = 0x1234;
    params_.counter = 0x01020304;
    params_.mpf = 0x11;
    Bytes payload(12, 0x42);
    absl::StatusOr<Bytes> mpdu = EncodeUplink(key_, params_, payload);
    ASSERT_TRUE(mpdu.ok());
    mpdu_ = *mpdu;
  }

  absl::Status Verify(const MiotyNetworkKey& key, ByteView mpdu,
                      uint32_t counter) {
    absl::StatusOr<FrameHeader> header = ParseFrameHeader(mpdu);
    if (!header.ok()) return header.status();
    uint8_t plain[kMaxMpduSize];
    return VerifyUplink(key, *header, params_.eui, counter, mpdu,
                        absl::MakeSpan(plain))
        .status();
  }

  MiotyNetworkKey key_ = KeyOf(kKey);
  UplinkParams params_;
  Bytes mpdu_;
};

TEST_F(MiotyRejectionTest, AcceptsTheUntouchedFrame) {
  EXPECT_TRUE(Verify(key_, mpdu_, 0x01020304).ok());
}

TEST_F(MiotyRejectionTest, WrongKey) {
  MiotyNetworkKey other = KeyOf("2b7e151628aed2a6abf7158809cf4f3d");
  absl::Status status = Verify(other, mpdu_, 0x01020304);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
}

TEST_F(MiotyRejectionTest, EveryBitFlipIsRejected) {
  for (size_t byte = 0; byte < mpdu_.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes tampered = mpdu_;
      tampered[byte] ^= uint8_t(1 << bit);
      EXPECT_FALSE(Verify(key_, tampered, 0x01020304).ok())
          << "byte " << byte << " bit " << bit;
    }
  }
}

TEST_F(MiotyRejectionTest, EveryTruncationIsRejected) {
  for (size_t n = 0; n < mpdu_.size(); ++n) {
    EXPECT_FALSE(Verify(key_, ByteView(mpdu_.data(), n), 0x01020304).ok())
        << "length " << n;
  }
  EXPECT_FALSE(Verify(key_, ByteView(mpdu_.data() + 1, mpdu_.size() - 1),
                      0x01020304)
                   .ok());
}

TEST_F(MiotyRejectionTest, WrongUpperCounterBitsFailTheMic) {
  absl::Status status = Verify(key_, mpdu_, 0x02020304);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
  EXPECT_FALSE(Verify(key_, mpdu_, 0x01020305).ok());
}

TEST_F(MiotyRejectionTest, OversizedAndUnknownVersionFrames) {
  Bytes big(kMaxMpduSize + 1, 0);
  EXPECT_FALSE(ParseFrameHeader(big).ok());
  Bytes versioned = mpdu_;
  versioned[0] |= mac_header::kMacVersion;
  EXPECT_FALSE(ParseFrameHeader(versioned).ok());
  // Long addressing announced but too short for an EUI-64.
  Bytes short_long = {0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_FALSE(ParseFrameHeader(short_long).ok());
}

TEST_F(MiotyRejectionTest, LongFrameEuiMustMatchTheKeysDevice) {
  UplinkParams params = params_;
  params.long_addressing = true;
  absl::StatusOr<Bytes> mpdu = EncodeUplink(key_, params, Bytes(3, 1));
  ASSERT_TRUE(mpdu.ok());
  absl::StatusOr<FrameHeader> header = ParseFrameHeader(*mpdu);
  ASSERT_TRUE(header.ok());
  uint8_t plain[kMaxMpduSize];
  Eui64 other = params.eui;
  other[0] ^= 1;
  EXPECT_FALSE(VerifyUplink(key_, *header, other, params.counter, *mpdu,
                            absl::MakeSpan(plain))
                   .ok());
}

TEST_F(MiotyRejectionTest, VerifyingAnAcceptedFrameDoesNotAllocate) {
  absl::StatusOr<FrameHeader> header = ParseFrameHeader(mpdu_);
  ASSERT_TRUE(header.ok());
  uint8_t plain[kMaxMpduSize];
  long before = g_allocations.load();
  absl::StatusOr<FrameHeader> again = ParseFrameHeader(mpdu_);
  absl::StatusOr<VerifiedFrame> frame = VerifyUplink(
      key_, *again, params_.eui, 0x01020304, mpdu_, absl::MakeSpan(plain));
  long after = g_allocations.load();
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(after - before, 0);
}

// The gateway decodes every frame into the same caller-owned header and
// frame: nothing of one frame may survive into the next, and a frame that
// fails leaves the previous result as it was.
TEST(MiotyReuseTest, CallerOwnedHeaderAndFrameCarryNothingOver) {
  MiotyNetworkKey key = KeyOf(kKey);
  UplinkParams with_mpf;
  with_mpf.eui = EuiOf(kEui);
  with_mpf.long_addressing = true;
  with_mpf.counter = 7;
  with_mpf.mpf = 0x5a;
  UplinkParams plain_short;
  plain_short.eui = EuiOf(kEui);
  plain_short.short_address = 0x1234;
  plain_short.counter = 8;
  Bytes first = EncodeUplink(key, with_mpf, Hex("0102")).value();
  Bytes second = EncodeUplink(key, plain_short, Hex("030405")).value();
  uint8_t buffer[kMaxMpduSize];
  FrameHeader header;
  VerifiedFrame frame;
  ASSERT_TRUE(ParseFrameHeader(first, header).ok());
  ASSERT_TRUE(VerifyUplink(key, header, with_mpf.eui, 7, first,
                           absl::MakeSpan(buffer), frame).ok());
  EXPECT_EQ(frame.mpf, std::optional<uint8_t>(0x5a));
  EXPECT_EQ(Bytes(frame.payload.begin(), frame.payload.end()), Hex("0102"));

  ASSERT_TRUE(ParseFrameHeader(second, header).ok());
  EXPECT_FALSE(header.long_addressing);
  EXPECT_FALSE(header.has_mpf);
  EXPECT_EQ(header.eui, Eui64{});  // not the previous frame's EUI
  ASSERT_TRUE(VerifyUplink(key, header, plain_short.eui, 8, second,
                           absl::MakeSpan(buffer), frame).ok());
  EXPECT_EQ(frame.mpf, std::nullopt);
  EXPECT_FALSE(frame.long_addressing);
  EXPECT_EQ(frame.short_address, 0x1234);
  EXPECT_EQ(frame.counter, 8u);
  EXPECT_EQ(Bytes(frame.payload.begin(), frame.payload.end()), Hex("030405"));

  Bytes tampered = second;
  tampered.back() ^= 1;
  ASSERT_TRUE(ParseFrameHeader(tampered, header).ok());
  EXPECT_FALSE(VerifyUplink(key, header, plain_short.eui, 8, tampered,
                            absl::MakeSpan(buffer), frame).ok());
  EXPECT_EQ(frame.counter, 8u);  // the earlier result is untouched
  EXPECT_EQ(frame.short_address, 0x1234);
}

TEST(MiotyEncodeTest, RefusesOversizedPayloadAndSmallBuffer) {
  MiotyNetworkKey key = KeyOf(kKey);
  UplinkParams params;
  Bytes payload(MaxPayloadSize(false, false) + 1);
  EXPECT_FALSE(EncodeUplink(key, params, payload).ok());
  uint8_t small[10];
  EXPECT_FALSE(
      EncodeUplink(key, params, Bytes(1), absl::MakeSpan(small)).ok());
}

TEST(MiotyEncodeTest, KeyMustBeSixteenBytes) {
  EXPECT_FALSE(MiotyNetworkKey::FromBytes(Bytes(15)).ok());
  EXPECT_FALSE(MiotyNetworkKey::FromBytes(Bytes(32)).ok());
}

TEST(ReconstructCounterTest, NearestValueToLastAccepted) {
  EXPECT_EQ(ReconstructCounter(std::nullopt, 0x123456), 0x123456u);
  EXPECT_EQ(ReconstructCounter(0x05000010u, 0x000011), 0x05000011u);
  // Low bits wrapped: the upper byte moves on.
  EXPECT_EQ(ReconstructCounter(0x05fffff0u, 0x000002), 0x06000002u);
  // A replayed or late frame is rebuilt as the old counter it is.
  EXPECT_EQ(ReconstructCounter(0x05000010u, 0x000010), 0x05000010u);
  EXPECT_EQ(ReconstructCounter(0x05000010u, 0x00000f), 0x0500000fu);
  EXPECT_EQ(ReconstructCounter(0x06000001u, 0xfffffe), 0x05fffffeu);
  // Far ahead (more than half the 24-bit space) reads as old.
  EXPECT_EQ(ReconstructCounter(0x05000010u, 0x900000), 0x04900000u);
  EXPECT_EQ(ReconstructCounter(0x00000010u, 0x900000), 0x00900000u);
  // The 32-bit counter space is exhausted.
  EXPECT_EQ(ReconstructCounter(0xfffffff0u, 0x000001), std::nullopt);
}

}  // namespace
}  // namespace cxsec::mioty
