// Software private keys on BoringSSL, shared by the JWT identity
// (core/identity/soft_key.h) and the firmware signer
// (core/firmware/signing_key.h), so a gateway key and a firmware key are
// generated, read and written by one implementation with the same checks:
// P-256 or Ed25519, unencrypted PKCS#8 ("-----BEGIN PRIVATE KEY-----", what
// `openssl genpkey` and `imgtool keygen` write), PEM decoded strictly.
// Files are handled by platforms/posix (0600, refused when broader); this
// header does no I/O.
//
//   CXSEC_ASSIGN_OR_RETURN(EvpPkeyPtr key, GeneratePrivateKey(PrivateKeyType::kP256));
//   CXSEC_ASSIGN_OR_RETURN(SecretBytes pem, PrivateKeyToPkcs8Pem(key.get()));
//   CXSEC_ASSIGN_OR_RETURN(EvpPkeyPtr again, ParsePkcs8PrivateKeyPem(pem));
#ifndef CXSEC_CORE_CRYPTO_PRIVATE_KEY_H_
#define CXSEC_CORE_CRYPTO_PRIVATE_KEY_H_

#include <openssl/bytestring.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/crypto/primitives.h"
#include "core/encoding/base64url.h"
#include "core/secret_bytes.h"

namespace cxsec {

struct EcKeyDeleter {
  void operator()(EC_KEY* key) const { EC_KEY_free(key); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EcKeyPtr = std::unique_ptr<EC_KEY, EcKeyDeleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// The key types cxsec signs with.
enum class PrivateKeyType { kP256, kEd25519 };

// PrivateKeyTypeOf names a key's type, or says why cxsec cannot use it.
[[nodiscard]] inline absl::StatusOr<PrivateKeyType> PrivateKeyTypeOf(
    const EVP_PKEY* key) {
  switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_EC: {
      const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key);
      if (ec == nullptr || EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) !=
                               NID_X9_62_prime256v1) {
        return absl::InvalidArgumentError(
            "EC key is not on P-256 (only P-256 and Ed25519 are supported)");
      }
      return PrivateKeyType::kP256;
    }
    case EVP_PKEY_ED25519:
      return PrivateKeyType::kEd25519;
    default:
      return absl::InvalidArgumentError(
          "unsupported key type (only P-256 and Ed25519 are supported)");
  }
}

// GeneratePrivateKey makes a fresh key from BoringSSL's CSPRNG.
[[nodiscard]] inline absl::StatusOr<EvpPkeyPtr> GeneratePrivateKey(
    PrivateKeyType type) {
  if (type == PrivateKeyType::kP256) {
    EcKeyPtr ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
    if (!ec || !EC_KEY_generate_key(ec.get())) {
      return absl::InternalError("P-256 key generation failed");
    }
    EvpPkeyPtr key(EVP_PKEY_new());
    if (!key || !EVP_PKEY_set1_EC_KEY(key.get(), ec.get())) {
      return absl::InternalError("P-256 key generation failed");
    }
    return key;
  }
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  EVP_PKEY* raw = nullptr;
  const bool ok = ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1 &&
                  EVP_PKEY_keygen(ctx, &raw) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return absl::InternalError("Ed25519 key generation failed");
  return EvpPkeyPtr(raw);
}

// PemEncode wraps DER in PEM armour with 64-column lines (RFC 7468).
inline std::string PemEncode(absl::string_view label, ByteView der) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  b64.reserve((der.size() + 2) / 3 * 4);
  for (size_t i = 0; i < der.size(); i += 3) {
    uint32_t v = uint32_t{der[i]} << 16;
    if (i + 1 < der.size()) v |= uint32_t{der[i + 1]} << 8;
    if (i + 2 < der.size()) v |= der[i + 2];
    b64.push_back(kAlphabet[(v >> 18) & 63]);
    b64.push_back(kAlphabet[(v >> 12) & 63]);
    b64.push_back(i + 1 < der.size() ? kAlphabet[(v >> 6) & 63] : '=');
    b64.push_back(i + 2 < der.size() ? kAlphabet[v & 63] : '=');
  }
  std::string out = absl::StrCat("-----BEGIN ", label, "-----\n");
  for (size_t i = 0; i < b64.size(); i += 64) {
    absl::StrAppend(&out, absl::string_view(b64).substr(i, 64), "\n");
  }
  absl::StrAppend(&out, "-----END ", label, "-----\n");
  // The base64 of a private key is as secret as the key.
  SecureZero(b64.data(), b64.size());
  return out;
}

