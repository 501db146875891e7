// The cloud verifier's composition: its "transport" is HTTPS ingest from
// gateways (JWT-authenticated), its identity is its TLS server key, and its
// "uplink" is the durable sinks (NDJSON log, webhooks) behind it.
#ifndef CXSEC_TARGETS_VERIFIER_VERIFIER_CORE_H_
#define CXSEC_TARGETS_VERIFIER_VERIFIER_CORE_H_

#include "core/policy/unconfigured.h"
#include "core/security_core.h"

namespace cxsec::verifier {

using VerifierCore = SecurityCore<UnconfiguredTransport, UnconfiguredIdentity,
                                  UnconfiguredUplink>;

inline constexpr char kVerifierComposition[] =
    "SecurityCore<UnconfiguredTransport, UnconfiguredIdentity, "
    "UnconfiguredUplink>";

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_VERIFIER_CORE_H_
