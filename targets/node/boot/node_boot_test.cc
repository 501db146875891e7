// Proves the node boot flow: TEST upgrades run once and are reverted
// unless confirmed; PERM upgrades stick; an upgrade that fails
// verification (bad key, tampered, rollback) is erased and never runs; a
// corrupt primary never boots; the security counter rises only after
// confirmation; and power cut after any persisted step of a swap or a
// revert still ends in the right verified image.
#include "targets/node/boot/node_boot.h"

#include <sys/stat.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/firmware/image_writer.h"
#include "core/firmware/signing_key.h"
#include "gtest/gtest.h"
#include "platforms/posix/files.h"

namespace cxsec::node {
namespace {

using firmware::SignatureAlgorithm;
using firmware::SigningKey;

constexpr uint32_t kSlotSize = 16 * 1024;

class NodeBootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = std::string(getenv("TEST_TMPDIR")) + "/node" + std::to_string(counter++);
    ASSERT_TRUE(MakeDirectories(dir_, 0700).ok());
    key_ = std::make_unique<SigningKey>(
        SigningKey::Generate(SignatureAlgorithm::kEcdsaP256).value());
    keys_ = {key_->ToTrustedKey().value()};
  }

  Bytes Image(uint8_t major, uint32_t counter, const SigningKey* key = nullptr) {
    firmware::SignOptions options;
    options.version = {major, 0, 0, 0};
    options.security_counter = counter;
    return firmware::BuildSignedImage(Bytes(3000, major), options,
                                      key ? *key : *key_)
        .value();
  }

  // A provisioned node that has booted its factory image once (which
  // stores the factory image's security counter, 1).
  void ProvisionAndBoot() {
    ASSERT_TRUE(Loader().Provision(Image(1, 1)).ok());
    ASSERT_EQ(BootMajor(SwapType::kNone), 1);
    ASSERT_EQ(*Loader().StoredSecurityCounter(), 1u);
  }

  NodeBootloader Loader(NodeBootloader::Checkpoint checkpoint = nullptr) {
    return NodeBootloader(dir_, kSlotSize, keys_, std::move(checkpoint));
  }

  // Boots and returns the running image's major version.
  int BootMajor(SwapType expected_swap) {
    absl::StatusOr<BootResult> result = Loader().Boot();
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return -1;
    EXPECT_EQ(result->swap, expected_swap) << SwapTypeName(result->swap);
    return result->image->header().version.major;
  }

  std::string dir_;
  std::unique_ptr<SigningKey> key_;
  std::vector<firmware::TrustedKey> keys_;
};

TEST_F(NodeBootTest, FactoryImageBoots) {
  ASSERT_TRUE(Loader().Provision(Image(1, 1)).ok());
  EXPECT_EQ(*Loader().StoredSecurityCounter(), 0u);
  EXPECT_EQ(BootMajor(SwapType::kNone), 1);
  EXPECT_EQ(*Loader().StoredSecurityCounter(), 1u);
}

TEST_F(NodeBootTest, UnconfirmedTestImageIsRevertedOnNextBoot) {
  ProvisionAndBoot();
  ASSERT_TRUE(Loader().RequestUpgrade(Image(2, 2), false).ok());
  EXPECT_EQ(BootMajor(SwapType::kTest), 2);
  // Not confirmed: the counter stays, and the next boot reverts.
  EXPECT_EQ(*Loader().StoredSecurityCounter(), 1u);
  EXPECT_EQ(BootMajor(SwapType::kRevert), 1);
  EXPECT_EQ(BootMajor(SwapType::kNone), 1);
  EXPECT_EQ(*Loader().StoredSecurityCounter(), 1u);
}

TEST_F(NodeBootTest, ConfirmedTestImageStaysAndRaisesCounter) {
  ProvisionAndBoot();
  ASSERT_TRUE(Loader().RequestUpgrade(Image(2, 5), false).ok());
  EXPECT_EQ(BootMajor(SwapType::kTest), 2);
  EXPECT_EQ(*Loader().StoredSecurityCounter(), 1u);
  ASSERT_TRUE(Loader().ConfirmRunningImage().ok());
  EXPECT_EQ(BootMajor(SwapType::kNone), 2);
  EXPECT_EQ(*Loader().StoredSecurityCounter(), 5u);
  // The old image (counter 1) can no longer be installed.
  ASSERT_TRUE(Loader().RequestUpgrade(Image(1, 1), true).ok());
  absl::StatusOr<BootResult> result = Loader().Boot();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->swap, SwapType::kFail);
  EXPECT_EQ(result->secondary_rejected, firmware::RejectReason::kRollback);
  EXPECT_EQ(result->image->header().version.major, 2);
}

