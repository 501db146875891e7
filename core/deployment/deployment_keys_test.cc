#include "core/deployment/deployment_keys.h"

#include <openssl/digest.h>
#include <openssl/hkdf.h>

#include "core/encoding/hex.h"
#include "gtest/gtest.h"

namespace cxsec {
namespace {

SecretBytes Master(uint8_t fill) {
  Bytes raw(kMasterSecretBytes, fill);
  return SecretBytes::CopyFrom(raw);
}

std::string Hex(const SecretBytes& s) {
  return HexEncode(s.Reveal(SecretAccess::Grant()));
}

TEST(DeviceIdTest, AcceptsOnlyDPlus16Hex) {
  EXPECT_TRUE(IsDeviceId("D0011223344556677"));
  EXPECT_TRUE(IsDeviceId("Dabcdefabcdefabcd"));
  EXPECT_FALSE(IsDeviceId("D001122334455667"));
  EXPECT_FALSE(IsDeviceId("G0011223344556677"));
  EXPECT_FALSE(IsDeviceId("D00112233445566zz"));
  EXPECT_FALSE(IsDeviceId(""));
}

TEST(DerivePskTest, MatchesAnIndependentHkdfComputation) {
  SecretBytes master = Master(0x42);
  absl::StatusOr<SecretBytes> psk =
      DeriveDevicePsk(master, "D0011223344556677", 7);
  ASSERT_TRUE(psk.ok()) << psk.status();
  // Recompute with HKDF extract + expand, the two-step RFC 5869 form.
  uint8_t prk[32];
  size_t prk_len = 0;
  const std::string salt = "cxsec dtls psk v1";
  Bytes raw(kMasterSecretBytes, 0x42);
  ASSERT_EQ(1, HKDF_extract(prk, &prk_len, EVP_sha256(), raw.data(), raw.size(),
                            reinterpret_cast<const uint8_t*>(salt.data()),
                            salt.size()));
  const std::string info = std::string("D0011223344556677|") +
                           std::string("\x00\x00\x00\x07", 4);
  uint8_t expected[16];
  ASSERT_EQ(1, HKDF_expand(expected, 16, EVP_sha256(), prk, prk_len,
                           reinterpret_cast<const uint8_t*>(info.data()),
                           info.size()));
  EXPECT_EQ(Hex(*psk), HexEncode(ByteView(expected, 16)));
}

TEST(DerivePskTest, DiffersPerDeviceEpochAndMaster) {
  SecretBytes master = Master(1);
  std::string a = Hex(*DeriveDevicePsk(master, "D0011223344556677", 1));
  EXPECT_NE(a, Hex(*DeriveDevicePsk(master, "D0011223344556678", 1)));
  EXPECT_NE(a, Hex(*DeriveDevicePsk(master, "D0011223344556677", 2)));
  EXPECT_NE(a, Hex(*DeriveDevicePsk(Master(2), "D0011223344556677", 1)));
  // Case of the hex digits does not change the device.
  EXPECT_EQ(a, Hex(*DeriveDevicePsk(master, "D0011223344556677", 1)));
  EXPECT_EQ(Hex(*DeriveDevicePsk(master, "Dabcdef0011223344", 1)),
            Hex(*DeriveDevicePsk(master, "DABCDEF0011223344", 1)));
}

TEST(DerivePskTest, RejectsBadInputs) {
  EXPECT_FALSE(DeriveDevicePsk(Master(1), "nope", 1).ok());
  EXPECT_FALSE(DeriveDevicePsk(Master(1), "D0011223344556677", 0).ok());
  EXPECT_FALSE(
      DeriveDevicePsk(Master(1), "D0011223344556677", kMaxEpoch + 1).ok());
  SecretBytes short_master = SecretBytes::CopyFrom(Bytes(16, 1));
  EXPECT_FALSE(DeriveDevicePsk(short_master, "D0011223344556677", 1).ok());
}

TEST(KeyWrapTest, RoundTripsAndBindsKeyDeviceAndEpoch) {
  SecretBytes master = Master(9);
  const std::string id = "D0011223344556677";
  SecretBytes current = *DeriveDevicePsk(master, id, 1);
  SecretBytes next = *DeriveDevicePsk(master, id, 2);
  absl::StatusOr<Bytes> wrapped = WrapNextPsk(current, id, 2, next);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  ASSERT_EQ(wrapped->size(), kWrappedPskBytes);
  absl::StatusOr<SecretBytes> unwrapped = UnwrapNextPsk(current, id, 2, *wrapped);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(unwrapped->Equals(next));

  SecretBytes other = *DeriveDevicePsk(master, "D0011223344556678", 1);
  EXPECT_EQ(UnwrapNextPsk(other, id, 2, *wrapped).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(UnwrapNextPsk(current, "D0011223344556678", 2, *wrapped).ok());
  EXPECT_FALSE(UnwrapNextPsk(current, id, 3, *wrapped).ok());
  Bytes tampered = *wrapped;
  tampered[5] ^= 1;
  EXPECT_FALSE(UnwrapNextPsk(current, id, 2, tampered).ok());
  EXPECT_FALSE(UnwrapNextPsk(current, id, 2, ByteView(tampered.data(), 16)).ok());
}

TEST(KeyUpdateTest, EncodesAndRejectsMalformed) {
  Bytes wrapped(kWrappedPskBytes, 0xab);
  Bytes body = EncodeKeyUpdate(0x01020304, wrapped);
  ASSERT_EQ(body.size(), kKeyUpdateBytes);
  absl::StatusOr<KeyUpdate> update = DecodeKeyUpdate(body);
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(update->next_epoch, 0x01020304u);
  EXPECT_EQ(update->wrapped, wrapped);
  Bytes bad_format = body;
  bad_format[0] = 2;
  EXPECT_FALSE(DecodeKeyUpdate(bad_format).ok());
  EXPECT_FALSE(DecodeKeyUpdate(ByteView(body.data(), body.size() - 1)).ok());
  EXPECT_FALSE(DecodeKeyUpdate(EncodeKeyUpdate(0, wrapped)).ok());
}

}  // namespace
}  // namespace cxsec
