// Sealed readings: a reading authenticated (and optionally encrypted) end
// to end from a node to the verifier, with keys the gateway never holds.
// The format and the key derivation are specified byte by byte in
// docs/SEALED_READINGS.md; this header is their one implementation,
// device-side (no Abseil, no heap, no exceptions, no RTTI): a Cortex-M
// node seals with it on Mbed TLS, the verifier opens with it on BoringSSL.
//
//   using NodeSeal = SealedReadingCodec<MbedTlsSealCrypto>;
//   DeviceSealKeys<MbedTlsSealCrypto> keys;          // expanded in place
//   if (keys.Load(epoch, mac_key, enc_key) != SealReason::kNone) ...
//   auto sealed = NodeSeal::Seal(keys, Transport::kDtlsCoap,
//                                SealMode::kEncrypted, sequence, body, out);
//   if (!sealed.ok()) report(SealReasonName(sealed.reason()));
//
//   // verifier: parse the untrusted bytes, then check and open
//   SealedEnvelope envelope;
//   if (ParseSealedEnvelope(Transport::kDtlsCoap, bytes, envelope) != kNone) ..
//   auto epoch = ReconstructEpoch(last_epoch, envelope.epoch_low4);
//   auto body = HostSeal::Open(mac, &enc, Transport::kDtlsCoap, envelope,
//                              *epoch, envelope.sequence, plaintext);
//
// Integrity is always under the device's MAC key and confidentiality under
// its separate encryption key, so holding the MAC key alone checks a
// reading without being able to read it (SEALED_READINGS.md, "Who holds
// which key"). AES comes from the Mioty codec's backends (the node already
// links them); SHA-256 for HKDF and the epoch ratchet is the one primitive
// the seal adds to them. CCM's CBC-MAC and CMAC are built here on the
// backend's AES block, so neither backend allocates.
#ifndef CXSEC_CORE_SEAL_SEALED_READING_H_
#define CXSEC_CORE_SEAL_SEALED_READING_H_

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "core/device/result.h"
#include "core/mioty/frame_codec.h"

