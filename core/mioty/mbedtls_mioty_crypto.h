// The node's AES backend for the Mioty frame codec (MiotyCryptoPolicy in
// frame_codec.h), on Mbed TLS 2.28 as configured by
// platforms/cortex_m/mbedtls/cxsec_mbedtls_config.h (AES with ROM tables,
// CTR mode). AES needs no heap in Mbed TLS. Builds for the host too, where
// a test holds it to the BoringSSL backend frame by frame.
#ifndef CXSEC_CORE_MIOTY_MBEDTLS_MIOTY_CRYPTO_H_
#define CXSEC_CORE_MIOTY_MBEDTLS_MIOTY_CRYPTO_H_

#include <cstddef>
#include <cstdint>

#include "core/mioty/frame_codec.h"
#include "mbedtls/aes.h"
#include "mbedtls/platform_util.h"
// Mbed TLS 2.28's constant_time.h, unlike its other headers, has no
// extern "C" block of its own.
extern "C" {
#include "mbedtls/constant_time.h"
}

#if !defined(MBEDTLS_CIPHER_MODE_CTR)
#error "cxsec: the Mioty codec needs MBEDTLS_CIPHER_MODE_CTR"
#endif

namespace cxsec::mioty {

// MbedTlsMiotyCrypto: the MiotyCryptoPolicy over Mbed TLS's AES.
struct MbedTlsMiotyCrypto {
  // AesKey owns an mbedtls_aes_context. Its round-key pointer points into
  // the context itself, so it is neither copied nor moved: a node expands
  // its key in place (NetworkKey is not movable with this backend).
  // Mbed TLS takes the context non-const even to encrypt, hence mutable.
  class AesKey {
   public:
    AesKey() { mbedtls_aes_init(&context_); }
    ~AesKey() { mbedtls_aes_free(&context_); }
    AesKey(const AesKey&) = delete;
    AesKey& operator=(const AesKey&) = delete;
    mbedtls_aes_context* get() const { return &context_; }

   private:
    mutable mbedtls_aes_context context_;
  };

  static bool SetEncryptKey(AesKey& key, const uint8_t* raw) {
    return mbedtls_aes_setkey_enc(key.get(), raw, 128) == 0;
  }
  // With a key set, ECB and CTR cannot fail for valid pointers; a failure
  // would leave a wrong block, which fails the MIC (fail closed).
  static void EncryptBlock(const AesKey& key, const uint8_t* in, uint8_t* out) {
    (void)mbedtls_aes_crypt_ecb(key.get(), MBEDTLS_AES_ENCRYPT, in, out);
  }
  static void CtrXor(const AesKey& key, const uint8_t* counter_block,
                     const uint8_t* in, uint8_t* out, size_t size) {
    unsigned char counter[kAesBlockSize];
    unsigned char keystream[kAesBlockSize];
    for (size_t i = 0; i < kAesBlockSize; ++i) counter[i] = counter_block[i];
    size_t offset = 0;
    (void)mbedtls_aes_crypt_ctr(key.get(), size, &offset, counter, keystream,
                                in, out);
    mbedtls_platform_zeroize(keystream, sizeof(keystream));
  }
  static bool ConstantTimeEquals(const uint8_t* a, const uint8_t* b,
                                 size_t size) {
    return mbedtls_ct_memcmp(a, b, size) == 0;
  }
  static void Wipe(void* memory, size_t size) {
    mbedtls_platform_zeroize(memory, size);
  }
};

static_assert(MiotyCryptoPolicy<MbedTlsMiotyCrypto>);

}  // namespace cxsec::mioty

#endif  // CXSEC_CORE_MIOTY_MBEDTLS_MIOTY_CRYPTO_H_
