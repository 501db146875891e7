// The host's AES backend for the Mioty frame codec (MiotyCryptoPolicy in
// frame_codec.h), on BoringSSL: AES_KEY is plain data, so host keys move
// freely, and AES_ctr128_encrypt pipelines the CTR blocks (AES-NI). Host
// code does not name it directly; core/mioty/frame.h composes the codec
// with it once.
#ifndef CXSEC_CORE_MIOTY_BORINGSSL_MIOTY_CRYPTO_H_
#define CXSEC_CORE_MIOTY_BORINGSSL_MIOTY_CRYPTO_H_

#include <openssl/aes.h>
#include <openssl/crypto.h>
#include <openssl/mem.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/mioty/frame_codec.h"

namespace cxsec::mioty {

// BoringSslMiotyCrypto: the MiotyCryptoPolicy over BoringSSL's AES.
struct BoringSslMiotyCrypto {
  using AesKey = AES_KEY;

  static bool SetEncryptKey(AesKey& key, const uint8_t* raw) {
    return AES_set_encrypt_key(raw, 128, &key) == 0;
  }
  static void EncryptBlock(const AesKey& key, const uint8_t* in, uint8_t* out) {
    AES_encrypt(in, out, &key);
  }
  static void CtrXor(const AesKey& key, const uint8_t* counter_block,
                     const uint8_t* in, uint8_t* out, size_t size) {
    std::array<uint8_t, kAesBlockSize> counter;
    std::array<uint8_t, kAesBlockSize> keystream;
    for (size_t i = 0; i < kAesBlockSize; ++i) counter[i] = counter_block[i];
    unsigned int used = 0;
    AES_ctr128_encrypt(in, out, size, &key, counter.data(), keystream.data(),
                       &used);
  }
  static bool ConstantTimeEquals(const uint8_t* a, const uint8_t* b,
                                 size_t size) {
    return CRYPTO_memcmp(a, b, size) == 0;
  }
  static void Wipe(void* memory, size_t size) { OPENSSL_cleanse(memory, size); }
};

static_assert(MiotyCryptoPolicy<BoringSslMiotyCrypto>);
static_assert(std::is_trivially_copyable_v<AES_KEY>);

}  // namespace cxsec::mioty

#endif  // CXSEC_CORE_MIOTY_BORINGSSL_MIOTY_CRYPTO_H_
