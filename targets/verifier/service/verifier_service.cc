#include "targets/verifier/service/verifier_service.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/crypto/primitives.h"
#include "core/encoding/base64url.h"
#include "core/encoding/hex.h"
#include "core/jwt/enrollment_proof.h"
#include "nlohmann/json.hpp"
#include "targets/verifier/registry/api_reason.h"
#include "transports/uplink/telemetry_wire.h"

namespace cxsec::verifier {

using nlohmann::json;
namespace http = boost::beast::http;

namespace {
absl::string_view Sv(boost::beast::string_view v) {
  return absl::string_view(v.data(), v.size());
}

constexpr int kMaxJsonDepth = TelemetryWireLimits{}.max_json_depth;

// The 503 reason of /healthz and telemetry while the registry's change
// feed (the etcd watch) is not in place (docs/VERIFIER_API.md).
constexpr char kRegistryCatchingUp[] = "registry_catching_up";
constexpr char kRegistryCatchingUpMessage[] =
    "the registry's change feed (etcd watch) is not in place; registry "
    "caches are not trusted until it is; retry later";

constexpr double kBucketBounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                    0.005,   0.01,   0.025,   0.05,   0.1};

unsigned HttpStatusFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

std::string CodeName(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument: return "invalid_argument";
    case absl::StatusCode::kUnauthenticated: return "unauthenticated";
    case absl::StatusCode::kPermissionDenied: return "permission_denied";
    case absl::StatusCode::kNotFound: return "not_found";
    case absl::StatusCode::kAlreadyExists: return "already_exists";
    case absl::StatusCode::kFailedPrecondition: return "failed_precondition";
    case absl::StatusCode::kUnavailable: return "unavailable";
    default: return "internal";
  }
}

HttpResponse StatusError(const HttpRequest& request, const absl::Status& s) {
  // Internal errors may carry file paths; callers get a generic message.
  std::string message = HttpStatusFor(s) == 500 ? "internal error" : std::string(s.message());
  // A stable reason of the failing operation, when it set one, is more
  // useful to a client than the generic code.
  std::optional<std::string> reason = ApiReasonOf(s);
  return JsonError(
      request, HttpStatusFor(s),
      reason.has_value() && HttpStatusFor(s) != 500 ? *reason : CodeName(s),
      message);
}

HttpResponse Ok(const HttpRequest& request, const json& body, unsigned status = 200) {
  return JsonResponse(request, status, body.dump());
}

// ParseJsonBody: content type, depth and syntax checks for every JSON body.
absl::StatusOr<json> ParseJsonBody(const HttpRequest& request) {
  absl::string_view type = Sv(request[http::field::content_type]);
  if (!absl::StartsWithIgnoreCase(type, "application/json")) {
    return absl::Status(absl::StatusCode::kUnimplemented,
                        "Content-Type must be application/json");
  }
  if (!JsonDepthWithin(request.body(), kMaxJsonDepth)) {
    return absl::InvalidArgumentError("JSON nesting too deep");
  }
  json doc = json::parse(request.body(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("body must be a JSON object");
  }
  return doc;
}

HttpResponse BodyError(const HttpRequest& request, const absl::Status& s) {
  if (s.code() == absl::StatusCode::kUnimplemented) {
    return JsonError(request, 415, "unsupported_media_type", s.message());
  }
  return StatusError(request, s);
}

absl::StatusOr<std::string> StringMember(const json& doc, const char* name) {
  auto it = doc.find(name);
  if (it == doc.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("'", name, "' must be a string"));
  }
  return it->get<std::string>();
}

// The raw value of query parameter `name`, or nullopt when it is absent.
std::optional<std::string> FindQueryParam(absl::string_view target,
                                          absl::string_view name) {
  size_t q = target.find('?');
  if (q == absl::string_view::npos) return std::nullopt;
  for (absl::string_view pair : absl::StrSplit(target.substr(q + 1), '&')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.first == name) return std::string(kv.second);
  }
  return std::nullopt;
}

std::string QueryParam(absl::string_view target, absl::string_view name) {
  return FindQueryParam(target, name).value_or("");
}

// `limit` of a paged listing: absent means `fallback`; otherwise decimal
// digits for 1..`max`, refused with a message naming the range.
absl::StatusOr<size_t> PageLimit(absl::string_view target, size_t fallback,
                                 size_t max) {
  std::optional<std::string> text = FindQueryParam(target, "limit");
  if (!text.has_value()) return fallback;
  size_t limit = 0;
  bool digits = !text->empty() && text->size() <= 9 &&
                std::all_of(text->begin(), text->end(), [](char c) {
                  return absl::ascii_isdigit(static_cast<unsigned char>(c));
                });
  if (!digits || !absl::SimpleAtoi(*text, &limit) || limit == 0 ||
      limit > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("'limit' must be a whole number from 1 to ", max));
  }
  return limit;
}

absl::StatusOr<std::vector<std::string>> StringArray(const json& doc, const char* name) {
  std::vector<std::string> out;
  auto it = doc.find(name);
  if (it == doc.end()) return out;
  if (!it->is_array() || it->size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' must be an array of at most 64 strings"));
  }
  for (const json& v : *it) {
    if (!v.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("'", name, "' must hold strings"));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}
}  // namespace

// ---- metrics ----

void VerifierMetrics::CountRequest(unsigned status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[status];
}

void VerifierMetrics::CountRejection(absl::string_view reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++rejections_[std::string(reason)];
}

void VerifierMetrics::CountKeyChange(absl::string_view action) {
  std::lock_guard<std::mutex> lock(mu_);
  ++key_changes_[std::string(action)];
}

void VerifierMetrics::CountEnrollment(absl::string_view outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  ++enrollments_[std::string(outcome)];
}

