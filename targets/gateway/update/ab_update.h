// The gateway's A/B update agent. A gateway image (MCUboot format, signed
// by the vendor) is verified, written into the inactive slot, verified
// again from disk, and only then does one atomic, fsync'd marker switch
// the next boot to it, as a trial. The new image confirms itself after a
// health check, or the agent reverts; a trial that boots but never
// confirms is reverted by the next boot. The stored security counter is
// raised only on confirmation.
//
//   <root>/slot_a.img, <root>/slot_b.img
//   <root>/boot_marker "active=a\ntrial=b\ntrial_boots=0\nsecurity_counter=3\n"
//
// The marker's active slot is always the slot that runs once no trial is
// pending: a boot that falls back to the other slot records that before
// running it, so Install never overwrites the running slot.
//
// Power loss at any point leaves a marker that names a verified slot:
// slots are replaced atomically and the marker is the single commit point
// (WriteFileAtomically: tmp + fsync + rename + directory fsync).
#ifndef CXSEC_TARGETS_GATEWAY_UPDATE_AB_UPDATE_H_
#define CXSEC_TARGETS_GATEWAY_UPDATE_AB_UPDATE_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/firmware/host_image_verifier.h"
#include "core/status.h"
#include "platforms/posix/files.h"

namespace cxsec::gateway {

using firmware::TrustedKey;
using firmware::VerifiedImage;

// BootMarker: the single source of truth for which slot boots.
struct BootMarker {
  char active = 'a';
  std::optional<char> trial;  // slot to try once on the next boot
  uint32_t trial_boots = 0;
  uint32_t security_counter = 0;
};

// BootChoice: the slot the gateway starts, always verified.
struct BootChoice {
  char slot = 'a';
  bool trial = false;
  VerifiedImage image;
};

class AbUpdateAgent {
 public:
  using Checkpoint = std::function<void(absl::string_view step)>;

  AbUpdateAgent(std::string root, std::vector<TrustedKey> keys,
                size_t max_image_size = 256 << 20,
                Checkpoint checkpoint = nullptr)
      : root_(std::move(root)),
        keys_(std::move(keys)),
        max_image_size_(max_image_size),
        checkpoint_(std::move(checkpoint)) {}

  std::string SlotPath(char slot) const {
    return absl::StrCat(root_, "/slot_", std::string(1, slot), ".img");
  }
  std::string MarkerPath() const { return root_ + "/boot_marker"; }

  // Provision installs a factory image in slot a, confirmed.
  [[nodiscard]] absl::Status Provision(ByteView image) {
    CXSEC_ASSIGN_OR_RETURN(VerifiedImage verified, Verify(image, 0));
    CXSEC_RETURN_IF_ERROR(
        WriteFileAtomically(SlotPath('a'), AsStringView(image), 0600));
    BootMarker marker;
    marker.security_counter = verified.security_counter();
    return SaveMarker(marker);
  }

  // Install verifies `image_path` and stages it in the inactive slot as a
  // trial for the next boot. Nothing changes what boots until the final
  // marker write, which happens only after the installed copy verified.
  // Refused (FailedPrecondition) while the inactive slot may be running:
  // a booted, unconfirmed trial, or an unrecorded fallback.
  [[nodiscard]] absl::Status Install(const std::string& image_path) {
    CXSEC_ASSIGN_OR_RETURN(BootMarker marker, LoadMarker());
    CXSEC_ASSIGN_OR_RETURN(std::string image,
                           ReadFileBounded(image_path, max_image_size_));
    absl::StatusOr<VerifiedImage> verified =
        Verify(AsBytes(image), marker.security_counter);
    if (!verified.ok()) {
      return absl::PermissionDeniedError(absl::StrCat(
          image_path, ": not installed: ", verified.status().message()));
    }
    Step("verified");
    const char inactive = marker.active == 'a' ? 'b' : 'a';
    CXSEC_RETURN_IF_ERROR(CheckInactiveIsNotRunning(marker, inactive));
    if (marker.trial.has_value()) {
      // A pending trial in the inactive slot is superseded: un-stage it
      // first, so the marker never points at a slot being rewritten.
      marker.trial.reset();
      marker.trial_boots = 0;
      CXSEC_RETURN_IF_ERROR(SaveMarker(marker));
      Step("old-trial-cleared");
    }
    CXSEC_RETURN_IF_ERROR(WriteFileAtomically(SlotPath(inactive), image, 0600));
    Step("slot-written");
    CXSEC_ASSIGN_OR_RETURN(
        std::string installed,
        ReadFileBounded(SlotPath(inactive), max_image_size_));
    CXSEC_RETURN_IF_ERROR(
        Verify(AsBytes(installed), marker.security_counter).status());
    Step("installed-copy-verified");
    marker.trial = inactive;
    marker.trial_boots = 0;
    CXSEC_RETURN_IF_ERROR(SaveMarker(marker));
    Step("marker-switched");
    return absl::OkStatus();
  }

