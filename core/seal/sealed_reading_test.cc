// Sealed readings: round trips on both transports and modes, every
// malformed or tampered envelope refused with its reason, the epoch
// ratchet, and each primitive held to BoringSSL's and Mbed TLS's own
// implementations (CCM, CMAC, HKDF). The Mbed TLS backend (the node's)
// seals exactly what the BoringSSL backend (the verifier's) opens.
#include "core/seal/sealed_reading.h"

#include <openssl/aead.h>
#include <openssl/cmac.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/mbedtls_seal_crypto.h"
#include "gtest/gtest.h"
#include "mbedtls/ccm.h"
#include "mbedtls/memory_buffer_alloc.h"

namespace cxsec::seal {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr std::array<uint8_t, 32> kMaster = {
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
constexpr std::array<uint8_t, 8> kDeviceId = {0x00, 0x11, 0x22, 0x33,
                                              0x44, 0x55, 0x66, 0x77};
constexpr std::array<uint8_t, 8> kOtherDeviceId = {0x00, 0x11, 0x22, 0x33,
                                                   0x44, 0x55, 0x66, 0x78};

template <class Crypto>
void LoadDeviceKeys(DeviceSealKeys<Crypto>& keys,
                    std::span<const uint8_t> device_id, uint32_t epoch,
                    bool with_enc = true) {
  std::array<uint8_t, 16> mac{}, enc{};
  ASSERT_EQ(
      DeriveEpochKey<Crypto>(KeyBranch::kMac, kMaster, device_id, epoch, mac),
      SealReason::kNone);
  ASSERT_EQ(DeriveEpochKey<Crypto>(KeyBranch::kEncryption, kMaster, device_id,
                                   epoch, enc),
            SealReason::kNone);
  ASSERT_EQ(keys.Load(epoch, mac,
                      with_enc ? std::span<const uint8_t>(enc)
                               : std::span<const uint8_t>()),
            SealReason::kNone);
}

Bytes Reading(size_t size) {
  Bytes body(size);
  for (size_t i = 0; i < size; ++i) body[i] = static_cast<uint8_t>(i * 7 + 1);
  return body;
}

Bytes SealWith(const DeviceSealKeys<BoringSslSealCrypto>& keys,
               Transport transport, SealMode mode, uint32_t sequence,
               const Bytes& body) {
  Bytes out(SealedSize(transport, body.size()));
  auto sealed = HostSealCodec::Seal(keys, transport, mode, sequence, body, out);
  EXPECT_TRUE(sealed.ok()) << SealReasonName(sealed.reason());
  EXPECT_EQ(sealed.value(), out.size());
  return out;
}

// Opens `bytes` as the device of kDeviceId at `epoch`, returns the reason.
SealReason OpenAs(const DeviceSealKeys<BoringSslSealCrypto>& keys,
                  Transport transport, const Bytes& bytes, uint32_t epoch,
                  uint32_t mioty_counter, Bytes* body = nullptr) {
  SealedEnvelope envelope;
  SealReason reason = ParseSealedEnvelope(transport, bytes, envelope);
  if (reason != SealReason::kNone) return reason;
  const uint32_t sequence =
      transport == Transport::kDtlsCoap ? envelope.sequence : mioty_counter;
  Bytes out(kMaxBodySize);
  auto opened = HostSealCodec::Open(keys.mac_key(), &keys.enc_key(), transport,
                                    envelope, epoch, sequence, out);
  if (!opened.ok()) return opened.reason();
  if (body != nullptr) *body = Bytes(out.begin(), out.begin() + opened.value());
  return SealReason::kNone;
}

TEST(SealedReadingTest, OverheadMeetsTheGoals) {
  EXPECT_EQ(SealedSize(Transport::kDtlsCoap, 40) - 40, 13u);
  EXPECT_EQ(SealedSize(Transport::kMioty, 40) - 40, 9u);
  EXPECT_EQ(SealedSize(static_cast<Transport>(9), 40), 0u);
}

TEST(SealedReadingTest, RoundTripsOnBothTransportsAndModes) {
  DeviceSealKeys<BoringSslSealCrypto> keys;
  LoadDeviceKeys(keys, kDeviceId, 3);
  for (Transport transport : {Transport::kDtlsCoap, Transport::kMioty}) {
    for (SealMode mode : {SealMode::kMacOnly, SealMode::kEncrypted}) {
      for (size_t size : {size_t{0}, size_t{1}, size_t{15}, size_t{16},
                          size_t{17}, size_t{200}, kMaxBodySize}) {
        const Bytes body = Reading(size);
        const Bytes sealed = SealWith(keys, transport, mode, 42, body);
        Bytes opened;
        EXPECT_EQ(OpenAs(keys, transport, sealed, 3, 42, &opened),
                  SealReason::kNone);
        EXPECT_EQ(opened, body);
        const size_t header = transport == Transport::kDtlsCoap ? 5 : 1;
        const Bytes carried(sealed.begin() + header,
                            sealed.begin() + header + size);
        if (mode == SealMode::kMacOnly) {
          EXPECT_EQ(carried, body);
        } else if (size >= 8) {
          EXPECT_NE(carried, body);
        }
      }
    }
  }
}

TEST(SealedReadingTest, EveryFlippedBitIsATagMismatchOrRefused) {
  DeviceSealKeys<BoringSslSealCrypto> keys;
  LoadDeviceKeys(keys, kDeviceId, 0);
  for (Transport transport : {Transport::kDtlsCoap, Transport::kMioty}) {
    const Bytes sealed =
        SealWith(keys, transport, SealMode::kEncrypted, 9, Reading(20));
    for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
      Bytes bad = sealed;
      bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      const SealReason reason = OpenAs(keys, transport, bad, 0, 9);
      // Header-byte bits change the version (refused unparsed) or the
      // epoch's low bits; everything else fails the tag.
      EXPECT_TRUE(reason == SealReason::kTagMismatch ||
                  reason == SealReason::kUnsupportedVersion ||
                  reason == SealReason::kEpochMismatch ||
                  reason == SealReason::kNoEncryptionKey)
          << "bit " << bit << ": " << SealReasonName(reason);
      EXPECT_NE(reason, SealReason::kNone) << "bit " << bit;
    }
  }
}

TEST(SealedReadingTest, ModeBitFlipIsATagMismatch) {
  DeviceSealKeys<BoringSslSealCrypto> keys;
  LoadDeviceKeys(keys, kDeviceId, 0);
  Bytes sealed =
      SealWith(keys, Transport::kMioty, SealMode::kEncrypted, 9, Reading(20));
  sealed[0] ^= kModeBit;  // claim MAC-only: the gateway would see ciphertext
  EXPECT_EQ(OpenAs(keys, Transport::kMioty, sealed, 0, 9),
            SealReason::kTagMismatch);
}

TEST(SealedReadingTest, BindsDeviceTransportEpochAndSequence) {
  DeviceSealKeys<BoringSslSealCrypto> keys, other_device, next_epoch;
  LoadDeviceKeys(keys, kDeviceId, 5);
  LoadDeviceKeys(other_device, kOtherDeviceId, 5);
  LoadDeviceKeys(next_epoch, kDeviceId, 21);  // same low 4 bits as 5
  const Bytes body = Reading(24);
  // Mioty: the counter is not carried; a wrong claimed counter (a gateway
  // lying about the upper 8 bits) fails the tag.
  const Bytes mioty =
      SealWith(keys, Transport::kMioty, SealMode::kMacOnly, 0x01000005, body);
  EXPECT_EQ(OpenAs(keys, Transport::kMioty, mioty, 5, 0x01000005),
            SealReason::kNone);
  EXPECT_EQ(OpenAs(keys, Transport::kMioty, mioty, 5, 0x02000005),
            SealReason::kTagMismatch);
  EXPECT_EQ(OpenAs(other_device, Transport::kMioty, mioty, 5, 0x01000005),
            SealReason::kTagMismatch);
  EXPECT_EQ(OpenAs(next_epoch, Transport::kMioty, mioty, 21, 0x01000005),
            SealReason::kTagMismatch);
  EXPECT_EQ(OpenAs(keys, Transport::kMioty, mioty, 6, 0x01000005),
            SealReason::kEpochMismatch);
  // The transport is bound: a Mioty envelope is not a DTLS one, even with
  // the same bytes rearranged.
  const Bytes dtls =
      SealWith(keys, Transport::kDtlsCoap, SealMode::kMacOnly, 77, body);
  EXPECT_EQ(OpenAs(other_device, Transport::kDtlsCoap, dtls, 5, 0),
            SealReason::kTagMismatch);
  Bytes as_mioty(dtls.begin() + 4, dtls.end());
  as_mioty[0] = dtls[0];
  EXPECT_EQ(OpenAs(keys, Transport::kMioty, as_mioty, 5, 77),
            SealReason::kTagMismatch);
}

TEST(SealedReadingTest, DtlsSequenceMustMatchTheHeader) {
  DeviceSealKeys<BoringSslSealCrypto> keys;
  LoadDeviceKeys(keys, kDeviceId, 0);
  const Bytes sealed =
      SealWith(keys, Transport::kDtlsCoap, SealMode::kMacOnly, 5, Reading(4));
  SealedEnvelope envelope;
  ASSERT_EQ(ParseSealedEnvelope(Transport::kDtlsCoap, sealed, envelope),
            SealReason::kNone);
  EXPECT_EQ(envelope.sequence, 5u);
  EXPECT_EQ(HostSealCodec::Verify(keys.mac_key(), Transport::kDtlsCoap,
                                  envelope, 0, 6),
            SealReason::kSequenceMismatch);
  // Rewriting the sequence in the header (a replay under another sequence)
  // fails the tag.
  Bytes replayed = sealed;
  replayed[4] = 6;
  EXPECT_EQ(OpenAs(keys, Transport::kDtlsCoap, replayed, 0, 0),
            SealReason::kTagMismatch);
}

TEST(SealedReadingTest, VerifierWithTheMacKeyAloneChecksButCannotRead) {
  DeviceSealKeys<BoringSslSealCrypto> node;
  LoadDeviceKeys(node, kDeviceId, 0);
  const Bytes body = Reading(30);
  const Bytes sealed =
      SealWith(node, Transport::kMioty, SealMode::kEncrypted, 3, body);
  DeviceSealKeys<BoringSslSealCrypto> verifier;  // MAC key only
  LoadDeviceKeys(verifier, kDeviceId, 0, /*with_enc=*/false);
  SealedEnvelope envelope;
  ASSERT_EQ(ParseSealedEnvelope(Transport::kMioty, sealed, envelope),
            SealReason::kNone);
  EXPECT_EQ(HostSealCodec::Verify(verifier.mac_key(), Transport::kMioty,
                                  envelope, 0, 3),
            SealReason::kNone);
  Bytes out(64);
  auto opened = HostSealCodec::Open(verifier.mac_key(), &verifier.enc_key(),
                                    Transport::kMioty, envelope, 0, 3, out);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.reason(), SealReason::kNoEncryptionKey);
  // The customer, holding only the encryption key, decrypts.
  auto decrypted = HostSealCodec::DecryptBody(node.enc_key(), Transport::kMioty,
                                              0, 3, envelope.body, out);
  ASSERT_TRUE(decrypted.ok());
  EXPECT_EQ(Bytes(out.begin(), out.begin() + decrypted.value()), body);
}

