// JwtVerifier: strict verification of device JWTs (RFC 8725, Cloud IoT
// Core's device-JWT rules) against per-device key sets, with a bounded
// cache of tokens that already verified.
//
// Keys come only from the registry (never from the token): each device
// has up to three public keys, each bound to one algorithm and with an
// optional expiry. The key whose thumbprint equals the token's kid is
// tried first, then every other unexpired key.
//
// Every rejection is UNAUTHENTICATED with a message "<REASON>: ..." and a
// JwtReason payload (core/jwt/reason.h).
//
//   JwtVerifier verifier({.audience = "my-project"}, SystemClock::Default());
//   CXSEC_RETURN_IF_ERROR(verifier.SetDeviceKeys(std::move(key_set)));
//   absl::StatusOr<VerifiedClaims> claims = verifier.Verify(token);
//   if (!claims.ok()) metrics.Count(JwtReasonOf(claims.status()));
#ifndef CXSEC_CORE_JWT_VERIFIER_H_
#define CXSEC_CORE_JWT_VERIFIER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/crypto/primitives.h"
#include "core/jwt/jws.h"
#include "core/jwt/public_key.h"
#include "core/jwt/reason.h"
#include "core/jwt/strict_json.h"
#include "core/status.h"

namespace cxsec {

// kMaxKeysPerDevice: as Cloud IoT Core, three keys allow a rotation with
// one spare.
inline constexpr size_t kMaxKeysPerDevice = 3;

// DeviceKey: one registered public key with an optional expiry. A key
// whose expiry has passed is never used.
struct DeviceKey {
  std::shared_ptr<const JwtPublicKey> key;
  std::optional<absl::Time> expires_at;
};

// DeviceKeySet: the keys of one device (sub). Build with Create.
class DeviceKeySet {
 public:
  [[nodiscard]] static absl::StatusOr<DeviceKeySet> Create(
      std::string device_id, std::vector<DeviceKey> keys) {
    if (device_id.empty()) {
      return absl::InvalidArgumentError("device id must not be empty");
    }
    if (keys.size() > kMaxKeysPerDevice) {
      return absl::InvalidArgumentError(
          absl::StrCat("device '", device_id, "' has ", keys.size(),
                       " keys; at most ", kMaxKeysPerDevice, " are allowed"));
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i].key == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("device '", device_id, "' key ", i, " is null"));
      }
      for (size_t j = 0; j < i; ++j) {
        if (keys[j].key->Thumbprint() == keys[i].key->Thumbprint()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "device '", device_id, "' has the same key twice"));
        }
      }
    }
    DeviceKeySet set;
    set.device_id_ = std::move(device_id);
    set.keys_ = std::move(keys);
    return set;
  }

  const std::string& device_id() const { return device_id_; }
  const std::vector<DeviceKey>& keys() const { return keys_; }

  // Without returns a copy lacking the key with `thumbprint`.
  DeviceKeySet Without(absl::string_view thumbprint) const {
    DeviceKeySet out;
    out.device_id_ = device_id_;
    for (const DeviceKey& key : keys_) {
      if (key.key->Thumbprint() != thumbprint) out.keys_.push_back(key);
    }
    return out;
  }

 private:
  DeviceKeySet() = default;
  std::string device_id_;
  std::vector<DeviceKey> keys_;
};

// VerifiedClaims: what a verified token asserts.
struct VerifiedClaims {
  std::string subject;   // sub: the device (gateway) id
  std::string issuer;    // iss (empty when absent)
  std::string audience;  // aud: the project id
  std::string jwt_id;    // jti (empty when absent)
  absl::Time issued_at;
  absl::Time expires_at;
  std::optional<absl::Time> not_before;
  JwtAlgorithm algorithm = JwtAlgorithm::kEs256;
  std::string key_id;  // thumbprint of the key that verified the signature
};

// ParsedJwt: a token that passed every check needing no key (ParseJws)
// with its payload parsed as a strict JSON object. Nothing in it is
// authenticated yet; a caller may read `claims` only to find which keys to
// verify it with (e.g. sub, to look the device up), then hands it to
// JwtVerifier::VerifyParsedWithKeys so the token is decoded once. The views
// in `jws` point into the token, which must outlive this.
struct ParsedJwt {
  JwsParts jws;  // jws.header is left null: alg and kid are all it needs
  JoseObject claims;
};