TEST_F(NodeBootTest, PermanentUpgradeSticks) {
  ASSERT_TRUE(Loader().Provision(Image(1, 1)).ok());
  ASSERT_TRUE(Loader().RequestUpgrade(Image(3, 3), true).ok());
  EXPECT_EQ(BootMajor(SwapType::kPerm), 3);
  EXPECT_EQ(BootMajor(SwapType::kNone), 3);
  EXPECT_EQ(*Loader().StoredSecurityCounter(), 3u);
}

TEST_F(NodeBootTest, UpgradeFailingVerificationNeverRuns) {
  SigningKey stranger = SigningKey::Generate(SignatureAlgorithm::kEd25519).value();
  Bytes tampered = Image(2, 2);
  tampered[0x200 + 7] ^= 1;
  for (const Bytes& bad : {Image(2, 2, &stranger), tampered}) {
    ASSERT_TRUE(Loader().Provision(Image(1, 1)).ok());
    ASSERT_TRUE(Loader().RequestUpgrade(bad, true).ok());
    absl::StatusOr<BootResult> result = Loader().Boot();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->swap, SwapType::kFail);
    EXPECT_NE(result->secondary_rejected, firmware::RejectReason::kNone);
    EXPECT_EQ(result->image->header().version.major, 1);
    // The rejected image was erased: nothing is requested any more.
    EXPECT_EQ(BootMajor(SwapType::kNone), 1);
  }
}

TEST_F(NodeBootTest, CorruptPrimaryNeverBoots) {
  ASSERT_TRUE(Loader().Provision(Image(1, 1)).ok());
  std::string primary = ReadFileBounded(dir_ + "/primary.slot", kSlotSize).value();
  primary[0x300] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/primary.slot", primary, 0600).ok());
  absl::StatusOr<BootResult> result = Loader().Boot();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("digest"), absl::string_view::npos)
      << result.status();
}

TEST_F(NodeBootTest, PowerCutAtEveryStepOfTestSwapAndRevert) {
  // Count the steps of a TEST swap and of the revert that follows.
  int swap_steps = 0;
  ProvisionAndBoot();
  ASSERT_TRUE(Loader().RequestUpgrade(Image(2, 2), false).ok());
  auto counting = [&](absl::string_view) { ++swap_steps; return absl::OkStatus(); };
  ASSERT_TRUE(Loader(counting).Boot().ok());
  int revert_steps = 0;
  auto counting_revert = [&](absl::string_view) { ++revert_steps; return absl::OkStatus(); };
  ASSERT_TRUE(Loader(counting_revert).Boot().ok());
  ASSERT_GE(swap_steps, 4);
  ASSERT_GE(revert_steps, 4);

  for (int cut = 1; cut <= swap_steps; ++cut) {
    SCOPED_TRACE("swap, power cut after step " + std::to_string(cut));
    ProvisionAndBoot();
    ASSERT_TRUE(Loader().RequestUpgrade(Image(2, 2), false).ok());
    int step = 0;
    std::string cut_at;
    auto power_cut = [&](absl::string_view name) {
      if (++step == cut) {
        cut_at = std::string(name);
        return absl::AbortedError("power cut");
      }
      return absl::OkStatus();
    };
    EXPECT_FALSE(Loader(power_cut).Boot().ok());
    if (cut_at != "swap-done") {
      // The next boot finishes the swap and runs the test image once...
      EXPECT_EQ(BootMajor(SwapType::kTest), 2) << "cut at " << cut_at;
    }
    // ...and, unconfirmed, it is reverted (as MCUboot does when power is
    // lost after the swap but before the test image confirmed itself).
    EXPECT_EQ(BootMajor(SwapType::kRevert), 1) << "cut at " << cut_at;
    EXPECT_EQ(BootMajor(SwapType::kNone), 1);
  }

  for (int cut = 1; cut <= revert_steps; ++cut) {
    SCOPED_TRACE("revert, power cut after step " + std::to_string(cut));
    ProvisionAndBoot();
    ASSERT_TRUE(Loader().RequestUpgrade(Image(2, 2), false).ok());
    ASSERT_EQ(BootMajor(SwapType::kTest), 2);
    int step = 0;
    std::string cut_at;
    auto power_cut = [&](absl::string_view name) {
      if (++step != cut) return absl::OkStatus();
      cut_at = std::string(name);
      return absl::AbortedError("power cut");
    };
    EXPECT_FALSE(Loader(power_cut).Boot().ok());
    // A revert cut short is finished on the next boot; one that completed
    // just boots the old image.
    EXPECT_EQ(BootMajor(cut_at == "swap-done" ? SwapType::kNone : SwapType::kRevert), 1)
        << "cut at " << cut_at;
    EXPECT_EQ(BootMajor(SwapType::kNone), 1);
    EXPECT_EQ(*Loader().StoredSecurityCounter(), 1u);
  }
}

}  // namespace
}  // namespace cxsec::node
