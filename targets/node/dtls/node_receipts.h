// The firmware DTLS node's side of seal receipts (docs/SEALED_READINGS.md,
// "Receipts"), what targets/node/node_receipts.h is for cxsec-node, under
// device-side rules (no heap, no Abseil, no exceptions):
//
//   - FindCoapPayload: the payload of a CoAP message (the 2.04 answering a
//     sealed reading carries the gateway's pending receipts there);
//   - NodeReceiptTracker: remembers which sealed sequences the gateway
//     acknowledged (a fixed table), checks each 17-byte receipt of a 2.04
//     with the node's MAC key of its current epoch, and counts a sequence
//     acknowledged more than `window` sealed readings ago without a receipt
//     as unreceipted; a late receipt takes it back;
//   - EncodeSealedReadingCbor: the reading's CBOR with "ur" (unreceipted)
//     and "rs" (highest receipted sequence, -1: none) in its data map, byte
//     for byte what cxsec-node seals, so the verifier sees one format.
//
// Seal epochs: a receipt is checked with the key of its epoch, and the node
// erases a key when it ratchets (node_seal_ratchet.h). A sequence
// acknowledged in an earlier epoch whose receipt had not come back by then
// can no longer be checked: it leaves the table as "unchecked" (counted
// apart, neither receipted nor unreceipted), and a receipt of an earlier
// epoch is counted as stale, not bad. Such a drop still shows as a gap at
// the verifier. In memory: a restarted node starts from ur = 0.
//
//   NodeReceiptTracker<MbedTlsSealCrypto> receipts(/*window=*/3);
//   const ReceiptFields fields = receipts.NextReadingFields(keys.epoch());
//   size_t n = EncodeSealedReadingCbor("t", value, fields, cbor);
//   ... seal, post, 2.04 with payload `answer`:
//   receipts.OnAcknowledged(keys.epoch(), sequence);
//   receipts.OnAnswer(keys.mac_key(), keys.epoch(), answer);
#ifndef CXSEC_TARGETS_NODE_DTLS_NODE_RECEIPTS_H_
#define CXSEC_TARGETS_NODE_DTLS_NODE_RECEIPTS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "core/seal/seal_receipt.h"
#include "core/seal/sealed_reading.h"

namespace cxsec::node {

// FindCoapPayload returns the payload of `message` (after the 0xFF marker;
// empty when there is none), or nullopt when its header or options are
// malformed (RFC 7252 3, 3.1: extended option deltas and lengths, the
// reserved nibble 15, a marker with nothing after it). Checked arithmetic:
// every step is bounded by `message.size()`.
inline std::optional<std::span<const uint8_t>> FindCoapPayload(
    std::span<const uint8_t> message) {
  if (message.size() < 4 || (message[0] >> 6) != 1) return std::nullopt;
  const size_t token_length = message[0] & 0x0F;
  if (token_length > 8) return std::nullopt;
  size_t at = 4 + token_length;
  if (at > message.size()) return std::nullopt;
  while (at < message.size()) {
    const uint8_t first = message[at++];
    if (first == 0xFF) {
      if (at == message.size()) return std::nullopt;  // marker, no payload
      return message.subspan(at);
    }
    size_t nibbles[2] = {static_cast<size_t>(first >> 4),
                         static_cast<size_t>(first & 0x0F)};
    for (size_t& value : nibbles) {
      if (value == 15) return std::nullopt;
      if (value == 13) {
        if (at + 1 > message.size()) return std::nullopt;
        value = 13 + size_t{message[at]};
        at += 1;
      } else if (value == 14) {
        if (at + 2 > message.size()) return std::nullopt;
        value = 269 + ((size_t{message[at]} << 8) | size_t{message[at + 1]});
        at += 2;
      }
    }
    const size_t length = nibbles[1];
    if (length > message.size() - at) return std::nullopt;
    at += length;
  }
  return std::span<const uint8_t>();
}

// What goes inside each sealed reading.
struct ReceiptFields {
  uint32_t unreceipted = 0;         // "ur"
  int64_t highest_receipted = -1;   // "rs"; -1: none yet
};

struct NodeReceiptCounters {
  uint32_t acknowledged = 0;  // sealed readings answered 2.04
  uint32_t receipted = 0;     // of those, with a valid receipt
  uint32_t unreceipted = 0;   // current count ("ur")
  uint32_t bad_receipts = 0;  // wrong MAC, verdict or size: ignored
  uint32_t stale_receipts = 0;  // of an earlier epoch: cannot be checked
  uint32_t unchecked = 0;  // acknowledged in an earlier epoch, no receipt
  int64_t highest_receipted = -1;
};

template <seal::SealCryptoPolicy Crypto>
class NodeReceiptTracker {
 public:
  // Acknowledged sequences awaiting a receipt, and sequences counted
  // unreceipted that a late receipt may still take back: far more than a
  // window's worth (the oldest is forgotten when full, as cxsec-node's).
  static constexpr size_t kCapacity = 8;

