// SealReceiptTracker: the DTLS node's side of seal receipts
// (docs/SEALED_READINGS.md, "Receipts"). It remembers which of the node's
// sealed sequences the gateway acknowledged (2.04), checks each receipt
// the gateway passes back with the node's own MAC key (the gateway cannot
// make one), and counts a sequence acknowledged more than `window` sealed
// readings ago without a receipt as "unreceipted": the gateway
// acknowledged it and then dropped it (or the verifier refused it). The
// count and the highest receipted sequence go inside every sealed reading
// ("ur", "rs"), where the gateway cannot change them.
//
// Seal epochs: when a reading is acknowledged the tracker keeps the two
// receipts the verifier can send for it (ExpectedSealReceipts, made with
// the key it was sealed with), and settles it with a receipt equal to one
// of them. So a receipt of epoch E still settles its reading after the
// node moved to E+1 and erased E's key, as long as the reading is tracked
// (awaiting, or counted unreceipted and remembered). Other receipts are
// checked with the node's key of its current epoch.
//
// In memory: a restarted node starts from zero.
//
//   SealReceiptTracker tracker(checker, expecter, /*window=*/3, log);
//   options.sealed_reading_fields = [&] { return tracker.NextReadingFields(); };
//   options.on_sealed_acknowledged = [&](ByteView e, ByteView a) {
//     tracker.OnAcknowledged(e, a);
//   };
#ifndef CXSEC_TARGETS_NODE_NODE_RECEIPTS_H_
#define CXSEC_TARGETS_NODE_NODE_RECEIPTS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/seal/seal_receipt.h"
#include "targets/node/node_seal.h"

namespace cxsec::node {

struct SealReceiptCounters {
  uint64_t acknowledged = 0;  // sealed readings answered 2.04
  uint64_t receipted = 0;     // of those, with a valid receipt
  uint64_t unreceipted = 0;   // current count ("ur")
  uint64_t bad_receipts = 0;  // wrong MAC, epoch, verdict or size: ignored
  int64_t highest_receipted = -1;  // "rs"; -1: none yet
};

class SealReceiptTracker {
 public:
  // Checker: checks one 17-byte receipt with the node's MAC key of its
  // current epoch (NodeSealer::CheckReceipt).
  using Checker =
      std::function<seal::SealReason(ByteView bytes, seal::SealReceipt& out)>;
  // Expecter: the receipts the verifier can send for a sealed envelope the
  // node just had acknowledged (NodeSealer::ExpectedReceipts); nullopt if
  // it cannot tell (its receipt is then checked by Checker).
  using Expecter =
      std::function<std::optional<ExpectedSealReceipts>(ByteView envelope)>;
  using Logger = std::function<void(const std::string& line)>;

  // `window`: readings a receipt may take to come back (at least 1).
  SealReceiptTracker(Checker check, Expecter expect, int window, Logger log);

  // NextReadingFields: called once before each sealed reading is sealed.
  // Counts the sequences whose window has passed without a receipt (and
  // logs each), then returns {"ur", count}, {"rs", highest receipted}.
  std::vector<std::pair<std::string, int64_t>> NextReadingFields();

  // OnAcknowledged: the gateway answered the sealed `envelope` 2.04 with
  // `answer` as payload (zero or more concatenated receipts).
  void OnAcknowledged(ByteView envelope, ByteView answer);

  const SealReceiptCounters& counters() const { return counters_; }

 private:
  struct Awaiting {
    uint64_t reading = 0;  // index of its reading
    std::optional<ExpectedSealReceipts> expected;
  };

  // CheckOne: one 17-byte receipt; true (and `sequence` set) when it is
  // genuine.
  bool CheckOne(ByteView bytes, uint32_t& sequence) const;
  void Receipted(uint32_t sequence);

  Checker check_;
  Expecter expect_;
  int window_;
  Logger log_;
  uint64_t readings_ = 0;  // sealed readings prepared so far
  // Acknowledged, no receipt yet, by sequence.
  std::map<uint32_t, Awaiting> awaiting_;
  // Counted unreceipted, kept (bounded) so a late receipt takes it back.
  std::map<uint32_t, std::optional<ExpectedSealReceipts>> unreceipted_;
  SealReceiptCounters counters_;
};

// NewSealReceiptTracker: the tracker a sealing DTLS cxsec-node runs, its
// receipts checked with `sealer`'s keys (which ratchet as it seals).
std::shared_ptr<SealReceiptTracker> NewSealReceiptTracker(
    std::shared_ptr<const NodeSealer> sealer, int window,
    SealReceiptTracker::Logger log);

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_NODE_RECEIPTS_H_
