// Firmware signing keys on the signing host: generate, load and store
// PKCS#8 PEM private keys (the format imgtool writes and reads), export the
// public key as DER SubjectPublicKeyInfo / PEM, and turn a public key into
// the device's TrustedKey (KEYHASH = SHA-256 of that DER, as imgtool).
// Host-only (heap, BoringSSL EVP); the bootloader side needs only
// image_verifier.h. Private key PEM text is kept in SecretBytes.
#ifndef CXSEC_CORE_FIRMWARE_SIGNING_KEY_H_
#define CXSEC_CORE_FIRMWARE_SIGNING_KEY_H_

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/curve25519.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <array>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/crypto/private_key.h"
#include "core/firmware/image_format.h"
#include "core/firmware/image_verifier.h"
#include "core/secret_bytes.h"
#include "core/status.h"

namespace cxsec::firmware {

namespace internal {
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

inline absl::StatusOr<SignatureAlgorithm> AlgorithmOf(const EVP_PKEY* key) {
  CXSEC_ASSIGN_OR_RETURN(PrivateKeyType type, PrivateKeyTypeOf(key));
  return type == PrivateKeyType::kP256 ? SignatureAlgorithm::kEcdsaP256
                                       : SignatureAlgorithm::kEd25519;
}

inline absl::StatusOr<Bytes> MarshalPublicKey(const EVP_PKEY* key) {
  CBB cbb;
  if (!CBB_init(&cbb, 128) ||
      !EVP_marshal_public_key(&cbb, const_cast<EVP_PKEY*>(key))) {
    CBB_cleanup(&cbb);
    return absl::InternalError("cannot encode the public key as DER");
  }
  Bytes der(CBB_data(&cbb), CBB_data(&cbb) + CBB_len(&cbb));
  CBB_cleanup(&cbb);
  return der;
}

}  // namespace internal

// TrustedKeyFromPublicKeyDer parses a DER SubjectPublicKeyInfo (P-256 or
// Ed25519) into a TrustedKey whose key_hash matches imgtool's KEYHASH.
[[nodiscard]] inline absl::StatusOr<TrustedKey> TrustedKeyFromPublicKeyDer(
    ByteView der) {
  CBS cbs;
  CBS_init(&cbs, der.data(), der.size());
  EvpPkeyPtr key(EVP_parse_public_key(&cbs));
  if (key == nullptr || CBS_len(&cbs) != 0) {
    return absl::InvalidArgumentError(
        "public key is not a DER SubjectPublicKeyInfo");
  }
  CXSEC_ASSIGN_OR_RETURN(SignatureAlgorithm algorithm,
                         internal::AlgorithmOf(key.get()));
  // Re-encode so the hash is over canonical DER, as imgtool computes it.
  CXSEC_ASSIGN_OR_RETURN(Bytes canonical, internal::MarshalPublicKey(key.get()));
  TrustedKey trusted;
  trusted.algorithm = algorithm;
  SHA256(canonical.data(), canonical.size(), trusted.key_hash.data());
  if (algorithm == SignatureAlgorithm::kEd25519) {
    size_t size = 32;
    if (!EVP_PKEY_get_raw_public_key(key.get(), trusted.public_key.data(), &size) ||
        size != 32) {
      return absl::InvalidArgumentError("bad Ed25519 public key");
    }
    trusted.public_key_size = 32;
  } else {
    const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key.get());
    size_t size = EC_POINT_point2oct(
        EC_KEY_get0_group(ec), EC_KEY_get0_public_key(ec),
        POINT_CONVERSION_UNCOMPRESSED, trusted.public_key.data(),
        trusted.public_key.size(), nullptr);
    if (size != 65) return absl::InvalidArgumentError("bad P-256 public key");
    trusted.public_key_size = 65;
  }
  return trusted;
}

// TrustedKeyFromPublicKeyPem accepts "-----BEGIN PUBLIC KEY-----" text (as
// `imgtool getpub --encoding pem` and `cxsec fw getpub` print it).
[[nodiscard]] inline absl::StatusOr<TrustedKey> TrustedKeyFromPublicKeyPem(
    absl::string_view pem) {
  internal::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<long>(pem.size())));
  char* name = nullptr;
  char* header = nullptr;
  uint8_t* data = nullptr;
  long size = 0;
  if (!PEM_read_bio(bio.get(), &name, &header, &data, &size)) {
    return absl::InvalidArgumentError("no PEM block found in the public key text");
  }
  std::string label = name;
  Bytes der(data, data + size);
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  if (label != "PUBLIC KEY") {
    return absl::InvalidArgumentError(
        absl::StrCat("PEM block is '", label, "', want 'PUBLIC KEY'"));
  }
  return TrustedKeyFromPublicKeyDer(der);
}

