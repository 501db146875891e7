// The TS-UNB (Mioty) fixed uplink MAC frame security, device-side: one
// header that a Cortex-M node (encode) and the host gateway (verify) both
// compile. No Abseil, no heap, no exceptions, no RTTI; errors are stable
// FrameReason codes. The AES block function comes from a crypto policy
// (MiotyCryptoPolicy below) that the build picks, never an #ifdef:
//
//   // host (core/mioty/frame.h): BoringSSL, plus absl::Status wrappers
//   using HostFrameCodec = FrameCodec<BoringSslMiotyCrypto>;
//   // node (targets/node/mioty/...): Mbed TLS
//   using NodeFrameCodec = FrameCodec<MbedTlsMiotyCrypto>;
//
//   NetworkKey<MbedTlsMiotyCrypto> key;              // expanded in place
//   if (key.Load(raw) != FrameReason::kNone) ...
//   auto size = NodeFrameCodec::EncodeUplink(key, params, payload, out);
//
// The format is exactly Fraunhofer's TS-UNB-Lib (ETSI TS 103 357 §6.3.2),
// so frames from real endpoints built on it verify here and frames from
// cxsec nodes verify on real base stations.
//
// MPDU: MAC header (1) | short address (2) or EUI-64 (8) | counter low 24
// bits BE (3) | [MPF (1)] | payload | MIC (4).
//  - AES-128-CTR encrypts MPF + payload; block i's counter block is
//    EUI-64 || 00 || 00 || counter32 BE || 00 || i.
//  - MIC = AES-CMAC(key, B0 || MPDU-so-far)[0..4), B0 = EUI-64 || 00 || 00 ||
//    counter32 BE || FF || FF. The MIC covers the EUI-64 even when the frame
//    only carries the short address, so a receiver must know the EUI.
#ifndef CXSEC_CORE_MIOTY_FRAME_CODEC_H_
#define CXSEC_CORE_MIOTY_FRAME_CODEC_H_

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>