namespace cxsec::seal {

using mioty::Block;
using mioty::kAesBlockSize;

inline constexpr size_t kSealKeySize = 16;
inline constexpr size_t kMasterSecretSize = 32;
inline constexpr size_t kDeviceIdSize = 8;
inline constexpr size_t kTagSize = 8;
inline constexpr size_t kNonceSize = 13;
inline constexpr size_t kSha256Size = 32;
inline constexpr size_t kSha256BlockSize = 64;
// The largest body (reading) one envelope carries: a CoAP payload of the
// node (Mbed TLS record content 1024) bounds it; Mioty frames are smaller.
inline constexpr size_t kMaxBodySize = 1024;
inline constexpr uint8_t kFormatVersion = 1;
inline constexpr uint32_t kMaxEpoch = 0xffffffff;

// Envelope header byte: version (bits 7..5) | mode (bit 4) | epoch mod 16.
// Version 1 puts it in 0x20..0x3f, never a CBOR map's first byte (0xa0..).
inline constexpr uint8_t kVersionShift = 5;
inline constexpr uint8_t kModeBit = 0x10;
inline constexpr uint8_t kEpochLowMask = 0x0f;

// Bytes a seal adds to a reading on each transport (the goals are 13 and 9).
inline constexpr size_t kDtlsHeaderSize = 1 + 4;  // header byte, sequence
inline constexpr size_t kMiotyHeaderSize = 1;     // sequence = TS-UNB counter
inline constexpr size_t kDtlsOverhead = kDtlsHeaderSize + kTagSize;
inline constexpr size_t kMiotyOverhead = kMiotyHeaderSize + kTagSize;
static_assert(kDtlsOverhead <= 13 && kMiotyOverhead <= 9);

// Transport: bound into every tag and keystream (first nonce byte).
enum class Transport : uint8_t { kDtlsCoap = 1, kMioty = 2 };

// SealMode: MAC-only (the gateway may read the body, not change it) or
// encrypted (the gateway sees ciphertext only).
enum class SealMode : uint8_t { kMacOnly = 0, kEncrypted = 1 };

// Key branches, each derived and ratcheted on its own.
enum class KeyBranch : uint8_t { kMac = 0, kEncryption = 1 };

// SealReason: why sealing, parsing, opening or a key operation failed. An
// extend-only list (core/device/result.h); kNone (0) is the only success.
enum class [[nodiscard]] SealReason : uint8_t{
    kNone = 0,
    kTruncated = 1,             // parse: shorter than the transport's overhead
    kBodyTooLarge = 2,          // body longer than kMaxBodySize
    kUnsupportedVersion = 3,    // parse: header byte's version is not 1
    kUnknownTransport = 4,      // a Transport value this code does not know
    kOutputBufferTooSmall = 5,  // seal/open: `out` too small
    kKeyNotLoaded = 6,          // a key that was never (successfully) loaded
    kNoEncryptionKey = 7,       // encrypting or opening without an enc key
    kEpochMismatch = 8,         // open: epoch's low 4 bits differ from header
    kSequenceMismatch = 9,      // open (DTLS): sequence differs from header
    kTagMismatch = 10,          // open: wrong key, tampered, moved or replayed
    kEpochExhausted = 11,       // ratchet: epoch already kMaxEpoch
    kBadKeySize = 12,           // a key that is not 16 bytes
    kBadMasterSecretSize = 13,  // master secret not 32 bytes
    kBadDeviceIdSize = 14,      // device id not 8 bytes
    kKeyScheduleFailed = 15,    // the AES backend refused the key
    kUnknownMode = 16,          // a SealMode value this code does not know
    kEpochNotReachable = 17,    // reconstruct: no epoch ahead of the last one
    kBuffersOverlap = 18,       // seal: body and output overlap
    kUnknownVerdict = 19,       // receipt: a verdict byte this code does not know
};

// SealReasonName: a short, stable name for logs and verdicts.
constexpr const char* SealReasonName(SealReason reason) {
  switch (reason) {
    case SealReason::kNone:
      return "ok";
    case SealReason::kTruncated:
      return "truncated";
    case SealReason::kBodyTooLarge:
      return "body_too_large";
    case SealReason::kUnsupportedVersion:
      return "unsupported_version";
    case SealReason::kUnknownTransport:
      return "unknown_transport";
    case SealReason::kOutputBufferTooSmall:
      return "output_buffer_too_small";
    case SealReason::kKeyNotLoaded:
      return "key_not_loaded";
    case SealReason::kNoEncryptionKey:
      return "no_encryption_key";
    case SealReason::kEpochMismatch:
      return "epoch_mismatch";
    case SealReason::kSequenceMismatch:
      return "sequence_mismatch";
    case SealReason::kTagMismatch:
      return "tag_mismatch";
    case SealReason::kEpochExhausted:
      return "epoch_exhausted";
    case SealReason::kBadKeySize:
      return "bad_key_size";
    case SealReason::kBadMasterSecretSize:
      return "bad_master_secret_size";
    case SealReason::kBadDeviceIdSize:
      return "bad_device_id_size";
    case SealReason::kKeyScheduleFailed:
      return "key_schedule_failed";
    case SealReason::kUnknownMode:
      return "unknown_mode";
    case SealReason::kEpochNotReachable:
      return "epoch_not_reachable";
    case SealReason::kBuffersOverlap:
      return "buffers_overlap";
    case SealReason::kUnknownVerdict:
      return "unknown_verdict";
  }
  return "unknown";
}

// SealCryptoPolicy: the Mioty codec's AES policy plus incremental SHA-256.
//  - Sha256Context: default-constructible hashing state;
//  - Sha256Start / Sha256Update / Sha256Finish: FIPS 180-4 SHA-256
//    (Finish writes 32 bytes); with valid pointers they cannot fail.
template <class Crypto>
concept SealCryptoPolicy = mioty::MiotyCryptoPolicy<Crypto> &&
    std::default_initializable<typename Crypto::Sha256Context> &&
    requires(typename Crypto::Sha256Context& context, const uint8_t* in,
             uint8_t* out, size_t size) {
  Crypto::Sha256Start(context);
  Crypto::Sha256Update(context, in, size);
  Crypto::Sha256Finish(context, out);
};

// Labels of the key derivation (SEALED_READINGS.md, "Key derivation").
namespace labels {
inline constexpr char kSalt[] = "cxsec-seal-v1";
inline constexpr char kMacInfo[] = "cxsec-seal-v1 mac";
inline constexpr char kEncInfo[] = "cxsec-seal-v1 enc";
inline constexpr char kMacRatchetInfo[] = "cxsec-seal-v1 mac ratchet";
inline constexpr char kEncRatchetInfo[] = "cxsec-seal-v1 enc ratchet";
}  // namespace labels

// The constant byte between a keystream's nonce and its block index.
inline constexpr uint8_t kCtrMarker = 0xe0;

// Kdf: HMAC-SHA-256 (RFC 2104) and HKDF-SHA-256 (RFC 5869) over the
// backend's SHA-256. Expand produces at most one hash (32 bytes), which is
// all the seal needs.
template <SealCryptoPolicy Crypto>
struct Kdf {
  // HmacSha256 authenticates the concatenation of `parts` under `key`.
  static void HmacSha256(std::span<const uint8_t> key,
                         std::span<const std::span<const uint8_t>> parts,
                         uint8_t out[kSha256Size]) {
    uint8_t block[kSha256BlockSize] = {};
    typename Crypto::Sha256Context context;
    if (key.size() > kSha256BlockSize) {
      Crypto::Sha256Start(context);
      Crypto::Sha256Update(context, key.data(), key.size());
      Crypto::Sha256Finish(context, block);
    } else if (!key.empty()) {
      std::memcpy(block, key.data(), key.size());
    }
    uint8_t pad[kSha256BlockSize];
    for (size_t i = 0; i < kSha256BlockSize; ++i) pad[i] = block[i] ^ 0x36;
    uint8_t inner[kSha256Size];
    Crypto::Sha256Start(context);
    Crypto::Sha256Update(context, pad, sizeof(pad));
    for (std::span<const uint8_t> part : parts) {
      if (!part.empty())
        Crypto::Sha256Update(context, part.data(), part.size());
    }
    Crypto::Sha256Finish(context, inner);
    for (size_t i = 0; i < kSha256BlockSize; ++i) pad[i] = block[i] ^ 0x5c;
    Crypto::Sha256Start(context);
    Crypto::Sha256Update(context, pad, sizeof(pad));
    Crypto::Sha256Update(context, inner, sizeof(inner));
    Crypto::Sha256Finish(context, out);
    Crypto::Wipe(block, sizeof(block));
    Crypto::Wipe(pad, sizeof(pad));
    Crypto::Wipe(inner, sizeof(inner));
    Crypto::Wipe(&context, sizeof(context));
  }