TEST(SealedReadingTest, MalformedEnvelopesAreRefusedWithReasons) {
  SealedEnvelope envelope;
  const Bytes short_dtls(12, 0x20);
  EXPECT_EQ(ParseSealedEnvelope(Transport::kDtlsCoap, short_dtls, envelope),
            SealReason::kTruncated);
  const Bytes short_mioty(8, 0x20);
  EXPECT_EQ(ParseSealedEnvelope(Transport::kMioty, short_mioty, envelope),
            SealReason::kTruncated);
  EXPECT_EQ(ParseSealedEnvelope(Transport::kMioty, {}, envelope),
            SealReason::kTruncated);
  Bytes empty_body(9, 0);
  empty_body[0] = 0x20;
  EXPECT_EQ(ParseSealedEnvelope(Transport::kMioty, empty_body, envelope),
            SealReason::kNone);
  EXPECT_TRUE(envelope.body.empty());
  Bytes too_large(kMaxBodySize + 14, 0);
  too_large[0] = 0x20;
  EXPECT_EQ(ParseSealedEnvelope(Transport::kDtlsCoap, too_large, envelope),
            SealReason::kBodyTooLarge);
  too_large.pop_back();
  EXPECT_EQ(ParseSealedEnvelope(Transport::kDtlsCoap, too_large, envelope),
            SealReason::kNone);
  for (uint8_t header : {0x00, 0x1f, 0x40, 0xa3, 0xff}) {
    Bytes bad(20, 0);
    bad[0] = header;  // 0xa3: an unsealed CBOR map where an envelope belongs
    EXPECT_EQ(ParseSealedEnvelope(Transport::kMioty, bad, envelope),
              SealReason::kUnsupportedVersion)
        << int{header};
  }
  EXPECT_EQ(
      ParseSealedEnvelope(static_cast<Transport>(0), empty_body, envelope),
      SealReason::kUnknownTransport);
}

