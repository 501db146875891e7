// MiotyKeyStore: the gateway's register of Mioty endpoints (EUI-64, 2-byte
// short address, 16-byte network key), as needed to verify TS-UNB uplinks.
//
// The file is JSON, mode 0600 (refused when broader, since it holds every
// device's network key), replaced atomically:
//   {"mioty_devices": [{"eui": "70b3d56770001234", "short_address": "1234",
//                       "network_key": "2b7e151628aed2a6abf7158809cf4f3c",
//                       "min_counter": 305419896,
//                       "device_id": "D0011223344556677"}]}
// Import reads the same JSON (or a bare array of such objects) or CSV
//   eui,short_address,network_key[,min_counter[,device_id]]
//                                       (header optional; '#' comments;
//                                        empty short address = EUI's last
//                                        2 bytes; empty min_counter = 0;
//                                        empty device_id = D + the EUI)
//
// `device_id` is the id the gateway sends the device's readings under: the
// same `D` + 16 upper-case hex digits form as a DTLS device, so one device
// is registered at the verifier the same way whatever its radio. It is the
// id given to `cxsec provision --devices` (which also names the node's key
// files and binds its sealed readings); without one it is `D` followed by
// the EUI-64 in upper case.
//
// `min_counter` (optional, default 0) is the lowest frame counter the
// gateway accepts from the device (replay_guard.h): a gateway that has no
// replay state for it (new, roaming, state wiped) would otherwise take any
// counter, including one of a recorded old frame.
//
// Several devices may share a short address (it is only 16 bits): a short-
// addressed frame is then tried against each of their keys. Import reports
// every such collision, and refuses more than `max_candidates` devices per
// short address so the work per received frame stays bounded.
//
//   CXSEC_ASSIGN_OR_RETURN(MiotyKeyStore store, MiotyKeyStore::Load(path));
//   for (const MiotyDevice* d : store.CandidatesFor(header.short_address)) ...
#ifndef CXSEC_TRANSPORTS_MIOTY_KEY_STORE_H_
#define CXSEC_TRANSPORTS_MIOTY_KEY_STORE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/mioty/frame.h"
#include "core/secret_bytes.h"

namespace cxsec::mioty {

// MiotyDevice: one registered endpoint. `key` is the expanded network key.
struct MiotyDevice {
  Eui64 eui{};
  uint16_t short_address = 0;
  SecretBytes raw_key;  // kept to write the file back
  MiotyNetworkKey key;
  uint32_t min_counter = 0;  // lowest counter accepted (replay floor)
  std::string device_id;     // D + 16 upper-case hex digits (file comment)
};

// MiotyDeviceRecord: a device before registration (parsed or from the CLI).
struct MiotyDeviceRecord {
  Eui64 eui{};
  uint16_t short_address = 0;
  SecretBytes network_key;
  uint32_t min_counter = 0;
  std::string device_id;  // empty: DefaultDeviceId(eui)
};

// MinCounterFromText parses a minimum counter: decimal digits only, at most
// 2^32 - 1 (no sign, space or base prefix: the value is a security floor).
[[nodiscard]] absl::StatusOr<uint32_t> MinCounterFromText(
    absl::string_view text);

struct MiotyKeyStoreLimits {
  size_t max_devices = 100000;
  // Devices allowed to share one short address (keys tried per frame).
  size_t max_candidates = 4;
  size_t max_file_bytes = 16 << 20;
};

// ImportReport: what an import did and the collisions it found.
struct ImportReport {
  size_t added = 0;
  // One line per short address now shared by several devices, e.g.
  // "short address 1234: 70b3d56770001234, 0011223344551234".
  std::vector<std::string> collisions;
};

// EuiToHex / EuiFromHex: the text form used in files, logs and device ids.
std::string EuiToHex(const Eui64& eui);
[[nodiscard]] absl::StatusOr<Eui64> EuiFromHex(absl::string_view text);
[[nodiscard]] absl::StatusOr<uint16_t> ShortAddressFromHex(
    absl::string_view text);
// DefaultDeviceId: "D" + the EUI-64 as 16 upper-case hex digits.
std::string DefaultDeviceId(const Eui64& eui);
// DeviceIdFromText checks a device id (D + 16 hex digits) and returns it
// with upper-case digits, the form the verifier registers.
[[nodiscard]] absl::StatusOr<std::string> DeviceIdFromText(
    absl::string_view text);

class MiotyKeyStore {
 public:
  explicit MiotyKeyStore(MiotyKeyStoreLimits limits = MiotyKeyStoreLimits())
      : limits_(limits) {}
  MiotyKeyStore(MiotyKeyStore&&) = default;
  MiotyKeyStore& operator=(MiotyKeyStore&&) = default;

  // Load reads a key store file (private mode required).
  // `service_account`: another owner to accept (platforms/posix/files.h).
  [[nodiscard]] static absl::StatusOr<MiotyKeyStore> Load(
      const std::string& path,
      MiotyKeyStoreLimits limits = MiotyKeyStoreLimits(),
      std::optional<uid_t> service_account = std::nullopt);
  // Save writes the store to `path` atomically with mode 0600.
  [[nodiscard]] absl::Status Save(const std::string& path) const;

  // Add registers one device; fails on a duplicate EUI-64 or when its short
  // address already has max_candidates devices. `collision` (optional)
  // receives a description when the short address is now shared.
  [[nodiscard]] absl::Status Add(MiotyDeviceRecord record,
                                 std::string* collision = nullptr);
  // Remove unregisters a device; NotFound if it is not registered.
  [[nodiscard]] absl::Status Remove(const Eui64& eui);
  // SetMinCounter changes a registered device's minimum counter (lowering
  // it is allowed: a floor set too high locks the device out); NotFound if
  // it is not registered.
  [[nodiscard]] absl::Status SetMinCounter(const Eui64& eui,
                                           uint32_t min_counter);

  // Import adds every record in `text` (JSON or CSV, see the file comment).
  // All or nothing: on any error the store is unchanged. `source` names the
  // input in errors.
  [[nodiscard]] absl::StatusOr<ImportReport> Import(absl::string_view text,
                                                    absl::string_view source);
  // ImportFile reads `path` (private mode required: it holds keys).
  [[nodiscard]] absl::StatusOr<ImportReport> ImportFile(
      const std::string& path);

  const MiotyDevice* FindByEui(const Eui64& eui) const;
  // CandidatesFor: the devices using `short_address`, at most max_candidates.
  absl::Span<const MiotyDevice* const> CandidatesFor(
      uint16_t short_address) const;

  // Devices in registration order.
  std::vector<const MiotyDevice*> Devices() const;
  size_t size() const { return by_eui_.size(); }
  const MiotyKeyStoreLimits& limits() const { return limits_; }

  // ParseRecords parses JSON or CSV into records without registering them.
  [[nodiscard]] static absl::StatusOr<std::vector<MiotyDeviceRecord>>
  ParseRecords(absl::string_view text, absl::string_view source,
               size_t max_records);

 private:
  static uint64_t EuiKey(const Eui64& eui);

  MiotyKeyStoreLimits limits_;
  std::vector<std::unique_ptr<MiotyDevice>> devices_;
  absl::flat_hash_map<uint64_t, MiotyDevice*> by_eui_;
  absl::flat_hash_set<std::string> device_ids_;
  absl::flat_hash_map<uint16_t, absl::InlinedVector<const MiotyDevice*, 4>>
      by_short_;
};

}  // namespace cxsec::mioty

#endif  // CXSEC_TRANSPORTS_MIOTY_KEY_STORE_H_
