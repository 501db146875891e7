// The seam between the verifier's HTTP layer and gateway-JWT verification
// (core/jwt from the identity issue). The service asks only "which gateway
// is this bearer, or why not". The registry supplies the keys: each
// gateway's up to three keys (with optional expiry) become a DeviceKeySet,
// checked with a per-project JwtVerifier (audience = project id), whose
// cache makes a re-used token cost a hash lookup instead of a signature
// verification.
//
// A request costs, in order: SHA-256 of the token; its sub, remembered by
// that digest (or one ParseJwt, whose result is also what gets verified:
// a token is decoded at most once); the gateway's snapshot (the registry's
// Gateway with its DeviceKeySet built), kept per gateway and tagged with
// Registry::ChangeGeneration; the JwtVerifier's cache or the full check.
// A snapshot is used only while that generation is current and the
// registry's change feed is healthy, so a re-used token costs no registry
// read and no key-set construction, yet a block, a key revocation or a
// deletion written through this instance's API (SQLite, etcd) or reported
// by etcd's watch (another instance) is effective on the next request.
#ifndef CXSEC_TARGETS_VERIFIER_SERVICE_GATEWAY_TOKEN_VERIFIER_H_
#define CXSEC_TARGETS_VERIFIER_SERVICE_GATEWAY_TOKEN_VERIFIER_H_

#include <cstdint>
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
  // `registry` and `clock` must outlive the verifier.
  RegistryGatewayTokenVerifier(Registry* registry, const Clock* clock)
      : registry_(registry), clock_(clock) {}
  GatewayAuthResult Verify(absl::string_view token) override;

 private:
  // One gateway as the registry had it at `generation`, with everything
  // verification needs built from it once.
  struct GatewaySnapshot {
    uint64_t generation = 0;
    Gateway gateway;
    absl::StatusOr<DeviceKeySet> keys;  // an error when the stored keys are bad
    JwtVerifier* verifier = nullptr;    // the project's; owned by by_project_
  };

  JwtVerifier& VerifierForProject(const std::string& project);
  // SnapshotOf returns the gateway `id`: the remembered snapshot while it
  // is current (no registry read), else one built from a registry read.
  // nullptr, with `*failure` set, when the registry has no such gateway or
  // cannot be read.
  std::shared_ptr<const GatewaySnapshot> SnapshotOf(const std::string& id,
                                                    GatewayAuthResult* failure);

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
  // Gateway id -> its latest snapshot (stale ones are replaced on use).
  absl::flat_hash_map<std::string, std::shared_ptr<const GatewaySnapshot>>
      snapshots_;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SERVICE_GATEWAY_TOKEN_VERIFIER_H_