TEST(SealedReadingTest, SealRefusesWhatItCannotSealSafely) {
  DeviceSealKeys<BoringSslSealCrypto> keys;
  Bytes out(64);
  const Bytes body = Reading(8);
  auto result = HostSealCodec::Seal(keys, Transport::kMioty, SealMode::kMacOnly,
                                    1, body, out);
  EXPECT_EQ(result.reason(), SealReason::kKeyNotLoaded);
  LoadDeviceKeys(keys, kDeviceId, 0, /*with_enc=*/false);
  result = HostSealCodec::Seal(keys, Transport::kMioty, SealMode::kEncrypted, 1,
                               body, out);
  EXPECT_EQ(result.reason(), SealReason::kNoEncryptionKey);
  result = HostSealCodec::Seal(keys, Transport::kMioty,
                               static_cast<SealMode>(2), 1, body, out);
  EXPECT_EQ(result.reason(), SealReason::kUnknownMode);
  result = HostSealCodec::Seal(keys, static_cast<Transport>(3),
                               SealMode::kMacOnly, 1, body, out);
  EXPECT_EQ(result.reason(), SealReason::kUnknownTransport);
  result = HostSealCodec::Seal(keys, Transport::kDtlsCoap, SealMode::kMacOnly,
                               1, body, std::span(out).first(20));
  EXPECT_EQ(result.reason(), SealReason::kOutputBufferTooSmall);
  const Bytes big(kMaxBodySize + 1);
  Bytes big_out(kMaxBodySize + 64);
  result = HostSealCodec::Seal(keys, Transport::kDtlsCoap, SealMode::kMacOnly,
                               1, big, big_out);
  EXPECT_EQ(result.reason(), SealReason::kBodyTooLarge);
  result =
      HostSealCodec::Seal(keys, Transport::kDtlsCoap, SealMode::kMacOnly, 1,
                          std::span<const uint8_t>(out).subspan(3, 8), out);
  EXPECT_EQ(result.reason(), SealReason::kBuffersOverlap);
  // Open into a buffer too small writes nothing and says so.
  const Bytes sealed =
      SealWith(keys, Transport::kMioty, SealMode::kMacOnly, 1, body);
  SealedEnvelope envelope;
  ASSERT_EQ(ParseSealedEnvelope(Transport::kMioty, sealed, envelope),
            SealReason::kNone);
  auto opened = HostSealCodec::Open(keys.mac_key(), nullptr, Transport::kMioty,
                                    envelope, 0, 1, std::span(out).first(7));
  EXPECT_EQ(opened.reason(), SealReason::kOutputBufferTooSmall);
  // Opening into the envelope's own bytes is refused, not half-done.
  Bytes in_place = sealed;
  ASSERT_EQ(ParseSealedEnvelope(Transport::kMioty, in_place, envelope),
            SealReason::kNone);
  opened = HostSealCodec::Open(keys.mac_key(), nullptr, Transport::kMioty,
                               envelope, 0, 1, in_place);
  EXPECT_EQ(opened.reason(), SealReason::kBuffersOverlap);
  EXPECT_EQ(in_place, sealed);
  auto decrypted = HostSealCodec::DecryptBody(keys.mac_key(), Transport::kMioty,
                                              0, 1, envelope.body, in_place);
  EXPECT_EQ(decrypted.reason(), SealReason::kBuffersOverlap);
}

