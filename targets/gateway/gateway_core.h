// The gateway's composition: the one place that picks its transport,
// identity and uplink policies. The seed's gateway bridges 6LoWPAN (CoAP
// over DTLS-PSK) and Mioty to the cloud over HTTPS, authenticated by a
// TPM-held key. Slots whose backend is not built yet hold Unconfigured*
// policies, which fail at Start with a message naming the slot.
#ifndef CXSEC_TARGETS_GATEWAY_GATEWAY_CORE_H_
#define CXSEC_TARGETS_GATEWAY_GATEWAY_CORE_H_

#include "core/policy/unconfigured.h"
#include "core/security_core.h"
#include "transports/uplink/https_uplink.h"

namespace cxsec::gateway {

using GatewayCore =
    SecurityCore<UnconfiguredTransport, UnconfiguredIdentity, HttpsUplink>;

inline constexpr char kGatewayComposition[] =
    "SecurityCore<UnconfiguredTransport, UnconfiguredIdentity, HttpsUplink>";

}  // namespace cxsec::gateway

#endif  // CXSEC_TARGETS_GATEWAY_GATEWAY_CORE_H_