void VerifierMetrics::ObserveVerifySeconds(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t i = 0;
  while (i < std::size(kBucketBounds) && seconds > kBucketBounds[i]) ++i;
  ++buckets_[i];
  verify_sum_ += seconds;
  ++verify_count_;
}

std::string VerifierMetrics::Render(const Registry& registry) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out =
      "# HELP cxsec_http_requests_total HTTP requests by response status.\n"
      "# TYPE cxsec_http_requests_total counter\n";
  for (const auto& [code, n] : requests_) {
    absl::StrAppend(&out, "cxsec_http_requests_total{code=\"", code, "\"} ", n, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP cxsec_rejections_total Rejected requests or messages by reason.\n"
                  "# TYPE cxsec_rejections_total counter\n");
  for (const auto& [reason, n] : rejections_) {
    absl::StrAppend(&out, "cxsec_rejections_total{reason=\"", reason, "\"} ", n, "\n");
  }
  absl::StrAppend(
      &out,
      "# HELP cxsec_gateway_key_changes_total Gateway keys added or removed.\n"
      "# TYPE cxsec_gateway_key_changes_total counter\n");
  // Both series always exist, so an alert on a rate sees zeros, not gaps.
  for (const char* action : {"add", "remove"}) {
    auto it = key_changes_.find(action);
    absl::StrAppend(&out, "cxsec_gateway_key_changes_total{action=\"", action,
                    "\"} ", it == key_changes_.end() ? 0 : it->second, "\n");
  }
  absl::StrAppend(
      &out,
      "# HELP cxsec_enrollment_challenges_total Enrolment challenges issued, "
      "and enrolment requests refused, by outcome.\n"
      "# TYPE cxsec_enrollment_challenges_total counter\n");
  if (enrollments_.find("issued") == enrollments_.end()) {
    absl::StrAppend(
        &out, "cxsec_enrollment_challenges_total{outcome=\"issued\"} 0\n");
  }
  for (const auto& [outcome, n] : enrollments_) {
    absl::StrAppend(&out, "cxsec_enrollment_challenges_total{outcome=\"",
                    outcome, "\"} ", n, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP cxsec_verify_seconds Gateway token verification latency.\n"
                  "# TYPE cxsec_verify_seconds histogram\n");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < std::size(kBucketBounds); ++i) {
    cumulative += buckets_[i];
    absl::StrAppend(&out, "cxsec_verify_seconds_bucket{le=\"",
                    absl::StrFormat("%g", kBucketBounds[i]), "\"} ", cumulative, "\n");
  }
  cumulative += buckets_.back();
  absl::StrAppend(&out, "cxsec_verify_seconds_bucket{le=\"+Inf\"} ", cumulative, "\n",
                  "cxsec_verify_seconds_sum ", absl::StrFormat("%.9f", verify_sum_), "\n",
                  "cxsec_verify_seconds_count ", verify_count_, "\n");
  uint64_t hits = registry.cache_hits();
  uint64_t misses = registry.cache_misses();
  double ratio = hits + misses == 0 ? 0.0 : static_cast<double>(hits) / (hits + misses);
  absl::StrAppend(
      &out,
      "# HELP cxsec_registry_cache_hit_ratio Registry cache hits / lookups.\n"
      "# TYPE cxsec_registry_cache_hit_ratio gauge\n",
      "cxsec_registry_cache_hit_ratio ", absl::StrFormat("%.6f", ratio), "\n",
      "# TYPE cxsec_registry_cache_lookups_total counter\n",
      "cxsec_registry_cache_lookups_total{result=\"hit\"} ", hits, "\n",
      "cxsec_registry_cache_lookups_total{result=\"miss\"} ", misses, "\n",
      "# HELP cxsec_registry_change_feed_healthy 1 while the registry's "
      "change feed (the etcd watch) is in place, else 0 (then /healthz and "
      "telemetry answer 503).\n"
      "# TYPE cxsec_registry_change_feed_healthy gauge\n",
      "cxsec_registry_change_feed_healthy ",
      registry.ChangeFeedHealthy() ? 1 : 0, "\n",
      "# TYPE cxsec_messages_total counter\n",
      "cxsec_messages_total{outcome=\"accepted\"} ", accepted_.load(), "\n",
      "cxsec_messages_total{outcome=\"duplicate\"} ", duplicates_.load(), "\n",
      "cxsec_messages_total{outcome=\"conflict\"} ", conflicts_.load(), "\n",
      "cxsec_messages_total{outcome=\"retry\"} ", retries_.load(), "\n");
  for (const auto& render : exporters_) out += render();
  return out;
}

// ---- service ----

VerifierService::VerifierService(Registry* registry, Iam* iam,
                                 GatewayTokenVerifier* tokens, TelemetrySink* sink,
                                 const Clock* clock)
    : registry_(registry), iam_(iam), tokens_(tokens), sink_(sink), clock_(clock) {
  AddRoutes();
}

VerifierService::~VerifierService() {
  std::unique_lock<std::mutex> lock(owed_mu_);
  owed_cv_.wait(lock, [&] { return owed_answers_ == 0; });
}

void VerifierService::Handle(const HttpRequest& request, HttpResponder respond) {
  HttpResponder counted = [this, respond = std::move(respond)](HttpResponse r) {
    metrics_.CountRequest(r.result_int());
    respond(std::move(r));
  };
  Dispatch(request, counted);
}