TEST(SealedReadingTest, KeyDerivationRefusesBadSizes) {
  std::array<uint8_t, 16> out{};
  EXPECT_EQ(DeriveInitialKey<BoringSslSealCrypto>(
                KeyBranch::kMac, std::span(kMaster).first(31), kDeviceId, out),
            SealReason::kBadMasterSecretSize);
  EXPECT_EQ(DeriveInitialKey<BoringSslSealCrypto>(
                KeyBranch::kMac, kMaster, std::span(kDeviceId).first(7), out),
            SealReason::kBadDeviceIdSize);
  EXPECT_EQ(DeriveInitialKey<BoringSslSealCrypto>(
                KeyBranch::kMac, kMaster, kDeviceId, std::span(out).first(15)),
            SealReason::kBadKeySize);
  DeviceSealKeys<BoringSslSealCrypto> keys;
  EXPECT_EQ(keys.Load(0, std::span(out).first(15), {}),
            SealReason::kBadKeySize);
  EXPECT_FALSE(keys.mac_key().loaded());
  EXPECT_EQ(keys.Advance(), SealReason::kKeyNotLoaded);
}

TEST(SealedReadingTest, BranchesAndDevicesGetDistinctKeys) {
  std::array<uint8_t, 16> mac{}, enc{}, other{};
  ASSERT_EQ(DeriveInitialKey<BoringSslSealCrypto>(KeyBranch::kMac, kMaster,
                                                  kDeviceId, mac),
            SealReason::kNone);
  ASSERT_EQ(DeriveInitialKey<BoringSslSealCrypto>(KeyBranch::kEncryption,
                                                  kMaster, kDeviceId, enc),
            SealReason::kNone);
  ASSERT_EQ(DeriveInitialKey<BoringSslSealCrypto>(KeyBranch::kMac, kMaster,
                                                  kOtherDeviceId, other),
            SealReason::kNone);
  EXPECT_NE(mac, enc);
  EXPECT_NE(mac, other);
}