namespace cxsec::mioty {

using Eui64 = std::array<uint8_t, 8>;

inline constexpr size_t kNetworkKeySize = 16;
inline constexpr size_t kAesBlockSize = 16;
using Block = std::array<uint8_t, kAesBlockSize>;

inline constexpr size_t kEuiSize = 8;
inline constexpr size_t kShortAddressSize = 2;
inline constexpr size_t kCounterFieldSize = 3;
inline constexpr size_t kMicSize = 4;
// The TS-UNB PHY carries at most 255 MPDU bytes (one length byte).
inline constexpr size_t kMaxMpduSize = 255;
inline constexpr size_t kMinMpduSize =
    1 + kShortAddressSize + kCounterFieldSize + kMicSize;
inline constexpr uint32_t kCounterLowMask = 0x00ffffff;

// MAC header bits, least significant first (TS-UNB-Lib's MacHeader).
namespace mac_header {
inline constexpr uint8_t kAck = 0x01;
inline constexpr uint8_t kAttach = 0x02;
inline constexpr uint8_t kLongAddressing = 0x04;
inline constexpr uint8_t kRxOpen = 0x08;
inline constexpr uint8_t kResponse = 0x10;
inline constexpr uint8_t kControl = 0x20;
inline constexpr uint8_t kMpfPresent = 0x40;
// Only MAC version 0 exists; a set bit is a format cxsec cannot check.
inline constexpr uint8_t kMacVersion = 0x80;
}  // namespace mac_header

// FrameReason: why a frame or key was refused. An extend-only list (see
// core/device/result.h): values are never renumbered or reused; kNone (0)
// is the only success.
enum class [[nodiscard]] FrameReason : uint8_t{
    kNone = 0,
    kTruncatedFrame = 1,            // shorter than the smallest MPDU
    kFrameTooLong = 2,              // longer than kMaxMpduSize
    kUnsupportedMacVersion = 3,     // MAC version bit set
    kTruncatedForAddressing = 4,    // too short for its addressing/MPF form
    kPayloadTooLarge = 5,           // encode: payload does not fit an MPDU
    kOutputBufferTooSmall = 6,      // encode: `out` too small
    kHeaderDoesNotMatchFrame = 7,   // verify: header parsed from other bytes
    kEuiMismatch = 8,               // verify: long address is another device
    kCounterMismatch = 9,           // verify: counter's low 24 bits differ
    kPlaintextBufferTooSmall = 10,  // verify: `plaintext` too small
    kMicMismatch = 11,              // verify: wrong key, tampered or replayed
    kBadKeySize = 12,               // key: not 16 bytes
    kKeyScheduleFailed = 13,        // key: the backend refused the key
};

// FrameReasonName: a short, stable name for logs ("mic_mismatch", ...).
constexpr const char* FrameReasonName(FrameReason reason) {
  switch (reason) {
    case FrameReason::kNone:
      return "ok";
    case FrameReason::kTruncatedFrame:
      return "truncated_frame";
    case FrameReason::kFrameTooLong:
      return "frame_too_long";
    case FrameReason::kUnsupportedMacVersion:
      return "unsupported_mac_version";
    case FrameReason::kTruncatedForAddressing:
      return "truncated_for_addressing";
    case FrameReason::kPayloadTooLarge:
      return "payload_too_large";
    case FrameReason::kOutputBufferTooSmall:
      return "output_buffer_too_small";
    case FrameReason::kHeaderDoesNotMatchFrame:
      return "header_does_not_match_frame";
    case FrameReason::kEuiMismatch:
      return "eui_mismatch";
    case FrameReason::kCounterMismatch:
      return "counter_mismatch";
    case FrameReason::kPlaintextBufferTooSmall:
      return "plaintext_buffer_too_small";
    case FrameReason::kMicMismatch:
      return "mic_mismatch";
    case FrameReason::kBadKeySize:
      return "bad_key_size";
    case FrameReason::kKeyScheduleFailed:
      return "key_schedule_failed";
  }
  return "unknown";
}

// FrameHeader: the clear fields of a received MPDU. Nothing in it is
// authenticated until VerifyUplink succeeds.
struct FrameHeader {
  uint8_t mac_header = 0;
  bool long_addressing = false;
  bool has_mpf = false;
  uint16_t short_address = 0;  // short addressing only
  Eui64 eui{};                 // long addressing only
  uint32_t counter_low24 = 0;
  size_t encrypted_offset = 0;  // where MPF + payload start
  size_t encrypted_size = 0;    // MPF + payload
  size_t mic_offset = 0;
};

// UplinkParams: what a node puts in the clear part of a frame.
struct UplinkParams {
  Eui64 eui{};
  uint16_t short_address = 0;
  uint32_t counter = 0;
  bool long_addressing = false;
  std::optional<uint8_t> mpf;
  // Further MAC header bits (ack, attach, rx-open, ...); the addressing,
  // MPF and version bits are set from the fields above.
  uint8_t mac_flags = 0;
};

// VerifiedFrame: an authenticated, decrypted uplink. `payload` points into
// the plaintext buffer given to VerifyUplink.
struct VerifiedFrame {
  uint8_t mac_header = 0;
  bool long_addressing = false;
  Eui64 eui{};
  uint16_t short_address = 0;  // short addressing only
  uint32_t counter = 0;
  std::optional<uint8_t> mpf;
  std::span<const uint8_t> payload;
};

// ShortAddressOf gives the default short address: the EUI's last two bytes.
inline constexpr uint16_t ShortAddressOf(const Eui64& eui) {
  return static_cast<uint16_t>((eui[6] << 8) | eui[7]);
}

// MpduSize is the encoded size for `payload_size` payload bytes.
inline constexpr size_t MpduSize(bool long_addressing, bool has_mpf,
                                 size_t payload_size) {
  return 1 + (long_addressing ? kEuiSize : kShortAddressSize) +
         kCounterFieldSize + (has_mpf ? 1 : 0) + payload_size + kMicSize;
}

// MaxPayloadSize is the largest payload that fits kMaxMpduSize.
inline constexpr size_t MaxPayloadSize(bool long_addressing, bool has_mpf) {
  return kMaxMpduSize - MpduSize(long_addressing, has_mpf, 0);
}

// ReconstructCounter rebuilds the 32-bit counter from its low 24 bits: the
// value with those bits nearest to `last_accepted` (ties go forward). So a
// replayed or late frame is rebuilt as the old counter it is, and rejected
// as a replay, while the low bits wrapping past 0xffffff move the upper
// byte on. Without a last accepted counter the upper bits are taken as 0.
// nullopt: the nearest value lies past 2^32 (the counter is exhausted).
inline constexpr std::optional<uint32_t> ReconstructCounter(
    std::optional<uint32_t> last_accepted, uint32_t low24) {
  low24 &= kCounterLowMask;
  if (!last_accepted) return low24;
  constexpr int64_t kEpoch = int64_t{kCounterLowMask} + 1;
  const int64_t last = *last_accepted;
  int64_t best = (last & ~int64_t{kCounterLowMask}) | low24;
  if (best - last > kEpoch / 2) {
    best -= kEpoch;
  } else if (last - best >= kEpoch / 2) {
    best += kEpoch;
  }
  if (best < 0) best += kEpoch;
  if (best > int64_t{UINT32_MAX}) return std::nullopt;
  return static_cast<uint32_t>(best);
}

// NextCounter: the counter a node may use after `used`, or nullopt when
// the 32-bit counter is exhausted (the node must be re-keyed; wrapping
// would replay old keystreams and MICs).
inline constexpr std::optional<uint32_t> NextCounter(uint32_t used) {
  if (used == UINT32_MAX) return std::nullopt;
  return used + 1;
}

// MiotyCryptoPolicy: the AES-128 a backend provides.
//  - AesKey: an expanded encryption key, default-constructible.
//  - SetEncryptKey expands 16 raw bytes; false if the backend refuses.
//  - EncryptBlock: one AES block (in and out may alias).
//  - CtrXor: AES-128-CTR from the 16-byte counter block (incremented as a
//    big-endian 128-bit number per block) over `size` bytes, in == out
//    allowed; backends may pipeline blocks.
//  - ConstantTimeEquals and Wipe: the backend's memcmp/cleanse that the
//    compiler may not shortcut or elide.
template <class Crypto>
concept MiotyCryptoPolicy =
    std::default_initializable<typename Crypto::AesKey> &&
    requires(typename Crypto::AesKey& key, const typename Crypto::AesKey& ckey,
             const uint8_t* in, uint8_t* out, size_t size, void* memory) {
  { Crypto::SetEncryptKey(key, in) } -> std::same_as<bool>;
  Crypto::EncryptBlock(ckey, in, out);
  Crypto::CtrXor(ckey, in, in, out, size);
  { Crypto::ConstantTimeEquals(in, in, size) } -> std::same_as<bool>;
  Crypto::Wipe(memory, size);
};

// NetworkKey: a Mioty endpoint's 16-byte network key, expanded once (AES
// round keys and the RFC 4493 CMAC subkeys K1/K2) so that encoding and,
// above all, the gateway's verify path never run a key schedule, never
// allocate and never touch shared mutable state. Wiped when destroyed.
// Movable only if the backend's expanded key is trivially copyable (an
// Mbed TLS context points into itself, so a node key stays in place).
template <MiotyCryptoPolicy Crypto>
class NetworkKey {
 public:
  NetworkKey() = default;
  NetworkKey(const NetworkKey&) = delete;
  NetworkKey& operator=(const NetworkKey&) = delete;
  NetworkKey(NetworkKey&& other) noexcept requires
      std::is_trivially_copyable_v<typename Crypto::AesKey> {
    MoveFrom(other);
  }
  NetworkKey& operator=(NetworkKey&& other) noexcept requires
      std::is_trivially_copyable_v<typename Crypto::AesKey> {
    if (this != &other) MoveFrom(other);
    return *this;
  }
  ~NetworkKey() { Wipe(); }

