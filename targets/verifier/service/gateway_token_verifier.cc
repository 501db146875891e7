#include "targets/verifier/service/gateway_token_verifier.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/jwt/jws.h"
#include "core/jwt/reason.h"
#include "core/jwt/strict_json.h"

namespace cxsec::verifier {

namespace {
constexpr size_t kMaxRememberedSubjects = 100000;

GatewayAuthResult Fail(absl::Status status, std::string reason) {
  return GatewayAuthResult{std::move(status), std::move(reason), {}};
}

std::string ReasonLabel(const absl::Status& status) {
  std::optional<JwtReason> reason = JwtReasonOf(status);
  if (!reason.has_value()) return "invalid_token";
  return absl::AsciiStrToLower(JwtReasonName(*reason));
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

absl::StatusOr<std::string> RegistryGatewayTokenVerifier::SubjectOf(
    absl::string_view token, const Sha256Digest& digest) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subjects_.find(digest);
    if (it != subjects_.end()) return it->second;
  }
  // Only structure is checked here; the signature is checked below with
  // the subject's registered keys before anything is trusted.
  CXSEC_ASSIGN_OR_RETURN(JwsParts jws, ParseJws(token));
  CXSEC_ASSIGN_OR_RETURN(nlohmann::json claims,
                         ParseStrictJsonObject(AsStringView(jws.payload), "payload"));
  auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string()) {
    return JwtRejection(JwtReason::kSubMissing, "claim sub must name the gateway");
  }
  return sub->get<std::string>();
}

GatewayAuthResult RegistryGatewayTokenVerifier::Verify(absl::string_view token) {
  const Sha256Digest digest = Sha256(AsBytes(token));
  absl::StatusOr<std::string> subject = SubjectOf(token, digest);
  if (!subject.ok()) return Fail(subject.status(), ReasonLabel(subject.status()));
  absl::StatusOr<Gateway> gateway = registry_->GetGateway(*subject);
  if (!gateway.ok()) {
    if (absl::IsNotFound(gateway.status()) || absl::IsInvalidArgument(gateway.status())) {
      return Fail(absl::UnauthenticatedError("the token's gateway is not registered"),
                  "unknown_gateway");
    }
    return Fail(absl::UnavailableError("registry unavailable"), "registry_unavailable");
  }
  if (!gateway->enabled) {
    return Fail(absl::PermissionDeniedError(
                    absl::StrCat("gateway '", gateway->id, "' is blocked")),
                "gateway_blocked");
  }
  std::vector<DeviceKey> keys;
  for (const GatewayKey& k : gateway->keys) {
    std::optional<absl::Time> expires;
    if (k.expires_at.has_value()) expires = absl::FromUnixSeconds(*k.expires_at);
    keys.push_back(DeviceKey{k.parsed, expires});
  }
  absl::StatusOr<DeviceKeySet> key_set = DeviceKeySet::Create(gateway->id, std::move(keys));
  if (!key_set.ok()) return Fail(key_set.status(), "invalid_key_set");
  absl::StatusOr<VerifiedClaims> claims =
      VerifierForProject(gateway->project)
          .VerifyWithKeys(token, *key_set, &digest);
  if (!claims.ok()) return Fail(claims.status(), ReasonLabel(claims.status()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (subjects_.size() >= kMaxRememberedSubjects) subjects_.clear();
    subjects_.emplace(digest, *subject);
  }
  return GatewayAuthResult{absl::OkStatus(), "", std::move(*gateway)};
}

}  // namespace cxsec::verifier