TEST(SealedReadingTest, AdvanceRatchetsBothBranchesAndErasesTheOldKeys) {
  DeviceSealKeys<BoringSslSealCrypto> keys;
  LoadDeviceKeys(keys, kDeviceId, 0);
  const Bytes old_mac(keys.mac_key().raw().begin(), keys.mac_key().raw().end());
  for (uint32_t epoch = 1; epoch <= 20; ++epoch) {
    ASSERT_EQ(keys.Advance(), SealReason::kNone);
    EXPECT_EQ(keys.epoch(), epoch);
    DeviceSealKeys<BoringSslSealCrypto> derived;
    LoadDeviceKeys(derived, kDeviceId, epoch);
    EXPECT_TRUE(std::equal(keys.mac_key().raw().begin(),
                           keys.mac_key().raw().end(),
                           derived.mac_key().raw().begin()));
    EXPECT_TRUE(std::equal(keys.enc_key().raw().begin(),
                           keys.enc_key().raw().end(),
                           derived.enc_key().raw().begin()));
  }
  EXPECT_FALSE(
      std::equal(old_mac.begin(), old_mac.end(), keys.mac_key().raw().begin()));
  // A sealed reading of epoch 20 opens at 20 and not with epoch 4's keys
  // (same low bits).
  const Bytes sealed =
      SealWith(keys, Transport::kMioty, SealMode::kEncrypted, 1, Reading(5));
  EXPECT_EQ(OpenAs(keys, Transport::kMioty, sealed, 20, 1), SealReason::kNone);
  DeviceSealKeys<BoringSslSealCrypto> epoch4;
  LoadDeviceKeys(epoch4, kDeviceId, 4);
  EXPECT_EQ(OpenAs(epoch4, Transport::kMioty, sealed, 4, 1),
            SealReason::kTagMismatch);
}