  // Load expands the 16 bytes in `raw`. The caller keeps (and wipes) `raw`.
  FrameReason Load(std::span<const uint8_t> raw) {
    Wipe();
    loaded_ = false;
    if (raw.size() != kNetworkKeySize) return FrameReason::kBadKeySize;
    if (!Crypto::SetEncryptKey(aes_, raw.data())) {
      Wipe();
      return FrameReason::kKeyScheduleFailed;
    }
    // RFC 4493 §2.3: L = AES(K, 0^128); K1 = L << 1 (^ 0x87); K2 = K1 << 1.
    Block l{};
    Crypto::EncryptBlock(aes_, l.data(), l.data());
    k1_ = DoubleInGf128(l);
    k2_ = DoubleInGf128(k1_);
    Crypto::Wipe(l.data(), l.size());
    loaded_ = true;
    return FrameReason::kNone;
  }

  // loaded: whether Load succeeded; an unloaded key encrypts with zeros,
  // so the codec refuses it (kKeyScheduleFailed).
  bool loaded() const { return loaded_; }

  // EncryptBlock computes AES-128(key, in) into `out` (may alias).
  void EncryptBlock(const uint8_t* in, uint8_t* out) const {
    Crypto::EncryptBlock(aes_, in, out);
  }
  void CtrXor(const uint8_t counter_block[kAesBlockSize], const uint8_t* in,
              uint8_t* out, size_t size) const {
    Crypto::CtrXor(aes_, counter_block, in, out, size);
  }
  const Block& k1() const { return k1_; }
  const Block& k2() const { return k2_; }