// ParseJwt: see ParsedJwt. Rejections are JwtRejections (bad base64url,
// bad JSON, duplicate members, a forbidden header, ...).
[[nodiscard]] inline absl::StatusOr<ParsedJwt> ParseJwt(
    absl::string_view token) {
  CXSEC_ASSIGN_OR_RETURN(
      JwsParts jws, jwt_internal::ParseJwsParts(token, /*header_json=*/false));
  CXSEC_ASSIGN_OR_RETURN(
      JoseObject claims,
      ParseStrictJoseObject(AsStringView(jws.payload), "payload"));
  return ParsedJwt{std::move(jws), std::move(claims)};
}

struct JwtVerifierOptions {
  std::string audience;                       // required: the project id
  std::optional<std::string> issuer;          // when set, iss must equal it
  absl::Duration clock_skew = absl::Minutes(10);
  absl::Duration max_lifetime = absl::Hours(24);
  size_t cache_capacity = 65536;              // 0 disables the cache
  // At most this many of the remembered tokens belong to one subject, so a
  // gateway minting a fresh token per request evicts only its own entries,
  // never the other gateways' (0: no per-subject limit).
  size_t cache_capacity_per_device = 64;
};

class JwtVerifier {
 public:
  JwtVerifier(JwtVerifierOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {}

  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // --- Registry ---------------------------------------------------------

  // SetDeviceKeys registers (or replaces) a device's keys. Cached tokens
  // verified by a key that is no longer in the set are dropped.
  [[nodiscard]] absl::Status SetDeviceKeys(DeviceKeySet keys) {
    auto shared = std::make_shared<const DeviceKeySet>(std::move(keys));
    std::shared_ptr<const DeviceKeySet> previous;
    {
      absl::MutexLock lock(&registry_mutex_);
      auto& slot = registry_[shared->device_id()];
      previous = std::move(slot);
      slot = shared;
    }
    if (previous) {
      for (const DeviceKey& old_key : previous->keys()) {
        bool kept = false;
        for (const DeviceKey& key : shared->keys()) {
          kept |= key.key->Thumbprint() == old_key.key->Thumbprint();
        }
        if (!kept) DropCachedForKey(old_key.key->Thumbprint());
      }
    }
    return absl::OkStatus();
  }

  // RevokeKey removes one key of a device and drops its cached tokens.
  [[nodiscard]] absl::Status RevokeKey(absl::string_view device_id,
                                       absl::string_view thumbprint) {
    {
      absl::MutexLock lock(&registry_mutex_);
      auto it = registry_.find(device_id);
      if (it == registry_.end()) {
        return absl::NotFoundError(
            absl::StrCat("no keys registered for device '", device_id, "'"));
      }
      it->second = std::make_shared<const DeviceKeySet>(
          it->second->Without(thumbprint));
    }
    DropCachedForKey(thumbprint);
    return absl::OkStatus();
  }

  // RemoveDevice forgets a device and drops all its cached tokens.
  void RemoveDevice(absl::string_view device_id) {
    std::shared_ptr<const DeviceKeySet> previous;
    {
      absl::MutexLock lock(&registry_mutex_);
      auto it = registry_.find(device_id);
      if (it == registry_.end()) return;
      previous = std::move(it->second);
      registry_.erase(it);
    }
    for (const DeviceKey& key : previous->keys()) {
      DropCachedForKey(key.key->Thumbprint());
    }
  }

  // --- Verification -----------------------------------------------------

  // Verify checks `token` against the registered keys of its subject.
  [[nodiscard]] absl::StatusOr<VerifiedClaims> Verify(absl::string_view token) {
    absl::Time now = clock_.Now();
    Sha256Digest digest{};  // only the cache needs it
    if (options_.cache_capacity != 0) digest = Sha256(AsBytes(token));
    if (auto hit = CacheLookup(digest, now, nullptr); hit.has_value()) {
      return *std::move(hit);
    }
    CXSEC_ASSIGN_OR_RETURN(ParsedJwt parsed, ParseJwt(token));
    const JoseValue* sub = parsed.claims.Find("sub");
    if (sub == nullptr) {
      return JwtRejection(JwtReason::kSubMissing, "claim sub is missing");
    }
    if (!sub->is_string()) {
      return JwtRejection(JwtReason::kClaimType, "claim sub is not a string");
    }
    std::shared_ptr<const DeviceKeySet> keys;
    {
      absl::MutexLock lock(&registry_mutex_);
      auto it = registry_.find(sub->string);
      if (it != registry_.end()) keys = it->second;
    }
    if (keys == nullptr) {
      return JwtRejection(JwtReason::kUnknownDevice,
                          "no keys registered for the token's subject");
    }
    return VerifyParsed(parsed.jws, parsed.claims, *keys, digest, now);
  }

  // VerifyWithKeys checks `token` against `keys` (which need not be
  // registered), e.g. for a caller with its own key store. sub must equal
  // keys.device_id(). A caller that already hashed the token for its own
  // lookups passes `token_sha256` so it is not hashed twice per request.
  [[nodiscard]] absl::StatusOr<VerifiedClaims> VerifyWithKeys(
      absl::string_view token, const DeviceKeySet& keys,
      const Sha256Digest* token_sha256 = nullptr) {
    absl::Time now = clock_.Now();
    Sha256Digest digest{};  // only the cache needs it
    if (token_sha256 != nullptr) {
      digest = *token_sha256;
    } else if (options_.cache_capacity != 0) {
      digest = Sha256(AsBytes(token));
    }
    if (auto hit = CacheLookup(digest, now, &keys); hit.has_value()) {
      return *std::move(hit);
    }
    CXSEC_ASSIGN_OR_RETURN(ParsedJwt parsed, ParseJwt(token));
    return VerifyParsed(parsed.jws, parsed.claims, keys, digest, now);
  }

  // VerifyParsedWithKeys is VerifyWithKeys for a token the caller already
  // parsed with ParseJwt (to read its sub), so it is not decoded twice.
  // `token_sha256` is SHA-256 of the whole token, the cache's key (the
  // parsed form cannot be hashed back to it).
  [[nodiscard]] absl::StatusOr<VerifiedClaims> VerifyParsedWithKeys(
      const ParsedJwt& parsed, const DeviceKeySet& keys,
      const Sha256Digest& token_sha256) {
    absl::Time now = clock_.Now();
    if (auto hit = CacheLookup(token_sha256, now, &keys); hit.has_value()) {
      return *std::move(hit);
    }
    return VerifyParsed(parsed.jws, parsed.claims, keys, token_sha256, now);
  }

  // CachedTokenCount: how many verified tokens are remembered.
  size_t CachedTokenCount() const {
    absl::MutexLock lock(&cache_mutex_);
    return cache_.size();
  }

  // CachedTokenCountFor: how many of them belong to `device_id`.
  size_t CachedTokenCountFor(absl::string_view device_id) const {
    absl::MutexLock lock(&cache_mutex_);
    auto it = per_device_.find(device_id);
    return it == per_device_.end() ? 0 : it->second.live;
  }

  const JwtVerifierOptions& options() const { return options_; }

 private:
  struct CacheEntry {
    std::shared_ptr<const VerifiedClaims> claims;
    std::optional<absl::Time> key_expires_at;
    uint64_t sequence = 0;
  };
  struct DigestHash {
    size_t operator()(const Sha256Digest& d) const {
      size_t h;
      std::memcpy(&h, d.data(), sizeof(h));  // already uniformly random
      return h;
    }
  };
  using CacheMap = absl::flat_hash_map<Sha256Digest, CacheEntry, DigestHash>;
  // One subject's share of the cache: its live entries, oldest first (with
  // stale records of entries already gone, told apart by sequence).
  struct DeviceShare {
    size_t live = 0;
    std::deque<std::pair<Sha256Digest, uint64_t>> order;
  };

  // Every removal from cache_ goes through here to keep the per-subject
  // counts true. Shares that fall to zero are swept in CacheInsert, so no
  // reference into per_device_ is invalidated here.
  void EraseCachedLocked(CacheMap::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cache_mutex_) {
    auto share = per_device_.find(it->second.claims->subject);
    if (share != per_device_.end() && share->second.live > 0) {
      --share->second.live;
    }
    cache_.erase(it);
  }

  // CacheLookup returns the claims of a remembered token, still enforcing
  // exp and key expiry, or an error if the remembered token has expired
  // (so an expired token is never "verified" by the cache), or nothing.
  std::optional<absl::StatusOr<VerifiedClaims>> CacheLookup(
      const Sha256Digest& digest, absl::Time now, const DeviceKeySet* keys) {
    if (options_.cache_capacity == 0) return std::nullopt;
    std::shared_ptr<const VerifiedClaims> claims;
    {
      absl::MutexLock lock(&cache_mutex_);
      auto it = cache_.find(digest);
      if (it == cache_.end()) return std::nullopt;
      const CacheEntry& entry = it->second;
      if (entry.claims->expires_at + options_.clock_skew <= now) {
        EraseCachedLocked(it);
        return absl::StatusOr<VerifiedClaims>(JwtRejection(
            JwtReason::kExpired, "token expired (exp + skew is past)"));
      }
      if (entry.key_expires_at.has_value() && *entry.key_expires_at <= now) {
        EraseCachedLocked(it);  // re-verify: another key may still be valid
        return std::nullopt;
      }
      claims = entry.claims;
    }
    // The remembered key must still belong to the device: a token cached
    // through VerifyWithKeys must not pass Verify with other keys.
    std::shared_ptr<const DeviceKeySet> registered;
    if (keys == nullptr) {
      absl::MutexLock lock(&registry_mutex_);
      auto it = registry_.find(claims->subject);
      if (it == registry_.end()) return std::nullopt;
      registered = it->second;
      keys = registered.get();
    }
    {
      bool present = keys->device_id() == claims->subject;
      bool has_key = false;
      for (const DeviceKey& key : keys->keys()) {
        if (key.key->Thumbprint() == claims->key_id &&
            (!key.expires_at.has_value() || *key.expires_at > now)) {
          has_key = true;
        }
      }
      if (!present || !has_key) return std::nullopt;
    }
    return absl::StatusOr<VerifiedClaims>(*claims);
  }

  // Takes the claims by reference: the copy the cache keeps is made only
  // when there is a cache (a by-value parameter cost four string copies
  // per verification with the cache off).
  void CacheInsert(const Sha256Digest& digest, const VerifiedClaims& claims,
                   std::optional<absl::Time> key_expires_at, absl::Time now) {
    if (options_.cache_capacity == 0) return;
    auto shared = std::make_shared<const VerifiedClaims>(claims);
    absl::MutexLock lock(&cache_mutex_);
    if (auto existing = cache_.find(digest); existing != cache_.end()) {
      EraseCachedLocked(existing);
    }
    while (cache_.size() >= options_.cache_capacity && !order_.empty()) {
      auto [old_digest, sequence] = order_.front();
      order_.pop_front();
      auto it = cache_.find(old_digest);
      if (it != cache_.end() && it->second.sequence == sequence) {
        EraseCachedLocked(it);
      }
    }
    DeviceShare& share = per_device_[claims.subject];
    const size_t per_device = options_.cache_capacity_per_device;
    while (per_device != 0 && share.live >= per_device &&
           !share.order.empty()) {
      auto [old_digest, sequence] = share.order.front();
      share.order.pop_front();
      auto it = cache_.find(old_digest);
      if (it != cache_.end() && it->second.sequence == sequence) {
        EraseCachedLocked(it);
      }
    }
    uint64_t sequence = ++next_sequence_;
    cache_.insert_or_assign(digest,
                            CacheEntry{std::move(shared), key_expires_at, sequence});
    order_.emplace_back(digest, sequence);
    ++share.live;
    share.order.emplace_back(digest, sequence);
    if (per_device != 0 && share.order.size() > 2 * per_device + 16) {
      CompactOrderLocked(share.order);
    }
    // Subjects whose entries are all gone keep a share until swept here.
    if (per_device_.size() > cache_.size() + 1024) {
      absl::erase_if(per_device_,
                     [](const auto& entry) { return entry.second.live == 0; });
    }
    // Entries dropped by revocation leave stale order records; compact so
    // the order queue stays bounded too.
    if (order_.size() > 2 * options_.cache_capacity + 16) {
      CompactOrderLocked(order_);
    }
    (void)now;
  }

  void CompactOrderLocked(std::deque<std::pair<Sha256Digest, uint64_t>>& order)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cache_mutex_) {
    std::deque<std::pair<Sha256Digest, uint64_t>> live;
    for (const auto& record : order) {
      auto it = cache_.find(record.first);
      if (it != cache_.end() && it->second.sequence == record.second) {
        live.push_back(record);
      }
    }
    order = std::move(live);
  }

