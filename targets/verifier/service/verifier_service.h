// The verifier's HTTP API (docs/VERIFIER_API.md): registry CRUD, IAM,
// audit, POST /v1/telemetry, /healthz and /metrics. Each route declares the
// permission it needs; callers authenticate with an API key
// ("Authorization: Bearer cxk_...") or, for telemetry only, a gateway JWT.
#ifndef CXSEC_TARGETS_VERIFIER_SERVICE_VERIFIER_SERVICE_H_
#define CXSEC_TARGETS_VERIFIER_SERVICE_VERIFIER_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "targets/verifier/http/https_server.h"
#include "targets/verifier/iam/iam.h"
#include "targets/verifier/registry/registry.h"
#include "targets/verifier/service/gateway_token_verifier.h"
#include "targets/verifier/seal/seal_authority.h"
#include "targets/verifier/sinks/telemetry_sink.h"
#include "transports/uplink/telemetry_wire.h"

namespace cxsec::verifier {

// Prometheus text-format counters and a latency histogram.
class VerifierMetrics {
 public:
  void CountRequest(unsigned status);
  void CountRejection(absl::string_view reason);
  void ObserveVerifySeconds(double seconds);
  void CountAccepted(uint64_t n) { accepted_.fetch_add(n); }
  void CountDuplicates(uint64_t n) { duplicates_.fetch_add(n); }
  // Same ids, different payload: answered "conflict" and audited.
  void CountConflicts(uint64_t n) { conflicts_.fetch_add(n); }
  // Answered "retry" (the registry could not answer, or the sink could not
  // store or replicate the message).
  void CountRetries(uint64_t n) { retries_.fetch_add(n); }
  // A gateway key added or removed ("add", "remove").
  void CountKeyChange(absl::string_view action);
  // Enrolment challenges by outcome: "issued", or the reason one was not
  // issued or a key add was refused (proof_invalid, challenge_expired...).
  void CountEnrollment(absl::string_view outcome);
  std::string Render(const Registry& registry) const;
  // AddExporter appends `render`'s Prometheus text to every Render, for
  // parts outside the service (the webhook sink). Call before serving.
  void AddExporter(std::function<std::string()> render) {
    exporters_.push_back(std::move(render));
  }

 private:
  mutable std::mutex mu_;
  std::map<unsigned, uint64_t> requests_;
  std::map<std::string, uint64_t> rejections_;
  std::map<std::string, uint64_t> key_changes_;
  std::map<std::string, uint64_t> enrollments_;
  std::vector<uint64_t> buckets_ = std::vector<uint64_t>(12, 0);
  double verify_sum_ = 0;
  uint64_t verify_count_ = 0;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> duplicates_{0};
  std::atomic<uint64_t> conflicts_{0};
  std::atomic<uint64_t> retries_{0};
  std::vector<std::function<std::string()>> exporters_;
};

class VerifierService {
 public:
  VerifierService(Registry* registry, Iam* iam, GatewayTokenVerifier* tokens,
                  TelemetrySink* sink, const Clock* clock);
  // Waits for the telemetry answers still owed by the sink's thread (they
  // count into this object's metrics), so the service may be destroyed
  // before the sink or while requests are in flight.
  ~VerifierService();
  VerifierService(const VerifierService&) = delete;
  VerifierService& operator=(const VerifierService&) = delete;
  // Answers through `respond` (telemetry once its records are durable).
  void Handle(const HttpRequest& request, HttpResponder respond);
  VerifierMetrics& metrics() { return metrics_; }
  // Sealed readings (docs/SEALED_READINGS.md): `seal` checks them (null:
  // none configured, and a sealed reading of a device whose policy is not
  // "off" is refused as seal_not_configured). A gateway whose readings
  // fail their tag more than `max_bad_tags_per_gateway` times (0: never)
  // is disabled and the event audited. Call before serving.
  void SetSealAuthority(SealAuthority* seal, uint64_t max_bad_tags_per_gateway);

 private:
  struct Caller {
    Principal principal;
    Gateway gateway;  // set for gateway JWT callers
  };
  using RouteHandler = std::function<HttpResponse(
      const HttpRequest&, const std::vector<std::string>& params, const Caller&)>;
  struct Route {
    boost::beast::http::verb method;
    std::vector<std::string> pattern;  // "*" matches one segment
    std::optional<Permission> permission;  // nullopt: public
    RouteHandler handler;
    bool telemetry = false;  // answered asynchronously by Telemetry()
  };
  void AddRoutes();
  HttpResponse AddGatewayKey(const HttpRequest& request,
                             const std::string& gateway_id,
                             const Caller& caller);
  void Dispatch(const HttpRequest& request, const HttpResponder& respond);
  void Telemetry(const HttpRequest& request, const Caller& caller,
                 const HttpResponder& respond);
  // Counts one reading of `gateway_id` whose seal tag did not verify, and
  // disables the gateway once it has sent more than the limit.
  void CountBadSealTag(const Gateway& gateway);
  void AuditConflicts(const std::string& gateway_id,
                      const std::vector<TelemetryResult>& results,
                      const std::vector<size_t>& conflicts);

  Registry* registry_;
  Iam* iam_;
  GatewayTokenVerifier* tokens_;
  TelemetrySink* sink_;
  const Clock* clock_;
  VerifierMetrics metrics_;
  std::vector<Route> routes_;
  std::mutex owed_mu_;
  std::condition_variable owed_cv_;
  int owed_answers_ = 0;  // telemetry appends whose callback has not run
  SealAuthority* seal_ = nullptr;
  uint64_t max_bad_seal_tags_ = 0;
  std::mutex bad_tags_mu_;
  std::map<std::string, uint64_t> bad_seal_tags_;  // by gateway id
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SERVICE_VERIFIER_SERVICE_H_
