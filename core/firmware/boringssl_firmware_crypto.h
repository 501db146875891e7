// The host's crypto backend for the firmware image verifier
// (FirmwareCryptoPolicy in image_verifier.h), on BoringSSL: SHA-256,
// ECDSA P-256 and Ed25519. Host code does not name it directly; it uses
// host_image_verifier.h, which composes the verifier with it once.
//
// SHA-256 and Ed25519 here allocate nothing; BoringSSL's ECDSA verify
// allocates its EC_KEY/BIGNUM temporaries internally, which is fine on a
// host and the reason a node uses mbedtls_firmware_crypto.h instead.
#ifndef CXSEC_CORE_FIRMWARE_BORINGSSL_FIRMWARE_CRYPTO_H_
#define CXSEC_CORE_FIRMWARE_BORINGSSL_FIRMWARE_CRYPTO_H_

#include <openssl/base.h>
#include <openssl/curve25519.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/nid.h>
#include <openssl/sha.h>

#include <cstdint>
#include <span>

#include "core/firmware/image_format.h"
#include "core/firmware/image_verifier.h"

#if !defined(OPENSSL_IS_BORINGSSL)
#error "cxsec: boringssl_firmware_crypto.h needs BoringSSL (@boringssl//:crypto)"
#endif

namespace cxsec::firmware {

// BoringSslFirmwareCrypto: the FirmwareCryptoPolicy over BoringSSL.
struct BoringSslFirmwareCrypto {
  using Sha256Context = SHA256_CTX;

  static void Sha256Init(Sha256Context& context) { SHA256_Init(&context); }
  static void Sha256Update(Sha256Context& context,
                           std::span<const uint8_t> bytes) {
    SHA256_Update(&context, bytes.data(), bytes.size());
  }
  static void Sha256Final(Sha256Context& context,
                          std::span<uint8_t, kSha256Size> digest_out) {
    SHA256_Final(digest_out.data(), &context);
  }

  static SignatureCheck VerifyEcdsaP256(
      std::span<const uint8_t> public_key,
      std::span<const uint8_t, kSha256Size> digest,
      std::span<const uint8_t> signature) {
    EC_KEY* ec_key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    if (ec_key == nullptr) return SignatureCheck::kInvalid;
    bool valid = false;
    EC_POINT* point = EC_POINT_new(EC_KEY_get0_group(ec_key));
    if (point != nullptr &&
        EC_POINT_oct2point(EC_KEY_get0_group(ec_key), point, public_key.data(),
                           public_key.size(), nullptr) == 1 &&
        EC_KEY_set_public_key(ec_key, point) == 1) {
      // ECDSA_verify parses strict DER, so a re-encoded signature fails.
      valid = ECDSA_verify(0, digest.data(), digest.size(), signature.data(),
                           signature.size(), ec_key) == 1;
    }
    EC_POINT_free(point);
    EC_KEY_free(ec_key);
    return valid ? SignatureCheck::kValid : SignatureCheck::kInvalid;
  }

  static SignatureCheck VerifyEd25519(
      std::span<const uint8_t> public_key,
      std::span<const uint8_t, kSha256Size> digest,
      std::span<const uint8_t> signature) {
    if (public_key.size() != 32 || signature.size() != kEd25519SignatureSize) {
      return SignatureCheck::kInvalid;
    }
    return ED25519_verify(digest.data(), digest.size(), signature.data(),
                          public_key.data()) == 1
               ? SignatureCheck::kValid
               : SignatureCheck::kInvalid;
  }
};

static_assert(FirmwareCryptoPolicy<BoringSslFirmwareCrypto>);

}  // namespace cxsec::firmware

#endif  // CXSEC_CORE_FIRMWARE_BORINGSSL_FIRMWARE_CRYPTO_H_