// SigningKey: a firmware signing private key (P-256 or Ed25519).
class SigningKey {
 public:
  // Generate makes a fresh key.
  [[nodiscard]] static absl::StatusOr<SigningKey> Generate(
      SignatureAlgorithm algorithm) {
    CXSEC_ASSIGN_OR_RETURN(
        EvpPkeyPtr key,
        GeneratePrivateKey(algorithm == SignatureAlgorithm::kEd25519
                               ? PrivateKeyType::kEd25519
                               : PrivateKeyType::kP256));
    return SigningKey(std::move(key), algorithm);
  }

  // FromPem loads "-----BEGIN PRIVATE KEY-----" (unencrypted PKCS#8, as
  // `imgtool keygen` writes by default).
  [[nodiscard]] static absl::StatusOr<SigningKey> FromPem(
      const SecretBytes& pem) {
    CXSEC_ASSIGN_OR_RETURN(EvpPkeyPtr key, ParsePkcs8PrivateKeyPem(pem));
    CXSEC_ASSIGN_OR_RETURN(SignatureAlgorithm algorithm,
                           internal::AlgorithmOf(key.get()));
    return SigningKey(std::move(key), algorithm);
  }

  // ToPkcs8Pem serialises the private key; the caller writes it 0600.
  [[nodiscard]] absl::StatusOr<SecretBytes> ToPkcs8Pem() const {
    return PrivateKeyToPkcs8Pem(key_.get());
  }

  SignatureAlgorithm algorithm() const { return algorithm_; }

  [[nodiscard]] absl::StatusOr<Bytes> PublicKeyDer() const {
    return internal::MarshalPublicKey(key_.get());
  }

  [[nodiscard]] absl::StatusOr<std::string> PublicKeyPem() const {
    CXSEC_ASSIGN_OR_RETURN(Bytes der, PublicKeyDer());
    return PemEncode("PUBLIC KEY", der);
  }

  [[nodiscard]] absl::StatusOr<TrustedKey> ToTrustedKey() const {
    CXSEC_ASSIGN_OR_RETURN(Bytes der, PublicKeyDer());
    return TrustedKeyFromPublicKeyDer(der);
  }

  // SignDigest signs the image's SHA-256 digest: ECDSA P-256 returns the
  // ASN.1 DER signature (what imgtool's ECDSA TLV holds), Ed25519 signs
  // the 32 digest bytes as its message (imgtool's non-pure mode).
  [[nodiscard]] absl::StatusOr<Bytes> SignDigest(
      const std::array<uint8_t, 32>& digest) const {
    if (algorithm_ == SignatureAlgorithm::kEd25519) {
      uint8_t seed[32];
      size_t seed_size = sizeof(seed);
      if (!EVP_PKEY_get_raw_private_key(key_.get(), seed, &seed_size) ||
          seed_size != 32) {
        return absl::InternalError("cannot read the Ed25519 key");
      }
      uint8_t public_key[32];
      uint8_t expanded[64];
      ED25519_keypair_from_seed(public_key, expanded, seed);
      Bytes signature(64);
      const int ok = ED25519_sign(signature.data(), digest.data(),
                                  digest.size(), expanded);
      OPENSSL_cleanse(seed, sizeof(seed));
      OPENSSL_cleanse(expanded, sizeof(expanded));
      if (!ok) return absl::InternalError("Ed25519 signing failed");
      return signature;
    }
    const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key_.get());
    Bytes signature(ECDSA_size(ec));
    unsigned int size = 0;
    if (!ECDSA_sign(0, digest.data(), digest.size(), signature.data(), &size,
                    ec)) {
      return absl::InternalError("ECDSA signing failed");
    }
    signature.resize(size);
    return signature;
  }

 private:
  SigningKey(EvpPkeyPtr key, SignatureAlgorithm algorithm)
      : key_(std::move(key)), algorithm_(algorithm) {}
  EvpPkeyPtr key_;
  SignatureAlgorithm algorithm_;
};

}  // namespace cxsec::firmware

#endif  // CXSEC_CORE_FIRMWARE_SIGNING_KEY_H_
