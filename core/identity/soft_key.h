// SoftKey: a software signing identity (ES256 on P-256, or EdDSA on
// Ed25519 per RFC 8037) on BoringSSL. It satisfies cxsec::Identity, so it
// can mint the same JWTs a TPM key does, for development gateways, the CLI
// and tests. Private keys move in and out only as PKCS#8 PEM held in
// SecretBytes; files are handled by platforms/posix/soft_key_file.h so
// core stays free of file I/O.
//
//   CXSEC_ASSIGN_OR_RETURN(SoftKey key, SoftKey::Generate(JwtAlgorithm::kEdDsa));
//   CXSEC_ASSIGN_OR_RETURN(Bytes signature, key.Sign(AsBytes(signing_input)));
#ifndef CXSEC_CORE_IDENTITY_SOFT_KEY_H_
#define CXSEC_CORE_IDENTITY_SOFT_KEY_H_

#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/crypto/p256_signature.h"
#include "core/crypto/primitives.h"
#include "core/crypto/private_key.h"
#include "core/jwt/public_key.h"
#include "core/policy/concepts.h"
#include "core/secret_bytes.h"
#include "core/status.h"

namespace cxsec {

class SoftKey {
 public:
  static constexpr absl::string_view kName = "soft";

  // Generate makes a new key from the CSPRNG.
  [[nodiscard]] static absl::StatusOr<SoftKey> Generate(JwtAlgorithm algorithm) {
    CXSEC_ASSIGN_OR_RETURN(EvpPkeyPtr pkey,
                           GeneratePrivateKey(algorithm == JwtAlgorithm::kEs256
                                                  ? PrivateKeyType::kP256
                                                  : PrivateKeyType::kEd25519));
    return FromEvpPkey(std::move(pkey));
  }

  // FromPkcs8Der parses an unencrypted PKCS#8 PrivateKeyInfo.
  [[nodiscard]] static absl::StatusOr<SoftKey> FromPkcs8Der(ByteView der) {
    CXSEC_ASSIGN_OR_RETURN(EvpPkeyPtr pkey, ParsePkcs8PrivateKeyDer(der));
    return FromEvpPkey(std::move(pkey));
  }

  // FromPkcs8Pem parses "-----BEGIN PRIVATE KEY-----" PEM.
  [[nodiscard]] static absl::StatusOr<SoftKey> FromPkcs8Pem(
      const SecretBytes& pem) {
    CXSEC_ASSIGN_OR_RETURN(EvpPkeyPtr pkey, ParsePkcs8PrivateKeyPem(pem));
    return FromEvpPkey(std::move(pkey));
  }

  // ToPkcs8Pem exports the private key; the result is a secret.
  [[nodiscard]] absl::StatusOr<SecretBytes> ToPkcs8Pem() const {
    return PrivateKeyToPkcs8Pem(pkey_.get());
  }

  const JwtPublicKey& PublicKey() const { return *public_key_; }
  std::shared_ptr<const JwtPublicKey> SharedPublicKey() const {
    return public_key_;
  }

  // --- Identity ---
  std::string JwsAlgorithm() const {
    return std::string(JwtAlgorithmName(public_key_->algorithm()));
  }
  absl::StatusOr<std::string> KeyId() { return public_key_->Thumbprint(); }
  absl::StatusOr<Bytes> Sign(ByteView message) {
    if (public_key_->algorithm() == JwtAlgorithm::kEdDsa) {
      Bytes signature(64);
      size_t size = signature.size();
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      bool ok = ctx != nullptr &&
                EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr,
                                   pkey_.get()) == 1 &&
                EVP_DigestSign(ctx, signature.data(), &size, message.data(),
                               message.size()) == 1 &&
                size == 64;
      EVP_MD_CTX_free(ctx);
      if (!ok) return absl::InternalError("Ed25519 signing failed");
      return signature;
    }
    Sha256Digest digest = Sha256(message);
    const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(pkey_.get());
    ECDSA_SIG* sig = ECDSA_do_sign(digest.data(), digest.size(), ec);
    if (sig == nullptr) return absl::InternalError("ECDSA signing failed");
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig, &r, &s);
    Bytes signature(64);
    bool ok = BN_bn2bin_padded(signature.data(), 32, r) == 1 &&
              BN_bn2bin_padded(signature.data() + 32, 32, s) == 1;
    ECDSA_SIG_free(sig);
    if (!ok) return absl::InternalError("ECDSA signature encoding failed");
    // Verifiers refuse the high-S twin, so a token has one valid signature.
    NormalizeP256SignatureToLowS(signature.data());
    return signature;
  }

 private:
  static absl::StatusOr<SoftKey> FromEvpPkey(EvpPkeyPtr pkey) {
    CXSEC_ASSIGN_OR_RETURN(JwtPublicKey public_key,
                           JwtPublicKey::FromEvpPkey(pkey.get()));
    SoftKey key;
    key.pkey_ = std::move(pkey);
    key.public_key_ =
        std::make_shared<const JwtPublicKey>(std::move(public_key));
    return key;
  }
  SoftKey() = default;

  EvpPkeyPtr pkey_;
  std::shared_ptr<const JwtPublicKey> public_key_;
};

static_assert(Identity<SoftKey>, "SoftKey must satisfy cxsec::Identity");

}  // namespace cxsec

#endif  // CXSEC_CORE_IDENTITY_SOFT_KEY_H_