TEST(SealedReadingTest, AdvanceStopsAtTheLastEpoch) {
  DeviceSealKeys<BoringSslSealCrypto> keys;
  std::array<uint8_t, 16> raw{};
  ASSERT_EQ(keys.Load(kMaxEpoch - 1, raw, raw), SealReason::kNone);
  EXPECT_EQ(keys.Advance(), SealReason::kNone);
  EXPECT_EQ(keys.epoch(), kMaxEpoch);
  EXPECT_EQ(keys.Advance(), SealReason::kEpochExhausted);
  EXPECT_EQ(keys.epoch(), kMaxEpoch);
  EXPECT_TRUE(keys.mac_key().loaded());
}

TEST(SealedReadingTest, ReconstructEpochMovesOnlyForward) {
  EXPECT_EQ(ReconstructEpoch(0, 0).value(), 0u);
  EXPECT_EQ(ReconstructEpoch(0, 15).value(), 15u);
  EXPECT_EQ(ReconstructEpoch(14, 1).value(), 17u);
  EXPECT_EQ(ReconstructEpoch(17, 1).value(), 17u);
  EXPECT_EQ(ReconstructEpoch(17, 0).value(), 32u);  // an older epoch 16
  EXPECT_EQ(ReconstructEpoch(kMaxEpoch, 15).value(), kMaxEpoch);
  auto past = ReconstructEpoch(kMaxEpoch - 1, 0);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.reason(), SealReason::kEpochNotReachable);
}

// The node's backend seals byte for byte what the verifier's does, and the
// verifier opens it.
TEST(SealedReadingTest, MbedTlsBackendMatchesBoringSsl) {
  DeviceSealKeys<BoringSslSealCrypto> host;
  DeviceSealKeys<MbedTlsSealCrypto> node;
  LoadDeviceKeys(host, kDeviceId, 2);
  LoadDeviceKeys(node, kDeviceId, 2);
  ASSERT_TRUE(std::equal(host.mac_key().raw().begin(),
                         host.mac_key().raw().end(),
                         node.mac_key().raw().begin()));
  ASSERT_EQ(node.Advance(), SealReason::kNone);
  ASSERT_EQ(host.Advance(), SealReason::kNone);
  for (Transport transport : {Transport::kDtlsCoap, Transport::kMioty}) {
    for (SealMode mode : {SealMode::kMacOnly, SealMode::kEncrypted}) {
      for (size_t size : {size_t{0}, size_t{13}, size_t{64}, size_t{301}}) {
        const Bytes body = Reading(size);
        Bytes from_node(SealedSize(transport, size));
        auto sealed = NodeSealCodec::Seal(node, transport, mode, 1000 + size,
                                          body, from_node);
        ASSERT_TRUE(sealed.ok());
        EXPECT_EQ(from_node,
                  SealWith(host, transport, mode, 1000 + size, body));
        Bytes opened;
        EXPECT_EQ(OpenAs(host, transport, from_node, 3,
                         static_cast<uint32_t>(1000 + size), &opened),
                  SealReason::kNone);
        EXPECT_EQ(opened, body);
      }
    }
  }
}

// The in-header CCM tag is RFC 3610 CCM: BoringSSL's and Mbed TLS's own
// AES-128-CCM (M = 8, L = 2) with an empty message agree on every length.
// (mbedtls_ccm allocates its cipher context, from Mbed TLS's buffer heap in
// cxsec's configuration: one reason the codec builds CCM on the AES block.)
TEST(SealedReadingTest, CcmTagMatchesBoringSslAndMbedTls) {
  static uint8_t mbedtls_heap[4096];
  mbedtls_memory_buffer_alloc_init(mbedtls_heap, sizeof(mbedtls_heap));
  const uint8_t key[16] = {0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
                           0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf};
  mioty::NetworkKey<BoringSslSealCrypto> expanded;
  ASSERT_EQ(expanded.Load(key), mioty::FrameReason::kNone);
  mbedtls_ccm_context ccm;
  mbedtls_ccm_init(&ccm);
  ASSERT_EQ(mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, key, 128), 0);
  bssl::ScopedEVP_AEAD_CTX aead;
  ASSERT_EQ(EVP_AEAD_CTX_init(aead.get(), EVP_aead_aes_128_ccm_bluetooth_8(),
                              key, 16, 8, nullptr),
            1);
  std::array<uint8_t, kNonceSize> nonce{};
  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<uint8_t>(i);
  for (size_t n = 1; n <= 100; ++n) {
    const Bytes aad = Reading(n);
    const auto tag = HostSealCodec::CcmTag8(expanded, nonce, aad);
    uint8_t boring[8];
    size_t boring_size = 0;
    ASSERT_EQ(
        EVP_AEAD_CTX_seal(aead.get(), boring, &boring_size, 8, nonce.data(),
                          nonce.size(), nullptr, 0, aad.data(), aad.size()),
        1);
    ASSERT_EQ(boring_size, 8u);
    EXPECT_EQ(0, std::memcmp(tag.data(), boring, 8)) << n;
    uint8_t mbed[8];
    ASSERT_EQ(mbedtls_ccm_encrypt_and_tag(&ccm, 0, nonce.data(), nonce.size(),
                                          aad.data(), aad.size(), nullptr,
                                          nullptr, mbed, 8),
              0);
    EXPECT_EQ(0, std::memcmp(tag.data(), mbed, 8)) << n;
  }
  mbedtls_ccm_free(&ccm);
  mbedtls_memory_buffer_alloc_free();
}

