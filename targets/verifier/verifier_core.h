// The cloud verifier's composition. It is the receiving end of the gateways'
// uplink, so like the node it does not host a SecurityCore; main.cc wires:
//   HttpsServer (Beast + BoringSSL)            targets/verifier/http/
//   RegistryGatewayTokenVerifier (core/jwt)    targets/verifier/service/
//   Registry on SqliteKvStore | EtcdKvStore    targets/verifier/registry/
//   IAM roles and audit log                    targets/verifier/iam/
//   TelemetryLog (+ WebhookForwarder) sinks    targets/verifier/sinks/
#ifndef CXSEC_TARGETS_VERIFIER_VERIFIER_CORE_H_
#define CXSEC_TARGETS_VERIFIER_VERIFIER_CORE_H_

namespace cxsec::verifier {

inline constexpr char kVerifierComposition[] =
    "HttpsServer + JwtVerifier + Registry(sqlite|etcd) + IAM + "
    "TelemetryLog/Webhook sinks";

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_VERIFIER_CORE_H_