void VerifierService::Dispatch(const HttpRequest& request, const HttpResponder& respond) {
  absl::string_view target = Sv(request.target());
  absl::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string> segments =
      absl::StrSplit(path, '/', absl::SkipEmpty());
  const Route* route = nullptr;
  bool path_matched = false;
  std::vector<std::string> params;
  for (const Route& r : routes_) {
    if (r.pattern.size() != segments.size()) continue;
    std::vector<std::string> captured;
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      if (r.pattern[i] == "*") {
        captured.push_back(segments[i]);
      } else {
        match = r.pattern[i] == segments[i];
      }
    }
    if (!match) continue;
    path_matched = true;
    if (r.method == request.method()) {
      route = &r;
      params = std::move(captured);
      break;
    }
  }
  if (route == nullptr) {
    metrics_.CountRejection(path_matched ? "method_not_allowed" : "not_found");
    return respond(path_matched ? JsonError(request, 405, "method_not_allowed",
                                            "method not allowed on this path")
                                : JsonError(request, 404, "not_found", "no such route"));
  }
  // Telemetry is judged on registry state (the gateway's keys and block,
  // each device's project and bindings), read through caches that only a
  // working change feed keeps true: without it, a key revoked or a gateway
  // blocked through another instance could still pass here. Checked before
  // authentication, which reads the same caches; the gateway keeps the
  // batch and sends it again.
  if (route->telemetry && !registry_->ChangeFeedHealthy()) {
    metrics_.CountRejection(kRegistryCatchingUp);
    HttpResponse r = JsonError(request, 503, kRegistryCatchingUp,
                               kRegistryCatchingUpMessage);
    r.set(http::field::retry_after, "1");
    return respond(std::move(r));
  }
  Caller caller;
  if (route->permission.has_value()) {
    absl::string_view auth = Sv(request[http::field::authorization]);
    if (!absl::StartsWith(auth, "Bearer ") || auth.size() <= 7) {
      metrics_.CountRejection("missing_credentials");
      HttpResponse r = JsonError(request, 401, "unauthenticated",
                                 "Authorization: Bearer <API key or gateway JWT> required");
      r.set(http::field::www_authenticate, "Bearer");
      return respond(std::move(r));
    }
    absl::string_view credential = auth.substr(7);
    if (absl::StartsWith(credential, "cxk_")) {
      absl::StatusOr<Principal> principal = iam_->Authenticate(credential);
      if (!principal.ok()) {
        metrics_.CountRejection("invalid_api_key");
        return respond(StatusError(request, principal.status()));
      }
      caller.principal = *principal;
    } else {
      if (*route->permission != Permission::kTelemetryWrite) {
        // Checked before verifying: a gateway token can only ever post
        // telemetry, so there is nothing to gain from verifying it here.
        metrics_.CountRejection("gateway_token_not_allowed");
        return respond(JsonError(request, 403, "permission_denied",
                                 "gateway tokens may only post telemetry"));
      }
      auto start = std::chrono::steady_clock::now();
      GatewayAuthResult result = tokens_->Verify(credential);
      metrics_.ObserveVerifySeconds(std::chrono::duration<double>(
                                        std::chrono::steady_clock::now() - start)
                                        .count());
      if (!result.status.ok()) {
        metrics_.CountRejection(result.reason);
        HttpResponse r = JsonError(request, HttpStatusFor(result.status),
                                   result.reason, result.status.message());
        return respond(std::move(r));
      }
      caller.principal = Principal{result.gateway.id, Role::kGateway};
      caller.gateway = std::move(result.gateway);
    }
    // Telemetry is posted by a gateway, as itself, and nobody else: an API
    // key never reaches the handler, whatever permissions its role has.
    if (route->telemetry && (caller.principal.role != Role::kGateway ||
                             caller.gateway.id.empty())) {
      metrics_.CountRejection("gateway_token_required");
      return respond(
          JsonError(request, 403, "gateway_token_required",
                    "POST /v1/telemetry takes a gateway JWT "
                    "(Authorization: Bearer <JWT>), not an API key"));
    }
    if (!RoleHas(caller.principal.role, *route->permission)) {
      metrics_.CountRejection("permission_denied");
      return respond(JsonError(request, 403, "permission_denied",
                               absl::StrCat("role '", RoleName(caller.principal.role),
                                            "' lacks permission '",
                                            PermissionName(*route->permission), "'")));
    }
  }
  if (route->telemetry) return Telemetry(request, caller, respond);
  respond(route->handler(request, params, caller));
}

