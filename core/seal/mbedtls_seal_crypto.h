// The node's backend for sealed readings (SealCryptoPolicy in
// sealed_reading.h), on Mbed TLS 2.28 as configured by
// platforms/cortex_m/mbedtls/cxsec_mbedtls_config.h: the Mioty codec's
// Mbed TLS AES backend plus mbedtls_sha256 (MBEDTLS_SHA256_C) for the
// epoch ratchet. Neither allocates. Builds for the host too, where a test
// holds it to the BoringSSL backend envelope by envelope.
#ifndef CXSEC_CORE_SEAL_MBEDTLS_SEAL_CRYPTO_H_
#define CXSEC_CORE_SEAL_MBEDTLS_SEAL_CRYPTO_H_

#include <cstddef>
#include <cstdint>

#include "core/mioty/mbedtls_mioty_crypto.h"
#include "core/seal/sealed_reading.h"
#include "mbedtls/sha256.h"

#if !defined(MBEDTLS_SHA256_C)
#error "cxsec: sealed readings need MBEDTLS_SHA256_C"
#endif

namespace cxsec::seal {

// MbedTlsSealCrypto: AES from MbedTlsMiotyCrypto, SHA-256 from Mbed TLS.
struct MbedTlsSealCrypto : mioty::MbedTlsMiotyCrypto {
  // A plain context (no pointers into itself): HMAC wipes it after use.
  struct Sha256Context {
    Sha256Context() { mbedtls_sha256_init(&context); }
    ~Sha256Context() { mbedtls_sha256_free(&context); }
    Sha256Context(const Sha256Context&) = delete;
    Sha256Context& operator=(const Sha256Context&) = delete;
    mbedtls_sha256_context context;
  };

  // With valid pointers these cannot fail in Mbed TLS 2.28 (no hardware
  // accelerator configured); a failure would give a wrong key or tag,
  // which fails closed.
  static void Sha256Start(Sha256Context& c) {
    (void)mbedtls_sha256_starts_ret(&c.context, 0);
  }
  static void Sha256Update(Sha256Context& c, const uint8_t* in, size_t size) {
    (void)mbedtls_sha256_update_ret(&c.context, in, size);
  }
  static void Sha256Finish(Sha256Context& c, uint8_t* out) {
    (void)mbedtls_sha256_finish_ret(&c.context, out);
  }
};

static_assert(SealCryptoPolicy<MbedTlsSealCrypto>);

// NodeSealCodec: the codec a node runs.
using NodeSealCodec = SealedReadingCodec<MbedTlsSealCrypto>;

}  // namespace cxsec::seal

#endif  // CXSEC_CORE_SEAL_MBEDTLS_SEAL_CRYPTO_H_
