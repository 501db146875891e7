#include "targets/verifier/registry/registry.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/crypto/primitives.h"
#include "core/encoding/base64url.h"
#include "core/encoding/hex.h"
#include "core/status.h"
#include "targets/verifier/registry/api_reason.h"

namespace cxsec::verifier {

using nlohmann::json;

namespace {
constexpr char kProjects[] = "projects/";
constexpr char kGateways[] = "gateways/";
constexpr char kDevices[] = "devices/";
constexpr char kAudit[] = "audit/";
// enrollment-challenges/<gateway id>/<nonce> -> {"expiresAt":unix seconds}
constexpr char kEnrollmentChallenges[] = "enrollment-challenges/";

std::string ChallengePrefix(absl::string_view gateway_id) {
  return absl::StrCat(kEnrollmentChallenges, gateway_id, "/");
}

// The expiry of a stored challenge; nullopt for a record that does not
// decode (treated as expired, so it is swept).
std::optional<int64_t> ChallengeExpiry(const std::string& value) {
  json j = json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto it = j.find("expiresAt");
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

bool AllOf(absl::string_view s, bool (*ok)(char)) {
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

absl::StatusOr<std::string> StringField(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return absl::DataLossError(absl::StrCat("registry document lacks '", name, "'"));
  }
  return it->get<std::string>();
}

// An audit key is "audit/" + 20 digits of unix nanoseconds + "-" + 8 hex
// digits; its cursor is the part after "audit/", base64url-encoded, so
// callers treat it as opaque and the format may change.
constexpr size_t kAuditStampDigits = 20;
constexpr size_t kAuditSuffixBytes = kAuditStampDigits + 1 + 8;

bool IsLowerHex(char c) {
  return absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
         (c >= 'a' && c <= 'f');
}

std::string CursorForAuditKey(absl::string_view key) {
  key.remove_prefix(std::min(key.size(), sizeof(kAudit) - 1));
  return Base64UrlEncode(AsBytes(key));
}

absl::StatusOr<std::string> AuditKeyFromCursor(absl::string_view cursor) {
  absl::Status bad = absl::InvalidArgumentError(
      "cursor is not one this verifier issued (use nextCursor as given)");
  if (cursor.size() > 64) return bad;
  absl::StatusOr<Bytes> raw = Base64UrlDecode(cursor, 64);
  if (!raw.ok()) return bad;
  absl::string_view suffix = AsStringView(*raw);
  if (suffix.size() != kAuditSuffixBytes || suffix[kAuditStampDigits] != '-' ||
      !AllOf(suffix.substr(0, kAuditStampDigits),
             [](char c) {
               return absl::ascii_isdigit(static_cast<unsigned char>(c));
             }) ||
      !AllOf(suffix.substr(kAuditStampDigits + 1), IsLowerHex)) {
    return bad;
  }
  return absl::StrCat(kAudit, suffix);
}

absl::StatusOr<Project> DecodeProject(const json& j) {
  Project p;
  absl::StatusOr<std::string> id = StringField(j, "id");
  if (!id.ok()) return id.status();
  p.id = *id;
  p.name = j.value("name", "");
  return p;
}

absl::StatusOr<Gateway> DecodeGateway(const json& j) {
  Gateway g;
  absl::StatusOr<std::string> id = StringField(j, "id");
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> project = StringField(j, "project");
  if (!project.ok()) return project.status();
  g.id = *id;
  g.project = *project;
  g.enabled = j.value("enabled", false);
  if (j.contains("keys") && j["keys"].is_array()) {
    for (const json& k : j["keys"]) {
      GatewayKey key;
      absl::StatusOr<std::string> pem = StringField(k, "publicKeyPem");
      if (!pem.ok()) return pem.status();
      absl::StatusOr<JwtPublicKey> parsed = JwtPublicKey::FromSpkiPem(*pem);
      // A stored key the current checks refuse (an Ed25519 key of small
      // order enrolled before they existed) is left out rather than failing
      // the whole gateway: failing would turn every token of the gateway
      // into "registry unavailable" and leave no way to remove the key. The
      // next update of the gateway writes it back without that key.
      if (!parsed.ok()) continue;
      key.kid = parsed->Thumbprint();
      key.public_key_pem = *pem;
      key.parsed = std::make_shared<const JwtPublicKey>(std::move(*parsed));
      if (k.contains("expiresAt") && k["expiresAt"].is_number_integer()) {
        key.expires_at = k["expiresAt"].get<int64_t>();
      }
      g.keys.push_back(std::move(key));
    }
  }
  return g;
}

absl::StatusOr<Device> DecodeDevice(const json& j) {
  Device d;
  absl::StatusOr<std::string> id = StringField(j, "id");
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> project = StringField(j, "project");
  if (!project.ok()) return project.status();
  d.id = *id;
  d.project = *project;
  if (j.contains("gateways") && j["gateways"].is_array()) {
    for (const json& g : j["gateways"]) {
      if (g.is_string()) d.gateways.push_back(g.get<std::string>());
    }
  }
  // Records written before sealing existed have no "seal": off.
  if (j.contains("seal") && j["seal"].is_string()) {
    absl::StatusOr<SealPolicy> seal = ParseSealPolicy(j["seal"].get<std::string>());
    if (!seal.ok()) return seal.status();
    d.seal = *seal;
  }
  return d;
}
}  // namespace

json ToJson(const Project& p) { return {{"id", p.id}, {"name", p.name}}; }

json ToJson(const Gateway& g) {
  json keys = json::array();
  for (const GatewayKey& k : g.keys) {
    json key = {{"kid", k.kid}, {"publicKeyPem", k.public_key_pem}};
    key["expiresAt"] = k.expires_at ? json(*k.expires_at) : json(nullptr);
    keys.push_back(std::move(key));
  }
  return {{"id", g.id}, {"project", g.project}, {"enabled", g.enabled}, {"keys", keys}};
}

json ToJson(const Device& d) {
  return {{"id", d.id},
          {"project", d.project},
          {"gateways", d.gateways},
          {"seal", SealPolicyName(d.seal)}};
}

const char* SealPolicyName(SealPolicy policy) {
  switch (policy) {
    case SealPolicy::kOff:
      return "off";
    case SealPolicy::kOptional:
      return "optional";
    case SealPolicy::kRequired:
      return "required";
  }
  return "off";
}

absl::StatusOr<SealPolicy> ParseSealPolicy(absl::string_view name) {
  if (name == "off") return SealPolicy::kOff;
  if (name == "optional") return SealPolicy::kOptional;
  if (name == "required") return SealPolicy::kRequired;
  return absl::InvalidArgumentError(
      "seal: must be \"off\", \"optional\" or \"required\"");
}

absl::Status CheckGatewayId(absl::string_view id) {
  if (id.size() != 19 || id[0] != 'G' ||
      !AllOf(id.substr(1), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
               (c >= 'a' && c <= 'f');
      })) {
    return absl::InvalidArgumentError(
        "gateway id must be 'G' followed by 18 lowercase hex digits");
  }
  return absl::OkStatus();
}

absl::Status CheckProjectId(absl::string_view id) {
  if (id.empty() || id.size() > 64 || !AllOf(id, [](char c) {
        return absl::ascii_islower(static_cast<unsigned char>(c)) ||
               absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-';
      })) {
    return absl::InvalidArgumentError(
        "project id must be 1-64 characters of a-z, 0-9 and '-'");
  }
  return absl::OkStatus();
}

// A device's gateway bindings: well-formed ids, each once, at most 64.
absl::Status CheckDeviceGateways(const std::vector<std::string>& gateways) {
  if (gateways.size() > kMaxGatewaysPerDevice) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gateways: at most ", kMaxGatewaysPerDevice, " per device"));
  }
  for (size_t i = 0; i < gateways.size(); ++i) {
    absl::Status id = CheckGatewayId(gateways[i]);
    if (!id.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("gateways[", i, "]: ", id.message()));
    for (size_t j = 0; j < i; ++j) {
      if (gateways[j] == gateways[i]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "gateways[", i, "]: '", gateways[i], "' is listed twice"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckProjectName(absl::string_view name) {
  if (name.size() > kMaxProjectNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "project name: longer than ", kMaxProjectNameBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckDeviceId(absl::string_view id) {
  if (id.empty() || id.size() > 128 || !AllOf(id, [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
               c == '_' || c == '.' || c == ':';
      })) {
    return absl::InvalidArgumentError(
        "device id must be 1-128 characters of A-Z, a-z, 0-9, '-', '_', '.', ':'");
  }
  return absl::OkStatus();
}

Registry::Registry(KvStore* store, const Clock* clock) : store_(store), clock_(clock) {
  store_->SetChangeListener([this] { InvalidateCache(); });
}

// The store may outlive the registry (and its watch thread keep
// notifying): unregister, which waits for a running notification.
Registry::~Registry() { store_->SetChangeListener(nullptr); }

void Registry::InvalidateCache() {
  std::lock_guard<std::mutex> lock(cache_mu_);
  ++generation_;
  gateway_cache_.clear();
  device_cache_.clear();
}

absl::StatusOr<std::optional<json>> Registry::Load(const std::string& key) {
  absl::StatusOr<std::optional<std::string>> raw = store_->Get(key);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::optional<json>();
  json j = json::parse(**raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat("registry document ", key, " is not JSON"));
  }
  return std::optional<json>(std::move(j));
}

absl::Status Registry::UpdateDocument(const std::string& key,
                                      const DocumentChange& change) {
  for (int attempt = 0; attempt < kMaxUpdateAttempts; ++attempt) {
    absl::StatusOr<KvRead> read = store_->GetForUpdate(key);
    if (!read.ok()) return read.status();
    std::optional<json> current;
    if (read->value.has_value()) {
      json j = json::parse(*read->value, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return absl::DataLossError(
            absl::StrCat("registry document ", key, " is not JSON"));
      }
      current = std::move(j);
    }
    absl::StatusOr<json> next = change(current);
    if (!next.ok()) return next.status();
    absl::StatusOr<bool> written =
        store_->PutIfUnchanged(key, next->dump(), *read);
    if (!written.ok()) return written.status();
    if (*written) {
      InvalidateCache();
      return absl::OkStatus();
    }
    // Another instance wrote the document since we read it: start over
    // from its version, so its change (a block, a revocation) is kept.
  }
  return absl::UnavailableError(
      absl::StrCat("registry document ", key,
                   " kept changing under concurrent updates; retry"));
}

template <class T>
absl::StatusOr<T> Registry::CachedLookup(
    absl::flat_hash_map<std::string, T>& cache, const std::string& key,
    absl::string_view what, absl::StatusOr<T> (*decode)(const json&)) {
  bool use_cache = store_->ChangeFeedHealthy();
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    generation = generation_;
    if (use_cache) {
      auto it = cache.find(key);
      if (it != cache.end()) {
        hits_.fetch_add(1);
        return it->second;
      }
    }
  }
  misses_.fetch_add(1);
  absl::StatusOr<std::optional<json>> doc = Load(key);
  if (!doc.ok()) return doc.status();
  if (!doc->has_value()) {
    return absl::NotFoundError(absl::StrCat(what, " not found"));
  }
  absl::StatusOr<T> value = decode(**doc);
  if (!value.ok()) return value.status();
  std::lock_guard<std::mutex> lock(cache_mu_);
  // A change notified while we were reading may predate our read or not:
  // only cache when no invalidation happened in between.
  if (use_cache && generation == generation_ && cache.size() < 100000) {
    cache[key] = *value;
  }
  return value;
}

absl::Status Registry::Audit(absl::string_view principal, absl::string_view action,
                             absl::string_view target) {
  absl::Time now = clock_->Now();
  uint8_t random[4];
  CXSEC_RETURN_IF_ERROR(RandomBytes(MutableByteView(random, sizeof(random))));
  char stamp[32];
  std::snprintf(stamp, sizeof(stamp), "%020" PRId64, absl::ToUnixNanos(now));
  json entry = {{"time", absl::FormatTime(absl::RFC3339_full, now, absl::UTCTimeZone())},
                {"principal", std::string(principal)},
                {"action", std::string(action)},
                {"target", std::string(target)}};
  return store_->Put(absl::StrCat(kAudit, stamp, "-", HexEncode(ByteView(random, 4))),
                     entry.dump());
}

absl::StatusOr<AuditPage> Registry::ListAudit(absl::string_view cursor,
                                              size_t limit) {
  if (limit == 0 || limit > kMaxAuditPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must be 1 to ", kMaxAuditPageSize));
  }
  std::string after;
  if (!cursor.empty()) {
    absl::StatusOr<std::string> key = AuditKeyFromCursor(cursor);
    if (!key.ok()) return key.status();
    after = *std::move(key);
  }
  // One more than asked tells whether an older page exists.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> rows =
      store_->ListPage(kAudit, after, KvOrder::kDescending, limit + 1);
  if (!rows.ok()) return rows.status();
  AuditPage page;
  bool more = rows->size() > limit;
  if (more) rows->pop_back();
  for (const auto& [key, value] : *rows) {
    json j = json::parse(value, nullptr, false);
    if (!j.is_discarded()) page.entries.push_back(std::move(j));
  }
  if (more && !rows->empty())
    page.next_cursor = CursorForAuditKey(rows->back().first);
  return page;
}

// ---- projects ----

absl::Status Registry::CreateProject(absl::string_view principal, const Project& p) {
  CXSEC_RETURN_IF_ERROR(CheckProjectId(p.id));
  CXSEC_RETURN_IF_ERROR(CheckProjectName(p.name));
  std::lock_guard<std::mutex> lock(write_mu_);
  CXSEC_RETURN_IF_ERROR(UpdateDocument(
      absl::StrCat(kProjects, p.id),
      [&](const std::optional<json>& current) -> absl::StatusOr<json> {
        if (current.has_value()) {
          return absl::AlreadyExistsError(
              absl::StrCat("project '", p.id, "' exists"));
        }
        return ToJson(p);
      }));
  return Audit(principal, "project.create", p.id);
}

absl::StatusOr<Project> Registry::GetProject(absl::string_view id) {
  CXSEC_RETURN_IF_ERROR(CheckProjectId(id));
  absl::StatusOr<std::optional<json>> doc = Load(absl::StrCat(kProjects, id));
  if (!doc.ok()) return doc.status();
  if (!doc->has_value()) {
    return absl::NotFoundError(absl::StrCat("project '", id, "' not found"));
  }
  return DecodeProject(**doc);
}

absl::StatusOr<std::vector<Project>> Registry::ListProjects() {
  std::vector<Project> out;
  CXSEC_RETURN_IF_ERROR(
      ForEachKv(*store_, kProjects, kRegistryListPageSize,
                [&out](const std::string&, const std::string& value) {
                  json j = json::parse(value, nullptr, false);
                  if (j.is_discarded()) return true;
                  absl::StatusOr<Project> p = DecodeProject(j);
                  if (p.ok()) out.push_back(*std::move(p));
                  return true;
                }));
  return out;
}

absl::Status Registry::UpdateProject(absl::string_view principal, const Project& p) {
  CXSEC_RETURN_IF_ERROR(CheckProjectId(p.id));
  CXSEC_RETURN_IF_ERROR(CheckProjectName(p.name));
  std::lock_guard<std::mutex> lock(write_mu_);
  CXSEC_RETURN_IF_ERROR(UpdateDocument(
      absl::StrCat(kProjects, p.id),
      [&](const std::optional<json>& current) -> absl::StatusOr<json> {
        if (!current.has_value()) {
          return absl::NotFoundError(
              absl::StrCat("project '", p.id, "' not found"));
        }
        return ToJson(p);
      }));
  return Audit(principal, "project.update", p.id);
}

absl::Status Registry::DeleteProject(absl::string_view principal, absl::string_view id) {
  CXSEC_RETURN_IF_ERROR(CheckProjectId(id));
  std::lock_guard<std::mutex> lock(write_mu_);
  // Every gateway and device is looked at, however many there are: a
  // member past any listing limit must still keep its project alive.
  std::string member;
  auto find_member = [&](absl::string_view what) {
    return [&member, id, what](const std::string&, const std::string& value) {
      json j = json::parse(value, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return true;
      auto project = j.find("project");
      if (project != j.end() && project->is_string() &&
          project->get_ref<const std::string&>() == id) {
        member = absl::StrCat(what, " '", j.value("id", ""), "'");
        return false;
      }
      return true;
    };
  };
  CXSEC_RETURN_IF_ERROR(ForEachKv(*store_, kGateways, kRegistryListPageSize,
                                  find_member("gateway")));
  if (member.empty()) {
    CXSEC_RETURN_IF_ERROR(ForEachKv(*store_, kDevices, kRegistryListPageSize,
                                    find_member("device")));
  }
  if (!member.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("project '", id, "' still has gateways or devices (",
                     member, "); delete them first"));
  }
  absl::StatusOr<bool> deleted = store_->Delete(absl::StrCat(kProjects, id));
  if (!deleted.ok()) return deleted.status();
  if (!*deleted) return absl::NotFoundError(absl::StrCat("project '", id, "' not found"));
  InvalidateCache();
  return Audit(principal, "project.delete", id);
}

// ---- gateways ----

absl::StatusOr<Gateway> Registry::LoadGatewayUncached(absl::string_view id) {
  absl::StatusOr<std::optional<json>> doc = Load(absl::StrCat(kGateways, id));
  if (!doc.ok()) return doc.status();
  if (!doc->has_value()) {
    return absl::NotFoundError(absl::StrCat("gateway '", id, "' not found"));
  }
  return DecodeGateway(**doc);
}

absl::Status Registry::UpdateGateway(
    absl::string_view id, const std::function<absl::Status(Gateway&)>& change) {
  return UpdateDocument(
      absl::StrCat(kGateways, id),
      [&](const std::optional<json>& current) -> absl::StatusOr<json> {
        if (!current.has_value()) {
          return absl::NotFoundError(
              absl::StrCat("gateway '", id, "' not found"));
        }
        absl::StatusOr<Gateway> g = DecodeGateway(*current);
        if (!g.ok()) return g.status();
        CXSEC_RETURN_IF_ERROR(change(*g));
        return ToJson(*g);
      });
}

absl::Status Registry::CreateGateway(absl::string_view principal, const Gateway& g) {
  CXSEC_RETURN_IF_ERROR(CheckGatewayId(g.id));
  std::lock_guard<std::mutex> lock(write_mu_);
  absl::StatusOr<Project> project = GetProject(g.project);
  if (!project.ok()) return project.status();
  Gateway fresh = g;
  fresh.keys.clear();  // keys are added one by one through AddGatewayKey
  CXSEC_RETURN_IF_ERROR(UpdateDocument(
      absl::StrCat(kGateways, g.id),
      [&](const std::optional<json>& current) -> absl::StatusOr<json> {
        if (current.has_value()) {
          return absl::AlreadyExistsError(
              absl::StrCat("gateway '", g.id, "' exists"));
        }
        return ToJson(fresh);
      }));
  return Audit(principal, "gateway.create", g.id);
}

absl::StatusOr<Gateway> Registry::GetGateway(absl::string_view id) {
  CXSEC_RETURN_IF_ERROR(CheckGatewayId(id));
  return CachedLookup<Gateway>(gateway_cache_, absl::StrCat(kGateways, id),
                               absl::StrCat("gateway '", id, "'"), &DecodeGateway);
}

absl::StatusOr<std::vector<Gateway>> Registry::ListGateways(
    absl::string_view project) {
  std::vector<Gateway> out;
  CXSEC_RETURN_IF_ERROR(
      ForEachKv(*store_, kGateways, kRegistryListPageSize,
                [&out, project](const std::string&, const std::string& value) {
                  json j = json::parse(value, nullptr, false);
                  if (j.is_discarded()) return true;
                  absl::StatusOr<Gateway> g = DecodeGateway(j);
                  if (g.ok() && (project.empty() || g->project == project)) {
                    out.push_back(*std::move(g));
                  }
                  return true;
                }));
  return out;
}

absl::Status Registry::SetGatewayEnabled(absl::string_view principal,
                                         absl::string_view id, bool enabled) {
  CXSEC_RETURN_IF_ERROR(CheckGatewayId(id));
  std::lock_guard<std::mutex> lock(write_mu_);
  CXSEC_RETURN_IF_ERROR(UpdateGateway(id, [&](Gateway& g) {
    g.enabled = enabled;
    return absl::OkStatus();
  }));
  return Audit(principal, enabled ? "gateway.enable" : "gateway.block", id);
}

absl::Status Registry::DeleteGateway(absl::string_view principal, absl::string_view id) {
  CXSEC_RETURN_IF_ERROR(CheckGatewayId(id));
  std::lock_guard<std::mutex> lock(write_mu_);
  // Refused while a device is bound to it: dropping the binding instead
  // would turn a device bound only to this gateway into one that accepts
  // any gateway of its project (an empty list means "any").
  std::string bound;
  CXSEC_RETURN_IF_ERROR(ForEachKv(
      *store_, kDevices, kRegistryListPageSize,
      [&bound, id](const std::string&, const std::string& value) {
        json j = json::parse(value, nullptr, false);
        if (j.is_discarded()) return true;
        absl::StatusOr<Device> d = DecodeDevice(j);
        if (d.ok() && std::find(d->gateways.begin(), d->gateways.end(), id) !=
                          d->gateways.end()) {
          bound = d->id;
          return false;
        }
        return true;
      }));
  if (!bound.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "gateway '", id, "' still has devices bound to it (device '", bound,
        "'); rebind or delete them first"));
  }
  absl::StatusOr<bool> deleted = store_->Delete(absl::StrCat(kGateways, id));
  if (!deleted.ok()) return deleted.status();
  InvalidateCache();
  if (!*deleted) return absl::NotFoundError(absl::StrCat("gateway '", id, "' not found"));
  // Its open challenges go with it, best effort: one left behind by a
  // store fault expires within minutes and is swept at the next issue.
  std::vector<std::string> challenges;
  absl::Status listed =
      ForEachKv(*store_, ChallengePrefix(id), kRegistryListPageSize,
                [&challenges](const std::string& key, const std::string&) {
                  challenges.push_back(key);
                  return true;
                });
  if (listed.ok()) {
    for (const std::string& key : challenges) (void)store_->Delete(key);
  }
  return Audit(principal, "gateway.delete", id);
}

absl::StatusOr<EnrollmentChallenge> Registry::IssueEnrollmentChallenge(
    absl::string_view principal, absl::string_view gateway_id) {
  CXSEC_RETURN_IF_ERROR(CheckGatewayId(gateway_id));
  std::lock_guard<std::mutex> lock(write_mu_);
  absl::StatusOr<Gateway> g = LoadGatewayUncached(gateway_id);
  if (!g.ok()) return g.status();
  int64_t now = absl::ToUnixSeconds(clock_->Now());
  std::string prefix = ChallengePrefix(gateway_id);
  std::vector<std::string> expired;
  size_t open = 0;
  CXSEC_RETURN_IF_ERROR(
      ForEachKv(*store_, prefix, kRegistryListPageSize,
                [&](const std::string& key, const std::string& value) {
                  std::optional<int64_t> expires = ChallengeExpiry(value);
                  if (!expires.has_value() || *expires <= now) {
                    expired.push_back(key);
                  } else {
                    ++open;
                  }
                  return true;
                }));
  for (const std::string& key : expired) {
    absl::StatusOr<bool> deleted = store_->Delete(key);
    if (!deleted.ok()) return deleted.status();
  }
  // Instances serialise only among their own threads: two instances
  // issuing at the same moment may each see 7 open and both add one. The
  // cap bounds storage, so that overshoot (at most one per instance) is
  // harmless.
  if (open >= kMaxOutstandingEnrollmentChallenges) {
    return WithApiReason(
        absl::FailedPreconditionError(absl::StrCat(
            "gateway '", gateway_id, "' already has ",
            kMaxOutstandingEnrollmentChallenges,
            " unused enrolment challenges; use one or wait until they expire (",
            absl::FormatDuration(kEnrollmentChallengeLifetime), ")")),
        "too_many_challenges");
  }
  CXSEC_ASSIGN_OR_RETURN(Bytes random, RandomBytes(kEnrollmentNonceBytes));
  EnrollmentChallenge challenge;
  challenge.gateway_id = std::string(gateway_id);
  challenge.nonce = Base64UrlEncode(random);
  challenge.expires_at =
      now + absl::ToInt64Seconds(kEnrollmentChallengeLifetime);
  json record = {{"expiresAt", challenge.expires_at},
                 {"issuedBy", std::string(principal)}};
  CXSEC_RETURN_IF_ERROR(
      store_->Put(absl::StrCat(prefix, challenge.nonce), record.dump()));
  // The nonce stays out of the audit log: it is the one thing a proof
  // needs besides the key, and audit readers need not hold it.
  CXSEC_RETURN_IF_ERROR(Audit(principal, "gateway.key.challenge", gateway_id));
  return challenge;
}

absl::Status Registry::ConsumeEnrollmentChallenge(absl::string_view gateway_id,
                                                  absl::string_view nonce) {
  absl::Status unknown = WithApiReason(
      absl::FailedPreconditionError(
          "the proof's challenge is unknown or was already used; ask for a "
          "new one (POST /v1/gateways/{id}/enrollment-challenge)"),
      "challenge_unknown_or_used");
  // The proof checked the nonce's shape, so it cannot leave the prefix.
  if (!IsWellFormedEnrollmentNonce(nonce)) return unknown;
  std::string key = absl::StrCat(ChallengePrefix(gateway_id), nonce);
  absl::StatusOr<std::optional<std::string>> raw = store_->Get(key);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return unknown;
  std::optional<int64_t> expires = ChallengeExpiry(**raw);
  bool expired =
      !expires.has_value() || *expires <= absl::ToUnixSeconds(clock_->Now());
  // Deleting is the atomic step: of all callers on all instances holding
  // this nonce, exactly one sees the key go.
  absl::StatusOr<bool> deleted = store_->Delete(key);
  if (!deleted.ok()) return deleted.status();
  if (!*deleted) return unknown;
  if (expired) {
    return WithApiReason(
        absl::FailedPreconditionError(
            absl::StrCat("the proof's challenge expired (challenges are valid ",
                         absl::FormatDuration(kEnrollmentChallengeLifetime),
                         "); ask for a new one")),
        "challenge_expired");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Registry::AddGatewayKey(
    absl::string_view principal, const VerifiedEnrollmentProof& proof,
    std::optional<int64_t> expires_at) {
  const std::string& gateway_id = proof.gateway_id();
  CXSEC_RETURN_IF_ERROR(CheckGatewayId(gateway_id));
  const std::string& kid = proof.key()->Thumbprint();
  std::lock_guard<std::mutex> lock(write_mu_);
  bool consumed = false;
  CXSEC_RETURN_IF_ERROR(
      UpdateGateway(gateway_id, [&](Gateway& g) -> absl::Status {
        for (const GatewayKey& k : g.keys) {
          if (k.kid == kid) {
            return absl::AlreadyExistsError(absl::StrCat(
                "gateway '", gateway_id, "' already has key ", k.kid));
          }
        }
        if (g.keys.size() >= kMaxKeysPerGateway) {
          return absl::FailedPreconditionError(
              absl::StrCat("gateway '", gateway_id, "' already has ",
                           kMaxKeysPerGateway, " keys; remove one first"));
        }
        // Once only: a retry after a concurrent write re-runs this change.
        if (!consumed) {
          CXSEC_RETURN_IF_ERROR(
              ConsumeEnrollmentChallenge(gateway_id, proof.nonce()));
          consumed = true;
        }
        GatewayKey key;
        key.kid = kid;
        key.public_key_pem = proof.key()->SpkiPem();
        key.expires_at = expires_at;
        key.parsed = proof.key();
        g.keys.push_back(std::move(key));
        return absl::OkStatus();
      }));
  CXSEC_RETURN_IF_ERROR(
      Audit(principal, "gateway.key.add", absl::StrCat(gateway_id, "/", kid)));
  return kid;
}

absl::Status Registry::RemoveGatewayKey(absl::string_view principal,
                                        absl::string_view gateway_id,
                                        absl::string_view kid) {
  CXSEC_RETURN_IF_ERROR(CheckGatewayId(gateway_id));
  std::lock_guard<std::mutex> lock(write_mu_);
  CXSEC_RETURN_IF_ERROR(
      UpdateGateway(gateway_id, [&](Gateway& g) -> absl::Status {
        size_t before = g.keys.size();
        std::erase_if(g.keys,
                      [&](const GatewayKey& k) { return k.kid == kid; });
        if (g.keys.size() == before) {
          return absl::NotFoundError(absl::StrCat("gateway '", gateway_id,
                                                  "' has no key '", kid, "'"));
        }
        return absl::OkStatus();
      }));
  return Audit(principal, "gateway.key.remove", absl::StrCat(gateway_id, "/", kid));
}

// ---- devices ----

absl::Status Registry::CreateDevice(absl::string_view principal, const Device& d) {
  CXSEC_RETURN_IF_ERROR(CheckDeviceId(d.id));
  CXSEC_RETURN_IF_ERROR(CheckProjectId(d.project));
  CXSEC_RETURN_IF_ERROR(CheckDeviceGateways(d.gateways));
  std::lock_guard<std::mutex> lock(write_mu_);
  absl::StatusOr<Project> project = GetProject(d.project);
  if (!project.ok()) return project.status();
  for (const std::string& gw : d.gateways) {
    absl::StatusOr<Gateway> g = LoadGatewayUncached(gw);
    if (!g.ok()) return g.status();
    if (g->project != d.project) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gateway '", gw, "' belongs to project '", g->project, "', not '",
          d.project, "'"));
    }
  }
  CXSEC_RETURN_IF_ERROR(UpdateDocument(
      absl::StrCat(kDevices, d.id),
      [&](const std::optional<json>& current) -> absl::StatusOr<json> {
        if (current.has_value()) {
          return absl::AlreadyExistsError(
              absl::StrCat("device '", d.id, "' exists"));
        }
        return ToJson(d);
      }));
  return Audit(principal, "device.create", d.id);
}

absl::StatusOr<Device> Registry::GetDevice(absl::string_view id) {
  CXSEC_RETURN_IF_ERROR(CheckDeviceId(id));
  return CachedLookup<Device>(device_cache_, absl::StrCat(kDevices, id),
                              absl::StrCat("device '", id, "'"), &DecodeDevice);
}

absl::StatusOr<std::vector<Device>> Registry::ListDevices(
    absl::string_view project) {
  std::vector<Device> out;
  CXSEC_RETURN_IF_ERROR(
      ForEachKv(*store_, kDevices, kRegistryListPageSize,
                [&out, project](const std::string&, const std::string& value) {
                  json j = json::parse(value, nullptr, false);
                  if (j.is_discarded()) return true;
                  absl::StatusOr<Device> d = DecodeDevice(j);
                  if (d.ok() && (project.empty() || d->project == project)) {
                    out.push_back(*std::move(d));
                  }
                  return true;
                }));
  return out;
}

absl::Status Registry::UpdateDevice(absl::string_view principal, const Device& d) {
  CXSEC_RETURN_IF_ERROR(CheckDeviceId(d.id));
  CXSEC_RETURN_IF_ERROR(CheckProjectId(d.project));
  CXSEC_RETURN_IF_ERROR(CheckDeviceGateways(d.gateways));
  std::lock_guard<std::mutex> lock(write_mu_);
  absl::StatusOr<Project> project = GetProject(d.project);
  if (!project.ok()) return project.status();
  for (const std::string& gw : d.gateways) {
    absl::StatusOr<Gateway> g = LoadGatewayUncached(gw);
    if (!g.ok()) return g.status();
    if (g->project != d.project) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gateway '", gw, "' is not in project '", d.project, "'"));
    }
  }
  CXSEC_RETURN_IF_ERROR(UpdateDocument(
      absl::StrCat(kDevices, d.id),
      [&](const std::optional<json>& current) -> absl::StatusOr<json> {
        if (!current.has_value()) {
          return absl::NotFoundError(
              absl::StrCat("device '", d.id, "' not found"));
        }
        return ToJson(d);
      }));
  return Audit(principal, "device.update", d.id);
}

absl::Status Registry::DeleteDevice(absl::string_view principal, absl::string_view id) {
  CXSEC_RETURN_IF_ERROR(CheckDeviceId(id));
  std::lock_guard<std::mutex> lock(write_mu_);
  absl::StatusOr<bool> deleted = store_->Delete(absl::StrCat(kDevices, id));
  if (!deleted.ok()) return deleted.status();
  InvalidateCache();
  if (!*deleted) return absl::NotFoundError(absl::StrCat("device '", id, "' not found"));
  return Audit(principal, "device.delete", id);
}

}  // namespace cxsec::verifier
