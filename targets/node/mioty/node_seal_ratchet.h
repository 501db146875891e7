// NodeSealRatchet: a firmware node (Mioty or DTLS) moving its sealed-
// readings keys to the next epoch on its own (docs/SEALED_READINGS.md,
// "Key epochs"; docs/NODE_FIRMWARE.md, "Seal epochs on the firmware"),
// with no downlink, as cxsec-node does with seal_epoch_readings: after
// `epoch_readings` sequences in one epoch it ratchets DeviceSealKeys,
// persists the new epoch's area and erases the old one BEFORE anything is
// sealed with the new keys.
//
// Two flash sectors hold the seal key area in turn (slot 0: the sector
// `cxsec provision --seal-master` writes, 0x003F8000; slot 1: its ratchet
// sector, 0x003F5000), each as the 56-byte area of core/seal/
// seal_key_area.h followed by an 8-byte epoch start record: the sequence
// the epoch began at (LE) and its complement (LE). A ratchet erases the
// other slot, writes the new area there, reads it back, and only then
// erases the old slot. So a power cut at any point leaves at least one
// valid area on flash, and never one the node sealed with before it was
// persisted:
//
//   cut while the new slot is erased/written: it is blank or fails its
//     CRC; the old area is intact and the node boots in the old epoch
//     (its next sequence is above the one that triggered the ratchet, so
//     it ratchets again, to the same next epoch under which nothing was
//     ever sealed);
//   cut after the write, before or while the old slot is erased: both
//     slots are valid (or the old one is torn); Load takes the higher
//     epoch and erases the other slot, finishing the ratchet.
//
// An area without a valid start record (as provisioned) counts its epoch
// from sequence 0, as a .seal file without seal_epoch_start does. A slot
// that is malformed while the other is valid is a torn write or erase
// (above) and is erased; a slot that is malformed or another device's
// while the other is blank is refused as LoadNodeSealKeys refuses it.
//
// Device-side (no heap, no Abseil, no exceptions); the flash is any
// CounterFlash, so host tests run it over a fake.
//
//   NodeSealRatchet<MbedTlsSealCrypto, BoardCounterFlash> ratchet(
//       flash, kSealKeyAreaOffset, kSealKeyRatchetOffset, kSectorSize,
//       /*epoch_readings=*/CXSEC_NODE_SEAL_EPOCH_READINGS);
//   const NodeSealLoad load = ratchet.Load(device_id, keys);
//   ...
//   bool advanced = false;
//   if (ratchet.AdvanceIfDue(keys, sequence, advanced) != kNone) stop();
//   seal under keys (epoch keys.epoch()) with sequence
#ifndef CXSEC_TARGETS_NODE_MIOTY_NODE_SEAL_RATCHET_H_
#define CXSEC_TARGETS_NODE_MIOTY_NODE_SEAL_RATCHET_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/device/node_key_area.h"
#include "core/seal/seal_key_area.h"
#include "core/seal/sealed_reading.h"
#include "platforms/cortex_m/board/board.h"
#include "targets/node/mioty/frame_counter_store.h"
#include "targets/node/mioty/node_seal_keys.h"

namespace cxsec::node {

// The epoch start record after the area, and the bytes a slot holds.
inline constexpr size_t kSealEpochStartRecordSize = 8;
inline constexpr size_t kSealSlotSize =
    seal::kSealKeyAreaSize + kSealEpochStartRecordSize;
static_assert(kSealSlotSize % 4 == 0, "NOR write unit");

template <seal::SealCryptoPolicy Crypto, CounterFlash Flash>
class NodeSealRatchet {
 public:
  // `offsets`: slot 0 (the provisioned sector) and slot 1, each a whole
  // erase sector of `sector_size` bytes. `epoch_readings`: sequences per
  // epoch; 0 never ratchets.
  NodeSealRatchet(Flash& flash, uint32_t slot0_offset, uint32_t slot1_offset,
                  uint32_t sector_size, uint32_t epoch_readings)
      : flash_(flash),
        offsets_{slot0_offset, slot1_offset},
        sector_size_(sector_size),
        epoch_readings_(epoch_readings) {}

