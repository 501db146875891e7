// The verifier's registry: projects, gateways (id "G" + 18 hex digits, up
// to 3 ES256 public keys with optional expiry, enabled or blocked) and
// devices (id, project, bound gateways), stored as JSON documents in a
// KvStore (SQLite or etcd). Every change is written to the audit log with
// its principal and time. A gateway key is added only with a verified
// proof of possession over a single-use enrolment challenge, which is kept
// in the store so any instance may issue it and any instance consume it.
// Gateway and device lookups on the telemetry path are cached; the cache is
// dropped whenever the store reports a change and bypassed while the store's
// change feed is down.
#ifndef CXSEC_TARGETS_VERIFIER_REGISTRY_REGISTRY_H_
#define CXSEC_TARGETS_VERIFIER_REGISTRY_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/jwt/enrollment_proof.h"
#include "core/jwt/public_key.h"
#include "nlohmann/json.hpp"
#include "targets/verifier/registry/kv_store.h"

namespace cxsec::verifier {

inline constexpr size_t kMaxKeysPerGateway = 3;
// Enrolment challenges: how long one may be used, and how many unused,
// unexpired ones a gateway may have (bounds what an enroller can pile up).
inline constexpr absl::Duration kEnrollmentChallengeLifetime = absl::Minutes(5);
inline constexpr size_t kMaxOutstandingEnrollmentChallenges = 8;
inline constexpr size_t kMaxGatewaysPerDevice = 64;
inline constexpr size_t kMaxProjectNameBytes = 256;
// Lists are read from the store this many keys at a time, to the end:
// no listing stops early, however long the registry grows.
inline constexpr size_t kRegistryListPageSize = 1000;
// GET /v1/audit pages: default and largest `limit`.
inline constexpr size_t kDefaultAuditPageSize = 100;
inline constexpr size_t kMaxAuditPageSize = 1000;

struct Project {
  std::string id;
  std::string name;
};

struct GatewayKey {
  std::string kid;
  std::string public_key_pem;          // SPKI PEM: P-256 (ES256) or Ed25519
  std::optional<int64_t> expires_at;  // unix seconds
  std::shared_ptr<const JwtPublicKey> parsed;  // filled on load
  bool ExpiredAt(absl::Time now) const {
    return expires_at.has_value() && absl::ToUnixSeconds(now) >= *expires_at;
  }
};

struct Gateway {
  std::string id;
  std::string project;
  bool enabled = true;
  std::vector<GatewayKey> keys;
};

struct EnrollmentChallenge {
  std::string gateway_id;
  std::string nonce;   // 43 base64url characters (32 random bytes)
  int64_t expires_at;  // unix seconds
};

// SealPolicy: what the verifier demands of a device's readings
// (docs/SEALED_READINGS.md). kOff: payloads are stored as the gateway sent
// them; kOptional: sealed readings are checked, unsealed ones accepted;
// kRequired: an unsealed reading is refused (`seal_required`), so a
// gateway cannot strip the envelope.
enum class SealPolicy { kOff, kOptional, kRequired };
const char* SealPolicyName(SealPolicy policy);
[[nodiscard]] absl::StatusOr<SealPolicy> ParseSealPolicy(absl::string_view name);

struct Device {
  std::string id;
  std::string project;
  std::vector<std::string> gateways;  // empty: any gateway of the project
  SealPolicy seal = SealPolicy::kOff;
};

// One page of the audit log, newest first. `next_cursor` is opaque to
// callers; pass it to ListAudit for the page of older entries. It is empty
// when this page reaches the oldest entry.
struct AuditPage {
  std::vector<nlohmann::json> entries;
  std::string next_cursor;
};

nlohmann::json ToJson(const Project& p);
nlohmann::json ToJson(const Gateway& g);  // keys without the parsed form
nlohmann::json ToJson(const Device& d);

// Id checks, shared with the HTTP layer so errors name the field.
[[nodiscard]] absl::Status CheckGatewayId(absl::string_view id);
[[nodiscard]] absl::Status CheckProjectId(absl::string_view id);
[[nodiscard]] absl::Status CheckDeviceId(absl::string_view id);

class Registry {
 public:
  // `store` must outlive the registry; the registry listens to its changes
  // until destroyed.
  Registry(KvStore* store, const Clock* clock);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Projects.
  [[nodiscard]] absl::Status CreateProject(absl::string_view principal, const Project& p);
  [[nodiscard]] absl::StatusOr<Project> GetProject(absl::string_view id);
  [[nodiscard]] absl::StatusOr<std::vector<Project>> ListProjects();
  [[nodiscard]] absl::Status UpdateProject(absl::string_view principal, const Project& p);
  // Refused while gateways or devices still belong to the project.
  [[nodiscard]] absl::Status DeleteProject(absl::string_view principal, absl::string_view id);

