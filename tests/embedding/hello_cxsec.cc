// Uses cxsec from another Bazel workspace: a random nonce, base64url-encoded.
#include <cstdio>

#include "core/crypto/primitives.h"
#include "core/encoding/base64url.h"

int main() {
  absl::StatusOr<cxsec::Bytes> nonce = cxsec::RandomBytes(16);
  if (!nonce.ok()) return 1;
  std::printf("embedded cxsec works: nonce %s\n",
              cxsec::Base64UrlEncode(*nonce).c_str());
  return 0;
}
