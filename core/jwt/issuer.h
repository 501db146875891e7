// Issuing device JWTs: MintJwt signs {iss, sub, aud, iat, exp, jti} with
// any Identity (software key, TPM key) as a compact JWS with header
// {alg, typ "JWT", kid = RFC 7638 thumbprint}. CachingTokenSource keeps
// the token and mints a new one only once 80% of its lifetime has passed,
// so a slow TPM signs once per lifetime instead of once per request.
//
//   CachingTokenSource<TpmKey> tokens(tpm_key, {.subject = gateway_id,
//                                               .audience = project},
//                                     SystemClock::Default());
//   uplink.Start(tokens.AsBearerTokenSource());
#ifndef CXSEC_CORE_JWT_ISSUER_H_
#define CXSEC_CORE_JWT_ISSUER_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/crypto/primitives.h"
#include "core/encoding/base64url.h"
#include "core/jwt/jws.h"
#include "core/policy/concepts.h"
#include "core/policy/message.h"
#include "core/status.h"
#include "nlohmann/json.hpp"

namespace cxsec {

// kMaxJwtLifetime: verifiers refuse longer tokens, so issuers never make them.
inline constexpr absl::Duration kMaxJwtLifetime = absl::Hours(24);
inline constexpr absl::Duration kDefaultJwtLifetime = absl::Hours(1);

struct JwtIssueOptions {
  std::string subject;   // sub: the gateway id
  std::string audience;  // aud: the project id
  std::string issuer;    // iss: defaults to subject when empty
  absl::Duration lifetime = kDefaultJwtLifetime;
};

struct MintedJwt {
  std::string token;
  absl::Time issued_at;
  absl::Time expires_at;
};

// MintJwt signs a new token with `identity` at `now`.
template <Identity I>
[[nodiscard]] absl::StatusOr<MintedJwt> MintJwt(I& identity,
                                                const JwtIssueOptions& options,
                                                absl::Time now) {
  if (options.subject.empty() || options.audience.empty()) {
    return absl::InvalidArgumentError("JWT sub and aud must not be empty");
  }
  if (options.lifetime <= absl::ZeroDuration() ||
      options.lifetime > kMaxJwtLifetime) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWT lifetime must be in (0, 24h], got ",
                     absl::FormatDuration(options.lifetime)));
  }
  CXSEC_ASSIGN_OR_RETURN(std::string kid, identity.KeyId());
  nlohmann::ordered_json header;
  header["alg"] = std::string(identity.JwsAlgorithm());
  header["typ"] = "JWT";
  header["kid"] = kid;
  // Whole seconds: verifiers accept integer NumericDates only.
  int64_t iat = absl::ToUnixSeconds(now);
  int64_t exp = iat + absl::ToInt64Seconds(options.lifetime);
  CXSEC_ASSIGN_OR_RETURN(Bytes jti, RandomBytes(16));
  nlohmann::ordered_json claims;
  claims["iss"] = options.issuer.empty() ? options.subject : options.issuer;
  claims["sub"] = options.subject;
  claims["aud"] = options.audience;
  claims["iat"] = iat;
  claims["exp"] = exp;
  claims["jti"] = Base64UrlEncode(jti);
  std::string token = absl::StrCat(Base64UrlEncode(header.dump()), ".",
                                   Base64UrlEncode(claims.dump()));
  CXSEC_ASSIGN_OR_RETURN(Bytes signature, identity.Sign(AsBytes(token)));
  if (signature.size() != 64) {
    return absl::InternalError(absl::StrCat(
        "identity produced a ", signature.size(), "-byte signature, not 64"));
  }
  absl::StrAppend(&token, ".", Base64UrlEncode(signature));
  return MintedJwt{std::move(token), absl::FromUnixSeconds(iat),
                   absl::FromUnixSeconds(exp)};
}

// CachingTokenSource: see the file comment. Thread-safe; `identity` and
// `clock` must outlive it.
template <Identity I>
class CachingTokenSource {
 public:
  CachingTokenSource(I& identity, JwtIssueOptions options, const Clock& clock)
      : identity_(identity), options_(std::move(options)), clock_(clock) {}

  // Token returns the cached token, minting a new one when none exists or
  // 80% of the cached one's lifetime has passed.
  [[nodiscard]] absl::StatusOr<std::string> Token() {
    absl::MutexLock lock(&mutex_);
    absl::Time now = clock_.Now();
    if (cached_.has_value()) {
      absl::Duration lifetime = cached_->expires_at - cached_->issued_at;
      if (now >= cached_->issued_at && now < cached_->issued_at + lifetime * 0.8) {
        return cached_->token;
      }
    }
    CXSEC_ASSIGN_OR_RETURN(MintedJwt minted, MintJwt(identity_, options_, now));
    cached_ = std::move(minted);
    ++mint_count_;
    return cached_->token;
  }

  // MintCount: how many tokens were signed (for tests and metrics).
  int MintCount() const {
    absl::MutexLock lock(&mutex_);
    return mint_count_;
  }

  BearerTokenSource AsBearerTokenSource() {
    return [this]() { return Token(); };
  }

 private:
  I& identity_;
  const JwtIssueOptions options_;
  const Clock& clock_;
  mutable absl::Mutex mutex_;
  std::optional<MintedJwt> cached_ ABSL_GUARDED_BY(mutex_);
  int mint_count_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace cxsec

#endif  // CXSEC_CORE_JWT_ISSUER_H_