  // Gateways and their keys.
  [[nodiscard]] absl::Status CreateGateway(absl::string_view principal, const Gateway& g);
  // Cached; NotFound for unknown gateways.
  [[nodiscard]] absl::StatusOr<Gateway> GetGateway(absl::string_view id);
  [[nodiscard]] absl::StatusOr<std::vector<Gateway>> ListGateways(absl::string_view project);
  [[nodiscard]] absl::Status SetGatewayEnabled(absl::string_view principal,
                                               absl::string_view id, bool enabled);
  [[nodiscard]] absl::Status DeleteGateway(absl::string_view principal, absl::string_view id);
  // Issues a fresh single-use challenge for enrolling a key on the
  // gateway, valid kEnrollmentChallengeLifetime. Expired challenges of the
  // gateway are dropped first; FailedPrecondition with API reason
  // "too_many_challenges" when kMaxOutstandingEnrollmentChallenges are
  // still open. Audited as gateway.key.challenge.
  [[nodiscard]] absl::StatusOr<EnrollmentChallenge> IssueEnrollmentChallenge(
      absl::string_view principal, absl::string_view gateway_id);
  // Adds the key `proof` vouches for to the gateway it names, consuming
  // the proof's challenge: a store delete that only one caller (of any
  // instance) can win. FailedPrecondition with API reason
  // "challenge_unknown_or_used" or "challenge_expired" otherwise. The
  // gateway's own checks (exists, the key is new, at most 3 keys) come
  // first, so a refused key does not use up its challenge. Returns the kid.
  [[nodiscard]] absl::StatusOr<std::string> AddGatewayKey(
      absl::string_view principal, const VerifiedEnrollmentProof& proof,
      std::optional<int64_t> expires_at);
  [[nodiscard]] absl::Status RemoveGatewayKey(absl::string_view principal,
                                              absl::string_view gateway_id,
                                              absl::string_view kid);

  // Devices.
  [[nodiscard]] absl::Status CreateDevice(absl::string_view principal, const Device& d);
  [[nodiscard]] absl::StatusOr<Device> GetDevice(absl::string_view id);  // cached
  [[nodiscard]] absl::StatusOr<std::vector<Device>> ListDevices(absl::string_view project);
  [[nodiscard]] absl::Status UpdateDevice(absl::string_view principal, const Device& d);
  [[nodiscard]] absl::Status DeleteDevice(absl::string_view principal, absl::string_view id);

  // Audit log. Entries are keyed by time, so a page of the newest entries
  // and a walk back through the whole history are both a key range.
  [[nodiscard]] absl::Status Audit(absl::string_view principal, absl::string_view action,
                                   absl::string_view target);
  // Up to `limit` (1..kMaxAuditPageSize) entries older than `cursor`
  // (empty: the newest), newest first. InvalidArgument for a cursor this
  // registry did not issue or a limit out of range.
  [[nodiscard]] absl::StatusOr<AuditPage> ListAudit(absl::string_view cursor,
                                                    size_t limit);

  void InvalidateCache();
  // ChangeGeneration increases every time the cache is dropped: on every
  // change this instance writes and every change the store reports (etcd's
  // watch). A cache above the registry (the gateway-token cache) records
  // the generation it read before loading a gateway and trusts that copy
  // only while the generation is unchanged and ChangeFeedHealthy() holds.
  uint64_t ChangeGeneration() const { return generation_.load(); }
  // Whether the store's change feed is in place (always, for SQLite; for
  // etcd, while its watch is). When it is not, caches here and above (the
  // gateway-token cache) may hold what another instance has since revoked.
  bool ChangeFeedHealthy() const { return store_->ChangeFeedHealthy(); }
  uint64_t cache_hits() const { return hits_.load(); }
  uint64_t cache_misses() const { return misses_.load(); }

 private:
  absl::StatusOr<std::optional<nlohmann::json>> Load(const std::string& key);
  template <class T>
  absl::StatusOr<T> CachedLookup(absl::flat_hash_map<std::string, T>& cache,
                                 const std::string& key, absl::string_view what,
                                 absl::StatusOr<T> (*decode)(const nlohmann::json&));
  // Read-modify-write of the document at `key`, safe against other
  // instances writing it at the same moment (KvStore::PutIfUnchanged):
  // `change` gets the document as stored now (nullopt: absent) and returns
  // the new one, or an error that ends the update with nothing written. On
  // a conflict it runs again on the newer document, up to
  // kMaxUpdateAttempts times (then UNAVAILABLE). Drops the cache on success.
  using DocumentChange = std::function<absl::StatusOr<nlohmann::json>(
      const std::optional<nlohmann::json>&)>;
  static constexpr int kMaxUpdateAttempts = 16;
  absl::Status UpdateDocument(const std::string& key,
                              const DocumentChange& change);
  // UpdateDocument on a gateway (NotFound when absent).
  absl::Status UpdateGateway(
      absl::string_view id,
      const std::function<absl::Status(Gateway&)>& change);
  absl::StatusOr<Gateway> LoadGatewayUncached(absl::string_view id);
  absl::Status ConsumeEnrollmentChallenge(absl::string_view gateway_id,
                                          absl::string_view nonce);

  KvStore* store_;
  const Clock* clock_;
  // Serialises this instance's writers (conditional writes would also do,
  // but retrying against our own threads is wasted work).
  std::mutex write_mu_;
  std::mutex cache_mu_;
  // Written under cache_mu_; read without it by ChangeGeneration.
  std::atomic<uint64_t> generation_{0};
  absl::flat_hash_map<std::string, Gateway> gateway_cache_;
  absl::flat_hash_map<std::string, Device> device_cache_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_REGISTRY_REGISTRY_H_