  // SelectBootSlot is the boot-time decision: a staged trial runs once;
  // a trial that already ran without confirming is reverted; whatever is
  // chosen is verified first, and an unverifiable slot falls back to the
  // other one.
  [[nodiscard]] absl::StatusOr<BootChoice> SelectBootSlot() {
    CXSEC_ASSIGN_OR_RETURN(BootMarker marker, LoadMarker());
    if (marker.trial.has_value()) {
      if (marker.trial_boots == 0) {
        marker.trial_boots = 1;
        CXSEC_RETURN_IF_ERROR(SaveMarker(marker));
        Step("trial-boot-counted");
        absl::StatusOr<VerifiedImage> trial = VerifySlot(*marker.trial, marker);
        if (trial.ok()) return BootChoice{*marker.trial, true, *trial};
      }
      marker.trial.reset();  // unconfirmed or unverifiable: revert
      marker.trial_boots = 0;
      CXSEC_RETURN_IF_ERROR(SaveMarker(marker));
      Step("trial-reverted");
    }
    absl::StatusOr<VerifiedImage> active = VerifySlot(marker.active, marker);
    if (active.ok()) return BootChoice{marker.active, false, *active};
    const char other = marker.active == 'a' ? 'b' : 'a';
    absl::StatusOr<VerifiedImage> fallback = VerifySlot(other, marker);
    if (fallback.ok()) {
      // Record the fallback before running it: the marker must name the
      // slot that runs, or the next Install would write into it as the
      // "inactive" one. The security counter stays: it rises only on a
      // confirmation, and the fallback verified against it.
      marker.active = other;
      CXSEC_RETURN_IF_ERROR(SaveMarker(marker));
      Step("fallback-persisted");
      return BootChoice{other, false, *fallback};
    }
    return absl::FailedPreconditionError(
        absl::StrCat("no bootable gateway slot: ", active.status().message(),
                     "; ", fallback.status().message()));
  }

  // ConfirmOrRevert runs in the freshly booted trial image: if
  // `health_check` passes, the trial becomes the active slot and the
  // security counter is raised to its SEC_CNT; otherwise the trial is
  // dropped and the next boot runs the previous slot.
  [[nodiscard]] absl::Status ConfirmOrRevert(
      const BootChoice& running,
      const std::function<absl::Status()>& health_check) {
    CXSEC_ASSIGN_OR_RETURN(BootMarker marker, LoadMarker());
    if (!running.trial || marker.trial != running.slot) {
      return absl::OkStatus();  // nothing on trial
    }
    absl::Status health = health_check();
    if (!health.ok()) {
      marker.trial.reset();
      marker.trial_boots = 0;
      CXSEC_RETURN_IF_ERROR(SaveMarker(marker));
      Step("health-failed-reverted");
      return absl::UnavailableError(
          absl::StrCat("health check failed, reverted to slot ",
                       std::string(1, marker.active), ": ", health.message()));
    }
    marker.active = running.slot;
    marker.trial.reset();
    marker.trial_boots = 0;
    if (running.image.security_counter() > marker.security_counter) {
      marker.security_counter = running.image.security_counter();
    }
    CXSEC_RETURN_IF_ERROR(SaveMarker(marker));
    Step("confirmed");
    return absl::OkStatus();
  }

