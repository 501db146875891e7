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

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
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
#include "core/encoding/utf8.h"
#include "core/jwt/jws.h"
#include "core/policy/concepts.h"
#include "core/policy/message.h"
#include "core/status.h"

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

namespace jwt_internal {

// AppendJsonString appends `text` as a JSON string, escaped exactly as
// nlohmann::json's dump() escapes it (", \, \b \f \n \r \t, other
// controls as \u00xx, everything else as is), so minted tokens keep their
// bytes. InvalidArgument when `text` is not UTF-8.
[[nodiscard]] inline absl::Status AppendJsonString(absl::string_view text,
                                                   std::string* out) {
  // Gateway ids, projects and thumbprints are printable ASCII: one pass
  // finds that and they are copied whole, without the UTF-8 walk.
  bool printable_ascii = true;
  for (const char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x80 || c == '"' || c == '\\') {
      printable_ascii = false;
      break;
    }
  }
  if (printable_ascii) {
    out->push_back('"');
    out->append(text.data(), text.size());
    out->push_back('"');
    return absl::OkStatus();
  }
  if (!IsValidUtf8(text)) {
    return absl::InvalidArgumentError("JWT claim is not UTF-8");
  }
  out->push_back('"');
  // Runs of plain characters are appended whole; gateway ids, projects and
  // thumbprints have nothing to escape.
  size_t plain = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) {
      continue;
    }
    out->append(text.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        const char escape[] = {
            '\\', 'u', '0', '0', kHex[(c >> 4) & 0xf], kHex[c & 0xf]};
        out->append(escape, sizeof(escape));
      }
    }
  }
  out->append(text.data() + plain, text.size() - plain);
  out->push_back('"');
  return absl::OkStatus();
}

// ForkCount: how many times this process's line of ancestors has forked
// since it started counting (a child's count is its parent's plus one).
inline uint64_t ForkCount() {
  static std::atomic<uint64_t> forks{0};
  [[maybe_unused]] static const int registered = pthread_atfork(
      nullptr, nullptr, [] { forks.fetch_add(1, std::memory_order_relaxed); });
  return forks.load(std::memory_order_relaxed);
}

// FillJwtId writes 16 fresh CSPRNG bytes for a token's jti. A jti must be
// unique, not secret (it names a token; the signature protects it), so
// each thread takes its ids from a block of CSPRNG output drawn 32 ids at
// a time: one RAND_bytes call per token was more than a third of what
// minting costs beyond the signature (perf of jwt_benchmark). A forked
// child draws a new block instead of repeating its parent's ids.
[[nodiscard]] inline absl::Status FillJwtId(uint8_t (&jti)[16]) {
  struct Pool {
    uint8_t bytes[32 * 16];
    size_t used = sizeof(bytes);
    uint64_t fork_count = 0;
  };
  thread_local Pool pool;
  const uint64_t fork_count = ForkCount();
  if (pool.fork_count != fork_count ||
      pool.used + sizeof(jti) > sizeof(pool.bytes)) {
    CXSEC_RETURN_IF_ERROR(
        RandomBytes(MutableByteView(pool.bytes, sizeof(pool.bytes))));
    pool.used = 0;
    pool.fork_count = fork_count;
  }
  std::memcpy(jti, pool.bytes + pool.used, sizeof(jti));
  pool.used += sizeof(jti);
  return absl::OkStatus();
}

}  // namespace jwt_internal

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
  // The JSON is written directly (nlohmann's DOM and dump were most of a
  // mint's cost beyond the signature), member order and escaping as before:
  // {"alg","typ","kid"} and {"iss","sub","aud","iat","exp","jti"}.
  using jwt_internal::AppendJsonString;
  std::string json;
  json.reserve(160 + kid.size() + 2 * options.subject.size() +
               options.audience.size() + options.issuer.size());
  json.append(R"({"alg":)");
  CXSEC_RETURN_IF_ERROR(AppendJsonString(identity.JwsAlgorithm(), &json));
  json.append(R"(,"typ":"JWT","kid":)");
  CXSEC_RETURN_IF_ERROR(AppendJsonString(kid, &json));
  json.push_back('}');
  const size_t header_size = json.size();
  // Whole seconds: verifiers accept integer NumericDates only.
  int64_t iat = absl::ToUnixSeconds(now);
  int64_t exp = iat + absl::ToInt64Seconds(options.lifetime);
  uint8_t jti[16];
  CXSEC_RETURN_IF_ERROR(jwt_internal::FillJwtId(jti));
  char jti_text[Base64UrlEncodedSize(sizeof(jti))];
  Base64UrlEncodeTo(ByteView(jti, sizeof(jti)), jti_text);
  json.append(R"({"iss":)");
  CXSEC_RETURN_IF_ERROR(AppendJsonString(
      options.issuer.empty() ? options.subject : options.issuer, &json));
  json.append(R"(,"sub":)");
  CXSEC_RETURN_IF_ERROR(AppendJsonString(options.subject, &json));
  json.append(R"(,"aud":)");
  CXSEC_RETURN_IF_ERROR(AppendJsonString(options.audience, &json));
  absl::StrAppend(&json, R"(,"iat":)", iat, R"(,"exp":)", exp, R"(,"jti":")",
                  absl::string_view(jti_text, sizeof(jti_text)), R"("})");
  const ByteView header_json =
      AsBytes(absl::string_view(json).substr(0, header_size));
  const ByteView claims_json =
      AsBytes(absl::string_view(json).substr(header_size));
  std::string token;
  token.reserve(Base64UrlEncodedSize(json.size()) + 2 +
                Base64UrlEncodedSize(64));
  Base64UrlEncodeAppend(header_json, &token);
  token.push_back('.');
  Base64UrlEncodeAppend(claims_json, &token);
  CXSEC_ASSIGN_OR_RETURN(Bytes signature, identity.Sign(AsBytes(token)));
  if (signature.size() != 64) {
    return absl::InternalError(absl::StrCat(
        "identity produced a ", signature.size(), "-byte signature, not 64"));
  }
  token.push_back('.');
  Base64UrlEncodeAppend(signature, &token);
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
