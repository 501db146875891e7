// SealAuthority: the verifier as the counter authority for sealed readings
// (docs/SEALED_READINGS.md, "The verifier as counter authority"). It opens
// or checks each sealed payload with keys derived from the verifier-side
// masters (a gateway never holds them), keeps per device the key epoch,
// the highest accepted sequence, a replay window and a gap count, and
// names a verdict for every reading.
//
// Durability: the telemetry log is the commit record. A sealed reading is
// stored under the dedup key (device, epoch, sequence), never the gateway's
// message id, and its log line carries {"seal": {epoch, sequence, tag}};
// the counter state advances only after that line is durable (Commit).
// The state is snapshotted to `state_file` with the log offset it covers,
// and at start the lines after that offset are applied again (applying a
// line twice is a no-op: the same tag in the window is a duplicate), so a
// crash anywhere loses no advance and invents none. With the Redis sink
// (options.shared_state) none of that: the state lives in Redis, advanced
// by the sink's append script with the stream entry, and the map
// here is a bounded cache of it.
//
//   CXSEC_ASSIGN_OR_RETURN(auto seal, SealAuthority::Open(options));
//   SealCheck check = seal->Check(device_id, transport, message_id, bytes);
//   ... store check.dedup_message_id with the log, then on kStored:
//   seal->Commit(device_id, check.epoch, check.sequence, check.tag);
#ifndef CXSEC_TARGETS_VERIFIER_SEAL_SEAL_AUTHORITY_H_
#define CXSEC_TARGETS_VERIFIER_SEAL_SEAL_AUTHORITY_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/bytes.h"
#include "core/secret_bytes.h"
#include "core/seal/seal_counter_state.h"
#include "core/seal/seal_receipt.h"
#include "core/seal/sealed_reading.h"
#include "nlohmann/json.hpp"

namespace cxsec::verifier {

// SealPayload: is `payload_json` (a telemetry message's payload, as the
// gateway sent it: a base64url string of the node's bytes) a sealed
// envelope? The header byte 0x20..0x3f is never a CBOR map's first byte.
// Sets `bytes` to the decoded payload when it is.
bool IsSealedPayload(absl::string_view payload_json, Bytes* bytes);

// SharedSealState: counter state that lives outside this process, written
// atomically with each stored reading by the telemetry sink (the Redis
// sink's append script, docs/SCALE_OUT.md). With one, the
// authority's own map is only a bounded cache, loaded per device on first
// use, for epoch reconstruction and early rejection; the sink's answer is
// the verdict. Implemented by RedisSealState (redis_seal_state.h).
class SharedSealState {
 public:
  struct Totals {
    uint64_t devices = 0;  // devices with state, all instances
    int64_t gaps = 0;      // gaps summed over them
  };
  virtual ~SharedSealState() = default;
  // Load: the device's state; nullopt when it has none. UNAVAILABLE when
  // the store cannot be reached now.
  virtual absl::StatusOr<std::optional<seal::SealCounterState>> Load(
      absl::string_view device_id) = 0;
  virtual absl::StatusOr<Totals> LoadTotals() = 0;
};

struct SealAuthorityOptions {
  std::string mac_master_file;  // required
  std::string enc_master_file;  // empty: the MAC master is also M_enc;
                                // "none": check only, never decrypt
  std::string state_file;       // the counter-state snapshot
  std::string log_path;         // the telemetry log to catch up from
  absl::Duration snapshot_interval = absl::Seconds(5);
  // Non-null: the state is shared (not owned; outlives the authority) and
  // state_file / log_path must be empty. `cached_devices` bounds the cache.
  SharedSealState* shared_state = nullptr;
  size_t cached_devices = 100000;
};

// SealDeviceKeys: one device's keys of one epoch (defined in the .cc).
// Immutable once derived, so a holder uses them without the authority's
// lock.
struct SealDeviceKeys;

// SealCheck: what Check decided for one sealed payload.
struct SealCheck {
  // Empty: the tag verified and `verdict` says what to do; otherwise a
  // rejection reason for the wire ("seal_tag_mismatch", ...).
  std::string rejection;
  seal::SealVerdict verdict = seal::SealVerdict::kAccepted;
  uint32_t epoch = 0;
  uint32_t sequence = 0;
  std::array<uint8_t, seal::kTagSize> tag{};
  bool encrypted = false;
  // The reading: decrypted, or as sent in MAC-only mode; nullopt when it is
  // encrypted and the verifier holds no encryption key.
  std::optional<Bytes> reading;
  // Dedup id for the log: "seal/<epoch>/<sequence>".
  std::string dedup_message_id;
  // With shared state: the state could not be loaded now; nothing is
  // decided and the gateway must send the reading again ("retry").
  bool retry = false;
  // The keys the tag verified with (null when it did not): the reading's
  // receipt is made with them, without a lookup or the authority's lock.
  std::shared_ptr<const SealDeviceKeys> keys;
};

class SealAuthority {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SealAuthority>> Open(
      const SealAuthorityOptions& options);
  ~SealAuthority();

