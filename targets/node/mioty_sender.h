// MiotySender: the node end of the simulated Mioty radio link. It encodes
// TS-UNB uplinks with the node's network key (core/mioty/frame.h) and sends
// each MPDU as one UDP datagram to the gateway's MiotyTransport, standing
// in for the radio and the base station.
//
// The packet counter lives in a file (the node's flash) and is advanced
// and persisted (WriteFileAtomically) before a frame leaves, so a node that
// dies and restarts never reuses a counter; a reused counter would be both
// rejected as a replay and a keystream reuse under AES-CTR.
//
//   CXSEC_ASSIGN_OR_RETURN(MiotySender sender, MiotySender::Open(config, key));
//   CXSEC_ASSIGN_OR_RETURN(uint32_t counter, sender.Send(payload));
#ifndef CXSEC_TARGETS_NODE_MIOTY_SENDER_H_
#define CXSEC_TARGETS_NODE_MIOTY_SENDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config/key_value_file.h"
#include "core/mioty/frame.h"

namespace cxsec::node {

struct MiotySenderConfig {
  mioty::Eui64 eui{};
  uint16_t short_address = 0;
  bool long_addressing = false;
  std::string gateway;       // IPv4 host:port of the gateway's transport
  std::string counter_file;  // persisted packet counter
};

class MiotySender {
 public:
  [[nodiscard]] static absl::StatusOr<MiotySender> Open(
      MiotySenderConfig config, ByteView network_key);
  MiotySender(MiotySender&&) noexcept;
  MiotySender& operator=(MiotySender&&) noexcept;
  ~MiotySender();

  // Send encodes `payload` with the next counter, persists the counter,
  // sends the frame and returns the counter it used.
  [[nodiscard]] absl::StatusOr<uint32_t> Send(ByteView payload,
                                              std::optional<uint8_t> mpf = {});

 private:
  struct Impl;
  explicit MiotySender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The node config keys for transport = mioty.
std::vector<ConfigKey> MiotyNodeConfigKeys();
// ValidateMiotyNodeConfig checks them (only when transport = mioty).
[[nodiscard]] absl::Status ValidateMiotyNodeConfig(const KeyValueFile& config);
// RunMiotyNode sends `post_count` CBOR telemetry frames ({"n": counter}),
// one every interval_seconds (post_count = 0: forever).
[[nodiscard]] absl::Status RunMiotyNode(const KeyValueFile& config);

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_MIOTY_SENDER_H_
