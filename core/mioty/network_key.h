// MiotyNetworkKey: a Mioty endpoint's 16-byte network key, expanded once
// (AES-128 round keys and the RFC 4493 CMAC subkeys K1/K2) so that encoding
// and, above all, the gateway's decode-and-verify path never run a key
// schedule, never allocate and never touch shared mutable state: one key
// object may be used by several threads at once.
//
// AesCmac is RFC 4493 CMAC on BoringSSL's AES block function. BoringSSL's
// own CMAC_CTX is heap-allocated and stateful (one message at a time), which
// would put an allocation or a lock on every received frame; the tests check
// this implementation against BoringSSL's AES_CMAC and RFC 4493's vectors.
//
//   CXSEC_ASSIGN_OR_RETURN(MiotyNetworkKey key, MiotyNetworkKey::FromBytes(raw));
//   AesCmac cmac(key);
//   cmac.Update(b0);
//   cmac.Update(mpdu);
//   std::array<uint8_t, 16> tag = cmac.Final();
#ifndef CXSEC_CORE_MIOTY_NETWORK_KEY_H_
#define CXSEC_CORE_MIOTY_NETWORK_KEY_H_

#include <openssl/aes.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/bytes.h"
#include "core/crypto/primitives.h"

namespace cxsec::mioty {

inline constexpr size_t kNetworkKeySize = 16;
inline constexpr size_t kAesBlockSize = 16;

using Block = std::array<uint8_t, kAesBlockSize>;

class MiotyNetworkKey {
 public:
  // FromBytes expands a 16-byte network key. The caller keeps (and wipes)
  // `raw`; this object wipes its own expansion when destroyed.
  [[nodiscard]] static absl::StatusOr<MiotyNetworkKey> FromBytes(ByteView raw) {
    if (raw.size() != kNetworkKeySize) {
      return absl::InvalidArgumentError(
          absl::StrCat("mioty network key: expected ", kNetworkKeySize,
                       " bytes, got ", raw.size()));
    }
    MiotyNetworkKey key;
    if (AES_set_encrypt_key(raw.data(), 128, &key.aes_) != 0) {
      return absl::InternalError("mioty network key: AES key schedule failed");
    }
    // RFC 4493 §2.3: L = AES(K, 0^128); K1 = L << 1 (^ 0x87); K2 = K1 << 1.
    Block l{};
    AES_encrypt(l.data(), l.data(), &key.aes_);
    key.k1_ = DoubleInGf128(l);
    key.k2_ = DoubleInGf128(key.k1_);
    SecureZero(l.data(), l.size());
    return key;
  }

  MiotyNetworkKey(const MiotyNetworkKey&) = delete;
  MiotyNetworkKey& operator=(const MiotyNetworkKey&) = delete;
  MiotyNetworkKey(MiotyNetworkKey&& other) noexcept { MoveFrom(other); }
  MiotyNetworkKey& operator=(MiotyNetworkKey&& other) noexcept {
    if (this != &other) MoveFrom(other);
    return *this;
  }
  ~MiotyNetworkKey() { Wipe(); }

  // EncryptBlock computes AES-128(key, in) into `out` (may alias).
  void EncryptBlock(const uint8_t* in, uint8_t* out) const {
    AES_encrypt(in, out, &aes_);
  }
  // CtrXor is AES_ctr128_encrypt with this key (`in` == `out` allowed).
  void CtrXor(const uint8_t* in, uint8_t* out, size_t size,
              uint8_t counter_block[16], uint8_t keystream[16],
              unsigned int* used) const {
    AES_ctr128_encrypt(in, out, size, &aes_, counter_block, keystream, used);
  }
  const Block& k1() const { return k1_; }
  const Block& k2() const { return k2_; }

 private:
  MiotyNetworkKey() = default;

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

  void MoveFrom(MiotyNetworkKey& other) {
    std::memcpy(&aes_, &other.aes_, sizeof(aes_));
    k1_ = other.k1_;
    k2_ = other.k2_;
    other.Wipe();
  }

  void Wipe() {
    SecureZero(&aes_, sizeof(aes_));
    SecureZero(k1_.data(), k1_.size());
    SecureZero(k2_.data(), k2_.size());
  }

  AES_KEY aes_{};
  Block k1_{};
  Block k2_{};
};

// AesCmac: incremental RFC 4493 AES-CMAC with a pre-expanded key. Lives on
// the stack; no allocation.
class AesCmac {
 public:
  explicit AesCmac(const MiotyNetworkKey& key) : key_(key) {}
  AesCmac(const AesCmac&) = delete;
  AesCmac& operator=(const AesCmac&) = delete;
  ~AesCmac() {
    SecureZero(state_.data(), state_.size());
    SecureZero(pending_.data(), pending_.size());
  }

  void Update(ByteView data) {
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
    SecureZero(last.data(), last.size());
    return tag;
  }

 private:
  void Absorb(const uint8_t* block) {
    for (size_t i = 0; i < kAesBlockSize; ++i) state_[i] ^= block[i];
    key_.EncryptBlock(state_.data(), state_.data());
  }

  const MiotyNetworkKey& key_;
  Block state_{};
  Block pending_{};
  size_t pending_size_ = 0;
};

}  // namespace cxsec::mioty

#endif  // CXSEC_CORE_MIOTY_NETWORK_KEY_H_
