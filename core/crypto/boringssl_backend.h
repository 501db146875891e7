// BoringSSL as cxsec's crypto backend (compiled from Debian's source package,
// third_party/boringssl.BUILD).
// Header-only; link @boringssl//:crypto. OpenSSL 3 exports the same names,
// so a build that picked up /usr/include/openssl by mistake stops here.
#ifndef CXSEC_CORE_CRYPTO_BORINGSSL_BACKEND_H_
#define CXSEC_CORE_CRYPTO_BORINGSSL_BACKEND_H_

#include <openssl/base.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "absl/status/status.h"
#include "core/bytes.h"
#include "core/crypto/crypto_backend.h"

#if !defined(OPENSSL_IS_BORINGSSL)
#error "cxsec: <openssl/...> resolved to OpenSSL, not BoringSSL; depend on @boringssl//:crypto"
#endif

namespace cxsec {

// BoringSslBackend: CryptoBackend on BoringSSL.
struct BoringSslBackend {
  static void Cleanse(void* memory, size_t size) {
    if (size != 0) OPENSSL_cleanse(memory, size);
  }

  // RAND_bytes never fails in BoringSSL (it aborts instead), but the
  // interface keeps a Status so other backends can report entropy failures.
  static absl::Status RandomBytes(MutableByteView out) {
    if (out.empty()) return absl::OkStatus();
    if (RAND_bytes(out.data(), out.size()) != 1) {
      return absl::InternalError("RAND_bytes failed");
    }
    return absl::OkStatus();
  }

  static bool ConstantTimeEquals(ByteView a, ByteView b) {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
  }

  static Sha256Digest Sha256(ByteView data) {
    Sha256Digest digest;
    SHA256(data.data(), data.size(), digest.data());
    return digest;
  }

  static Sha256Digest HmacSha256(ByteView key, ByteView data) {
    Sha256Digest mac;
    unsigned int mac_size = 0;
    HMAC(EVP_sha256(), key.data(), key.size(), data.data(), data.size(),
         mac.data(), &mac_size);
    return mac;
  }
};

static_assert(CryptoBackend<BoringSslBackend>);

}  // namespace cxsec

#endif  // CXSEC_CORE_CRYPTO_BORINGSSL_BACKEND_H_