  void DropCachedForKey(absl::string_view thumbprint) {
    absl::MutexLock lock(&cache_mutex_);
    for (auto it = cache_.begin(); it != cache_.end();) {
      if (it->second.claims->key_id == thumbprint) {
        EraseCachedLocked(it++);
      } else {
        ++it;
      }
    }
  }

  static absl::StatusOr<absl::Time> NumericDate(const JoseObject& claims,
                                                const char* name,
                                                JwtReason missing) {
    const JoseValue* it = claims.Find(name);
    if (it == nullptr) {
      return JwtRejection(missing, absl::StrCat("claim ", name, " is missing"));
    }
    // Integers only: NumericDate seconds as every JWT library emits them;
    // floats, strings and booleans are refused rather than guessed at.
    if (it->type != JoseValue::Type::kNumber || !it->integer) {
      return JwtRejection(JwtReason::kClaimType,
                          absl::StrCat("claim ", name,
                                       " is not an integer NumericDate"));
    }
    if ((it->negative && it->magnitude != 0) ||
        it->magnitude > (uint64_t{1} << 40)) {
      return JwtRejection(JwtReason::kClaimType,
                          absl::StrCat("claim ", name, " is out of range"));
    }
    return absl::FromUnixSeconds(static_cast<int64_t>(it->magnitude));
  }

