// The seam between the verifier and gateway-JWT verification. The service
// asks only "which gateway is this bearer, or why not"; the implementation
// here uses the interim ES256 checks in targets/verifier/auth and the
// registry's keys, caching verified tokens so a gateway re-using its token
// costs a hash lookup, not an ECDSA verify. Gateway state (enabled, key
// still present and unexpired) is re-checked on every request, so a
// revocation is effective as soon as the registry cache is invalidated.
#ifndef CXSEC_TARGETS_VERIFIER_SERVICE_GATEWAY_TOKEN_VERIFIER_H_
#define CXSEC_TARGETS_VERIFIER_SERVICE_GATEWAY_TOKEN_VERIFIER_H_

#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "core/clock.h"
#include "targets/verifier/registry/registry.h"

namespace cxsec::verifier {

struct GatewayAuthResult {
  absl::Status status;   // Unauthenticated (401) or PermissionDenied (403)
  std::string reason;    // metric label, e.g. "unknown_gateway"
  Gateway gateway;       // valid when status is OK
};

class GatewayTokenVerifier {
 public:
  virtual ~GatewayTokenVerifier() = default;
  virtual GatewayAuthResult Verify(absl::string_view token) = 0;
};

class RegistryGatewayTokenVerifier final : public GatewayTokenVerifier {
 public:
  RegistryGatewayTokenVerifier(Registry* registry, const Clock* clock,
                               absl::Duration skew = absl::Seconds(60))
      : registry_(registry), clock_(clock), skew_(skew) {}
  GatewayAuthResult Verify(absl::string_view token) override;

 private:
  struct Verified {
    std::string gateway_id;
    std::string kid;
    int64_t exp;
  };
  GatewayAuthResult CheckGatewayState(const std::string& gateway_id,
                                      const std::string& kid);
  Registry* registry_;
  const Clock* clock_;
  absl::Duration skew_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, Verified> verified_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SERVICE_GATEWAY_TOKEN_VERIFIER_H_