  // `window`: readings a receipt may take to come back (at least 1).
  explicit NodeReceiptTracker(uint32_t window)
      : window_(window < 1 ? 1 : window) {}

  // NextReadingFields: called once before each sealed reading is sealed,
  // with the epoch it will be sealed in. Counts the sequences whose window
  // has passed without a receipt; returns how many it just counted in
  // `newly_unreceipted` (for the console) and the fields to seal.
  ReceiptFields NextReadingFields(uint32_t epoch,
                                  uint32_t& newly_unreceipted) {
    newly_unreceipted = 0;
    const uint64_t now = readings_++;
    for (Entry& entry : awaiting_) {
      if (!entry.used) continue;
      if (entry.epoch != epoch) {
        entry.used = false;  // its key is gone: no receipt can be checked
        ++counters_.unchecked;
        continue;
      }
      if (now - entry.reading <= window_) continue;
      entry.used = false;
      ++counters_.unreceipted;
      ++newly_unreceipted;
      Remember(unreceipted_, entry);
    }
    return {counters_.unreceipted, counters_.highest_receipted};
  }

  // OnAcknowledged: the gateway answered the sealed reading of (`epoch`,
  // `sequence`) — the one NextReadingFields prepared last — with 2.04.
  void OnAcknowledged(uint32_t epoch, uint32_t sequence) {
    ++counters_.acknowledged;
    Entry entry;
    entry.used = true;
    entry.epoch = epoch;
    entry.sequence = sequence;
    entry.reading = readings_ == 0 ? 0 : readings_ - 1;
    Remember(awaiting_, entry);
  }

  // OnAnswer: the 2.04's payload, zero or more concatenated receipts
  // (untrusted: from the gateway), each checked with `mac_key` of `epoch`.
  void OnAnswer(const seal::SealKey<Crypto>& mac_key, uint32_t epoch,
                std::span<const uint8_t> answer) {
    size_t offset = 0;
    for (; answer.size() - offset >= seal::kReceiptSize;
         offset += seal::kReceiptSize) {
      seal::SealReceipt receipt;
      const seal::SealReason checked = seal::SealReceiptCodec<Crypto>::Check(
          mac_key, epoch, seal::Transport::kDtlsCoap,
          answer.subspan(offset, seal::kReceiptSize), receipt);
      if (checked == seal::SealReason::kEpochMismatch) {
        ++counters_.stale_receipts;
        continue;
      }
      if (checked != seal::SealReason::kNone) {
        ++counters_.bad_receipts;
        continue;
      }
      Receipted(receipt.epoch, receipt.sequence);
    }
    if (offset != answer.size()) ++counters_.bad_receipts;  // a partial one
  }

  const NodeReceiptCounters& counters() const { return counters_; }

 private:
  struct Entry {
    bool used = false;
    uint32_t epoch = 0;
    uint32_t sequence = 0;
    uint64_t reading = 0;
  };

  // Puts `entry` into a free place of `table`, else over its oldest.
  static void Remember(std::array<Entry, kCapacity>& table,
                       const Entry& entry) {
    Entry* place = &table[0];
    for (Entry& candidate : table) {
      if (!candidate.used) {
        place = &candidate;
        break;
      }
      if (candidate.reading < place->reading) place = &candidate;
    }
    *place = entry;
    place->used = true;
  }