  static absl::StatusOr<std::string> OptionalString(const JoseObject& claims,
                                                    const char* name) {
    const JoseValue* it = claims.Find(name);
    if (it == nullptr) return std::string();
    if (!it->is_string()) {
      return JwtRejection(JwtReason::kClaimType,
                          absl::StrCat("claim ", name, " is not a string"));
    }
    return it->string;
  }

  absl::StatusOr<VerifiedClaims> VerifyParsed(const JwsParts& jws,
                                              const JoseObject& claims,
                                              const DeviceKeySet& keys,
                                              const Sha256Digest& digest,
                                              absl::Time now) {
    // 1. Signature, with keys from the registry only.
    const DeviceKey* verified_by = nullptr;
    CXSEC_RETURN_IF_ERROR(CheckSignature(jws, keys, now, &verified_by));

    // 2. Claims.
    VerifiedClaims out;
    out.algorithm = jws.algorithm;
    out.key_id = verified_by->key->Thumbprint();
    const JoseValue* sub = claims.Find("sub");
    if (sub == nullptr) {
      return JwtRejection(JwtReason::kSubMissing, "claim sub is missing");
    }
    if (!sub->is_string()) {
      return JwtRejection(JwtReason::kClaimType, "claim sub is not a string");
    }
    out.subject = sub->string;
    if (out.subject != keys.device_id()) {
      return JwtRejection(JwtReason::kSubMismatch,
                          "claim sub is not the device the key belongs to");
    }
    CXSEC_ASSIGN_OR_RETURN(out.issuer, OptionalString(claims, "iss"));
    if (options_.issuer.has_value() && out.issuer != *options_.issuer) {
      return JwtRejection(JwtReason::kIssMismatch,
                          "claim iss is not the expected issuer");
    }
    CXSEC_ASSIGN_OR_RETURN(out.jwt_id, OptionalString(claims, "jti"));
    CXSEC_RETURN_IF_ERROR(CheckAudience(claims, out));

    CXSEC_ASSIGN_OR_RETURN(out.expires_at,
                           NumericDate(claims, "exp", JwtReason::kExpMissing));
    CXSEC_ASSIGN_OR_RETURN(out.issued_at,
                           NumericDate(claims, "iat", JwtReason::kIatMissing));
    if (claims.Contains("nbf")) {
      CXSEC_ASSIGN_OR_RETURN(absl::Time nbf,
                             NumericDate(claims, "nbf", JwtReason::kClaimType));
      out.not_before = nbf;
    }
    if (out.expires_at <= out.issued_at) {
      return JwtRejection(JwtReason::kLifetimeNegative, "exp is not after iat");
    }
    if (out.expires_at - out.issued_at > options_.max_lifetime) {
      return JwtRejection(
          JwtReason::kLifetimeTooLong,
          absl::StrCat("exp - iat exceeds ",
                       absl::FormatDuration(options_.max_lifetime)));
    }
    if (out.issued_at > now + options_.clock_skew) {
      return JwtRejection(JwtReason::kIatInFuture,
                          "iat is further in the future than the clock skew");
    }
    if (out.expires_at + options_.clock_skew <= now) {
      return JwtRejection(JwtReason::kExpired, "token expired (exp + skew is past)");
    }
    if (out.not_before.has_value() &&
        *out.not_before > now + options_.clock_skew) {
      return JwtRejection(JwtReason::kNotYetValid, "nbf is in the future");
    }
    CacheInsert(digest, out, verified_by->expires_at, now);
    return out;
  }

