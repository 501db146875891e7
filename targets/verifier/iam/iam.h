// Least-privilege access for the verifier's API. Principals hold API keys
// ("cxk_<principal>_<secret>") stored only as salted SHA-256 hashes: the
// secret is 256 random bits, so a fast hash is enough (no password
// stretching needed) and the plaintext is shown once, at creation.
// Roles map to permissions; every route names the permission it needs;
// gateway JWTs map to the "gateway" role, which may only post telemetry.
// Adding a gateway key is its own permission (gateway.enroll: admin and
// enroller), separate from registry.write, and needs a proof made by the
// new key besides, so no role can register a key it does not hold.
#ifndef CXSEC_TARGETS_VERIFIER_IAM_IAM_H_
#define CXSEC_TARGETS_VERIFIER_IAM_IAM_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "targets/verifier/registry/kv_store.h"
#include "targets/verifier/registry/registry.h"

namespace cxsec::verifier {

enum class Permission {
  kRegistryRead,    // GET projects/gateways/devices
  kRegistryWrite,   // create/update/delete them; revoke gateway keys
  kPrincipalAdmin,  // manage principals and API keys
  kAuditRead,       // read the audit log
  kMetricsRead,     // GET /metrics
  kTelemetryWrite,  // POST /v1/telemetry
  kGatewayEnroll,   // enrolment challenges; add a gateway key (with proof)
};

// enroller: the provisioning station or person that registers gateway
// keys; it may read the registry and enrol keys, nothing else.
enum class Role { kAdmin, kOperator, kViewer, kGateway, kEnroller };

[[nodiscard]] absl::StatusOr<Role> ParseRole(absl::string_view name);
std::string RoleName(Role role);
bool RoleHas(Role role, Permission permission);
std::string PermissionName(Permission permission);

struct Principal {
  std::string id;  // [a-z0-9-]{1,64}, or the gateway id for JWT callers
  Role role;
};

class Iam {
 public:
  Iam(KvStore* store, Registry* audit) : store_(store), audit_(audit) {}

  // Creates a principal and returns its API key (the only time it exists
  // in plaintext). The "gateway" role is reserved for gateway JWTs.
  [[nodiscard]] absl::StatusOr<std::string> CreatePrincipal(
      absl::string_view actor, absl::string_view id, Role role);
  [[nodiscard]] absl::Status DeletePrincipal(absl::string_view actor, absl::string_view id);
  [[nodiscard]] absl::StatusOr<std::vector<Principal>> ListPrincipals();
  // Authenticates an API key; errors never echo the key.
  [[nodiscard]] absl::StatusOr<Principal> Authenticate(absl::string_view api_key);
  // When no principal exists yet, creates "admin" and returns its key.
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> BootstrapAdmin();

 private:
  KvStore* store_;
  Registry* audit_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_IAM_IAM_H_