  // Extract: PRK = HMAC-SHA-256(salt, ikm).
  static void Extract(std::span<const uint8_t> salt,
                      std::span<const uint8_t> ikm, uint8_t prk[kSha256Size]) {
    const std::span<const uint8_t> parts[] = {ikm};
    HmacSha256(salt, parts, prk);
  }

  // Expand: the first out.size() (<= 32) bytes of
  // T(1) = HMAC-SHA-256(prk, info_a || info_b || 0x01).
  static void Expand(std::span<const uint8_t> prk,
                     std::span<const uint8_t> info_a,
                     std::span<const uint8_t> info_b, std::span<uint8_t> out) {
    static const uint8_t kOne[1] = {0x01};
    const std::span<const uint8_t> parts[] = {info_a, info_b, kOne};
    uint8_t t[kSha256Size];
    HmacSha256(prk, parts, t);
    const size_t n = out.size() < kSha256Size ? out.size() : kSha256Size;
    std::memcpy(out.data(), t, n);
    Crypto::Wipe(t, sizeof(t));
  }
};

namespace seal_internal {

template <size_t N>
constexpr std::span<const uint8_t> Label(const char (&text)[N]) {
  // The terminating NUL is not part of a label.
  return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text),
                                  N - 1);
}

inline void PutBe32(uint32_t value, uint8_t* out) {
  out[0] = static_cast<uint8_t>(value >> 24);
  out[1] = static_cast<uint8_t>(value >> 16);
  out[2] = static_cast<uint8_t>(value >> 8);
  out[3] = static_cast<uint8_t>(value);
}

inline uint32_t LoadBe32(const uint8_t* in) {
  return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) |
         (uint32_t{in[2]} << 8) | uint32_t{in[3]};
}

inline constexpr bool KnownTransport(Transport transport) {
  return transport == Transport::kDtlsCoap || transport == Transport::kMioty;
}

inline constexpr size_t HeaderSize(Transport transport) {
  return transport == Transport::kDtlsCoap ? kDtlsHeaderSize : kMiotyHeaderSize;
}

// Nonce N = transport || epoch BE32 || sequence BE32 || 00 00 00 00.
inline std::array<uint8_t, kNonceSize> Nonce(Transport transport,
                                             uint32_t epoch,
                                             uint32_t sequence) {
  std::array<uint8_t, kNonceSize> nonce{};
  nonce[0] = static_cast<uint8_t>(transport);
  PutBe32(epoch, nonce.data() + 1);
  PutBe32(sequence, nonce.data() + 5);
  return nonce;
}

inline bool Overlap(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.empty() || b.empty()) return false;
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(a.data());
  const uintptr_t b0 = reinterpret_cast<uintptr_t>(b.data());
  return a0 < b0 + b.size() && b0 < a0 + a.size();
}

}  // namespace seal_internal

