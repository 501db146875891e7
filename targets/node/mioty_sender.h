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
// A sealed reading (docs/SEALED_READINGS.md, Mioty encoding) is sealed
// under the counter of the frame that carries it (SendSealed): the counter
// is the envelope's sequence, so the one persisted counter guards both the
// frame's keystream and the envelope's.
//
//   CXSEC_ASSIGN_OR_RETURN(MiotySender sender, MiotySender::Open(config, key));
//   CXSEC_ASSIGN_OR_RETURN(uint32_t counter, sender.Send(payload));
//   CXSEC_ASSIGN_OR_RETURN(counter, sender.SendSealed(sealer, cbor));
#ifndef CXSEC_TARGETS_NODE_MIOTY_SENDER_H_
#define CXSEC_TARGETS_NODE_MIOTY_SENDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config/key_value_file.h"
#include "core/mioty/frame.h"
#include "targets/node/node_seal.h"

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

  // SendSealed seals `reading` with `sealer` (a Mioty NodeSealer) under the
  // next counter, persists the counter and sends the frame whose payload is
  // the envelope; returns the counter (the envelope's sequence). An
  // envelope too large for a frame fails before a counter is used.
  [[nodiscard]] absl::StatusOr<uint32_t> SendSealed(
      NodeSealer& sealer, ByteView reading,
      std::optional<uint8_t> mpf = {});

  // CheckSealedFits fails, saying by how much, unless a reading of
  // `reading_size` bytes still fits this node's frames once sealed
  // (seal::kMiotyOverhead = 9 bytes more; MaxPayloadSize of the addressing).
  [[nodiscard]] absl::Status CheckSealedFits(size_t reading_size,
                                             bool has_mpf = false) const;

 private:
  // SendFrame: Send with the payload made for the counter it goes under.
  [[nodiscard]] absl::StatusOr<uint32_t> SendFrame(
      absl::FunctionRef<absl::StatusOr<Bytes>(uint32_t counter)> payload_for,
      std::optional<uint8_t> mpf);

  struct Impl;
  explicit MiotySender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The node config keys for transport = mioty.
std::vector<ConfigKey> MiotyNodeConfigKeys();
// ValidateMiotyNodeConfig checks them (only when transport = mioty).
[[nodiscard]] absl::Status ValidateMiotyNodeConfig(const KeyValueFile& config);
// RunMiotyNode sends `post_count` CBOR telemetry frames ({"n": counter}),
// one every interval_seconds (post_count = 0: forever), each sealed when
// the config names a seal_key_file.
[[nodiscard]] absl::Status RunMiotyNode(const KeyValueFile& config);

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_MIOTY_SENDER_H_