void VerifierService::Telemetry(const HttpRequest& request, const Caller& caller,
                                const HttpResponder& respond) {
  absl::string_view type = Sv(request[http::field::content_type]);
  if (!absl::StartsWithIgnoreCase(type, "application/json")) {
    metrics_.CountRejection("unsupported_media_type");
    return respond(JsonError(request, 415, "unsupported_media_type",
                             "Content-Type must be application/json"));
  }
  absl::StatusOr<std::vector<TelemetryWireMessage>> batch =
      DecodeTelemetryBatch(request.body());
  if (!batch.ok()) {
    metrics_.CountRejection("malformed_batch");
    return respond(StatusError(request, batch.status()));
  }
  const Gateway& gateway = caller.gateway;
  std::vector<TelemetryResult> results;
  results.reserve(batch->size());
  std::vector<LogRecord> records;
  std::vector<size_t> record_index;  // results[] slot for each record
  struct SealedRecord {
    size_t record;  // index into records
    std::string device_id;
    uint32_t epoch;
    uint32_t sequence;
    std::array<uint8_t, seal::kTagSize> tag;
    std::string transport;  // for its receipt
    std::shared_ptr<const SealDeviceKeys> keys;  // to make it with
  };
  std::vector<SealedRecord> sealed_records;
  int64_t received_ms = absl::ToUnixMillis(clock_->Now());
  uint64_t retries = 0;
  for (const TelemetryWireMessage& m : *batch) {
    TelemetryResult result{m.device_id, m.message_id,
                           TelemetryVerdict::kAccepted, ""};
    absl::StatusOr<Device> device = registry_->GetDevice(m.device_id);
    std::string rejection;
    if (!device.ok()) {
      if (absl::IsNotFound(device.status())) {
        rejection = "unknown_device";
      } else if (absl::IsInvalidArgument(device.status())) {
        rejection = "invalid_device_id";
      } else {
        // A registry that cannot answer now (etcd down or slow, SQLite
        // locked, a stored record that does not decode) decides nothing
        // about the message: the gateway keeps it and sends it again.
        ++retries;
        result.verdict = TelemetryVerdict::kRetry;
        result.reason = "registry_unavailable";
      }
    } else if (device->project != gateway.project) {
      rejection = "device_not_in_project";
    } else if (!device->gateways.empty() &&
               std::find(device->gateways.begin(), device->gateways.end(),
                         gateway.id) == device->gateways.end()) {
      rejection = "device_not_bound_to_gateway";
    }
    // Sealed readings: checked end to end, whatever the gateway did.
    std::optional<SealCheck> sealed;
    if (rejection.empty() && result.verdict == TelemetryVerdict::kAccepted &&
        device->seal != SealPolicy::kOff) {
      Bytes envelope;
      if (IsSealedPayload(m.payload_json, &envelope)) {
        if (seal_ == nullptr) {
          rejection = "seal_not_configured";
        } else {
          sealed = seal_->Check(m.device_id, m.transport, m.message_id, envelope);
          if (sealed->retry) {
            // The shared counter state could not be read: nothing decided.
            ++retries;
            result.verdict = TelemetryVerdict::kRetry;
            result.reason = "storage_unavailable";
          } else if (!sealed->rejection.empty()) {
            rejection = sealed->rejection;
            if (rejection == "seal_tag_mismatch") CountBadSealTag(gateway);
          } else if (sealed->verdict == seal::SealVerdict::kDuplicate) {
            // The same sealed bytes again (an honest retry, or a replay
            // under another message id): stored once already.
            metrics_.CountDuplicates(1);
            result.verdict = TelemetryVerdict::kDuplicate;
            result.receipt = SealAuthority::Receipt(
                sealed->keys.get(), m.transport, sealed->sequence,
                seal::ReceiptVerdict::kDuplicate);
          } else if (sealed->verdict != seal::SealVerdict::kAccepted) {
            rejection = seal::SealVerdictName(sealed->verdict);
          }
        }
      } else if (device->seal == SealPolicy::kRequired) {
        rejection = "seal_required";
      }
      if (rejection == "sequence_reused") {
        // Other bytes under a used sequence: only the node's key makes a
        // valid tag, so this is an alarm, not a gateway fault.
        absl::Status audited = registry_->Audit(
            gateway.id, "telemetry.seal_sequence_reused",
            absl::StrCat(m.device_id, "/", sealed->dedup_message_id));
        if (!audited.ok()) {
          std::fprintf(stderr, "cxsec-verifier: cannot audit: %s\n",
                       std::string(audited.message()).c_str());
        }
      }
    }
    if (!rejection.empty()) {
      metrics_.CountRejection(rejection);
      result.verdict = TelemetryVerdict::kRejected;
      result.reason = std::move(rejection);
    } else if (result.verdict == TelemetryVerdict::kAccepted) {
      // The payload's hash goes with its dedup key: the same ids with
      // another payload are a conflict, not a duplicate.
      Sha256Digest digest = Sha256(AsBytes(m.payload_json));
      json line = {{"gatewayId", gateway.id},
                   {"project", gateway.project},
                   {"deviceId", m.device_id},
                   {"messageId", m.message_id},
                   {"timestamp", m.timestamp_ms},
                   {"receivedAt", received_ms},
                   {"payloadSha256", HexEncode(ByteView(digest))}};
      // A sealed reading is deduplicated by (device, epoch, sequence), never
      // by the message id its gateway chose.
      std::string dedup_id = m.message_id;
      std::string text = line.dump();
      // Splice the already-validated payload (and a sealed reading's
      // fields) in without building or re-parsing JSON for them.
      text.pop_back();
      if (sealed.has_value()) {
        SealAuthority::AppendLogFields(*sealed, &text);
        dedup_id = sealed->dedup_message_id;
      }
      absl::StrAppend(&text, ",\"payload\":", m.payload_json, "}");
      records.push_back(LogRecord{DedupKey(m.device_id, dedup_id),
                                  std::move(text), digest, gateway.project,
                                  m.device_id, m.message_id});
      record_index.push_back(results.size());
      if (sealed.has_value()) {
        records.back().seal =
            SealedFields{sealed->epoch, sealed->sequence, sealed->tag};
        sealed_records.push_back(SealedRecord{
            records.size() - 1, m.device_id, sealed->epoch, sealed->sequence,
            sealed->tag, m.transport, std::move(sealed->keys)});
      }
    }
    results.push_back(std::move(result));
  }
  metrics_.CountRetries(retries);
  if (records.empty()) {
    return respond(JsonResponse(request, 200, EncodeTelemetryResults(results)));
  }
  // The request is not touched after AppendAsync: the answer is built from
  // a copy of its version and keep-alive flag on the sink's thread.
  HttpRequest shell{request.method(), "/", request.version()};
  shell.keep_alive(request.keep_alive());
  {
    std::lock_guard<std::mutex> lock(owed_mu_);
    ++owed_answers_;
  }
  sink_->AppendAsync(
      std::move(records),
      [this, shell = std::move(shell), results = std::move(results),
       record_index = std::move(record_index), gateway_id = gateway.id,
       sealed_records = std::move(sealed_records), respond](
          absl::StatusOr<std::vector<TelemetrySink::Outcome>> outcomes) mutable {
        if (!outcomes.ok()) {
          metrics_.CountRejection("storage_unavailable");
          respond(JsonError(shell, 503, "storage_unavailable",
                            "telemetry could not be stored; retry later"));
        } else {
          uint64_t accepted = 0;
          uint64_t duplicates = 0;
          uint64_t retries = 0;
          std::vector<size_t> conflicts;
          for (size_t i = 0; i < outcomes->size(); ++i) {
            TelemetryResult& result = results[record_index[i]];
            switch ((*outcomes)[i]) {
              case TelemetrySink::Outcome::kStored:
                ++accepted;
                break;
              case TelemetrySink::Outcome::kDuplicate:
                ++duplicates;
                result.verdict = TelemetryVerdict::kDuplicate;
                break;
              case TelemetrySink::Outcome::kConflict:
                conflicts.push_back(record_index[i]);
                result.verdict = TelemetryVerdict::kConflict;
                result.reason = "payload_differs";
                break;
              // Not final: the gateway keeps the message and sends it
              // again (docs/VERIFIER_API.md, docs/SCALE_OUT.md).
              case TelemetrySink::Outcome::kNotReplicated:
                ++retries;
                result.verdict = TelemetryVerdict::kRetry;
                result.reason = "replication_unconfirmed";
                break;
              case TelemetrySink::Outcome::kStoreFailed:
                ++retries;
                result.verdict = TelemetryVerdict::kRetry;
                result.reason = "storage_unavailable";
                break;
              // Sealed readings with shared counter state (Redis sink):
              // another instance moved the device's state past this one.
              case TelemetrySink::Outcome::kReplayedSequence:
              case TelemetrySink::Outcome::kStaleEpoch: {
                const char* reason =
                    (*outcomes)[i] == TelemetrySink::Outcome::kStaleEpoch
                        ? "stale_epoch"
                        : "replayed_sequence";
                metrics_.CountRejection(reason);
                result.verdict = TelemetryVerdict::kRejected;
                result.reason = reason;
                break;
              }
            }
          }
          // The counter state advances only for sealed readings now
          // durable; a same-sequence conflict is a reused sequence.
          for (const SealedRecord& s : sealed_records) {
            TelemetrySink::Outcome outcome = (*outcomes)[s.record];
            // The check said "accepted"; any other answer means the shared
            // state (if any) moved on: reload it next time.
            if (outcome != TelemetrySink::Outcome::kStored) {
              seal_->ForgetCached(s.device_id);
            }
            if (outcome == TelemetrySink::Outcome::kStored ||
                outcome == TelemetrySink::Outcome::kDuplicate) {
              if (outcome == TelemetrySink::Outcome::kStored) {
                seal_->Commit(s.device_id, s.epoch, s.sequence, s.tag);
              }
              // The verifier holds it: a receipt goes back to the node.
              results[record_index[s.record]].receipt = SealAuthority::Receipt(
                  s.keys.get(), s.transport, s.sequence,
                  outcome == TelemetrySink::Outcome::kStored
                      ? seal::ReceiptVerdict::kAccepted
                      : seal::ReceiptVerdict::kDuplicate);
            } else if (outcome == TelemetrySink::Outcome::kConflict) {
              TelemetryResult& result = results[record_index[s.record]];
              result.verdict = TelemetryVerdict::kRejected;
              result.reason = "sequence_reused";
              metrics_.CountRejection("sequence_reused");
              conflicts.erase(std::remove(conflicts.begin(), conflicts.end(),
                                          record_index[s.record]),
                              conflicts.end());
            }
          }
          metrics_.CountAccepted(accepted);
          metrics_.CountRetries(retries);
          metrics_.CountDuplicates(duplicates);
          if (!conflicts.empty())
            AuditConflicts(gateway_id, results, conflicts);
          respond(JsonResponse(shell, 200, EncodeTelemetryResults(results)));
        }
        // Last touch of `this`: the destructor may go ahead once it sees 0.
        std::lock_guard<std::mutex> lock(owed_mu_);
        if (--owed_answers_ == 0) owed_cv_.notify_all();
      });
}