// DeriveInitialKey writes the epoch-0 key of `branch` for `device_id` (the
// 8 bytes of cxsec's "D..." id) into `out` (16 bytes):
//   PRK = HKDF-Extract(salt = "cxsec-seal-v1", IKM = master_secret)
//   key = HKDF-Expand(PRK, "cxsec-seal-v1 mac" | "cxsec-seal-v1 enc"
//                          || device_id, 16)
// Verifier side and `cxsec provision` only: nodes never hold a master.
template <SealCryptoPolicy Crypto>
SealReason DeriveInitialKey(KeyBranch branch,
                            std::span<const uint8_t> master_secret,
                            std::span<const uint8_t> device_id,
                            std::span<uint8_t> out) {
  using seal_internal::Label;
  if (master_secret.size() != kMasterSecretSize) {
    return SealReason::kBadMasterSecretSize;
  }
  if (device_id.size() != kDeviceIdSize) return SealReason::kBadDeviceIdSize;
  if (out.size() != kSealKeySize) return SealReason::kBadKeySize;
  uint8_t prk[kSha256Size];
  Kdf<Crypto>::Extract(Label(labels::kSalt), master_secret, prk);
  Kdf<Crypto>::Expand(prk,
                      branch == KeyBranch::kMac ? Label(labels::kMacInfo)
                                                : Label(labels::kEncInfo),
                      device_id, out);
  Crypto::Wipe(prk, sizeof(prk));
  return SealReason::kNone;
}

// RatchetKey writes the key of epoch `next_epoch` from the key of the epoch
// before it (16 bytes each; `out` may alias `current`):
//   key(e+1) = HKDF-Expand(PRK = key(e),
//                          "cxsec-seal-v1 mac ratchet" | "... enc ratchet"
//                          || BE32(e+1), 16)
// One-way: whoever holds key(e+1) learns nothing about key(e), so a node
// that erased key(e) cannot be made to reveal it.
template <SealCryptoPolicy Crypto>
SealReason RatchetKey(KeyBranch branch, std::span<const uint8_t> current,
                      uint32_t next_epoch, std::span<uint8_t> out) {
  using seal_internal::Label;
  if (current.size() != kSealKeySize || out.size() != kSealKeySize) {
    return SealReason::kBadKeySize;
  }
  if (next_epoch == 0) return SealReason::kEpochExhausted;
  uint8_t epoch_bytes[4];
  seal_internal::PutBe32(next_epoch, epoch_bytes);
  uint8_t next[kSealKeySize];
  Kdf<Crypto>::Expand(current,
                      branch == KeyBranch::kMac
                          ? Label(labels::kMacRatchetInfo)
                          : Label(labels::kEncRatchetInfo),
                      epoch_bytes, next);
  std::memcpy(out.data(), next, kSealKeySize);
  Crypto::Wipe(next, sizeof(next));
  return SealReason::kNone;
}

// DeriveEpochKey: the key of `branch` at `epoch`, from the master (the
// initial key ratcheted `epoch` times). Costs `epoch` HMACs: a verifier
// keeps each device's current key rather than calling this per reading.
template <SealCryptoPolicy Crypto>
SealReason DeriveEpochKey(KeyBranch branch,
                          std::span<const uint8_t> master_secret,
                          std::span<const uint8_t> device_id, uint32_t epoch,
                          std::span<uint8_t> out) {
  SealReason reason =
      DeriveInitialKey<Crypto>(branch, master_secret, device_id, out);
  for (uint32_t e = 1; reason == SealReason::kNone && e <= epoch && e != 0;
       ++e) {
    reason = RatchetKey<Crypto>(branch, out, e, out);
    if (e == kMaxEpoch) break;
  }
  return reason;
}

// SealKey: one 16-byte branch key, kept raw (for the ratchet) and expanded
// (AES round keys and CMAC subkeys, once). Wiped when destroyed. Not
// movable: the Mbed TLS AES context points into itself.
template <SealCryptoPolicy Crypto>
class SealKey {
 public:
  SealKey() = default;
  SealKey(const SealKey&) = delete;
  SealKey& operator=(const SealKey&) = delete;
  ~SealKey() { Crypto::Wipe(raw_.data(), raw_.size()); }

  // Load expands `raw` (16 bytes); the caller keeps (and wipes) `raw`.
  // On failure the key is unloaded.
  SealReason Load(std::span<const uint8_t> raw) {
    Crypto::Wipe(raw_.data(), raw_.size());
    loaded_ = false;
    if (raw.size() != kSealKeySize) return SealReason::kBadKeySize;
    if (expanded_.Load(raw) != mioty::FrameReason::kNone) {
      return SealReason::kKeyScheduleFailed;
    }
    std::memcpy(raw_.data(), raw.data(), kSealKeySize);
    loaded_ = true;
    return SealReason::kNone;
  }