  // Load picks the current area from the two slots (above), checks it is
  // this node's and loads its keys into `keys`; the raw bytes are wiped.
  // kAbsent when both slots are blank. On success the stale slot, if any,
  // is erased; failing that is kPersistFailed.
  NodeSealLoad Load(std::span<const uint8_t, 8> node_device_id,
                    seal::DeviceSealKeys<Crypto>& keys) {
    NodeSealLoad load;
    Slot slots[2];
    for (int i = 0; i < 2; ++i) {
      slots[i].reason = ReadSlot(offsets_[i], node_device_id, slots[i]);
      if (slots[i].reason == NodeSealReason::kFlashReadFailed) {
        WipeSlots(slots);
        load.reason = NodeSealReason::kFlashReadFailed;
        return load;
      }
    }
    const bool valid0 = slots[0].reason == NodeSealReason::kNone;
    const bool valid1 = slots[1].reason == NodeSealReason::kNone;
    int current = -1;
    if (valid0 && valid1) {
      current = Later(slots[1], slots[0]) ? 1 : 0;
    } else if (valid0 || valid1) {
      const int other = valid0 ? 1 : 0;
      // Blank or torn (malformed) beside a valid area: left over from a
      // ratchet. Another device's area is not a torn write: refuse.
      if (slots[other].reason == NodeSealReason::kDeviceIdMismatch) {
        WipeSlots(slots);
        load.reason = NodeSealReason::kDeviceIdMismatch;
        return load;
      }
      current = valid0 ? 0 : 1;
    } else {
      // Neither valid: slot 0 speaks (the provisioned sector), unless it
      // is blank and slot 1 is not.
      const int speaker = slots[0].reason == NodeSealReason::kAbsent ? 1 : 0;
      load.reason = slots[speaker].reason;
      load.area = slots[speaker].area_reason;
      WipeSlots(slots);
      return load;
    }
    const Slot& chosen = slots[current];
    load.mode = chosen.area.has_enc_key ? seal::SealMode::kEncrypted
                                        : seal::SealMode::kMacOnly;
    load.epoch = chosen.area.epoch;
    load.key = keys.Load(chosen.area.epoch, chosen.area.mac_key,
                         chosen.area.has_enc_key
                             ? std::span<const uint8_t>(chosen.area.enc_key)
                             : std::span<const uint8_t>());
    device_id_ = chosen.area.device_id;
    epoch_start_ = chosen.epoch_start;
    active_ = current;
    const int stale = 1 - current;
    const bool stale_blank = slots[stale].reason == NodeSealReason::kAbsent &&
                             slots[stale].erased;
    WipeSlots(slots);
    if (load.key != seal::SealReason::kNone) {
      load.reason = NodeSealReason::kKeyLoadFailed;
      return load;
    }
    // The old keys of an interrupted ratchet (or a torn slot) go now.
    if (!stale_blank && flash_.Erase(offsets_[stale], sector_size_) !=
                            board::BoardStatus::kOk) {
      load.reason = NodeSealReason::kPersistFailed;
      return load;
    }
    loaded_ = true;
    return load;
  }

  // AdvanceIfDue: when `sequence` (already persisted as used) is
  // epoch_readings or more past the current epoch's start, ratchets `keys`
  // to the next epoch, persists them (with `sequence` as the epoch's
  // start) and erases the old slot; `advanced` says whether it did. On any
  // failure the caller must seal nothing: `keys` may hold keys that are
  // not on flash (kPersistFailed) or none usable (kRatchetFailed).
  NodeSealReason AdvanceIfDue(seal::DeviceSealKeys<Crypto>& keys,
                              uint32_t sequence, bool& advanced) {
    advanced = false;
    if (!loaded_) return NodeSealReason::kKeyLoadFailed;
    if (epoch_readings_ == 0 ||
        uint64_t{sequence} < uint64_t{epoch_start_} + epoch_readings_) {
      return NodeSealReason::kNone;
    }
    if (keys.Advance() != seal::SealReason::kNone) {
      loaded_ = false;
      return NodeSealReason::kRatchetFailed;
    }
    seal::SealKeyArea area;
    area.device_id = device_id_;
    area.epoch = keys.epoch();
    area.has_enc_key = keys.enc_key().loaded();
    const std::span<const uint8_t> mac = keys.mac_key().raw();
    for (size_t i = 0; i < area.mac_key.size() && i < mac.size(); ++i) {
      area.mac_key[i] = mac[i];
    }
    if (area.has_enc_key) {
      const std::span<const uint8_t> enc = keys.enc_key().raw();
      for (size_t i = 0; i < area.enc_key.size() && i < enc.size(); ++i) {
        area.enc_key[i] = enc[i];
      }
    }
    std::array<uint8_t, kSealSlotSize> bytes;
    const bool encoded =
        seal::WriteSealKeyArea(area, bytes) == device::KeyAreaReason::kNone;
    seal::WipeSealKeyArea(area);
    PutStartRecord(sequence, std::span(bytes).subspan(seal::kSealKeyAreaSize));
    const int next = 1 - active_;
    bool persisted = encoded &&
                     flash_.Erase(offsets_[next], sector_size_) ==
                         board::BoardStatus::kOk &&
                     flash_.Write(offsets_[next], bytes) ==
                         board::BoardStatus::kOk;
    if (persisted) {
      std::array<uint8_t, kSealSlotSize> check;
      persisted =
          flash_.Read(offsets_[next], check) == board::BoardStatus::kOk &&
          Crypto::ConstantTimeEquals(check.data(), bytes.data(), check.size());
      Crypto::Wipe(check.data(), check.size());
    }
    Crypto::Wipe(bytes.data(), bytes.size());
    if (!persisted) {
      loaded_ = false;  // the keys in RAM are not on flash: seal nothing
      return NodeSealReason::kPersistFailed;
    }
    // The new keys are on flash: the old ones leave it now, so a node
    // captured later cannot open or forge what it sealed before.
    const int old = active_;
    active_ = next;
    epoch_start_ = sequence;
    advanced = true;
    if (flash_.Erase(offsets_[old], sector_size_) != board::BoardStatus::kOk) {
      loaded_ = false;
      return NodeSealReason::kPersistFailed;
    }
    return NodeSealReason::kNone;
  }

