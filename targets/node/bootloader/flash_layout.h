// The node's flash layout on QEMU's mps2-an385: where the bootloader finds
// the slots, the swap scratch and the boot state. Offsets are relative to
// the board's storage region (board::FlashRead and friends); the absolute
// addresses are what QEMU's `-device loader,addr=` and the test app's
// linker script (test_app/test_app.ld) use.
//
//   0x00000000  bootloader (the ELF QEMU boots with -kernel)
//   0x00300000  storage region, 1 MiB, 4 KiB sectors:
//     +0x00000  primary slot, 256 KiB: MCUboot header (0x200), body, TLVs
//     +0x40000  secondary slot, 256 KiB (upgrade requests; after a swap,
//               the previous image)
//     +0x80000  swap scratch, 256 KiB (a whole slot's image region)
//     +0xF5000  seal key area ratchet sector: the firmware nodes write
//               the next seal epoch's area here (or back in +0xF8000)
//               before erasing the old one (node_seal_ratchet.h);
//               `cxsec provision --seal-master` writes it erased
//     +0xF6000  DTLS node's sealed-readings sequence, 2 sectors (A/B,
//               the frame counter store's format)
//     +0xF8000  seal key area sector (core/seal/seal_key_area.h;
//               `cxsec provision --seal-master` writes the whole sector,
//               the 56-byte area then 0xFF; erased: the node sends
//               unsealed readings)
//     +0xF9000  boot state backup sector (the journal while compacted)
//     +0xFA000  DTLS node boot counter, 2 sectors
//     +0xFC000  Mioty frame counter, 2 sectors (the node app's, A/B)
//     +0xFE000  node key area sector (core/device/node_key_area.h;
//               `cxsec provision --mioty-eui` writes its first 48 bytes)
//     +0xFF000  boot state sector: the boot state journal, whose records
//               are the anti-rollback counter record plus the swap phase
//               (targets/node/boot/boot_swap.h)
//
// A header only with constants, shared by the bootloader and host tools.
#ifndef CXSEC_TARGETS_NODE_BOOTLOADER_FLASH_LAYOUT_H_
#define CXSEC_TARGETS_NODE_BOOTLOADER_FLASH_LAYOUT_H_

#include <cstdint>

namespace cxsec::node::bootloader {

// Where mps2_an385's board layer maps its storage region (mps2_an385.ld).
inline constexpr uint32_t kStorageBaseAddress = 0x00300000;

inline constexpr uint32_t kPrimarySlotOffset = 0x00000;
inline constexpr uint32_t kPrimarySlotSize = 0x40000;
inline constexpr uint32_t kSecondarySlotOffset = 0x40000;
inline constexpr uint32_t kSecondarySlotSize = 0x40000;
inline constexpr uint32_t kScratchOffset = 0x80000;
inline constexpr uint32_t kScratchSize = 0x40000;
// The DTLS node's sealed-readings sequence (two sectors, the frame
// counter store's format): persisted as used before a reading sealed
// under it is sent, so no sequence repeats across a reboot. Mioty nodes
// seal under their frame counter instead.
// The seal key area's second sector: a firmware node ratcheting to the
// next seal epoch writes the new area into whichever of the two sectors
// is not current, then erases the other (targets/node/mioty/
// node_seal_ratchet.h), so a power cut never leaves it without a valid
// area. Re-provisioning a node erases both.
inline constexpr uint32_t kSealKeyRatchetOffset = 0xF5000;
inline constexpr uint32_t kDtlsSealSequenceOffset = 0xF6000;
inline constexpr uint32_t kDtlsSealSequenceSectors = 2;
// The seal key area (core/seal/seal_key_area.h): its own sector, apart
// from the node key area, because another party provisions it and the
// node rewrites it alone when it ratchets to the next seal epoch.
inline constexpr uint32_t kSealKeyAreaOffset = 0xF8000;
inline constexpr uint32_t kBootStateBackupOffset = 0xF9000;
// The DTLS node's boot counter (two sectors, the frame counter store's
// format): bumped and persisted on every boot before the DRBG is seeded,
// so no two boots draw the same random bytes (NODE_FIRMWARE.md).
inline constexpr uint32_t kDtlsBootCounterOffset = 0xFA000;
inline constexpr uint32_t kDtlsBootCounterSectors = 2;
inline constexpr uint32_t kMiotyCounterOffset = 0xFC000;
inline constexpr uint32_t kMiotyCounterSectors = 2;
inline constexpr uint32_t kNodeKeyAreaOffset = 0xFE000;
inline constexpr uint32_t kBootStateOffset = 0xFF000;
inline constexpr uint32_t kSectorSize = 0x1000;

// The header size images for this node are signed with (`cxsec fw sign
// -H 0x200`): the application's vector table follows it, and 0x200 keeps
// that table aligned as VTOR requires.
inline constexpr uint32_t kImageHeaderSize = 0x200;

inline constexpr uint32_t kPrimarySlotAddress =
    kStorageBaseAddress + kPrimarySlotOffset;
inline constexpr uint32_t kStorageSize = 0x100000;
inline constexpr uint32_t kBootStateAddress =
    kStorageBaseAddress + kBootStateOffset;
inline constexpr uint32_t kNodeKeyAreaAddress =
    kStorageBaseAddress + kNodeKeyAreaOffset;  // 0x003FE000
inline constexpr uint32_t kDtlsBootCounterAddress =
    kStorageBaseAddress + kDtlsBootCounterOffset;  // 0x003FA000
inline constexpr uint32_t kMiotyCounterAddress =
    kStorageBaseAddress + kMiotyCounterOffset;  // 0x003FC000
inline constexpr uint32_t kSealKeyAreaAddress =
    kStorageBaseAddress + kSealKeyAreaOffset;  // 0x003F8000
inline constexpr uint32_t kSealKeyRatchetAddress =
    kStorageBaseAddress + kSealKeyRatchetOffset;  // 0x003F5000
inline constexpr uint32_t kDtlsSealSequenceAddress =
    kStorageBaseAddress + kDtlsSealSequenceOffset;  // 0x003F6000

static_assert(kScratchOffset + kScratchSize <= kSealKeyRatchetOffset);
static_assert(kSealKeyRatchetOffset + kSectorSize <= kDtlsSealSequenceOffset);
static_assert(kDtlsSealSequenceOffset +
                  kDtlsSealSequenceSectors * kSectorSize <=
              kSealKeyAreaOffset);
static_assert(kSealKeyAreaOffset + kSectorSize <= kBootStateBackupOffset);
static_assert(kBootStateBackupOffset + kSectorSize <= kDtlsBootCounterOffset);
static_assert(kDtlsBootCounterOffset + kDtlsBootCounterSectors * kSectorSize <=
              kMiotyCounterOffset);
static_assert(kMiotyCounterOffset + kMiotyCounterSectors * kSectorSize <=
              kNodeKeyAreaOffset);
static_assert(kNodeKeyAreaOffset + kSectorSize <= kBootStateOffset);

}  // namespace cxsec::node::bootloader

#endif  // CXSEC_TARGETS_NODE_BOOTLOADER_FLASH_LAYOUT_H_