  // Unload wipes the key (a branch the holder must not have, or erasure).
  void Unload() {
    Crypto::Wipe(raw_.data(), raw_.size());
    uint8_t zero[kSealKeySize] = {};
    (void)expanded_.Load(zero);
    loaded_ = false;
  }

  bool loaded() const { return loaded_; }
  const mioty::NetworkKey<Crypto>& expanded() const { return expanded_; }
  std::span<const uint8_t> raw() const { return raw_; }

 private:
  std::array<uint8_t, kSealKeySize> raw_{};
  mioty::NetworkKey<Crypto> expanded_;
  bool loaded_ = false;
};

// DeviceSealKeys: a node's keys for its current epoch: the MAC key always,
// the encryption key when the node seals in encrypted mode. Advance moves
// both to the next epoch on the node's own decision and erases the old
// ones (no downlink needed).
template <SealCryptoPolicy Crypto>
class DeviceSealKeys {
 public:
  DeviceSealKeys() = default;
  DeviceSealKeys(const DeviceSealKeys&) = delete;
  DeviceSealKeys& operator=(const DeviceSealKeys&) = delete;

  // Load takes the keys of `epoch`; an empty `enc_key` means MAC-only.
  SealReason Load(uint32_t epoch, std::span<const uint8_t> mac_key,
                  std::span<const uint8_t> enc_key) {
    enc_.Unload();
    SealReason reason = mac_.Load(mac_key);
    if (reason == SealReason::kNone && !enc_key.empty()) {
      reason = enc_.Load(enc_key);
    }
    if (reason != SealReason::kNone) {
      mac_.Unload();
      enc_.Unload();
      return reason;
    }
    epoch_ = epoch;
    return SealReason::kNone;
  }

  // Advance ratchets every loaded key to epoch()+1 and erases the old
  // keys. The node persists the new keys and epoch (and erases the old
  // ones from flash) before it seals with them.
  SealReason Advance() {
    if (!mac_.loaded()) return SealReason::kKeyNotLoaded;
    if (epoch_ == kMaxEpoch) return SealReason::kEpochExhausted;
    const uint32_t next = epoch_ + 1;
    uint8_t mac_next[kSealKeySize];
    uint8_t enc_next[kSealKeySize];
    SealReason reason =
        RatchetKey<Crypto>(KeyBranch::kMac, mac_.raw(), next, mac_next);
    if (reason == SealReason::kNone && enc_.loaded()) {
      reason = RatchetKey<Crypto>(KeyBranch::kEncryption, enc_.raw(), next,
                                  enc_next);
    }
    if (reason == SealReason::kNone) {
      reason = Load(next, mac_next,
                    enc_.loaded() ? std::span<const uint8_t>(enc_next)
                                  : std::span<const uint8_t>());
    }
    Crypto::Wipe(mac_next, sizeof(mac_next));
    Crypto::Wipe(enc_next, sizeof(enc_next));
    return reason;
  }

  uint32_t epoch() const { return epoch_; }
  const SealKey<Crypto>& mac_key() const { return mac_; }
  const SealKey<Crypto>& enc_key() const { return enc_; }

 private:
  uint32_t epoch_ = 0;
  SealKey<Crypto> mac_;
  SealKey<Crypto> enc_;
};

// SealedEnvelope: the fields of received envelope bytes, parsed without a
// key. Nothing in it is authentic until Open or Verify succeeds; the spans
// point into the parsed bytes.
struct SealedEnvelope {
  uint8_t header = 0;
  SealMode mode = SealMode::kMacOnly;
  uint8_t epoch_low4 = 0;
  // DTLS/CoAP only; on Mioty the sequence is the frame's packet counter.
  uint32_t sequence = 0;
  std::span<const uint8_t> authenticated;  // everything before the tag
  std::span<const uint8_t> body;           // plaintext or ciphertext
  std::span<const uint8_t> tag;
};

// SealedSize: the envelope size for a `body_size` body (0 for an unknown
// transport).
constexpr size_t SealedSize(Transport transport, size_t body_size) {
  if (!seal_internal::KnownTransport(transport)) return 0;
  return seal_internal::HeaderSize(transport) + body_size + kTagSize;
}