  [[nodiscard]] absl::StatusOr<BootMarker> LoadMarker() const {
    CXSEC_ASSIGN_OR_RETURN(std::string text,
                           ReadFileBounded(MarkerPath(), 4096));
    BootMarker marker;
    int line_number = 0;
    for (absl::string_view line :
         absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      ++line_number;
      std::pair<std::string, std::string> kv =
          absl::StrSplit(line, absl::MaxSplits('=', 1));
      auto bad = [&] {
        return absl::DataLossError(absl::StrCat(MarkerPath(), ":", line_number,
                                                ": bad value for '", kv.first,
                                                "'"));
      };
      auto slot = [](absl::string_view v) { return v == "a" || v == "b"; };
      if (kv.first == "active") {
        if (!slot(kv.second)) return bad();
        marker.active = kv.second[0];
      } else if (kv.first == "trial") {
        if (kv.second == "none")
          marker.trial.reset();
        else if (slot(kv.second))
          marker.trial = kv.second[0];
        else
          return bad();
      } else if (kv.first == "trial_boots") {
        if (!absl::SimpleAtoi(kv.second, &marker.trial_boots)) return bad();
      } else if (kv.first == "security_counter") {
        if (!absl::SimpleAtoi(kv.second, &marker.security_counter))
          return bad();
      } else {
        return absl::DataLossError(absl::StrCat(
            MarkerPath(), ":", line_number, ": unknown key '", kv.first, "'"));
      }
    }
    return marker;
  }

 private:
  void Step(absl::string_view name) {
    if (checkpoint_) checkpoint_(name);
  }

  absl::StatusOr<VerifiedImage> Verify(ByteView image,
                                       uint32_t stored_counter) const {
    firmware::VerifyOptions options;
    options.stored_security_counter = stored_counter;
    std::vector<uint8_t> buffer(64 << 10);
    firmware::VerifyOutcome outcome =
        firmware::VerifyImage(firmware::MemoryImageSource(image), keys_,
                              options, absl::MakeSpan(buffer));
    if (!outcome.ok()) return firmware::ToStatus(outcome);
    return outcome.image();
  }

  absl::StatusOr<VerifiedImage> VerifySlot(char slot,
                                           const BootMarker& marker) const {
    absl::StatusOr<std::string> image =
        ReadFileBounded(SlotPath(slot), max_image_size_);
    if (!image.ok()) return image.status();
    absl::StatusOr<VerifiedImage> verified =
        Verify(AsBytes(*image), marker.security_counter);
    if (!verified.ok()) {
      return absl::Status(verified.status().code(),
                          absl::StrCat("slot ", std::string(1, slot), ": ",
                                       verified.status().message()));
    }
    return verified;
  }

  // CheckInactiveIsNotRunning refuses to overwrite `inactive` when it may be
  // the slot the gateway runs from: a trial that has booted
  // (trial_boots > 0) and is neither confirmed nor reverted, or a marker
  // whose active slot does not verify while `inactive` does (a fallback
  // boot that was not recorded, e.g. by an agent before the fallback was
  // persisted). Booting again records the fallback; then Install works.
  absl::Status CheckInactiveIsNotRunning(const BootMarker& marker,
                                         char inactive) const {
    if (marker.trial == inactive && marker.trial_boots > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("slot ", std::string(1, inactive),
                       " is on trial and may be running: confirm or revert it "
                       "(ConfirmOrRevert) before installing another image"));
    }
    absl::StatusOr<VerifiedImage> active = VerifySlot(marker.active, marker);
    if (!active.ok() && VerifySlot(inactive, marker).ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          MarkerPath(), " names slot ", std::string(1, marker.active),
          " as active, but it does not verify (", active.status().message(),
          ") while slot ", std::string(1, inactive),
          " does: the gateway is most likely running from slot ",
          std::string(1, inactive),
          " after a fallback; refusing to overwrite it (reboot so that the "
          "fallback is recorded, then install again)"));
    }
    return absl::OkStatus();
  }

  absl::Status SaveMarker(const BootMarker& marker) {
    return WriteFileAtomically(
        MarkerPath(),
        absl::StrCat("active=", std::string(1, marker.active), "\ntrial=",
                     marker.trial ? std::string(1, *marker.trial) : "none",
                     "\ntrial_boots=", marker.trial_boots,
                     "\nsecurity_counter=", marker.security_counter, "\n"),
        0600);
  }

  std::string root_;
  std::vector<TrustedKey> keys_;
  size_t max_image_size_;
  Checkpoint checkpoint_;
};

}  // namespace cxsec::gateway

#endif  // CXSEC_TARGETS_GATEWAY_UPDATE_AB_UPDATE_H_