// PemDecode extracts the single block labelled `label` and decodes it.
// Strict: one block, at most 64 KiB of text, standard base64 with padding
// only at the end.
[[nodiscard]] inline absl::StatusOr<Bytes> PemDecode(absl::string_view pem,
                                                     absl::string_view label) {
  if (pem.size() > 64 * 1024) {
    return absl::InvalidArgumentError("PEM input larger than 64 KiB");
  }
  const std::string begin = absl::StrCat("-----BEGIN ", label, "-----");
  const std::string end = absl::StrCat("-----END ", label, "-----");
  const size_t b = pem.find(begin);
  if (b == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("PEM: no '", begin, "' line"));
  }
  const size_t body_start = b + begin.size();
  const size_t e = pem.find(end, body_start);
  if (e == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("PEM: no '", end, "' line"));
  }
  if (pem.find("-----BEGIN", e) != absl::string_view::npos) {
    return absl::InvalidArgumentError("PEM: more than one block");
  }
  std::string b64;
  for (char c : pem.substr(body_start, e - body_start)) {
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    if (c == '+') {
      c = '-';
    } else if (c == '/') {
      c = '_';
    } else if (c == '-' || c == '_') {
      SecureZero(b64.data(), b64.size());
      return absl::InvalidArgumentError("PEM: invalid base64 character");
    }
    b64.push_back(c);
  }
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  absl::StatusOr<Bytes> der = Base64UrlDecode(b64);
  SecureZero(b64.data(), b64.size());
  if (!der.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PEM body: ", der.status().message()));
  }
  return der;
}

// ParsePkcs8PrivateKeyDer parses an unencrypted PKCS#8 PrivateKeyInfo
// holding a P-256 or Ed25519 key, with nothing after it.
[[nodiscard]] inline absl::StatusOr<EvpPkeyPtr> ParsePkcs8PrivateKeyDer(
    ByteView der) {
  CBS cbs;
  CBS_init(&cbs, der.data(), der.size());
  EvpPkeyPtr key(EVP_parse_private_key(&cbs));
  if (!key || CBS_len(&cbs) != 0) {
    return absl::InvalidArgumentError(
        "not an unencrypted PKCS#8 private key (P-256 or Ed25519)");
  }
  absl::StatusOr<PrivateKeyType> type = PrivateKeyTypeOf(key.get());
  if (!type.ok()) return type.status();
  return key;
}

// ParsePkcs8PrivateKeyPem parses "-----BEGIN PRIVATE KEY-----" PEM text.
// The decoded DER is wiped before returning.
[[nodiscard]] inline absl::StatusOr<EvpPkeyPtr> ParsePkcs8PrivateKeyPem(
    const SecretBytes& pem) {
  absl::StatusOr<Bytes> der = PemDecode(
      AsStringView(pem.Reveal(SecretAccess::Grant())), "PRIVATE KEY");
  if (!der.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not an unencrypted PKCS#8 PEM private key: ", der.status().message()));
  }
  absl::StatusOr<EvpPkeyPtr> key = ParsePkcs8PrivateKeyDer(*der);
  SecureZero(der->data(), der->size());
  return key;
}

// PrivateKeyToPkcs8Pem exports `key` as PKCS#8 PEM; the result is a secret
// and every intermediate copy is wiped.
[[nodiscard]] inline absl::StatusOr<SecretBytes> PrivateKeyToPkcs8Pem(
    const EVP_PKEY* key) {
  CBB cbb;
  uint8_t* der = nullptr;
  size_t der_size = 0;
  if (!CBB_init(&cbb, 128) ||
      !EVP_marshal_private_key(&cbb, const_cast<EVP_PKEY*>(key)) ||
      !CBB_finish(&cbb, &der, &der_size)) {
    CBB_cleanup(&cbb);
    return absl::InternalError("cannot encode the private key as PKCS#8");
  }
  std::string pem = PemEncode("PRIVATE KEY", ByteView(der, der_size));
  OPENSSL_cleanse(der, der_size);
  OPENSSL_free(der);
  SecretBytes out = SecretBytes::CopyFrom(AsBytes(pem));
  SecureZero(pem.data(), pem.size());
  return out;
}

}  // namespace cxsec

#endif  // CXSEC_CORE_CRYPTO_PRIVATE_KEY_H_