// ParseSealedEnvelope reads `bytes` (untrusted, from the gateway) as an
// envelope of `transport`. Checks the size bounds and the version; on
// failure `envelope` means nothing.
inline SealReason ParseSealedEnvelope(Transport transport,
                                      std::span<const uint8_t> bytes,
                                      SealedEnvelope& envelope) {
  if (!seal_internal::KnownTransport(transport)) {
    return SealReason::kUnknownTransport;
  }
  const size_t header_size = seal_internal::HeaderSize(transport);
  if (bytes.size() < header_size + kTagSize) return SealReason::kTruncated;
  const size_t body_size = bytes.size() - header_size - kTagSize;
  if (body_size > kMaxBodySize) return SealReason::kBodyTooLarge;
  envelope = SealedEnvelope{};
  envelope.header = bytes[0];
  if ((bytes[0] >> kVersionShift) != kFormatVersion) {
    return SealReason::kUnsupportedVersion;
  }
  envelope.mode =
      (bytes[0] & kModeBit) ? SealMode::kEncrypted : SealMode::kMacOnly;
  envelope.epoch_low4 = bytes[0] & kEpochLowMask;
  if (transport == Transport::kDtlsCoap) {
    envelope.sequence = seal_internal::LoadBe32(bytes.data() + 1);
  }
  envelope.authenticated = bytes.first(header_size + body_size);
  envelope.body = bytes.subspan(header_size, body_size);
  envelope.tag = bytes.subspan(header_size + body_size, kTagSize);
  return SealReason::kNone;
}

// ReconstructEpoch: the full epoch of an envelope from its low 4 bits: the
// first epoch at or after `last_epoch` (the device's last accepted one)
// with those bits, so a node may move up to 15 epochs ahead between two
// accepted readings. Readings of an epoch before `last_epoch` map forward
// and fail their tag. Failure: past kMaxEpoch.
inline device::Result<uint32_t, SealReason> ReconstructEpoch(
    uint32_t last_epoch, uint8_t epoch_low4) {
  const uint32_t ahead = (uint32_t{epoch_low4} - last_epoch) & kEpochLowMask;
  if (ahead > kMaxEpoch - last_epoch) {
    return device::Result<uint32_t, SealReason>::Failure(
        SealReason::kEpochNotReachable);
  }
  return device::Result<uint32_t, SealReason>::Success(last_epoch + ahead);
}

// SealedReadingCodec: seal (node) and open (verifier) with one backend.
template <SealCryptoPolicy Crypto>
struct SealedReadingCodec {
  using Key = SealKey<Crypto>;
  using Keys = DeviceSealKeys<Crypto>;
  using SizeResult = device::Result<size_t, SealReason>;

  // Seal writes the envelope of `body` for `sequence` (DTLS/CoAP: the
  // node's own per-device counter; Mioty: the TS-UNB packet counter of the
  // frame that will carry it) at keys.epoch() into `out`; returns its
  // size. The node must have persisted `sequence` as used first: a
  // (key, epoch, sequence) triple sealed twice reuses a keystream.
  // `body` and `out` must not overlap.
  static SizeResult Seal(const Keys& keys, Transport transport, SealMode mode,
                         uint32_t sequence, std::span<const uint8_t> body,
                         std::span<uint8_t> out) {
    if (!seal_internal::KnownTransport(transport)) {
      return SizeResult::Failure(SealReason::kUnknownTransport);
    }
    if (mode != SealMode::kMacOnly && mode != SealMode::kEncrypted) {
      return SizeResult::Failure(SealReason::kUnknownMode);
    }
    if (!keys.mac_key().loaded()) {
      return SizeResult::Failure(SealReason::kKeyNotLoaded);
    }
    if (mode == SealMode::kEncrypted && !keys.enc_key().loaded()) {
      return SizeResult::Failure(SealReason::kNoEncryptionKey);
    }
    if (body.size() > kMaxBodySize) {
      return SizeResult::Failure(SealReason::kBodyTooLarge);
    }
    const size_t total = SealedSize(transport, body.size());
    if (out.size() < total) {
      return SizeResult::Failure(SealReason::kOutputBufferTooSmall);
    }
    if (seal_internal::Overlap(body, out.first(total))) {
      return SizeResult::Failure(SealReason::kBuffersOverlap);
    }
    const uint32_t epoch = keys.epoch();
    uint8_t* p = out.data();
    p[0] = static_cast<uint8_t>((kFormatVersion << kVersionShift) |
                                (mode == SealMode::kEncrypted ? kModeBit : 0) |
                                (epoch & kEpochLowMask));
    const size_t header_size = seal_internal::HeaderSize(transport);
    if (transport == Transport::kDtlsCoap) {
      seal_internal::PutBe32(sequence, p + 1);
    }
    const auto nonce = seal_internal::Nonce(transport, epoch, sequence);
    if (!body.empty()) {
      if (mode == SealMode::kEncrypted) {
        Keystream(keys.enc_key(), nonce, body.data(), p + header_size,
                  body.size());
      } else {
        std::memcpy(p + header_size, body.data(), body.size());
      }
    }
    const size_t authenticated = header_size + body.size();
    const std::array<uint8_t, kTagSize> tag =
        Tag(keys.mac_key(), transport, nonce, std::span(p, authenticated));
    std::memcpy(p + authenticated, tag.data(), kTagSize);
    return SizeResult::Success(total);
  }

