#include "targets/verifier/service/gateway_token_verifier.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/jwt/reason.h"

namespace cxsec::verifier {

namespace {
constexpr size_t kMaxRememberedSubjects = 100000;
// As the registry's own gateway cache: one snapshot per gateway.
constexpr size_t kMaxGatewaySnapshots = 100000;

GatewayAuthResult Fail(absl::Status status, std::string reason) {
  return GatewayAuthResult{std::move(status), std::move(reason), {}};
}

std::string ReasonLabel(const absl::Status& status) {
  std::optional<JwtReason> reason = JwtReasonOf(status);
  if (!reason.has_value()) return "invalid_token";
  return absl::AsciiStrToLower(JwtReasonName(*reason));
}

// Only structure is checked here; the signature is checked with the
// subject's registered keys before anything is trusted.
absl::StatusOr<std::string> SubjectOf(const ParsedJwt& parsed) {
  const JoseValue* sub = parsed.claims.Find("sub");
  if (sub == nullptr || !sub->is_string()) {
    return JwtRejection(JwtReason::kSubMissing,
                        "claim sub must name the gateway");
  }
  return sub->string;
}
}  // namespace

JwtVerifier& RegistryGatewayTokenVerifier::VerifierForProject(
    const std::string& project) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<JwtVerifier>& slot = by_project_[project];
  if (slot == nullptr) {
    slot = std::make_unique<JwtVerifier>(JwtVerifierOptions{.audience = project},
                                         *clock_);
  }
  return *slot;
}

std::shared_ptr<const RegistryGatewayTokenVerifier::GatewaySnapshot>
RegistryGatewayTokenVerifier::SnapshotOf(const std::string& id,
                                         GatewayAuthResult* failure) {
  // Read before the registry: a change between the two leaves the new
  // snapshot tagged with the older generation, so it is re-read next time.
  const bool trusted = registry_->ChangeFeedHealthy();
  const uint64_t generation = registry_->ChangeGeneration();
  if (trusted) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = snapshots_.find(id);
    if (it != snapshots_.end() && it->second->generation == generation) {
      return it->second;
    }
  }
  absl::StatusOr<Gateway> gateway = registry_->GetGateway(id);
  if (!gateway.ok()) {
    if (absl::IsNotFound(gateway.status()) ||
        absl::IsInvalidArgument(gateway.status())) {
      *failure = Fail(
          absl::UnauthenticatedError("the token's gateway is not registered"),
          "unknown_gateway");
    } else {
      *failure = Fail(absl::UnavailableError("registry unavailable"),
                      "registry_unavailable");
    }
    return nullptr;
  }
  auto snapshot = std::make_shared<GatewaySnapshot>();
  snapshot->generation = generation;
  std::vector<DeviceKey> keys;
  for (const GatewayKey& k : gateway->keys) {
    std::optional<absl::Time> expires;
    if (k.expires_at.has_value()) {
      expires = absl::FromUnixSeconds(*k.expires_at);
    }
    keys.push_back(DeviceKey{k.parsed, expires});
  }
  snapshot->keys = DeviceKeySet::Create(gateway->id, std::move(keys));
  snapshot->verifier = &VerifierForProject(gateway->project);
  snapshot->gateway = *std::move(gateway);
  if (trusted) {
    std::lock_guard<std::mutex> lock(mu_);
    if (snapshots_.size() >= kMaxGatewaySnapshots) snapshots_.clear();
    snapshots_.insert_or_assign(id, snapshot);
  }
  return snapshot;
}

GatewayAuthResult RegistryGatewayTokenVerifier::Verify(absl::string_view token) {
  const Sha256Digest digest = Sha256(AsBytes(token));
  std::string subject;
  bool remembered = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subjects_.find(digest);
    if (it != subjects_.end()) {
      subject = it->second;
      remembered = true;
    }
  }
  // A token seen before is not decoded at all here (JwtVerifier's cache
  // answers it); a new one is decoded once, for its sub and for checking.
  std::optional<ParsedJwt> parsed;
  if (!remembered) {
    absl::StatusOr<ParsedJwt> p = ParseJwt(token);
    if (!p.ok()) return Fail(p.status(), ReasonLabel(p.status()));
    absl::StatusOr<std::string> sub = SubjectOf(*p);
    if (!sub.ok()) return Fail(sub.status(), ReasonLabel(sub.status()));
    subject = *std::move(sub);
    parsed = *std::move(p);
  }
  GatewayAuthResult failure;
  std::shared_ptr<const GatewaySnapshot> snapshot =
      SnapshotOf(subject, &failure);
  if (snapshot == nullptr) return failure;
  const Gateway& gateway = snapshot->gateway;
  if (!gateway.enabled) {
    return Fail(absl::PermissionDeniedError(
                    absl::StrCat("gateway '", gateway.id, "' is blocked")),
                "gateway_blocked");
  }
  if (!snapshot->keys.ok()) {
    return Fail(snapshot->keys.status(), "invalid_key_set");
  }
  absl::StatusOr<VerifiedClaims> claims =
      parsed.has_value()
          ? snapshot->verifier->VerifyParsedWithKeys(*parsed, *snapshot->keys,
                                                     digest)
          : snapshot->verifier->VerifyWithKeys(token, *snapshot->keys, &digest);
  if (!claims.ok()) return Fail(claims.status(), ReasonLabel(claims.status()));
  if (!remembered) {
    std::lock_guard<std::mutex> lock(mu_);
    if (subjects_.size() >= kMaxRememberedSubjects) subjects_.clear();
    subjects_.emplace(digest, std::move(subject));
  }
  return GatewayAuthResult{absl::OkStatus(), "", gateway};
}

}  // namespace cxsec::verifier
