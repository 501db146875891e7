#include "targets/verifier/iam/iam.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/crypto/primitives.h"
#include "core/encoding/base64url.h"
#include "core/encoding/hex.h"
#include "core/status.h"
#include "nlohmann/json.hpp"

namespace cxsec::verifier {

using nlohmann::json;

namespace {
constexpr char kPrincipals[] = "principals/";
constexpr char kKeyPrefix[] = "cxk_";

std::string SaltedHash(ByteView salt, absl::string_view secret) {
  Bytes input(salt.begin(), salt.end());
  input.insert(input.end(), secret.begin(), secret.end());
  Sha256Digest digest = Sha256(input);
  SecureZero(input.data(), input.size());
  return HexEncode(ByteView(digest.data(), digest.size()));
}

absl::Status CheckPrincipalId(absl::string_view id) {
  if (id.empty() || id.size() > 64) {
    return absl::InvalidArgumentError("principal id must be 1-64 characters");
  }
  for (char c : id) {
    if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
          absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return absl::InvalidArgumentError(
          "principal id may contain only a-z, 0-9 and '-'");
    }
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "operator") return Role::kOperator;
  if (name == "viewer") return Role::kViewer;
  if (name == "gateway") return Role::kGateway;
  if (name == "enroller") return Role::kEnroller;
  return absl::InvalidArgumentError(
      "role must be one of: admin, operator, enroller, viewer, gateway");
}

std::string RoleName(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kOperator: return "operator";
    case Role::kViewer: return "viewer";
    case Role::kGateway: return "gateway";
    case Role::kEnroller:
      return "enroller";
  }
  return "unknown";
}

std::string PermissionName(Permission p) {
  switch (p) {
    case Permission::kRegistryRead: return "registry.read";
    case Permission::kRegistryWrite: return "registry.write";
    case Permission::kPrincipalAdmin: return "principal.admin";
    case Permission::kAuditRead: return "audit.read";
    case Permission::kMetricsRead: return "metrics.read";
    case Permission::kTelemetryWrite: return "telemetry.write";
    case Permission::kGatewayEnroll:
      return "gateway.enroll";
  }
  return "unknown";
}

bool RoleHas(Role role, Permission p) {
  switch (role) {
    case Role::kAdmin:
      // Administrators manage; they do not impersonate gateways.
      return p != Permission::kTelemetryWrite;
    case Role::kOperator:
      // Not gateway.enroll: registry.write alone must not let an operator
      // register a key and post telemetry as a gateway.
      return p == Permission::kRegistryRead || p == Permission::kRegistryWrite ||
             p == Permission::kAuditRead || p == Permission::kMetricsRead;
    case Role::kEnroller:
      return p == Permission::kRegistryRead || p == Permission::kGatewayEnroll;
    case Role::kViewer:
      return p == Permission::kRegistryRead || p == Permission::kMetricsRead;
    case Role::kGateway:
      return p == Permission::kTelemetryWrite;
  }
  return false;
}

absl::StatusOr<std::string> Iam::CreatePrincipal(absl::string_view actor,
                                                 absl::string_view id, Role role) {
  CXSEC_RETURN_IF_ERROR(CheckPrincipalId(id));
  if (role == Role::kGateway) {
    return absl::InvalidArgumentError(
        "the gateway role is held only by gateway JWTs, not API keys");
  }
  std::string key = absl::StrCat(kPrincipals, id);
  absl::StatusOr<std::optional<std::string>> existing = store_->Get(key);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return absl::AlreadyExistsError(absl::StrCat("principal '", id, "' exists"));
  }
  CXSEC_ASSIGN_OR_RETURN(Bytes salt, RandomBytes(16));
  CXSEC_ASSIGN_OR_RETURN(Bytes secret_raw, RandomBytes(32));
  std::string secret = Base64UrlEncode(secret_raw);
  SecureZero(secret_raw.data(), secret_raw.size());
  json doc = {{"id", std::string(id)},
              {"role", RoleName(role)},
              {"salt", HexEncode(salt)},
              {"hash", SaltedHash(salt, secret)}};
  CXSEC_RETURN_IF_ERROR(store_->Put(key, doc.dump()));
  CXSEC_RETURN_IF_ERROR(audit_->Audit(actor, "principal.create",
                                      absl::StrCat(id, " role=", RoleName(role))));
  std::string api_key = absl::StrCat(kKeyPrefix, id, "_", secret);
  SecureZero(secret.data(), secret.size());
  return api_key;
}

absl::Status Iam::DeletePrincipal(absl::string_view actor, absl::string_view id) {
  CXSEC_RETURN_IF_ERROR(CheckPrincipalId(id));
  if (id == actor) {
    return absl::FailedPreconditionError("a principal cannot delete itself");
  }
  absl::StatusOr<bool> deleted = store_->Delete(absl::StrCat(kPrincipals, id));
  if (!deleted.ok()) return deleted.status();
  if (!*deleted) return absl::NotFoundError(absl::StrCat("principal '", id, "' not found"));
  return audit_->Audit(actor, "principal.delete", id);
}

absl::StatusOr<std::vector<Principal>> Iam::ListPrincipals() {
  std::vector<Principal> out;
  CXSEC_RETURN_IF_ERROR(
      ForEachKv(*store_, kPrincipals, kRegistryListPageSize,
                [&out](const std::string&, const std::string& v) {
                  json doc = json::parse(v, nullptr, false);
                  if (doc.is_discarded() || !doc.is_object()) return true;
                  absl::StatusOr<Role> role = ParseRole(doc.value("role", ""));
                  if (role.ok())
                    out.push_back(Principal{doc.value("id", ""), *role});
                  return true;
                }));
  return out;
}

absl::StatusOr<Principal> Iam::Authenticate(absl::string_view api_key) {
  absl::Status bad = absl::UnauthenticatedError("API key is not valid");
  absl::string_view rest = api_key;
  if (rest.size() > 256 || !absl::StartsWith(rest, kKeyPrefix)) return bad;
  rest.remove_prefix(sizeof(kKeyPrefix) - 1);
  size_t sep = rest.find('_');
  if (sep == absl::string_view::npos) return bad;
  absl::string_view id = rest.substr(0, sep);
  absl::string_view secret = rest.substr(sep + 1);
  if (!CheckPrincipalId(id).ok()) return bad;
  absl::StatusOr<std::optional<std::string>> raw =
      store_->Get(absl::StrCat(kPrincipals, id));
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return bad;
  json doc = json::parse(**raw, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return bad;
  absl::StatusOr<Bytes> salt = HexDecode(doc.value("salt", ""));
  if (!salt.ok()) return bad;
  std::string expected = doc.value("hash", "");
  std::string actual = SaltedHash(*salt, secret);
  if (expected.size() != actual.size() ||
      !ConstantTimeEquals(AsBytes(expected), AsBytes(actual))) {
    return bad;
  }
  absl::StatusOr<Role> role = ParseRole(doc.value("role", ""));
  if (!role.ok()) return bad;
  return Principal{std::string(id), *role};
}

absl::StatusOr<std::optional<std::string>> Iam::BootstrapAdmin() {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> rows =
      store_->List(kPrincipals, 1);
  if (!rows.ok()) return rows.status();
  if (!rows->empty()) return std::optional<std::string>();
  absl::StatusOr<std::string> key = CreatePrincipal("bootstrap", "admin", Role::kAdmin);
  if (!key.ok()) return key.status();
  return std::optional<std::string>(std::move(*key));
}

}  // namespace cxsec::verifier
