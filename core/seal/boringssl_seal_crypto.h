// The host's backend for sealed readings (SealCryptoPolicy in
// sealed_reading.h), on BoringSSL: the Mioty codec's BoringSSL AES backend
// plus SHA-256 for the key derivation. What the verifier and `cxsec
// provision` compose the codec with.
#ifndef CXSEC_CORE_SEAL_BORINGSSL_SEAL_CRYPTO_H_
#define CXSEC_CORE_SEAL_BORINGSSL_SEAL_CRYPTO_H_

#include <openssl/sha.h>

#include <cstddef>
#include <cstdint>

#include "core/mioty/boringssl_mioty_crypto.h"
#include "core/seal/sealed_reading.h"

namespace cxsec::seal {

// BoringSslSealCrypto: AES from BoringSslMiotyCrypto, SHA-256 from
// BoringSSL's SHA256_* (plain data, no allocation).
struct BoringSslSealCrypto : mioty::BoringSslMiotyCrypto {
  using Sha256Context = SHA256_CTX;

  static void Sha256Start(Sha256Context& context) { SHA256_Init(&context); }
  static void Sha256Update(Sha256Context& context, const uint8_t* in,
                           size_t size) {
    SHA256_Update(&context, in, size);
  }
  static void Sha256Finish(Sha256Context& context, uint8_t* out) {
    SHA256_Final(out, &context);
  }
};

static_assert(SealCryptoPolicy<BoringSslSealCrypto>);

// HostSealCodec: the codec on the host's backend.
using HostSealCodec = SealedReadingCodec<BoringSslSealCrypto>;

}  // namespace cxsec::seal

#endif  // CXSEC_CORE_SEAL_BORINGSSL_SEAL_CRYPTO_H_