  // Verify checks the tag of a parsed `envelope` from the device whose MAC
  // key is `mac_key`, at the full `epoch` (ReconstructEpoch) and
  // `sequence` (DTLS/CoAP: envelope.sequence; Mioty: the frame's full
  // 32-bit packet counter). Needs no encryption key: this is how a
  // verifier checks readings it cannot read. Constant-time comparison.
  static SealReason Verify(const Key& mac_key, Transport transport,
                           const SealedEnvelope& envelope, uint32_t epoch,
                           uint32_t sequence) {
    if (!seal_internal::KnownTransport(transport)) {
      return SealReason::kUnknownTransport;
    }
    if (!mac_key.loaded()) return SealReason::kKeyNotLoaded;
    if ((epoch & kEpochLowMask) != envelope.epoch_low4) {
      return SealReason::kEpochMismatch;
    }
    if (transport == Transport::kDtlsCoap && sequence != envelope.sequence) {
      return SealReason::kSequenceMismatch;
    }
    if (envelope.tag.size() != kTagSize ||
        envelope.authenticated.size() !=
            seal_internal::HeaderSize(transport) + envelope.body.size()) {
      return SealReason::kTruncated;
    }
    const auto nonce = seal_internal::Nonce(transport, epoch, sequence);
    std::array<uint8_t, kTagSize> expected =
        Tag(mac_key, transport, nonce, envelope.authenticated);
    const bool equal = Crypto::ConstantTimeEquals(
        expected.data(), envelope.tag.data(), kTagSize);
    Crypto::Wipe(expected.data(), expected.size());
    return equal ? SealReason::kNone : SealReason::kTagMismatch;
  }

  // Open verifies `envelope` and writes its body, decrypted if it was
  // encrypted (with `enc_key`, which may then not be null), into `out`
  // (which must not overlap the body); returns the body size. Nothing is
  // written to `out` before the tag matched.
  static SizeResult Open(const Key& mac_key, const Key* enc_key,
                         Transport transport, const SealedEnvelope& envelope,
                         uint32_t epoch, uint32_t sequence,
                         std::span<uint8_t> out) {
    if (envelope.mode == SealMode::kEncrypted &&
        (enc_key == nullptr || !enc_key->loaded())) {
      return SizeResult::Failure(SealReason::kNoEncryptionKey);
    }
    if (out.size() < envelope.body.size()) {
      return SizeResult::Failure(SealReason::kOutputBufferTooSmall);
    }
    if (seal_internal::Overlap(envelope.body, out)) {
      return SizeResult::Failure(SealReason::kBuffersOverlap);
    }
    const SealReason reason =
        Verify(mac_key, transport, envelope, epoch, sequence);
    if (reason != SealReason::kNone) return SizeResult::Failure(reason);
    if (!envelope.body.empty()) {
      if (envelope.mode == SealMode::kEncrypted) {
        Keystream(*enc_key, seal_internal::Nonce(transport, epoch, sequence),
                  envelope.body.data(), out.data(), envelope.body.size());
      } else {
        std::memcpy(out.data(), envelope.body.data(), envelope.body.size());
      }
    }
    return SizeResult::Success(envelope.body.size());
  }

  // DecryptBody: the customer's side of a split deployment: decrypts a
  // body whose envelope the verifier already checked (the customer holds
  // only the encryption key). No integrity check here.
  static SizeResult DecryptBody(const Key& enc_key, Transport transport,
                                uint32_t epoch, uint32_t sequence,
                                std::span<const uint8_t> ciphertext,
                                std::span<uint8_t> out) {
    if (!seal_internal::KnownTransport(transport)) {
      return SizeResult::Failure(SealReason::kUnknownTransport);
    }
    if (!enc_key.loaded())
      return SizeResult::Failure(SealReason::kKeyNotLoaded);
    if (ciphertext.size() > kMaxBodySize) {
      return SizeResult::Failure(SealReason::kBodyTooLarge);
    }
    if (out.size() < ciphertext.size()) {
      return SizeResult::Failure(SealReason::kOutputBufferTooSmall);
    }
    if (seal_internal::Overlap(ciphertext, out)) {
      return SizeResult::Failure(SealReason::kBuffersOverlap);
    }
    if (!ciphertext.empty()) {
      Keystream(enc_key, seal_internal::Nonce(transport, epoch, sequence),
                ciphertext.data(), out.data(), ciphertext.size());
    }
    return SizeResult::Success(ciphertext.size());
  }

