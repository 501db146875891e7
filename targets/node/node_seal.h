// NodeSealer: the host node's side of sealed readings
// (docs/SEALED_READINGS.md). It loads the node's .seal key file, checks
// that it is this node's, and seals each reading's CBOR with core/seal's
// one implementation (the BoringSSL backend on the host), so the gateway
// between the node and the verifier can neither forge, alter, replay nor
// (in encrypted mode) read it.
//
//   DTLS/CoAP: the envelope carries the node's own per-device sequence,
//     kept in seal_sequence_file and persisted as used BEFORE the reading
//     is sealed and sent, so a restart never reuses one (a reused sequence
//     would repeat the keystream); SealNext.
//   Mioty: the sequence is the TS-UNB packet counter of the frame that
//     carries the envelope, which MiotySender persists before sending;
//     SealWithSequence.
//
//   CXSEC_ASSIGN_OR_RETURN(std::unique_ptr<NodeSealer> sealer,
//                          OpenNodeSealer(config, seal::Transport::kDtlsCoap));
//   if (sealer) CXSEC_ASSIGN_OR_RETURN(Bytes envelope, sealer->SealNext(cbor));
#ifndef CXSEC_TARGETS_NODE_NODE_SEAL_H_
#define CXSEC_TARGETS_NODE_NODE_SEAL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "core/config/key_value_file.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/seal_receipt.h"
#include "core/seal/sealed_reading.h"

namespace cxsec::node {

// ExpectedSealReceipts: the two receipts the verifier can send back for one
// sealed reading (docs/SEALED_READINGS.md, "Receipts"), indexed by verdict
// (0 accepted, 1 duplicate), made by the node with the MAC key of the epoch
// the reading was sealed in. Kept while the reading awaits its receipt,
// they let a receipt settle it after the node moved to a later epoch and
// erased that key; they reveal nothing of the key, and open or forge no
// reading.
struct ExpectedSealReceipts {
  uint32_t epoch = 0;
  uint32_t sequence = 0;
  std::array<std::array<uint8_t, seal::kReceiptSize>, 2> by_verdict{};
};

struct NodeSealOptions {
  std::string key_file;   // the .seal file, mode 0600
  std::string device_id;  // this node's device_id: the file must be its own
  // Unset: encrypted when the file holds an encryption key, else MAC-only.
  std::optional<seal::SealMode> mode;
  seal::Transport transport = seal::Transport::kDtlsCoap;
  // DTLS/CoAP only (required there): the next sequence to use, in decimal,
  // as the Mioty counter file holds its counter. Absent file: 0.
  std::string sequence_file;
  // Move to the next key epoch on the node's own (no downlink) after this
  // many readings in one epoch: the keys are ratcheted, the .seal file is
  // rewritten with the new epoch's keys (the old ones erased), and sealing
  // goes on. 0: never.
  uint32_t epoch_readings = 0;
};

class NodeSealer {
 public:
  // Open loads the keys (refusing a file readable by others, another
  // device's file, seal_mode = encrypt without an encryption key) and, for
  // DTLS/CoAP, reads the persisted sequence.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<NodeSealer>> Open(
      NodeSealOptions options);
  NodeSealer(const NodeSealer&) = delete;
  NodeSealer& operator=(const NodeSealer&) = delete;

  // SealNext (DTLS/CoAP) takes the next sequence, persists the one after
  // it (WriteFileAtomically) and only then seals `reading`: the envelope
  // (kDtlsOverhead = 13 bytes more than the reading) for POST /t. A
  // failure to persist seals nothing.
  [[nodiscard]] absl::StatusOr<Bytes> SealNext(ByteView reading);

  // SealWithSequence (Mioty) seals `reading` under `sequence`, the full
  // 32-bit packet counter of the frame that will carry it (kMiotyOverhead
  // = 9 bytes more). The caller must persist that counter as used before
  // the envelope leaves the node (MiotySender::SendSealed does).
  [[nodiscard]] absl::StatusOr<Bytes> SealWithSequence(uint32_t sequence,
                                                       ByteView reading);

  // CheckReceipt checks one seal receipt (docs/SEALED_READINGS.md,
  // "Receipts") with this node's MAC key of its current epoch.
  [[nodiscard]] seal::SealReason CheckReceipt(ByteView bytes,
                                              seal::SealReceipt& out) const;

  // ExpectedReceipts makes the receipts the verifier can send for the
  // sealed `envelope` (DTLS/CoAP) this node just sealed, with its MAC key of
  // its current epoch: call it before the next reading is sealed, which may
  // move the node to a later epoch. nullopt when `envelope` is not one of
  // the current epoch (its header's low epoch bits differ).
  [[nodiscard]] std::optional<ExpectedSealReceipts> ExpectedReceipts(
      ByteView envelope) const;

  seal::SealMode mode() const { return mode_; }
  seal::Transport transport() const { return options_.transport; }
  uint32_t epoch() const { return keys_.epoch(); }
  // The sequence SealNext uses next (DTLS/CoAP); 2^32 when exhausted.
  uint64_t next_sequence() const { return next_sequence_; }

 private:
  explicit NodeSealer(NodeSealOptions options) : options_(std::move(options)) {}
  [[nodiscard]] absl::StatusOr<Bytes> Seal(uint32_t sequence,
                                           ByteView reading) const;
  // Ratchets to the next epoch when `sequence` is epoch_readings past the
  // current epoch's start, persisting the new keys before any use.
  [[nodiscard]] absl::Status AdvanceEpochIfDue(uint32_t sequence);

  NodeSealOptions options_;
  seal::SealMode mode_ = seal::SealMode::kMacOnly;
  seal::DeviceSealKeys<seal::BoringSslSealCrypto> keys_;
  uint64_t next_sequence_ = 0;
  uint32_t epoch_start_ = 0;  // the sequence this epoch began at
};

// SealModeName: "mac" or "encrypt", as the seal_mode key spells them.
const char* SealModeName(seal::SealMode mode);

// The node config keys for sealed readings (seal_key_file, seal_mode,
// seal_sequence_file).
std::vector<ConfigKey> NodeSealConfigKeys();
// ValidateNodeSealConfig checks them against each other and the transport.
[[nodiscard]] absl::Status ValidateNodeSealConfig(const KeyValueFile& config);
// OpenNodeSealer opens the sealer the config asks for; nullptr when it
// names no seal_key_file (readings go unsealed).
[[nodiscard]] absl::StatusOr<std::unique_ptr<NodeSealer>> OpenNodeSealer(
    const KeyValueFile& config, seal::Transport transport);

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_NODE_SEAL_H_
