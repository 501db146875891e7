// Deployment keys for the 6LoWPAN transport (CoAP over DTLS-PSK).
//
// One 256-bit master secret per deployment lives only on gateways (in
// security.txt). Every node gets its own PSK, derived with HKDF-SHA256 from
// the master secret, its device id and a key epoch, so a node that is
// opened up reveals only its own key, and a new epoch gives every node a
// fresh key without touching the node: the gateway hands each node its
// next-epoch PSK wrapped (RFC 3394 AES key wrap) under a key that only the
// node's current PSK can derive.
//
//   CXSEC_ASSIGN_OR_RETURN(SecretBytes psk, DeriveDevicePsk(master, id, 3));
//   CXSEC_ASSIGN_OR_RETURN(Bytes wrapped, WrapNextPsk(psk, id, 4, next_psk));
#ifndef CXSEC_CORE_DEPLOYMENT_DEPLOYMENT_KEYS_H_
#define CXSEC_CORE_DEPLOYMENT_DEPLOYMENT_KEYS_H_

#include <openssl/aes.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/secret_bytes.h"

namespace cxsec {

inline constexpr size_t kMasterSecretBytes = 32;  // 256 bits
// 16 bytes: the AES-128 strength of TLS_PSK_WITH_AES_128_CCM_8, and within
// what constrained DTLS stacks (tinydtls: 16..32) accept.
inline constexpr size_t kDevicePskBytes = 16;
inline constexpr size_t kWrappedPskBytes = kDevicePskBytes + 8;
// Epoch 0 is reserved as "none" so a zero-initialised field is never valid.
inline constexpr uint32_t kMaxEpoch = 0x7fffffff;

// IsDeviceId: "D" followed by exactly 16 hex digits.
inline bool IsDeviceId(absl::string_view id) {
  if (id.size() != 17 || id[0] != 'D') return false;
  for (size_t i = 1; i < id.size(); ++i) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(id[i]))) return false;
  }
  return true;
}

namespace deployment_internal {

inline void AppendBigEndian32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

// Hkdf16 derives 16 bytes. The info binds the purpose label, the device
// id and the epoch, so no two uses share a key.
[[nodiscard]] inline absl::StatusOr<SecretBytes> Hkdf16(
    ByteView input_key, absl::string_view salt, absl::string_view device_id,
    uint32_t epoch) {
  std::string info = absl::StrCat(device_id, "|");
  AppendBigEndian32(info, epoch);
  SecretBytes out(kDevicePskBytes);
  MutableByteView raw = out.RevealMutable(SecretAccess::Grant());
  if (HKDF(raw.data(), raw.size(), EVP_sha256(), input_key.data(),
           input_key.size(), reinterpret_cast<const uint8_t*>(salt.data()),
           salt.size(), reinterpret_cast<const uint8_t*>(info.data()),
           info.size()) != 1) {
    return absl::InternalError("HKDF-SHA256 failed");
  }
  return out;
}

[[nodiscard]] inline absl::Status CheckInputs(absl::string_view device_id,
                                              uint32_t epoch) {
  if (!IsDeviceId(device_id)) {
    return absl::InvalidArgumentError(
        "device id must be 'D' followed by 16 hex digits");
  }
  if (epoch == 0 || epoch > kMaxEpoch) {
    return absl::InvalidArgumentError(
        absl::StrCat("key epoch ", epoch, " is out of range 1..", kMaxEpoch));
  }
  return absl::OkStatus();
}

}  // namespace deployment_internal

// DeriveDevicePsk = HKDF-SHA256(ikm = master secret,
//   salt = "cxsec dtls psk v1", info = device id | "|" | epoch (BE32)), 16 bytes.
// Device ids are canonicalised to upper-case hex first so "d00aa.." and "D00AA.." name the same key.
[[nodiscard]] inline absl::StatusOr<SecretBytes> DeriveDevicePsk(
    const SecretBytes& master_secret, absl::string_view device_id,
    uint32_t epoch) {
  if (master_secret.size() != kMasterSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("master secret must be ", kMasterSecretBytes, " bytes"));
  }
  absl::Status inputs = deployment_internal::CheckInputs(device_id, epoch);
  if (!inputs.ok()) return inputs;
  return deployment_internal::Hkdf16(
      master_secret.Reveal(SecretAccess::Grant()), "cxsec dtls psk v1",
      absl::AsciiStrToUpper(device_id), epoch);
}