  // CcmTag8: RFC 3610 AES-CCM with M = 8, L = 2, nonce N and an empty
  // message, `aad` as the associated data: the DTLS/CoAP tag. Public for
  // the known-answer tests against BoringSSL's and Mbed TLS's own CCM.
  static std::array<uint8_t, kTagSize> CcmTag8(
      const mioty::NetworkKey<Crypto>& key,
      const std::array<uint8_t, kNonceSize>& nonce,
      std::span<const uint8_t> aad) {
    static_assert(kMaxBodySize + kDtlsHeaderSize < 0xff00,
                  "CCM's two-byte associated-data length");
    const size_t n = aad.size();
    Block x{};
    // Adata | ((M-2)/2) << 3 | (L-1); an envelope's aad is never empty.
    x[0] = n > 0 ? 0x59 : 0x19;
    std::memcpy(x.data() + 1, nonce.data(), kNonceSize);
    // x[14..15] = l(m) = 0
    key.EncryptBlock(x.data(), x.data());
    // The associated data, prefixed by its two-byte length, zero-padded.
    Block block{};
    block[0] = static_cast<uint8_t>(n >> 8);
    block[1] = static_cast<uint8_t>(n);
    size_t filled = 2;
    size_t offset = 0;
    while (offset < n) {
      size_t take = kAesBlockSize - filled;
      if (take > n - offset) take = n - offset;
      if (take > 0)
        std::memcpy(block.data() + filled, aad.data() + offset, take);
      offset += take;
      filled += take;
      for (size_t i = filled; i < kAesBlockSize; ++i) block[i] = 0;
      for (size_t i = 0; i < kAesBlockSize; ++i) x[i] ^= block[i];
      key.EncryptBlock(x.data(), x.data());
      filled = 0;
    }
    Block s0{};
    s0[0] = 0x01;  // L-1
    std::memcpy(s0.data() + 1, nonce.data(), kNonceSize);
    key.EncryptBlock(s0.data(), s0.data());
    std::array<uint8_t, kTagSize> tag;
    for (size_t i = 0; i < kTagSize; ++i) tag[i] = x[i] ^ s0[i];
    Crypto::Wipe(x.data(), x.size());
    Crypto::Wipe(s0.data(), s0.size());
    return tag;
  }

  // CmacTag8: AES-CMAC(key, N || 00 00 00 || aad)[0..8): the Mioty tag.
  // The first block is whole and never the last (an envelope's aad is at
  // least its header byte), so it is absorbed directly and the rest runs
  // block-wise, as the Mioty codec's MIC does; an empty aad takes the
  // general incremental CMAC.
  static std::array<uint8_t, kTagSize> CmacTag8(
      const mioty::NetworkKey<Crypto>& key,
      const std::array<uint8_t, kNonceSize>& nonce,
      std::span<const uint8_t> aad) {
    std::array<uint8_t, kTagSize> tag;
    Block state{};
    std::memcpy(state.data(), nonce.data(), kNonceSize);
    if (aad.empty()) {
      mioty::Cmac<Crypto> cmac(key);
      cmac.Update(state);
      state = cmac.Final();
    } else {
      state = mioty::CmacBlockThenRest(key, state, aad);
    }
    std::memcpy(tag.data(), state.data(), kTagSize);
    Crypto::Wipe(state.data(), state.size());
    return tag;
  }

 private:
  static std::array<uint8_t, kTagSize> Tag(
      const Key& mac_key, Transport transport,
      const std::array<uint8_t, kNonceSize>& nonce,
      std::span<const uint8_t> authenticated) {
    return transport == Transport::kDtlsCoap
               ? CcmTag8(mac_key.expanded(), nonce, authenticated)
               : CmacTag8(mac_key.expanded(), nonce, authenticated);
  }

  // Keystream: AES-128-CTR under the encryption key from the counter block
  // N || 0xE0 || 00 00 (block i: N || 0xE0 || BE16(i)); kMaxBodySize keeps
  // i below 2^16, so the index never carries into the marker.
  static void Keystream(const Key& enc_key,
                        const std::array<uint8_t, kNonceSize>& nonce,
                        const uint8_t* in, uint8_t* out, size_t size) {
    static_assert(kMaxBodySize / kAesBlockSize < 0x10000);
    Block counter{};
    std::memcpy(counter.data(), nonce.data(), kNonceSize);
    counter[kNonceSize] = kCtrMarker;
    enc_key.expanded().CtrXor(counter.data(), in, out, size);
  }
};

}  // namespace cxsec::seal

#endif  // CXSEC_CORE_SEAL_SEALED_READING_H_