  // Check parses and verifies `sealed` from `device_id` over `transport`
  // ("dtls" or "mioty"; a Mioty sequence is the frame counter at the end
  // of `message_id`, "mioty-<device>-<counter>") and decides its verdict
  // against the device's current state. Changes no state.
  SealCheck Check(absl::string_view device_id, absl::string_view transport,
                  absl::string_view message_id, ByteView sealed);
  // Commit applies a reading Check accepted, once it is durably stored.
  // With shared state it updates the cached copy only (the sink already
  // applied it to the shared state), and only if the device is cached.
  void Commit(absl::string_view device_id, uint32_t epoch, uint32_t sequence,
              const std::array<uint8_t, seal::kTagSize>& tag);
  // Receipt: the receipt (docs/SEALED_READINGS.md, "Receipts") of a
  // reading at (`keys`->epoch, `sequence`) that the verifier holds
  // (`verdict`), as base64url for the answer's "receipt"; made with the
  // device's K_mac(epoch), the keys its check returned (SealCheck::keys).
  // No lookup and no lock: the sink's completion thread makes one per
  // stored reading and need not wait for the request threads' checks.
  // Empty for transports other than "dtls" (no way back to a Mioty node)
  // and when `keys` is null.
  static std::string Receipt(const SealDeviceKeys* keys,
                             absl::string_view transport, uint32_t sequence,
                             seal::ReceiptVerdict verdict);
  // ForgetCached: with shared state, drops the device's cached copy, so
  // the next Check loads it again (called when the sink's verdict for a
  // reading differs from the cache's: another instance moved the state).
  // No-op without shared state, where the map is the authority.
  void ForgetCached(absl::string_view device_id);
  // AfterDurable: every line below `log_offset` has been committed;
  // snapshots the state when the interval has passed.
  void AfterDurable(uint64_t log_offset);
  // Snapshot writes the state now (also called at shutdown).
  [[nodiscard]] absl::Status Snapshot(uint64_t log_offset);

  // The device's state for its record (epoch, highestSequence, gaps), or
  // null when it has sent no accepted sealed reading. With shared state it
  // is read from the store (the cached copy if that fails, marked
  // "cached": true).
  nlohmann::json DeviceState(absl::string_view device_id) const;
  // Prometheus lines: gaps and devices with state (with shared state: the
  // store's cluster-wide totals, the same on every instance, and the
  // devices this instance caches).
  std::string RenderMetrics() const;
  // AppendLogFields appends a stored sealed reading's log-line members,
  // `,"reading":"...","seal":{"epoch","mode","sequence","tag"}`, to `line`
  // (a JSON object's members without its closing brace). "reading" is the
  // reading as base64url, left out when the verifier cannot decrypt it.
  static void AppendLogFields(const SealCheck& check, std::string* line);

 private:
  SealAuthority() = default;
  [[nodiscard]] absl::Status LoadSnapshot(uint64_t* offset);
  [[nodiscard]] absl::Status CatchUp(uint64_t offset);
  // LoadShared: the device's state from the shared store, cached (mu_ not
  // held).
  absl::StatusOr<seal::SealCounterState> LoadShared(
      absl::string_view device_id);
  // Decide verifies `envelope` against `state` and fills `check` (mu_ not
  // held; takes it for the keys only, not for the AES work).
  void Decide(absl::string_view device_id, seal::Transport transport,
              const seal::SealedEnvelope& envelope,
              const seal::SealCounterState& state, SealCheck& check);
  // Keys of `epoch` for the device (derived from the masters, cached at the
  // device's newest epoch); null on a derivation error. mu_ held.
  std::shared_ptr<const SealDeviceKeys> KeysFor(absl::string_view device_id,
                                                uint32_t epoch);

  SealAuthorityOptions options_;
  SecretBytes mac_master_;
  std::optional<SecretBytes> enc_master_;  // nullopt: check only
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, seal::SealCounterState> states_;
  absl::flat_hash_map<std::string, std::shared_ptr<const SealDeviceKeys>>
      keys_;
  absl::Time last_snapshot_ = absl::InfinitePast();
  bool dirty_ = false;
};

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_SEAL_SEAL_AUTHORITY_H_
