// The node's crypto backend for the firmware image verifier
// (FirmwareCryptoPolicy in image_verifier.h), on Mbed TLS 2.28 as
// configured by platforms/cortex_m/mbedtls/cxsec_mbedtls_config.h:
// SHA-256 and ECDSA P-256 verify. That configuration has no Ed25519, so
// VerifyEd25519 answers kUnsupported and the verifier refuses such images
// with RejectReason::kSignatureTypeUnsupported (never accepts them).
//
// Mbed TLS's bignums allocate through mbedtls_calloc, which in cxsec's
// configuration draws only from the static buffer the image hands to
// mbedtls_memory_buffer_alloc_init() before verifying; without it, ECDSA
// verify fails closed (kInvalid). Builds for the host too, for unit tests.
#ifndef CXSEC_CORE_FIRMWARE_MBEDTLS_FIRMWARE_CRYPTO_H_
#define CXSEC_CORE_FIRMWARE_MBEDTLS_FIRMWARE_CRYPTO_H_

#include <cstdint>
#include <span>

#include "core/firmware/image_format.h"
#include "core/firmware/image_verifier.h"
#include "mbedtls/ecdsa.h"
#include "mbedtls/ecp.h"
#include "mbedtls/sha256.h"

namespace cxsec::firmware {

// MbedTlsFirmwareCrypto: the FirmwareCryptoPolicy over Mbed TLS.
struct MbedTlsFirmwareCrypto {
  // Sha256Context owns an mbedtls_sha256_context for its lifetime (init in
  // the constructor, wipe in the destructor), so an early return from the
  // verifier leaves no hash state behind.
  class Sha256Context {
   public:
    Sha256Context() { mbedtls_sha256_init(&context_); }
    ~Sha256Context() { mbedtls_sha256_free(&context_); }
    Sha256Context(const Sha256Context&) = delete;
    Sha256Context& operator=(const Sha256Context&) = delete;
    mbedtls_sha256_context* get() { return &context_; }

   private:
    mbedtls_sha256_context context_;
  };

  // With SHA-256 in software these calls cannot fail for valid pointers;
  // a failure would leave a wrong digest, which then fails the comparison
  // with the image's SHA256 TLV (fail closed).
  static void Sha256Init(Sha256Context& context) {
    (void)mbedtls_sha256_starts_ret(context.get(), /*is224=*/0);
  }
  static void Sha256Update(Sha256Context& context,
                           std::span<const uint8_t> bytes) {
    (void)mbedtls_sha256_update_ret(context.get(), bytes.data(), bytes.size());
  }
  static void Sha256Final(Sha256Context& context,
                          std::span<uint8_t, kSha256Size> digest_out) {
    if (mbedtls_sha256_finish_ret(context.get(), digest_out.data()) != 0) {
      for (uint8_t& byte : digest_out) byte = 0;
    }
  }

  static SignatureCheck VerifyEcdsaP256(
      std::span<const uint8_t> public_key,
      std::span<const uint8_t, kSha256Size> digest,
      std::span<const uint8_t> signature) {
    mbedtls_ecdsa_context ecdsa;
    mbedtls_ecdsa_init(&ecdsa);
    int error = mbedtls_ecp_group_load(&ecdsa.grp, MBEDTLS_ECP_DP_SECP256R1);
    if (error == 0) {
      error = mbedtls_ecp_point_read_binary(&ecdsa.grp, &ecdsa.Q,
                                            public_key.data(),
                                            public_key.size());
    }
    if (error == 0) error = mbedtls_ecp_check_pubkey(&ecdsa.grp, &ecdsa.Q);
    if (error == 0) {
      // Parses the DER ECDSA-Sig-Value; trailing bytes are an error. Less
      // strict than BoringSSL about non-minimal INTEGER encodings, which
      // only lets another encoding of a valid (r, s) through: the digest
      // it signs is still the image's.
      error = mbedtls_ecdsa_read_signature(&ecdsa, digest.data(),
                                           digest.size(), signature.data(),
                                           signature.size());
    }
    mbedtls_ecdsa_free(&ecdsa);
    return error == 0 ? SignatureCheck::kValid : SignatureCheck::kInvalid;
  }

  static SignatureCheck VerifyEd25519(std::span<const uint8_t>,
                                      std::span<const uint8_t, kSha256Size>,
                                      std::span<const uint8_t>) {
    return SignatureCheck::kUnsupported;
  }
};

static_assert(FirmwareCryptoPolicy<MbedTlsFirmwareCrypto>);

}  // namespace cxsec::firmware

#endif  // CXSEC_CORE_FIRMWARE_MBEDTLS_FIRMWARE_CRYPTO_H_
