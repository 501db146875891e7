// The node's composition. A node is the sending end: its "transport" is
// the radio link to the gateway, its identity is the deployment key it was
// provisioned with, and it has no cloud uplink of its own.
#ifndef CXSEC_TARGETS_NODE_NODE_CORE_H_
#define CXSEC_TARGETS_NODE_NODE_CORE_H_

#include "core/policy/unconfigured.h"
#include "core/security_core.h"

namespace cxsec::node {

using NodeCore = SecurityCore<UnconfiguredTransport, UnconfiguredIdentity,
                              UnconfiguredUplink>;

inline constexpr char kNodeComposition[] =
    "SecurityCore<UnconfiguredTransport, UnconfiguredIdentity, "
    "UnconfiguredUplink>";

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_NODE_CORE_H_