 private:
  static Block DoubleInGf128(const Block& in) {
    Block out{};
    uint8_t carry = 0;
    for (size_t i = kAesBlockSize; i-- > 0;) {
      out[i] = static_cast<uint8_t>((in[i] << 1) | carry);
      carry = static_cast<uint8_t>(in[i] >> 7);
    }
    // Constant time: the mask is 0x00 or 0xff from the top bit, no branch.
    out[kAesBlockSize - 1] ^= static_cast<uint8_t>(0x87 & (0u - carry));
    return out;
  }

  void MoveFrom(NetworkKey& other) {
    std::memcpy(&aes_, &other.aes_, sizeof(aes_));
    k1_ = other.k1_;
    k2_ = other.k2_;
    loaded_ = other.loaded_;
    other.Wipe();
    other.loaded_ = false;
  }

  void Wipe() {
    Crypto::Wipe(&aes_, sizeof(aes_));
    Crypto::Wipe(k1_.data(), k1_.size());
    Crypto::Wipe(k2_.data(), k2_.size());
  }

  typename Crypto::AesKey aes_{};
  Block k1_{};
  Block k2_{};
  bool loaded_ = false;
};

// XorBlock: state ^= data over one AES block, as two 64-bit words.
inline void XorBlock(uint8_t* state, const uint8_t* data) {
  uint64_t a[2], b[2];
  std::memcpy(a, state, 16);
  std::memcpy(b, data, 16);
  a[0] ^= b[0];
  a[1] ^= b[1];
  std::memcpy(state, a, 16);
}

// CmacBlockThenRest: RFC 4493 AES-CMAC of first || rest, for a whole first
// block and a non-empty rest. Block-wise, without Cmac's buffering: the
// hot path of the Mioty MIC and of the sealed Mioty tag (core/seal),
// which both begin with one whole block. The last block (padding and
// subkey) is prepared before the serial AES chain starts: built from
// narrow stores, it can then be read back as one block without a
// store-forwarding stall between two AES calls of the chain. The tests
// hold it to BoringSSL's AES_CMAC.
template <class Key>
Block CmacBlockThenRest(const Key& key, const Block& first,
                        std::span<const uint8_t> rest) {
  const uint8_t* p = rest.data();
  const size_t n = rest.size();
  // Whole blocks between `first` and the last one (an empty rest, outside
  // the contract, still reads nothing out of bounds).
  const size_t middle = n == 0 ? 0 : (n - 1) / kAesBlockSize;
  const size_t tail = n - middle * kAesBlockSize;  // 1..16
  Block last{};
  std::memcpy(last.data(), p + middle * kAesBlockSize, tail);
  if (tail == kAesBlockSize) {
    XorBlock(last.data(), key.k1().data());
  } else {
    last[tail] = 0x80;
    XorBlock(last.data(), key.k2().data());
  }
  Block state = first;
  key.EncryptBlock(state.data(), state.data());
  for (size_t i = 0; i < middle; ++i) {
    XorBlock(state.data(), p + i * kAesBlockSize);
    key.EncryptBlock(state.data(), state.data());
  }
  XorBlock(state.data(), last.data());
  key.EncryptBlock(state.data(), state.data());
  return state;
}

// Cmac: incremental RFC 4493 AES-CMAC with a pre-expanded key, for
// messages that arrive in pieces. Lives on the stack; no allocation.
template <MiotyCryptoPolicy Crypto>
class Cmac {
 public:
  explicit Cmac(const NetworkKey<Crypto>& key) : key_(key) {}
  Cmac(const Cmac&) = delete;
  Cmac& operator=(const Cmac&) = delete;
  ~Cmac() {
    Crypto::Wipe(state_.data(), state_.size());
    Crypto::Wipe(pending_.data(), pending_.size());
  }

