// NodeSealRatchet on the host (unit), with the node's Mbed TLS backend over
// a NOR-flash fake that can lose power after any number of erases and
// writes: the ratchet moves every N sequences, puts keys on flash that are
// the known-answer keys of the next epoch (so the verifier, deriving them
// from the master, opens what the node seals), erases the old ones, and a
// power cut at any step leaves a node that boots into the old or the new
// epoch with keys it had persisted, never without an area.
#include "targets/node/mioty/node_seal_ratchet.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/mbedtls_seal_crypto.h"
#include "core/seal/seal_key_area.h"
#include "gtest/gtest.h"

namespace cxsec::node {
namespace {

using board::BoardStatus;

constexpr uint32_t kSector = 256;
constexpr uint32_t kSlot0 = 0;
constexpr uint32_t kSlot1 = 512;
// docs/SEALED_READINGS.md, known-answer vectors: device 0011223344556677.
constexpr std::array<uint8_t, 8> kDeviceId = {0x00, 0x11, 0x22, 0x33,
                                              0x44, 0x55, 0x66, 0x77};
constexpr char kMacEpoch0[] = "5cabe232b37fa2e83b946a9ab070741a";
constexpr char kEncEpoch0[] = "ba2c462cf1d535abaf3ecbda52eb8deb";
constexpr char kMacEpoch1[] = "f14b06d35d99b5cd0c90f2fa6c017cdd";
constexpr char kEncEpoch1[] = "7704162091340450ade6186586311959";
constexpr char kMacEpoch2[] = "c81ef080abea4d0c6823d5319b8f6c94";
constexpr char kEncEpoch2[] = "013eb3ae1be131b2d1b6379e1da57323";

std::array<uint8_t, 16> Hex16(const char* hex) {
  std::array<uint8_t, 16> out{};
  for (size_t i = 0; i < 16; ++i) {
    out[i] = static_cast<uint8_t>(std::stoi(std::string(hex + 2 * i, 2),
                                            nullptr, 16));
  }
  return out;
}

// NOR fake; after `budget` mutating operations the power is gone: later
// erases and writes fail and change nothing, and the one that crosses the
// line is torn (an erase leaves half the sector, a write half its bytes).
struct FakeFlash {
  std::vector<uint8_t> bytes = std::vector<uint8_t>(1024, 0xFF);
  std::optional<int> budget;
  int operations = 0;
  bool PowerLeft() {
    if (!budget) return true;
    return operations++ < *budget;
  }
  BoardStatus Read(uint32_t offset, std::span<uint8_t> out) {
    if (offset + out.size() > bytes.size()) return BoardStatus::kOutOfRange;
    std::copy_n(bytes.begin() + offset, out.size(), out.begin());
    return BoardStatus::kOk;
  }
  BoardStatus Write(uint32_t offset, std::span<const uint8_t> data) {
    const bool power = PowerLeft();
    const size_t n = power ? data.size() : data.size() / 2;
    for (size_t i = 0; i < n; ++i) {
      if (bytes[offset + i] != 0xFF) return BoardStatus::kNotErased;
      bytes[offset + i] = data[i];
    }
    return power ? BoardStatus::kOk : BoardStatus::kDeviceError;
  }
  BoardStatus Erase(uint32_t offset, uint32_t size) {
    const bool power = PowerLeft();
    std::fill_n(bytes.begin() + offset, power ? size : size / 2, 0xFF);
    return power ? BoardStatus::kOk : BoardStatus::kDeviceError;
  }
};

using Ratchet = NodeSealRatchet<seal::MbedTlsSealCrypto, FakeFlash>;
using NodeKeys = seal::DeviceSealKeys<seal::MbedTlsSealCrypto>;

seal::SealKeyArea Area(uint32_t epoch, const char* mac, const char* enc,
                       std::array<uint8_t, 8> device_id = kDeviceId) {
  seal::SealKeyArea area;
  area.device_id = device_id;
  area.epoch = epoch;
  area.has_enc_key = enc != nullptr;
  area.mac_key = Hex16(mac);
  if (enc != nullptr) area.enc_key = Hex16(enc);
  return area;
}

void Put(FakeFlash& flash, uint32_t offset, const seal::SealKeyArea& area) {
  std::fill_n(flash.bytes.begin() + offset, kSector, 0xFF);
  ASSERT_EQ(seal::WriteSealKeyArea(
                area, std::span(flash.bytes).subspan(offset, kSector)),
            device::KeyAreaReason::kNone);
}

std::optional<seal::SealKeyArea> Get(const FakeFlash& flash, uint32_t offset) {
  seal::SealKeyArea area;
  if (seal::ParseSealKeyArea(std::span(flash.bytes).subspan(offset, kSector),
                             area) != device::KeyAreaReason::kNone) {
    return std::nullopt;
  }
  return area;
}

bool Erased(const FakeFlash& flash, uint32_t offset) {
  return std::all_of(flash.bytes.begin() + offset,
                     flash.bytes.begin() + offset + kSector,
                     [](uint8_t b) { return b == 0xFF; });
}

// What the verifier does: keys of `epoch` from the known answers (derived
// from the master there), BoringSSL, and open the envelope.
void ExpectVerifierOpens(std::span<const uint8_t> envelope, uint32_t epoch,
                         uint32_t sequence, const char* mac, const char* enc) {
  seal::DeviceSealKeys<seal::BoringSslSealCrypto> keys;
  const std::array<uint8_t, 16> m = Hex16(mac);
  const std::array<uint8_t, 16> e = Hex16(enc);
  ASSERT_EQ(keys.Load(epoch, m, e), seal::SealReason::kNone);
  seal::SealedEnvelope parsed;
  ASSERT_EQ(seal::ParseSealedEnvelope(seal::Transport::kMioty, envelope,
                                      parsed),
            seal::SealReason::kNone);
  std::array<uint8_t, 64> body;
  const auto opened = seal::HostSealCodec::Open(
      keys.mac_key(), &keys.enc_key(), seal::Transport::kMioty, parsed, epoch,
      sequence, body);
  ASSERT_TRUE(opened.ok()) << seal::SealReasonName(opened.reason());
  EXPECT_EQ(opened.value(), 3u);
}

TEST(NodeSealRatchetTest, MovesEveryNSequencesToTheVerifiersNextEpochKeys) {
  FakeFlash flash;
  Put(flash, kSlot0, Area(0, kMacEpoch0, kEncEpoch0));
  Ratchet ratchet(flash, kSlot0, kSlot1, kSector, /*epoch_readings=*/2);
  NodeKeys keys;
  const NodeSealLoad load = ratchet.Load(kDeviceId, keys);
  ASSERT_EQ(load.reason, NodeSealReason::kNone);
  EXPECT_EQ(load.epoch, 0u);
  EXPECT_EQ(ratchet.epoch_start(), 0u);  // provisioned: no start record

  const char* const macs[] = {kMacEpoch0, kMacEpoch1, kMacEpoch2};
  const char* const encs[] = {kEncEpoch0, kEncEpoch1, kEncEpoch2};
  const uint32_t expected_epoch[] = {0, 0, 1, 1, 2, 2};
  for (uint32_t sequence = 0; sequence < 6; ++sequence) {
    bool advanced = false;
    ASSERT_EQ(ratchet.AdvanceIfDue(keys, sequence, advanced),
              NodeSealReason::kNone);
    EXPECT_EQ(advanced, sequence == 2 || sequence == 4);
    const uint32_t epoch = expected_epoch[sequence];
    ASSERT_EQ(keys.epoch(), epoch);
    // On flash before use: exactly one slot, this epoch's keys, the start.
    const uint32_t current = ratchet.active_slot() == 0 ? kSlot0 : kSlot1;
    const uint32_t other = current == kSlot0 ? kSlot1 : kSlot0;
    const std::optional<seal::SealKeyArea> area = Get(flash, current);
    ASSERT_TRUE(area.has_value());
    EXPECT_EQ(area->epoch, epoch);
    EXPECT_EQ(area->mac_key, Hex16(macs[epoch]));
    EXPECT_EQ(area->enc_key, Hex16(encs[epoch]));
    EXPECT_TRUE(Erased(flash, other)) << "the old keys stay on flash";
    EXPECT_EQ(ratchet.epoch_start(), epoch * 2);

    const std::array<uint8_t, 3> reading = {0xA1, 0x61, 0x6E};
    std::array<uint8_t, 3 + seal::kMiotyOverhead> out;
    const auto sealed = seal::NodeSealCodec::Seal(
        keys, seal::Transport::kMioty, seal::SealMode::kEncrypted, sequence,
        reading, out);
    ASSERT_TRUE(sealed.ok());
    ExpectVerifierOpens(std::span(out.data(), sealed.value()), epoch, sequence,
                        macs[epoch], encs[epoch]);
  }

  // A reboot finds epoch 2, begun at sequence 4.
  Ratchet again(flash, kSlot0, kSlot1, kSector, 2);
  NodeKeys reloaded;
  ASSERT_EQ(again.Load(kDeviceId, reloaded).reason, NodeSealReason::kNone);
  EXPECT_EQ(reloaded.epoch(), 2u);
  EXPECT_EQ(again.epoch_start(), 4u);
  bool advanced = false;
  ASSERT_EQ(again.AdvanceIfDue(reloaded, 5, advanced), NodeSealReason::kNone);
  EXPECT_FALSE(advanced);
}

TEST(NodeSealRatchetTest, ZeroReadingsNeverRatchets) {
  FakeFlash flash;
  Put(flash, kSlot0, Area(0, kMacEpoch0, nullptr));
  Ratchet ratchet(flash, kSlot0, kSlot1, kSector, 0);
  NodeKeys keys;
  ASSERT_EQ(ratchet.Load(kDeviceId, keys).reason, NodeSealReason::kNone);
  bool advanced = true;
  EXPECT_EQ(ratchet.AdvanceIfDue(keys, UINT32_MAX, advanced),
            NodeSealReason::kNone);
  EXPECT_FALSE(advanced);
  EXPECT_EQ(keys.epoch(), 0u);
}

TEST(NodeSealRatchetTest, MacOnlyStaysMacOnly) {
  FakeFlash flash;
  Put(flash, kSlot0, Area(0, kMacEpoch0, nullptr));
  Ratchet ratchet(flash, kSlot0, kSlot1, kSector, 1);
  NodeKeys keys;
  ASSERT_EQ(ratchet.Load(kDeviceId, keys).mode, seal::SealMode::kMacOnly);
  bool advanced = false;
  ASSERT_EQ(ratchet.AdvanceIfDue(keys, 1, advanced), NodeSealReason::kNone);
  ASSERT_TRUE(advanced);
  const std::optional<seal::SealKeyArea> area = Get(flash, kSlot1);
  ASSERT_TRUE(area.has_value());
  EXPECT_FALSE(area->has_enc_key);
  EXPECT_EQ(area->mac_key, Hex16(kMacEpoch1));
  EXPECT_FALSE(keys.enc_key().loaded());
}

// Power lost after 0, 1, 2 or 3 flash operations of a ratchet (erase the
// other slot, write it, erase the old one; the read-back needs no power
// budget): the call fails (nothing may be sealed), and the next boot has
// the old epoch (keys never used: start again) or the new one persisted,
// with the stale slot erased. Either way the next reading seals under keys
// the verifier derives.
TEST(NodeSealRatchetTest, PowerCutAtAnyStepLeavesAPersistedEpoch) {
  for (int budget = 0; budget <= 3; ++budget) {
    SCOPED_TRACE(budget);
    FakeFlash flash;
    Put(flash, kSlot0, Area(0, kMacEpoch0, kEncEpoch0));
    {
      Ratchet ratchet(flash, kSlot0, kSlot1, kSector, 2);
      NodeKeys keys;
      ASSERT_EQ(ratchet.Load(kDeviceId, keys).reason, NodeSealReason::kNone);
      flash.budget = budget;
      flash.operations = 0;
      bool advanced = false;
      const NodeSealReason reason = ratchet.AdvanceIfDue(keys, 2, advanced);
      if (budget < 3) {
        EXPECT_EQ(reason, NodeSealReason::kPersistFailed);
      } else {
        EXPECT_EQ(reason, NodeSealReason::kNone);
      }
      // Sealing after a failure is the caller's bug; the ratchet refuses
      // to go on.
      if (reason != NodeSealReason::kNone) {
        EXPECT_EQ(ratchet.AdvanceIfDue(keys, 3, advanced),
                  NodeSealReason::kKeyLoadFailed);
      }
    }
    flash.budget.reset();
    Ratchet rebooted(flash, kSlot0, kSlot1, kSector, 2);
    NodeKeys keys;
    const NodeSealLoad load = rebooted.Load(kDeviceId, keys);
    ASSERT_EQ(load.reason, NodeSealReason::kNone);
    // The new area counts only once it is completely written (budget 2:
    // written, the old erase cut half-way).
    const uint32_t expected = budget >= 2 ? 1 : 0;
    EXPECT_EQ(keys.epoch(), expected);
    EXPECT_EQ(rebooted.epoch_start(), expected == 1 ? 2u : 0u);
    const uint32_t stale = rebooted.active_slot() == 0 ? kSlot1 : kSlot0;
    EXPECT_TRUE(Erased(flash, stale));
    // The next sequence (the counter is above 2) seals in epoch 1 either
    // way: ratcheting again from 0 gives the same keys, under which nothing
    // was sealed yet.
    bool advanced = false;
    ASSERT_EQ(rebooted.AdvanceIfDue(keys, 3, advanced), NodeSealReason::kNone);
    EXPECT_EQ(advanced, expected == 0);
    EXPECT_EQ(keys.epoch(), 1u);
    const std::array<uint8_t, 3> reading = {0xA1, 0x61, 0x6E};
    std::array<uint8_t, 3 + seal::kMiotyOverhead> out;
    const auto sealed = seal::NodeSealCodec::Seal(
        keys, seal::Transport::kMioty, seal::SealMode::kEncrypted, 3, reading,
        out);
    ASSERT_TRUE(sealed.ok());
    ExpectVerifierOpens(std::span(out.data(), sealed.value()), 1, 3,
                        kMacEpoch1, kEncEpoch1);
  }
}

TEST(NodeSealRatchetTest, SlotsAreChosenOrRefused) {
  {  // both blank: unsealed
    FakeFlash flash;
    Ratchet ratchet(flash, kSlot0, kSlot1, kSector, 2);
    NodeKeys keys;
    EXPECT_EQ(ratchet.Load(kDeviceId, keys).reason, NodeSealReason::kAbsent);
  }
  {  // QEMU's unloaded storage reads 0: blank too
    FakeFlash flash;
    std::fill(flash.bytes.begin(), flash.bytes.end(), 0x00);
    Ratchet ratchet(flash, kSlot0, kSlot1, kSector, 2);
    NodeKeys keys;
    EXPECT_EQ(ratchet.Load(kDeviceId, keys).reason, NodeSealReason::kAbsent);
  }
  {  // both valid (a ratchet cut before the old erase): the later wins
    FakeFlash flash;
    Put(flash, kSlot0, Area(2, kMacEpoch2, kEncEpoch2));
    Put(flash, kSlot1, Area(1, kMacEpoch1, kEncEpoch1));
    Ratchet ratchet(flash, kSlot0, kSlot1, kSector, 2);
    NodeKeys keys;
    ASSERT_EQ(ratchet.Load(kDeviceId, keys).reason, NodeSealReason::kNone);
    EXPECT_EQ(keys.epoch(), 2u);
    EXPECT_EQ(ratchet.active_slot(), 0);
    EXPECT_TRUE(Erased(flash, kSlot1));
  }
  {  // a torn slot beside a valid one: the valid one, the torn one erased
    FakeFlash flash;
    Put(flash, kSlot1, Area(1, kMacEpoch1, kEncEpoch1));
    Put(flash, kSlot0, Area(2, kMacEpoch2, kEncEpoch2));
    flash.bytes[kSlot0 + 30] ^= 0x01;
    Ratchet ratchet(flash, kSlot0, kSlot1, kSector, 2);
    NodeKeys keys;
    ASSERT_EQ(ratchet.Load(kDeviceId, keys).reason, NodeSealReason::kNone);
    EXPECT_EQ(keys.epoch(), 1u);
    EXPECT_TRUE(Erased(flash, kSlot0));
  }
  {  // a corrupt provisioned area alone: refused with the parser's reason
    FakeFlash flash;
    Put(flash, kSlot0, Area(0, kMacEpoch0, kEncEpoch0));
    flash.bytes[kSlot0 + 30] ^= 0x01;
    Ratchet ratchet(flash, kSlot0, kSlot1, kSector, 2);
    NodeKeys keys;
    const NodeSealLoad load = ratchet.Load(kDeviceId, keys);
    EXPECT_EQ(load.reason, NodeSealReason::kMalformed);
    EXPECT_STREQ(load.Detail(), "crc_mismatch");
  }
  {  // another device's area, alone or beside this node's: refused
    const std::array<uint8_t, 8> other = {0x88, 0x99, 0xAA, 0xBB,
                                          0xCC, 0xDD, 0xEE, 0xFF};
    FakeFlash flash;
    Put(flash, kSlot0, Area(0, kMacEpoch0, kEncEpoch0, other));
    Ratchet ratchet(flash, kSlot0, kSlot1, kSector, 2);
    NodeKeys keys;
    EXPECT_EQ(ratchet.Load(kDeviceId, keys).reason,
              NodeSealReason::kDeviceIdMismatch);
    Put(flash, kSlot1, Area(1, kMacEpoch1, kEncEpoch1));
    Ratchet beside(flash, kSlot0, kSlot1, kSector, 2);
    EXPECT_EQ(beside.Load(kDeviceId, keys).reason,
              NodeSealReason::kDeviceIdMismatch);
  }
}

}  // namespace
}  // namespace cxsec::node