  // The sequence the current epoch began at (0 when the area has no start
  // record) and the slot it is in.
  uint32_t epoch_start() const { return epoch_start_; }
  int active_slot() const { return active_; }

 private:
  struct Slot {
    NodeSealReason reason = NodeSealReason::kNone;
    device::KeyAreaReason area_reason = device::KeyAreaReason::kNone;
    bool erased = false;  // every byte 0xFF (no erase needed)
    seal::SealKeyArea area;
    uint32_t epoch_start = 0;
  };

  static bool Later(const Slot& a, const Slot& b) {
    if (a.area.epoch != b.area.epoch) return a.area.epoch > b.area.epoch;
    return a.epoch_start > b.epoch_start;
  }

  static void WipeSlots(Slot (&slots)[2]) {
    for (Slot& slot : slots) seal::WipeSealKeyArea(slot.area);
  }

  static void PutStartRecord(uint32_t start, std::span<uint8_t> out) {
    for (size_t i = 0; i < 4; ++i) {
      out[i] = static_cast<uint8_t>(start >> (8 * i));
      out[4 + i] = static_cast<uint8_t>(~start >> (8 * i));
    }
  }

  static uint32_t LoadLe32(const uint8_t* p) {
    return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) |
           (uint32_t{p[3]} << 24);
  }

  NodeSealReason ReadSlot(uint32_t offset,
                          std::span<const uint8_t, 8> node_device_id,
                          Slot& slot) {
    std::array<uint8_t, kSealSlotSize> raw;
    if (flash_.Read(offset, raw) != board::BoardStatus::kOk) {
      return NodeSealReason::kFlashReadFailed;
    }
    bool all_erased = true;
    bool all_zero = true;
    for (size_t i = 0; i < seal::kSealKeyAreaSize; ++i) {
      all_erased = all_erased && raw[i] == 0xFF;
      all_zero = all_zero && raw[i] == 0x00;
    }
    if (all_erased || all_zero) {
      slot.erased = all_erased;
      for (size_t i = seal::kSealKeyAreaSize; i < raw.size(); ++i) {
        slot.erased = slot.erased && raw[i] == 0xFF;
      }
      return NodeSealReason::kAbsent;
    }
    slot.area_reason = seal::ParseSealKeyArea(raw, slot.area);
    const uint32_t start = LoadLe32(raw.data() + seal::kSealKeyAreaSize);
    const uint32_t complement =
        LoadLe32(raw.data() + seal::kSealKeyAreaSize + 4);
    slot.epoch_start = complement == ~start ? start : 0;
    Crypto::Wipe(raw.data(), raw.size());
    if (slot.area_reason != device::KeyAreaReason::kNone) {
      return NodeSealReason::kMalformed;
    }
    for (size_t i = 0; i < slot.area.device_id.size(); ++i) {
      if (slot.area.device_id[i] != node_device_id[i]) {
        seal::WipeSealKeyArea(slot.area);
        return NodeSealReason::kDeviceIdMismatch;
      }
    }
    return NodeSealReason::kNone;
  }

  Flash& flash_;
  uint32_t offsets_[2];
  uint32_t sector_size_;
  uint32_t epoch_readings_;
  std::array<uint8_t, 8> device_id_{};
  uint32_t epoch_start_ = 0;
  int active_ = 0;
  bool loaded_ = false;
};

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_MIOTY_NODE_SEAL_RATCHET_H_