  void Update(std::span<const uint8_t> data) {
    size_t offset = 0;
    while (offset < data.size()) {
      // The last block gets the subkey treatment in Final, so a full
      // pending block is only absorbed once more data follows it.
      if (pending_size_ == kAesBlockSize) {
        Absorb(pending_.data());
        pending_size_ = 0;
      }
      size_t take = kAesBlockSize - pending_size_;
      if (take > data.size() - offset) take = data.size() - offset;
      std::memcpy(pending_.data() + pending_size_, data.data() + offset, take);
      pending_size_ += take;
      offset += take;
    }
  }

  Block Final() {
    Block last{};
    if (pending_size_ == kAesBlockSize) {
      for (size_t i = 0; i < kAesBlockSize; ++i) {
        last[i] = pending_[i] ^ key_.k1()[i];
      }
    } else {
      std::memcpy(last.data(), pending_.data(), pending_size_);
      last[pending_size_] = 0x80;
      for (size_t i = 0; i < kAesBlockSize; ++i) last[i] ^= key_.k2()[i];
    }
    Absorb(last.data());
    Block tag = state_;
    Crypto::Wipe(last.data(), last.size());
    return tag;
  }

 private:
  void Absorb(const uint8_t* block) {
    for (size_t i = 0; i < kAesBlockSize; ++i) state_[i] ^= block[i];
    key_.EncryptBlock(state_.data(), state_.data());
  }

  const NetworkKey<Crypto>& key_;
  Block state_{};
  Block pending_{};
  size_t pending_size_ = 0;
};

// FrameCodec: parse, encode and verify uplink MPDUs with one backend.
// Nodes call EncodeUplink. Gateways call ParseHeader (clear fields only,
// to find candidate keys), ReconstructCounter (upper 8 counter bits from
// the last accepted counter) and VerifyUplink, which checks the MIC in
// constant time before decrypting into a caller-provided buffer. Nothing
// here allocates.
template <MiotyCryptoPolicy Crypto>
struct FrameCodec {
  using Key = NetworkKey<Crypto>;

  // ParseHeader reads the clear fields of `mpdu` into `header`. The result
  // goes into an out-parameter (no copy of the header on the gateway's hot
  // path); on failure `header` means nothing.
  static FrameReason ParseHeader(std::span<const uint8_t> mpdu,
                                 FrameHeader& header) {
    if (mpdu.size() < kMinMpduSize) return FrameReason::kTruncatedFrame;
    if (mpdu.size() > kMaxMpduSize) return FrameReason::kFrameTooLong;
    header = FrameHeader{};
    header.mac_header = mpdu[0];
    if (header.mac_header & mac_header::kMacVersion) {
      return FrameReason::kUnsupportedMacVersion;
    }
    header.long_addressing =
        (header.mac_header & mac_header::kLongAddressing) != 0;
    header.has_mpf = (header.mac_header & mac_header::kMpfPresent) != 0;
    if (mpdu.size() < MpduSize(header.long_addressing, header.has_mpf, 0)) {
      return FrameReason::kTruncatedForAddressing;
    }
    size_t offset = 1;
    if (header.long_addressing) {
      std::memcpy(header.eui.data(), mpdu.data() + offset, kEuiSize);
      offset += kEuiSize;
    } else {
      header.short_address =
          static_cast<uint16_t>((mpdu[offset] << 8) | mpdu[offset + 1]);
      offset += kShortAddressSize;
    }
    header.counter_low24 = (uint32_t{mpdu[offset]} << 16) |
                           (uint32_t{mpdu[offset + 1]} << 8) | mpdu[offset + 2];
    offset += kCounterFieldSize;
    header.encrypted_offset = offset;
    header.mic_offset = mpdu.size() - kMicSize;
    header.encrypted_size = header.mic_offset - offset;  // >= has_mpf
    return FrameReason::kNone;
  }