  absl::Status CheckAudience(const JoseObject& claims,
                             VerifiedClaims& out) const {
    const JoseValue* aud = claims.Find("aud");
    if (aud == nullptr) {
      return JwtRejection(JwtReason::kAudMissing, "claim aud is missing");
    }
    bool is_string = aud->is_string();
    if (aud->type == JoseValue::Type::kArray) {
      if (aud->array_size != 1) {
        return JwtRejection(JwtReason::kAudMismatch,
                            "claim aud must be one project, not a list");
      }
      is_string = aud->first_is_string;  // then `string` holds the element
    }
    if (!is_string) {
      return JwtRejection(JwtReason::kClaimType, "claim aud is not a string");
    }
    if (options_.audience.empty() || aud->string != options_.audience) {
      return JwtRejection(JwtReason::kAudMismatch,
                          "claim aud is not this verifier's project");
    }
    out.audience = aud->string;
    return absl::OkStatus();
  }

  // CheckSignature tries the kid-matching key first, then each other
  // unexpired key bound to the token's alg. The reported failure is the
  // most specific one seen.
  absl::Status CheckSignature(const JwsParts& jws, const DeviceKeySet& keys,
                              absl::Time now, const DeviceKey** verified_by) {
    // At most kMaxKeysPerDevice keys: no heap allocation per verification.
    absl::InlinedVector<const DeviceKey*, kMaxKeysPerDevice> order;
    bool any_unexpired = false;
    for (const DeviceKey& key : keys.keys()) {
      if (key.expires_at.has_value() && *key.expires_at <= now) continue;
      any_unexpired = true;
      if (key.key->algorithm() != jws.algorithm) continue;
      if (!jws.kid.empty() && key.key->Thumbprint() == jws.kid) {
        order.insert(order.begin(), &key);
      } else {
        order.push_back(&key);
      }
    }
    if (!any_unexpired) {
      return JwtRejection(JwtReason::kNoUsableKey,
                          "the device has no unexpired key");
    }
    if (order.empty()) {
      return JwtRejection(
          JwtReason::kAlgKeyMismatch,
          absl::StrCat("no key of the device is bound to alg ",
                       JwtAlgorithmName(jws.algorithm)));
    }
    absl::Status last;
    for (const DeviceKey* key : order) {
      absl::Status status =
          key->key->VerifySignature(AsBytes(jws.signing_input), jws.signature);
      if (status.ok()) {
        *verified_by = key;
        return status;
      }
      // A malformed signature is malformed for every key; report that.
      std::optional<JwtReason> reason = JwtReasonOf(status);
      if (reason == JwtReason::kSignatureScalar ||
          reason == JwtReason::kSignatureHighS) {
        return status;
      }
      last = status;
    }
    return last;
  }

  const JwtVerifierOptions options_;
  const Clock& clock_;

  mutable absl::Mutex registry_mutex_;
  absl::flat_hash_map<std::string, std::shared_ptr<const DeviceKeySet>>
      registry_ ABSL_GUARDED_BY(registry_mutex_);

  mutable absl::Mutex cache_mutex_;
  CacheMap cache_ ABSL_GUARDED_BY(cache_mutex_);
  absl::flat_hash_map<std::string, DeviceShare> per_device_
      ABSL_GUARDED_BY(cache_mutex_);
  std::deque<std::pair<Sha256Digest, uint64_t>> order_
      ABSL_GUARDED_BY(cache_mutex_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(cache_mutex_) = 0;
};

}  // namespace cxsec

#endif  // CXSEC_CORE_JWT_VERIFIER_H_