void VerifierService::SetSealAuthority(SealAuthority* seal,
                                       uint64_t max_bad_tags_per_gateway) {
  seal_ = seal;
  max_bad_seal_tags_ = max_bad_tags_per_gateway;
  if (seal != nullptr) {
    metrics_.AddExporter([seal] { return seal->RenderMetrics(); });
  }
}

void VerifierService::CountBadSealTag(const Gateway& gateway) {
  if (max_bad_seal_tags_ == 0) return;
  {
    std::lock_guard<std::mutex> lock(bad_tags_mu_);
    if (++bad_seal_tags_[gateway.id] != max_bad_seal_tags_ + 1) return;
  }
  // Only a gateway that alters or forges readings makes tags fail: stop
  // taking anything from it until an operator looks (PUT enabled=true).
  absl::Status disabled =
      registry_->SetGatewayEnabled("cxsec-verifier", gateway.id, false);
  absl::Status audited = registry_->Audit(
      "cxsec-verifier", "gateway.auto_disabled",
      absl::StrCat(gateway.id, ": more than ", max_bad_seal_tags_,
                   " sealed readings with a bad tag"));
  std::fprintf(stderr,
               "cxsec-verifier: gateway %s disabled: more than %llu sealed "
               "readings with a bad tag%s%s\n",
               gateway.id.c_str(),
               static_cast<unsigned long long>(max_bad_seal_tags_),
               disabled.ok() ? "" : "; disabling failed: ",
               disabled.ok() ? "" : std::string(disabled.message()).c_str());
  (void)audited;
}

void VerifierService::AuditConflicts(
    const std::string& gateway_id, const std::vector<TelemetryResult>& results,
    const std::vector<size_t>& conflicts) {
  metrics_.CountConflicts(conflicts.size());
  // One audit record per request, not per message: a gateway that sends
  // many conflicting ids cannot flood the audit log or the registry.
  const TelemetryResult& first = results[conflicts.front()];
  std::string target = absl::StrCat(first.device_id, "/", first.message_id);
  if (conflicts.size() > 1)
    absl::StrAppend(&target, " and ", conflicts.size() - 1, " more");
  absl::Status audited =
      registry_->Audit(gateway_id, "telemetry.conflict", target);
  if (!audited.ok()) {
    std::fprintf(
        stderr, "cxsec-verifier: cannot audit a telemetry conflict of %s: %s\n",
        gateway_id.c_str(), std::string(audited.message()).c_str());
  }
}