  // EncodedSize: the MPDU size EncodeUplink writes for these parameters.
  static constexpr size_t EncodedSize(const UplinkParams& params,
                                      size_t payload_size) {
    return MpduSize(params.long_addressing, params.mpf.has_value(),
                    payload_size);
  }

  // EncodeUplink writes the MPDU for `payload` into `out` and sets `size`
  // to its length. The node must have persisted `params.counter` as used
  // before it sends the result (see NextCounter).
  static FrameReason EncodeUplink(const Key& key, const UplinkParams& params,
                                  std::span<const uint8_t> payload,
                                  std::span<uint8_t> out, size_t& size) {
    size = 0;
    if (!key.loaded()) return FrameReason::kKeyScheduleFailed;
    const bool has_mpf = params.mpf.has_value();
    if (payload.size() > MaxPayloadSize(params.long_addressing, has_mpf)) {
      return FrameReason::kPayloadTooLarge;
    }
    const size_t total = EncodedSize(params, payload.size());
    if (out.size() < total) return FrameReason::kOutputBufferTooSmall;
    uint8_t* p = out.data();
    uint8_t header =
        params.mac_flags & static_cast<uint8_t>(~(mac_header::kLongAddressing |
                                                  mac_header::kMpfPresent |
                                                  mac_header::kMacVersion));
    if (params.long_addressing) header |= mac_header::kLongAddressing;
    if (has_mpf) header |= mac_header::kMpfPresent;
    size_t offset = 0;
    p[offset++] = header;
    if (params.long_addressing) {
      std::memcpy(p + offset, params.eui.data(), kEuiSize);
      offset += kEuiSize;
    } else {
      p[offset++] = static_cast<uint8_t>(params.short_address >> 8);
      p[offset++] = static_cast<uint8_t>(params.short_address);
    }
    p[offset++] = static_cast<uint8_t>(params.counter >> 16);
    p[offset++] = static_cast<uint8_t>(params.counter >> 8);
    p[offset++] = static_cast<uint8_t>(params.counter);
    const size_t encrypted_offset = offset;
    if (has_mpf) p[offset++] = *params.mpf;
    if (!payload.empty()) {
      std::memcpy(p + offset, payload.data(), payload.size());
    }
    offset += payload.size();
    CtrXor(key, params.eui, params.counter, p + encrypted_offset,
           p + encrypted_offset, offset - encrypted_offset);
    std::array<uint8_t, kMicSize> mic =
        Mic(key, params.eui, params.counter, std::span(p, offset));
    std::memcpy(p + offset, mic.data(), kMicSize);
    size = total;
    return FrameReason::kNone;
  }

  // VerifyUplink checks `mpdu` as a frame from the device with `eui` and
  // the full 32-bit `counter` (ReconstructCounter), using that device's
  // key. On success the MPF and payload are decrypted into `plaintext` (at
  // least header.encrypted_size bytes), which VerifiedFrame::payload
  // points into. The MIC is compared in constant time and nothing is
  // decrypted before it matched. `frame` is untouched on failure.
  static FrameReason VerifyUplink(const Key& key, const FrameHeader& header,
                                  const Eui64& eui, uint32_t counter,
                                  std::span<const uint8_t> mpdu,
                                  std::span<uint8_t> plaintext,
                                  VerifiedFrame& frame) {
    if (!key.loaded()) return FrameReason::kKeyScheduleFailed;
    if (header.mic_offset + kMicSize != mpdu.size() ||
        header.encrypted_offset + header.encrypted_size != header.mic_offset) {
      return FrameReason::kHeaderDoesNotMatchFrame;
    }
    if (header.long_addressing && header.eui != eui) {
      return FrameReason::kEuiMismatch;
    }
    if ((counter & kCounterLowMask) != header.counter_low24) {
      return FrameReason::kCounterMismatch;
    }
    if (plaintext.size() < header.encrypted_size) {
      return FrameReason::kPlaintextBufferTooSmall;
    }
    std::array<uint8_t, kMicSize> expected =
        Mic(key, eui, counter, mpdu.first(header.mic_offset));
    if (!Crypto::ConstantTimeEquals(
            expected.data(), mpdu.data() + header.mic_offset, kMicSize)) {
      return FrameReason::kMicMismatch;
    }
    uint8_t* out = plaintext.data();
    if (header.encrypted_size > 0) {
      CtrXor(key, eui, counter, mpdu.data() + header.encrypted_offset, out,
             header.encrypted_size);
    }
    frame.mac_header = header.mac_header;
    frame.long_addressing = header.long_addressing;
    frame.eui = eui;
    frame.short_address = header.short_address;
    frame.counter = counter;
    frame.mpf.reset();
    size_t payload_offset = 0;
    if (header.has_mpf) {
      frame.mpf = out[0];
      payload_offset = 1;
    }
    frame.payload = std::span<const uint8_t>(
        out + payload_offset, header.encrypted_size - payload_offset);
    return FrameReason::kNone;
  }

