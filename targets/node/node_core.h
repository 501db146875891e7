// The node's composition: the one place that names what a node build is
// made of. A node is the sending end of a radio link, so it does not host a
// SecurityCore (whose Transport policy receives and whose Uplink reaches the
// cloud): it picks one sender per radio, each holding the key material the
// node was provisioned with.
//   transport = dtls  -> dtls::DtlsNode (CoAP over DTLS-PSK, over-the-air
//                        key rotation; transports/dtls/dtls_node.h)
//   transport = mioty -> MiotySender (TS-UNB frames, AES-CTR + CMAC MIC,
//                        persisted counter; targets/node/mioty_sender.h)
// Firmware integrity on the node is the boot flow in targets/node/boot/.
#ifndef CXSEC_TARGETS_NODE_NODE_CORE_H_
#define CXSEC_TARGETS_NODE_NODE_CORE_H_

namespace cxsec::node {

inline constexpr char kNodeComposition[] =
    "senders: DtlsNode (CoAP/DTLS-PSK) | MiotySender (TS-UNB); "
    "boot: MCUboot-format verifier";

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_NODE_CORE_H_