HttpResponse VerifierService::AddGatewayKey(const HttpRequest& r,
                                            const std::string& gateway_id,
                                            const Caller& c) {
  auto refuse = [&](unsigned status, absl::string_view reason,
                    absl::string_view message) {
    metrics_.CountEnrollment(reason);
    return JsonError(r, status, reason, message);
  };
  absl::StatusOr<json> body = ParseJsonBody(r);
  if (!body.ok()) return BodyError(r, body.status());
  if (absl::Status id = CheckGatewayId(gateway_id); !id.ok())
    return StatusError(r, id);
  absl::StatusOr<std::string> pem = StringMember(*body, "publicKeyPem");
  if (!pem.ok()) return StatusError(r, pem.status());
  std::optional<int64_t> expires;
  auto e = body->find("expiresAt");
  if (e != body->end() && !e->is_null()) {
    if (!e->is_number_integer()) {
      return StatusError(r, absl::InvalidArgumentError(
                                "'expiresAt' must be unix seconds or null"));
    }
    expires = e->get<int64_t>();
  }
  auto proof = body->find("proof");
  if (proof == body->end() || proof->is_null()) {
    return refuse(400, "proof_missing",
                  "'proof' is required: a JWS signed by the new key over a "
                  "challenge from POST /v1/gateways/{id}/enrollment-challenge "
                  "(cxsec jwt enroll-proof)");
  }
  if (!proof->is_string()) {
    return refuse(400, "proof_invalid",
                  "'proof' must be a string (a compact JWS)");
  }
  if (pem->size() > 8192) {
    return StatusError(
        r, absl::InvalidArgumentError("publicKeyPem: longer than 8192 bytes"));
  }
  absl::StatusOr<JwtPublicKey> key = JwtPublicKey::FromSpkiPem(*pem);
  if (!key.ok()) {
    return StatusError(r, absl::InvalidArgumentError(absl::StrCat(
                              "publicKeyPem: ", key.status().message())));
  }
  absl::StatusOr<VerifiedEnrollmentProof> verified = VerifyEnrollmentProof(
      proof->get_ref<const std::string&>(),
      std::make_shared<const JwtPublicKey>(std::move(*key)), gateway_id,
      *clock_);
  if (!verified.ok()) {
    return refuse(400, "proof_invalid",
                  absl::StrCat("proof: ", verified.status().message()));
  }
  absl::StatusOr<std::string> kid =
      registry_->AddGatewayKey(c.principal.id, *verified, expires);
  if (!kid.ok()) {
    if (std::optional<std::string> reason = ApiReasonOf(kid.status()))
      metrics_.CountEnrollment(*reason);
    return StatusError(r, kid.status());
  }
  metrics_.CountKeyChange("add");
  return Ok(r, json{{"kid", *kid}}, 201);
}

