#include "targets/verifier/service/gateway_token_verifier.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "targets/verifier/auth/gateway_jwt.h"

namespace cxsec::verifier {

namespace {
GatewayAuthResult Fail(absl::Status status, std::string reason) {
  return GatewayAuthResult{std::move(status), std::move(reason), {}};
}
constexpr size_t kMaxCachedTokens = 100000;
}  // namespace

GatewayAuthResult RegistryGatewayTokenVerifier::CheckGatewayState(
    const std::string& gateway_id, const std::string& kid) {
  absl::StatusOr<Gateway> gateway = registry_->GetGateway(gateway_id);
  if (!gateway.ok()) {
    if (absl::IsNotFound(gateway.status()) || absl::IsInvalidArgument(gateway.status())) {
      return Fail(absl::UnauthenticatedError("unknown gateway"), "unknown_gateway");
    }
    return Fail(absl::UnavailableError("registry unavailable"), "registry_unavailable");
  }
  if (!gateway->enabled) {
    return Fail(absl::PermissionDeniedError(
                    absl::StrCat("gateway '", gateway_id, "' is blocked")),
                "gateway_blocked");
  }
  if (!kid.empty()) {
    const GatewayKey* key = nullptr;
    for (const GatewayKey& k : gateway->keys) {
      if (k.kid == kid) key = &k;
    }
    if (key == nullptr) {
      return Fail(absl::UnauthenticatedError("signing key is not registered"),
                  "unknown_key");
    }
    if (key->ExpiredAt(clock_->Now())) {
      return Fail(absl::UnauthenticatedError("signing key has expired"), "key_expired");
    }
  }
  return GatewayAuthResult{absl::OkStatus(), "", std::move(*gateway)};
}

GatewayAuthResult RegistryGatewayTokenVerifier::Verify(absl::string_view token) {
  std::string token_str(token);
  std::optional<Verified> cached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = verified_.find(token_str);
    if (it != verified_.end()) {
      if (it->second.exp + absl::ToInt64Seconds(skew_) >
          absl::ToUnixSeconds(clock_->Now())) {
        cached = it->second;
      } else {
        verified_.erase(it);
      }
    }
  }
  if (cached.has_value()) return CheckGatewayState(cached->gateway_id, cached->kid);
  absl::StatusOr<UnverifiedJwt> jwt = ParseJwt(token);
  if (!jwt.ok()) return Fail(jwt.status(), "malformed_token");
  auto iss = jwt->claims.find("sub");
  if (iss == jwt->claims.end() || !iss->is_string()) {
    return Fail(absl::UnauthenticatedError("JWT 'sub' must name the gateway"),
                "invalid_claims");
  }
  std::string gateway_id = iss->get<std::string>();
  GatewayAuthResult state = CheckGatewayState(gateway_id, "");
  if (!state.status.ok()) return state;
  std::string wanted_kid = jwt->header.value("kid", "");
  const GatewayKey* used = nullptr;
  bool saw_expired = false;
  for (const GatewayKey& key : state.gateway.keys) {
    if (!wanted_kid.empty() && key.kid != wanted_kid) continue;
    if (key.ExpiredAt(clock_->Now())) {
      saw_expired = true;
      continue;
    }
    if (VerifyEs256(*jwt, key.parsed.get()).ok()) {
      used = &key;
      break;
    }
  }
  if (used == nullptr) {
    if (saw_expired) {
      return Fail(absl::UnauthenticatedError("signing key has expired"), "key_expired");
    }
    return Fail(absl::UnauthenticatedError(
                    "JWT signature does not verify with any registered key"),
                "invalid_signature");
  }
  absl::Status claims =
      CheckClaims(*jwt, gateway_id, state.gateway.project, clock_->Now(), skew_);
  if (!claims.ok()) {
    return Fail(claims, absl::StrContains(claims.message(), "expired")
                            ? "token_expired"
                            : "invalid_claims");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (verified_.size() >= kMaxCachedTokens) verified_.clear();
    verified_[token_str] =
        Verified{gateway_id, used->kid, jwt->claims["exp"].get<int64_t>()};
  }
  return state;
}

}  // namespace cxsec::verifier