 private:
  static constexpr uint32_t ByteSwap32(uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0x0000ff00u) | ((v << 8) & 0x00ff0000u) |
           (v << 24);
  }

  // BlockFromWords: the block whose first 8 bytes are `first8` and whose
  // last 8 bytes are `last8` (a word holding them in memory order), written
  // with one 16-byte store where the target has one (a GCC/Clang vector;
  // a Cortex-M3 gets plain word stores).
  static Block BlockFromWords(const uint8_t* first8, uint64_t last8) {
    typedef uint64_t Words __attribute__((vector_size(16)));
    uint64_t low;
    std::memcpy(&low, first8, sizeof(low));
    const Words words = {low, last8};
    Block block;
    static_assert(sizeof(block) == sizeof(words));
    std::memcpy(block.data(), &words, sizeof(words));
    return block;
  }

  // Block(EUI || 00 || 00 || counter32 || tail0 || tail1): both the CTR
  // counter block (tail 00 i) and B0 (tail FF FF) have this shape. Built
  // in registers and stored whole (BlockFromWords): the AES call reads it
  // straight back as one 16-byte load, and a block written byte by byte
  // (or as two halves) made that load wait on a failed store-to-load
  // forward at the head of the MIC chain and of CTR, which was most of
  // the gap to bare CTR + CMAC in mioty_benchmark.
  static Block SecurityBlock(const Eui64& eui, uint32_t counter, uint8_t tail0,
                             uint8_t tail1) {
    static_assert(std::endian::native == std::endian::little ||
                  std::endian::native == std::endian::big);
    // Bytes 8..15 as one word in memory order: 00 00 counter32-BE tail0 tail1.
    uint64_t high;
    if constexpr (std::endian::native == std::endian::little) {
      high = (uint64_t{ByteSwap32(counter)} << 16) | (uint64_t{tail0} << 48) |
             (uint64_t{tail1} << 56);
    } else {
      high = (uint64_t{counter} << 16) | (uint64_t{tail0} << 8) | tail1;
    }
    return BlockFromWords(eui.data(), high);
  }

  // CtrXor: at most 255 bytes (kMaxMpduSize) is 16 blocks, so the block
  // index in the last byte never carries into the packet counter.
  static void CtrXor(const Key& key, const Eui64& eui, uint32_t counter,
                     const uint8_t* in, uint8_t* out, size_t size) {
    static_assert(kMaxMpduSize / kAesBlockSize < 256);
    const Block counter_block = SecurityBlock(eui, counter, 0x00, 0x00);
    key.CtrXor(counter_block.data(), in, out, size);
  }

  // Mic: AES-CMAC(key, B0 || mpdu_so_far)[0..4). B0 is exactly one block,
  // so it is absorbed directly; the rest is RFC 4493 over the MPDU (never
  // empty: a frame has at least 6 clear bytes). The gateway's hot path,
  // hence not Cmac's general buffering; the tests hold both to
  // BoringSSL's AES_CMAC.
  static std::array<uint8_t, kMicSize> Mic(const Key& key, const Eui64& eui,
                                           uint32_t counter,
                                           std::span<const uint8_t> mpdu) {
    const Block state =
        CmacBlockThenRest(key, SecurityBlock(eui, counter, 0xff, 0xff), mpdu);
    std::array<uint8_t, kMicSize> mic;
    std::memcpy(mic.data(), state.data(), kMicSize);
    return mic;
  }
};

}  // namespace cxsec::mioty

#endif  // CXSEC_CORE_MIOTY_FRAME_CODEC_H_