// DeriveWrappingKey: the key that wraps the next-epoch PSK, derived from
// the node's current PSK. Only the holder of the current PSK (the node and
// the gateways) can compute it; the next epoch number is bound in, so a
// wrapped key cannot be replayed as another epoch's key.
[[nodiscard]] inline absl::StatusOr<SecretBytes> DeriveWrappingKey(
    const SecretBytes& current_psk, absl::string_view device_id,
    uint32_t next_epoch) {
  if (current_psk.size() != kDevicePskBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("device PSK must be ", kDevicePskBytes, " bytes"));
  }
  absl::Status inputs = deployment_internal::CheckInputs(device_id, next_epoch);
  if (!inputs.ok()) return inputs;
  return deployment_internal::Hkdf16(current_psk.Reveal(SecretAccess::Grant()),
                                     "cxsec psk wrap v1",
                                     absl::AsciiStrToUpper(device_id),
                                     next_epoch);
}

// WrapNextPsk wraps `next_psk` (RFC 3394, default IV) for `device_id`.
[[nodiscard]] inline absl::StatusOr<Bytes> WrapNextPsk(
    const SecretBytes& current_psk, absl::string_view device_id,
    uint32_t next_epoch, const SecretBytes& next_psk) {
  if (next_psk.size() != kDevicePskBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("next PSK must be ", kDevicePskBytes, " bytes"));
  }
  absl::StatusOr<SecretBytes> kek =
      DeriveWrappingKey(current_psk, device_id, next_epoch);
  if (!kek.ok()) return kek.status();
  AES_KEY key;
  if (AES_set_encrypt_key(kek->Reveal(SecretAccess::Grant()).data(), 128,
                          &key) != 0) {
    return absl::InternalError("AES key setup failed");
  }
  Bytes out(kWrappedPskBytes);
  ByteView in = next_psk.Reveal(SecretAccess::Grant());
  int written = AES_wrap_key(&key, nullptr, out.data(), in.data(), in.size());
  SecureZero(&key, sizeof(key));
  if (written != static_cast<int>(kWrappedPskBytes)) {
    return absl::InternalError("AES key wrap failed");
  }
  return out;
}

// UnwrapNextPsk reverses WrapNextPsk; a wrong current PSK, device id,
// epoch or a modified blob fails the RFC 3394 integrity check.
[[nodiscard]] inline absl::StatusOr<SecretBytes> UnwrapNextPsk(
    const SecretBytes& current_psk, absl::string_view device_id,
    uint32_t next_epoch, ByteView wrapped) {
  if (wrapped.size() != kWrappedPskBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("wrapped PSK must be ", kWrappedPskBytes, " bytes, got ",
                     wrapped.size()));
  }
  absl::StatusOr<SecretBytes> kek =
      DeriveWrappingKey(current_psk, device_id, next_epoch);
  if (!kek.ok()) return kek.status();
  AES_KEY key;
  if (AES_set_decrypt_key(kek->Reveal(SecretAccess::Grant()).data(), 128,
                          &key) != 0) {
    return absl::InternalError("AES key setup failed");
  }
  SecretBytes out(kDevicePskBytes);
  int written =
      AES_unwrap_key(&key, nullptr, out.RevealMutable(SecretAccess::Grant()).data(),
                     wrapped.data(), wrapped.size());
  SecureZero(&key, sizeof(key));
  if (written != static_cast<int>(kDevicePskBytes)) {
    return absl::PermissionDeniedError(
        "wrapped PSK failed its integrity check (wrong current key, device "
        "id or epoch, or tampered)");
  }
  return out;
}

// KeyUpdate: the body of the gateway's rekey response, 29 bytes:
//   0x01 (format) | next epoch (BE32) | wrapped next PSK (24 bytes).
inline constexpr size_t kKeyUpdateBytes = 1 + 4 + kWrappedPskBytes;

inline Bytes EncodeKeyUpdate(uint32_t next_epoch, ByteView wrapped) {
  Bytes out;
  out.reserve(kKeyUpdateBytes);
  out.push_back(0x01);
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<uint8_t>((next_epoch >> shift) & 0xff));
  }
  out.insert(out.end(), wrapped.begin(), wrapped.end());
  return out;
}

struct KeyUpdate {
  uint32_t next_epoch = 0;
  Bytes wrapped;
};

[[nodiscard]] inline absl::StatusOr<KeyUpdate> DecodeKeyUpdate(ByteView body) {
  if (body.size() != kKeyUpdateBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key update must be ", kKeyUpdateBytes, " bytes, got ", body.size()));
  }
  if (body[0] != 0x01) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown key update format ", int{body[0]}));
  }
  KeyUpdate update;
  for (int i = 1; i <= 4; ++i) {
    update.next_epoch = (update.next_epoch << 8) | body[i];
  }
  if (update.next_epoch == 0 || update.next_epoch > kMaxEpoch) {
    return absl::InvalidArgumentError("key update epoch out of range");
  }
  update.wrapped.assign(body.begin() + 5, body.end());
  return update;
}

}  // namespace cxsec

#endif  // CXSEC_CORE_DEPLOYMENT_DEPLOYMENT_KEYS_H_
