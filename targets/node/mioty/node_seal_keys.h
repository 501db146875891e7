// LoadNodeSealKeys: how a firmware node (Mioty or DTLS) finds out at boot
// whether it seals its readings (docs/SEALED_READINGS.md): it reads the
// seal key area sector (flash_layout.h, kSealKeyAreaOffset), parses it
// with core/seal/seal_key_area.h, checks that it belongs to this node (the
// node key area's device id) and loads the keys into DeviceSealKeys,
// expanded in place; the raw area is wiped before it returns.
//
//   - every byte 0xFF (erased NOR) or every byte 0x00 (QEMU's storage
//     where nothing was loaded; a zeroed area holds no key either):
//     kAbsent, the node sends unsealed readings as before;
//   - anything else that does not parse, another device's area or keys
//     the backend refuses: a refusal with its reason; the node must then
//     send nothing (a node provisioned for sealing that sent in clear
//     would be rejected by a verifier requiring seals anyway, and it
//     would leak what encryption was meant to hide);
//   - valid: kNone, mode encrypted when the area holds an encryption key
//     (only then is that key loaded), else MAC-only.
//
// Device-side (no heap, no Abseil); the flash is any CounterFlash, so host
// tests run it over a fake.
//
//   DeviceSealKeys<MbedTlsSealCrypto> keys;
//   const NodeSealLoad load = LoadNodeSealKeys(flash, kSealKeyAreaOffset,
//                                              node_device_id, keys);
//   if (load.reason == NodeSealReason::kAbsent) ... unsealed
//   else if (load.reason != NodeSealReason::kNone) refuse(load.Detail());
#ifndef CXSEC_TARGETS_NODE_MIOTY_NODE_SEAL_KEYS_H_
#define CXSEC_TARGETS_NODE_MIOTY_NODE_SEAL_KEYS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/device/node_key_area.h"
#include "core/seal/seal_key_area.h"
#include "core/seal/sealed_reading.h"
#include "platforms/cortex_m/board/board.h"
#include "targets/node/mioty/frame_counter_store.h"

namespace cxsec::node {

// NodeSealReason: an extend-only list (core/device/result.h).
enum class [[nodiscard]] NodeSealReason : uint8_t{
    kNone = 0,              // keys loaded: seal every reading
    kAbsent = 1,            // no seal key area: send unsealed readings
    kFlashReadFailed = 2,   // the sector could not be read
    kMalformed = 3,         // see NodeSealLoad::area
    kDeviceIdMismatch = 4,  // another device's seal keys
    kKeyLoadFailed = 5,     // see NodeSealLoad::key
    // NodeSealRatchet (node_seal_ratchet.h):
    kRatchetFailed = 6,  // the key schedule refused (e.g. the last epoch)
    kPersistFailed = 7,  // an erase, write or read-back of a slot failed
};

constexpr const char* NodeSealReasonName(NodeSealReason reason) {
  switch (reason) {
    case NodeSealReason::kNone:
      return "ok";
    case NodeSealReason::kAbsent:
      return "absent";
    case NodeSealReason::kFlashReadFailed:
      return "flash_read_failed";
    case NodeSealReason::kMalformed:
      return "malformed";
    case NodeSealReason::kDeviceIdMismatch:
      return "device_id_mismatch";
    case NodeSealReason::kKeyLoadFailed:
      return "key_load_failed";
    case NodeSealReason::kRatchetFailed:
      return "ratchet_failed";
    case NodeSealReason::kPersistFailed:
      return "persist_failed";
  }
  return "unknown";
}

// NodeSealLoad: the outcome, with the parser's or the key schedule's own
// reason where it has one.
struct NodeSealLoad {
  NodeSealReason reason = NodeSealReason::kNone;
  device::KeyAreaReason area = device::KeyAreaReason::kNone;
  seal::SealReason key = seal::SealReason::kNone;
  seal::SealMode mode = seal::SealMode::kMacOnly;
  uint32_t epoch = 0;

  // Detail: the most specific stable name, for the console line
  // "REFUSED seal_key_area <detail>" (KeyAreaReasonName for a malformed
  // area, e.g. "crc_mismatch"; SealReasonName for a refused key).
  constexpr const char* Detail() const {
    if (reason == NodeSealReason::kMalformed) {
      return device::KeyAreaReasonName(area);
    }
    if (reason == NodeSealReason::kKeyLoadFailed) {
      return seal::SealReasonName(key);
    }
    return NodeSealReasonName(reason);
  }
};

template <seal::SealCryptoPolicy Crypto, CounterFlash Flash>
NodeSealLoad LoadNodeSealKeys(Flash& flash, uint32_t offset,
                              std::span<const uint8_t, 8> node_device_id,
                              seal::DeviceSealKeys<Crypto>& keys) {
  NodeSealLoad load;
  std::array<uint8_t, seal::kSealKeyAreaSize> raw;
  if (flash.Read(offset, raw) != board::BoardStatus::kOk) {
    load.reason = NodeSealReason::kFlashReadFailed;
    return load;
  }
  bool all_erased = true;
  bool all_zero = true;
  for (uint8_t byte : raw) {
    all_erased = all_erased && byte == 0xFF;
    all_zero = all_zero && byte == 0x00;
  }
  if (all_erased || all_zero) {
    load.reason = NodeSealReason::kAbsent;
    return load;
  }
  seal::SealKeyArea area;
  load.area = seal::ParseSealKeyArea(raw, area);
  Crypto::Wipe(raw.data(), raw.size());
  if (load.area != device::KeyAreaReason::kNone) {
    // A partly erased area (magic 0xFF, the rest not) lands here too:
    // "not_provisioned", refused, since it is not blank.
    load.reason = NodeSealReason::kMalformed;
    return load;
  }
  bool same_device = true;
  for (size_t i = 0; i < area.device_id.size(); ++i) {
    same_device = same_device && area.device_id[i] == node_device_id[i];
  }
  if (!same_device) {
    seal::WipeSealKeyArea(area);
    load.reason = NodeSealReason::kDeviceIdMismatch;
    return load;
  }
  load.mode = area.has_enc_key ? seal::SealMode::kEncrypted
                               : seal::SealMode::kMacOnly;
  load.epoch = area.epoch;
  // Only the keys the mode uses are loaded (and a MAC-only area's
  // encryption key bytes are zero anyway).
  load.key = keys.Load(area.epoch, area.mac_key,
                       area.has_enc_key ? std::span<const uint8_t>(area.enc_key)
                                        : std::span<const uint8_t>());
  seal::WipeSealKeyArea(area);
  if (load.key != seal::SealReason::kNone) {
    load.reason = NodeSealReason::kKeyLoadFailed;
  }
  return load;
}

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_MIOTY_NODE_SEAL_KEYS_H_