TEST(SealedReadingTest, CmacTagMatchesBoringSsl) {
  const uint8_t key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                           0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
  mioty::NetworkKey<BoringSslSealCrypto> expanded;
  ASSERT_EQ(expanded.Load(key), mioty::FrameReason::kNone);
  std::array<uint8_t, kNonceSize> nonce{};
  nonce[0] = 2;
  for (size_t n = 0; n <= 70; ++n) {
    const Bytes aad = Reading(n);
    Bytes message(16, 0);
    std::memcpy(message.data(), nonce.data(), nonce.size());
    message.insert(message.end(), aad.begin(), aad.end());
    uint8_t full[16];
    ASSERT_EQ(AES_CMAC(full, key, 16, message.data(), message.size()), 1);
    const auto tag = HostSealCodec::CmacTag8(expanded, nonce, aad);
    EXPECT_EQ(0, std::memcmp(tag.data(), full, 8)) << n;
  }
}

TEST(SealedReadingTest, HkdfMatchesBoringSslAndRfc5869) {
  // RFC 5869 test case 1, the first 32 bytes of its OKM (Expand is
  // limited to one hash here).
  const Bytes ikm(22, 0x0b);
  const Bytes salt = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                      0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
  const Bytes info = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4,
                      0xf5, 0xf6, 0xf7, 0xf8, 0xf9};
  uint8_t prk[32];
  Kdf<MbedTlsSealCrypto>::Extract(salt, ikm, prk);
  uint8_t okm[32];
  Kdf<MbedTlsSealCrypto>::Expand(prk, std::span(info).first(4),
                                 std::span(info).subspan(4), okm);
  const uint8_t expected[32] = {0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a,
                                0x90, 0x43, 0x4f, 0x64, 0xd0, 0x36, 0x2f, 0x2a,
                                0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a, 0x5a, 0x4c,
                                0x5d, 0xb0, 0x2d, 0x56, 0xec, 0xc4, 0xc5, 0xbf};
  EXPECT_EQ(0, std::memcmp(okm, expected, 32));
  uint8_t boring[32];
  ASSERT_EQ(HKDF(boring, 32, EVP_sha256(), ikm.data(), ikm.size(), salt.data(),
                 salt.size(), info.data(), info.size()),
            1);
  EXPECT_EQ(0, std::memcmp(okm, boring, 32));
  // Keys longer than a SHA-256 block are hashed first (RFC 2104).
  const Bytes long_key(100, 0xaa);
  uint8_t ours[32];
  const std::span<const uint8_t> parts[] = {info};
  Kdf<BoringSslSealCrypto>::HmacSha256(long_key, parts, ours);
  uint8_t theirs[32];
  unsigned int theirs_size = 0;
  HMAC(EVP_sha256(), long_key.data(), long_key.size(), info.data(), info.size(),
       theirs, &theirs_size);
  EXPECT_EQ(0, std::memcmp(ours, theirs, 32));
}

}  // namespace
}  // namespace cxsec::seal