  static bool Take(std::array<Entry, kCapacity>& table, uint32_t epoch,
                   uint32_t sequence) {
    for (Entry& entry : table) {
      if (entry.used && entry.epoch == epoch && entry.sequence == sequence) {
        entry.used = false;
        return true;
      }
    }
    return false;
  }

  void Receipted(uint32_t epoch, uint32_t sequence) {
    if (Take(awaiting_, epoch, sequence)) {
      ++counters_.receipted;
    } else if (Take(unreceipted_, epoch, sequence)) {
      // A slow uplink: the receipt came after its window. Not dropped.
      ++counters_.receipted;
      --counters_.unreceipted;
    }
    if (static_cast<int64_t>(sequence) > counters_.highest_receipted) {
      counters_.highest_receipted = sequence;
    }
  }

  uint32_t window_;
  uint64_t readings_ = 0;  // sealed readings prepared so far
  std::array<Entry, kCapacity> awaiting_{};
  std::array<Entry, kCapacity> unreceipted_{};
  NodeReceiptCounters counters_;
};

namespace sealed_reading_cbor_internal {

inline size_t PutHead(uint8_t major, uint64_t argument, std::span<uint8_t> out,
                      size_t at) {
  size_t extra = 0;
  uint8_t info = 0;
  if (argument < 24) {
    info = static_cast<uint8_t>(argument);
  } else if (argument <= 0xFF) {
    info = 24, extra = 1;
  } else if (argument <= 0xFFFF) {
    info = 25, extra = 2;
  } else if (argument <= 0xFFFFFFFFu) {
    info = 26, extra = 4;
  } else {
    info = 27, extra = 8;
  }
  if (at + 1 + extra > out.size()) return 0;
  out[at++] = static_cast<uint8_t>((major << 5) | info);
  for (size_t i = extra; i > 0; --i) {
    out[at++] = static_cast<uint8_t>(argument >> (8 * (i - 1)));
  }
  return at;
}

inline size_t PutText(const char* text, std::span<uint8_t> out, size_t at) {
  if (at == 0) return 0;
  const size_t length = std::strlen(text);
  at = PutHead(3, length, out, at);
  if (at == 0 || length > out.size() - at) return 0;
  std::memcpy(out.data() + at, text, length);
  return at + length;
}

inline size_t PutInt(int64_t value, std::span<uint8_t> out, size_t at) {
  if (at == 0) return 0;
  return value >= 0 ? PutHead(0, static_cast<uint64_t>(value), out, at)
                    : PutHead(1, static_cast<uint64_t>(-(value + 1)), out, at);
}

}  // namespace sealed_reading_cbor_internal

// The largest EncodeSealedReadingCbor output for a one-letter key.
inline constexpr size_t kSealedReadingCborMaxSize = 64;

// EncodeSealedReadingCbor writes
//   {"v3": {"d": {"rs": rs, <key>: value, "ur": ur}, "s": "p"}}
// with the data map's keys in bytewise order (as nlohmann's CBOR writes a
// std::map: cxsec-node's bytes), for a one-letter lowercase `key` between
// "s" and "u" ("t", the node's temperature); returns its length, or 0 when
// `key` is not such a key or `out` is too small.
inline size_t EncodeSealedReadingCbor(const char* key, int64_t value,
                                      const ReceiptFields& fields,
                                      std::span<uint8_t> out) {
  using namespace sealed_reading_cbor_internal;
  if (key[0] <= 'r' || key[0] >= 'u' || key[1] != '\0') return 0;
  size_t at = PutHead(5, 1, out, 0);
  at = PutText("v3", out, at);
  at = at == 0 ? 0 : PutHead(5, 2, out, at);
  at = PutText("d", out, at);
  at = at == 0 ? 0 : PutHead(5, 3, out, at);
  at = PutText("rs", out, at);
  at = PutInt(fields.highest_receipted, out, at);
  at = PutText(key, out, at);
  at = PutInt(value, out, at);
  at = PutText("ur", out, at);
  at = PutInt(fields.unreceipted, out, at);
  at = PutText("s", out, at);
  at = PutText("p", out, at);
  return at;
}

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_DTLS_NODE_RECEIPTS_H_