void VerifierService::AddRoutes() {
  using V = http::verb;
  using P = Permission;
  auto add = [this](V method, absl::string_view pattern, std::optional<P> permission,
                    RouteHandler handler) {
    routes_.push_back(Route{method, absl::StrSplit(pattern, '/', absl::SkipEmpty()),
                            permission, std::move(handler)});
  };
  // A load balancer takes an instance whose registry feed is down out of
  // rotation; telemetry sent to it anyway is answered 503 (Dispatch).
  add(V::get, "/healthz", std::nullopt,
      [this](const HttpRequest& r, const auto&, const Caller&) {
        if (!registry_->ChangeFeedHealthy()) {
          return JsonError(r, 503, kRegistryCatchingUp,
                           kRegistryCatchingUpMessage);
        }
        return Ok(r, json{{"status", "ok"}});
      });
  add(V::get, "/metrics", P::kMetricsRead,
      [this](const HttpRequest& r, const auto&, const Caller&) {
        HttpResponse res{http::status::ok, r.version()};
        res.set(http::field::content_type, "text/plain; version=0.0.4");
        res.body() = metrics_.Render(*registry_);
        res.keep_alive(r.keep_alive());
        return res;
      });
  add(V::post, "/v1/telemetry", P::kTelemetryWrite, nullptr);
  routes_.back().telemetry = true;

  // Projects.
  add(V::get, "/v1/projects", P::kRegistryRead,
      [this](const HttpRequest& r, const auto&, const Caller&) {
        absl::StatusOr<std::vector<Project>> list = registry_->ListProjects();
        if (!list.ok()) return StatusError(r, list.status());
        json items = json::array();
        for (const Project& p : *list) items.push_back(ToJson(p));
        return Ok(r, json{{"projects", items}});
      });
  add(V::post, "/v1/projects", P::kRegistryWrite,
      [this](const HttpRequest& r, const auto&, const Caller& c) {
        absl::StatusOr<json> body = ParseJsonBody(r);
        if (!body.ok()) return BodyError(r, body.status());
        absl::StatusOr<std::string> id = StringMember(*body, "id");
        if (!id.ok()) return StatusError(r, id.status());
        Project p{*id, body->value("name", "")};
        absl::Status s = registry_->CreateProject(c.principal.id, p);
        return s.ok() ? Ok(r, ToJson(p), 201) : StatusError(r, s);
      });
  add(V::get, "/v1/projects/*", P::kRegistryRead,
      [this](const HttpRequest& r, const auto& params, const Caller&) {
        absl::StatusOr<Project> p = registry_->GetProject(params[0]);
        return p.ok() ? Ok(r, ToJson(*p)) : StatusError(r, p.status());
      });
  add(V::put, "/v1/projects/*", P::kRegistryWrite,
      [this](const HttpRequest& r, const auto& params, const Caller& c) {
        absl::StatusOr<json> body = ParseJsonBody(r);
        if (!body.ok()) return BodyError(r, body.status());
        Project p{params[0], body->value("name", "")};
        absl::Status s = registry_->UpdateProject(c.principal.id, p);
        return s.ok() ? Ok(r, ToJson(p)) : StatusError(r, s);
      });
  add(V::delete_, "/v1/projects/*", P::kRegistryWrite,
      [this](const HttpRequest& r, const auto& params, const Caller& c) {
        absl::Status s = registry_->DeleteProject(c.principal.id, params[0]);
        return s.ok() ? Ok(r, json{{"deleted", params[0]}}) : StatusError(r, s);
      });

  // Gateways and keys.
  add(V::get, "/v1/gateways", P::kRegistryRead,
      [this](const HttpRequest& r, const auto&, const Caller&) {
        absl::StatusOr<std::vector<Gateway>> list =
            registry_->ListGateways(QueryParam(Sv(r.target()), "project"));
        if (!list.ok()) return StatusError(r, list.status());
        json items = json::array();
        for (const Gateway& g : *list) items.push_back(ToJson(g));
        return Ok(r, json{{"gateways", items}});
      });
  add(V::post, "/v1/gateways", P::kRegistryWrite,
      [this](const HttpRequest& r, const auto&, const Caller& c) {
        absl::StatusOr<json> body = ParseJsonBody(r);
        if (!body.ok()) return BodyError(r, body.status());
        absl::StatusOr<std::string> id = StringMember(*body, "id");
        if (!id.ok()) return StatusError(r, id.status());
        absl::StatusOr<std::string> project = StringMember(*body, "project");
        if (!project.ok()) return StatusError(r, project.status());
        auto enabled = body->find("enabled");
        if (enabled != body->end() && !enabled->is_boolean()) {
          return StatusError(r, absl::InvalidArgumentError("'enabled' must be a boolean"));
        }
        Gateway g{*id, *project, enabled == body->end() ? true : enabled->get<bool>(), {}};
        absl::Status s = registry_->CreateGateway(c.principal.id, g);
        return s.ok() ? Ok(r, ToJson(g), 201) : StatusError(r, s);
      });
  add(V::get, "/v1/gateways/*", P::kRegistryRead,
      [this](const HttpRequest& r, const auto& params, const Caller&) {
        absl::StatusOr<Gateway> g = registry_->GetGateway(params[0]);
        return g.ok() ? Ok(r, ToJson(*g)) : StatusError(r, g.status());
      });
  add(V::put, "/v1/gateways/*", P::kRegistryWrite,
      [this](const HttpRequest& r, const auto& params, const Caller& c) {
        absl::StatusOr<json> body = ParseJsonBody(r);
        if (!body.ok()) return BodyError(r, body.status());
        auto enabled = body->find("enabled");
        if (enabled == body->end() || !enabled->is_boolean()) {
          return StatusError(r, absl::InvalidArgumentError("'enabled' must be a boolean"));
        }
        absl::Status s =
            registry_->SetGatewayEnabled(c.principal.id, params[0], enabled->get<bool>());
        if (!s.ok()) return StatusError(r, s);
        absl::StatusOr<Gateway> g = registry_->GetGateway(params[0]);
        return g.ok() ? Ok(r, ToJson(*g)) : StatusError(r, g.status());
      });
  add(V::delete_, "/v1/gateways/*", P::kRegistryWrite,
      [this](const HttpRequest& r, const auto& params, const Caller& c) {
        absl::Status s = registry_->DeleteGateway(c.principal.id, params[0]);
        return s.ok() ? Ok(r, json{{"deleted", params[0]}}) : StatusError(r, s);
      });
  add(V::post, "/v1/gateways/*/enrollment-challenge", P::kGatewayEnroll,
      [this](const HttpRequest& r, const auto& params, const Caller& c) {
        absl::StatusOr<EnrollmentChallenge> challenge =
            registry_->IssueEnrollmentChallenge(c.principal.id, params[0]);
        if (!challenge.ok()) {
          if (std::optional<std::string> reason =
                  ApiReasonOf(challenge.status()))
            metrics_.CountEnrollment(*reason);
          return StatusError(r, challenge.status());
        }
        metrics_.CountEnrollment("issued");
        return Ok(r,
                  json{{"gatewayId", challenge->gateway_id},
                       {"nonce", challenge->nonce},
                       {"expiresAt", challenge->expires_at},
                       {"audience", std::string(kEnrollmentProofAudience)}},
                  201);
      });
  add(V::post, "/v1/gateways/*/keys", P::kGatewayEnroll,
      [this](const HttpRequest& r, const auto& params, const Caller& c) {
        return AddGatewayKey(r, params[0], c);
      });
  add(V::delete_, "/v1/gateways/*/keys/*", P::kRegistryWrite,
      [this](const HttpRequest& r, const auto& params, const Caller& c) {
        absl::Status s = registry_->RemoveGatewayKey(c.principal.id, params[0], params[1]);
        if (!s.ok()) return StatusError(r, s);
        metrics_.CountKeyChange("remove");
        return Ok(r, json{{"deleted", params[1]}});
      });

  // Devices.
  auto device_from = [](const json& body, std::string id) -> absl::StatusOr<Device> {
    absl::StatusOr<std::string> project = StringMember(body, "project");
    if (!project.ok()) return project.status();
    absl::StatusOr<std::vector<std::string>> gateways = StringArray(body, "gateways");
    if (!gateways.ok()) return gateways.status();
    SealPolicy seal = SealPolicy::kOff;
    if (body.contains("seal")) {
      if (!body["seal"].is_string()) {
        return absl::InvalidArgumentError(
            "seal: must be \"off\", \"optional\" or \"required\"");
      }
      absl::StatusOr<SealPolicy> parsed = ParseSealPolicy(body["seal"].get<std::string>());
      if (!parsed.ok()) return parsed.status();
      seal = *parsed;
    }
    return Device{std::move(id), *project, *gateways, seal};
  };
  add(V::get, "/v1/devices", P::kRegistryRead,
      [this](const HttpRequest& r, const auto&, const Caller&) {
        absl::StatusOr<std::vector<Device>> list =
            registry_->ListDevices(QueryParam(Sv(r.target()), "project"));
        if (!list.ok()) return StatusError(r, list.status());
        json items = json::array();
        for (const Device& d : *list) items.push_back(ToJson(d));
        return Ok(r, json{{"devices", items}});
      });
  add(V::post, "/v1/devices", P::kRegistryWrite,
      [this, device_from](const HttpRequest& r, const auto&, const Caller& c) {
        absl::StatusOr<json> body = ParseJsonBody(r);
        if (!body.ok()) return BodyError(r, body.status());
        absl::StatusOr<std::string> id = StringMember(*body, "id");
        if (!id.ok()) return StatusError(r, id.status());
        absl::StatusOr<Device> d = device_from(*body, *id);
        if (!d.ok()) return StatusError(r, d.status());
        absl::Status s = registry_->CreateDevice(c.principal.id, *d);
        return s.ok() ? Ok(r, ToJson(*d), 201) : StatusError(r, s);
      });
  add(V::get, "/v1/devices/*", P::kRegistryRead,
      [this](const HttpRequest& r, const auto& params, const Caller&) {
        absl::StatusOr<Device> d = registry_->GetDevice(params[0]);
        if (!d.ok()) return StatusError(r, d.status());
        json body = ToJson(*d);
        // Sealed readings: the counter state the verifier keeps (epoch,
        // highest sequence, gaps: readings a gateway may have dropped).
        if (seal_ != nullptr) body["sealState"] = seal_->DeviceState(d->id);
        return Ok(r, body);
      });
  add(V::put, "/v1/devices/*", P::kRegistryWrite,
      [this, device_from](const HttpRequest& r, const auto& params, const Caller& c) {
        absl::StatusOr<json> body = ParseJsonBody(r);
        if (!body.ok()) return BodyError(r, body.status());
        absl::StatusOr<Device> d = device_from(*body, params[0]);
        if (!d.ok()) return StatusError(r, d.status());
        absl::Status s = registry_->UpdateDevice(c.principal.id, *d);
        return s.ok() ? Ok(r, ToJson(*d)) : StatusError(r, s);
      });
  add(V::delete_, "/v1/devices/*", P::kRegistryWrite,
      [this](const HttpRequest& r, const auto& params, const Caller& c) {
        absl::Status s = registry_->DeleteDevice(c.principal.id, params[0]);
        return s.ok() ? Ok(r, json{{"deleted", params[0]}}) : StatusError(r, s);
      });

  // IAM and audit.
  add(V::get, "/v1/principals", P::kPrincipalAdmin,
      [this](const HttpRequest& r, const auto&, const Caller&) {
        absl::StatusOr<std::vector<Principal>> list = iam_->ListPrincipals();
        if (!list.ok()) return StatusError(r, list.status());
        json items = json::array();
        for (const Principal& p : *list) {
          items.push_back({{"id", p.id}, {"role", RoleName(p.role)}});
        }
        return Ok(r, json{{"principals", items}});
      });
  add(V::post, "/v1/principals", P::kPrincipalAdmin,
      [this](const HttpRequest& r, const auto&, const Caller& c) {
        absl::StatusOr<json> body = ParseJsonBody(r);
        if (!body.ok()) return BodyError(r, body.status());
        absl::StatusOr<std::string> id = StringMember(*body, "id");
        if (!id.ok()) return StatusError(r, id.status());
        absl::StatusOr<std::string> role_name = StringMember(*body, "role");
        if (!role_name.ok()) return StatusError(r, role_name.status());
        absl::StatusOr<Role> role = ParseRole(*role_name);
        if (!role.ok()) return StatusError(r, role.status());
        absl::StatusOr<std::string> key = iam_->CreatePrincipal(c.principal.id, *id, *role);
        if (!key.ok()) return StatusError(r, key.status());
        return Ok(r, json{{"id", *id}, {"role", *role_name}, {"apiKey", *key},
                          {"note", "store this key now; it is not shown again"}},
                  201);
      });
  add(V::delete_, "/v1/principals/*", P::kPrincipalAdmin,
      [this](const HttpRequest& r, const auto& params, const Caller& c) {
        absl::Status s = iam_->DeletePrincipal(c.principal.id, params[0]);
        return s.ok() ? Ok(r, json{{"deleted", params[0]}}) : StatusError(r, s);
      });
  add(V::get, "/v1/audit", P::kAuditRead,
      [this](const HttpRequest& r, const auto&, const Caller&) {
        absl::StatusOr<size_t> limit =
            PageLimit(Sv(r.target()), kDefaultAuditPageSize, kMaxAuditPageSize);
        if (!limit.ok()) return StatusError(r, limit.status());
        std::optional<std::string> cursor =
            FindQueryParam(Sv(r.target()), "cursor");
        if (cursor.has_value() && cursor->empty()) {
          return StatusError(
              r, absl::InvalidArgumentError(
                     "'cursor' is empty; omit it for the newest entries"));
        }
        absl::StatusOr<AuditPage> page =
            registry_->ListAudit(cursor.value_or(""), *limit);
        if (!page.ok()) return StatusError(r, page.status());
        json body = {{"entries", std::move(page->entries)}};
        if (!page->next_cursor.empty()) body["nextCursor"] = page->next_cursor;
        return Ok(r, body);
      });
}

}  // namespace cxsec::verifier
