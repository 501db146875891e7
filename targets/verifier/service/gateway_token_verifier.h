// The seam between the verifier's HTTP layer and gateway-JWT verification
// (core/jwt from the identity issue). The service asks only "which gateway
// is this bearer, or why not". The registry supplies the keys: each
// gateway's up to three keys (with optional expiry) become a DeviceKeySet,
// checked with a per-project JwtVerifier (audience = project id), whose
// cache makes a re-used token cost a hash lookup instead of a signature
// verification. Gateway state (exists, enabled, key still registered and
// unexpired) is re-read from the registry cache on every request, so a
// block or revocation is effective as soon as the cache is invalidated.
#ifndef CXSEC_TARGETS_VERIFIER_SERVICE_GATEWAY_TOKEN_VERIFIER_H_
#define CXSEC_TARGETS_VERIFIER_SERVICE_GATEWAY_TOKEN_VERIFIER_H_

#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "core/clock.h"
#include "core/crypto/primitives.h"
#include "core/jwt/verifier.h"
#include "targets/verifier/registry/registry.h"

namespace cxsec::verifier {

struct GatewayAuthResult {
  absl::Status status;   // Unauthenticated (401) or PermissionDenied (403)
  std::string reason;    // metric label and error code, e.g. "unknown_gateway"
  Gateway gateway;       // valid when status is OK
};

class GatewayTokenVerifier {
 public:
  virtual ~GatewayTokenVerifier() = default;
  virtual GatewayAuthResult Verify(absl::string_view token) = 0;
};

class RegistryGatewayTokenVerifier final : public GatewayTokenVerifier {
 public:
  RegistryGatewayTokenVerifier(Registry* registry, const Clock* clock)
      : registry_(registry), clock_(clock) {}
  GatewayAuthResult Verify(absl::string_view token) override;

 private:
  JwtVerifier& VerifierForProject(const std::string& project);
  absl::StatusOr<std::string> SubjectOf(absl::string_view token,
                                        const Sha256Digest& digest);

  Registry* registry_;
  const Clock* clock_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<JwtVerifier>> by_project_;
  struct DigestHash {
    size_t operator()(const Sha256Digest& d) const {
      size_t h;
      std::memcpy(&h, d.data(), sizeof(h));  // already uniformly random
      return h;
    }
  };
  // SHA-256(token) -> sub, so a re-used token is not decoded again to find
  // its gateway; the signature check still happens (cached) in JwtVerifier.
  // Keyed by the digest: a token may be 8 KiB, and a gateway can mint as
  // many as it likes.
  absl::flat_hash_map<Sha256Digest, std::string, DigestHash> subjects_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SERVICE_GATEWAY_TOKEN_VERIFIER_H_
