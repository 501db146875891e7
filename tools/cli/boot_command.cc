// `cxsec boot`: the node's boot flow (targets/node/boot/node_boot.h) over
// simulated flash in a directory, so an operator or the demo can install
// a factory image, stage an update and boot, as a node would.
//
//   cxsec boot provision --dir DIR IMAGE      factory image, confirmed
//   cxsec boot upgrade --dir DIR IMAGE        stage a signed update
//   cxsec boot run --dir DIR --key PUB.pem    boot: swap if requested
//
// `run` prints the booted version, and for a refused update the reason;
// it exits 0 when an image booted, 3 when a requested update was refused
// or undone (the old image still boots), 1 when nothing boots.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/cli/command_line.h"
#include "core/firmware/host_image_verifier.h"
#include "core/firmware/signing_key.h"
#include "platforms/posix/files.h"
#include "targets/node/boot/node_boot.h"
#include "tools/cli/command_registry.h"

namespace cxsec::cli {
namespace {

constexpr size_t kMaxImageBytes = 16 << 20;
constexpr char kUsage[] =
    "Usage: cxsec boot provision --dir DIR [--slot-size N] IMAGE\n"
    "       cxsec boot upgrade --dir DIR [--slot-size N] IMAGE\n"
    "       cxsec boot run --dir DIR --key VENDOR_PUB.pem [--slot-size N]\n";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "cxsec boot: %s\n", std::string(status.message()).c_str());
  return 1;
}

int RunBoot(int argc, const char* const* argv) {
  if (argc < 1) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string action = argv[0];
  if (action == "--help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (action != "provision" && action != "upgrade" && action != "run") {
    std::fprintf(stderr, "cxsec boot: unknown action '%s'\n%s", action.c_str(), kUsage);
    return 2;
  }
  CommandLine cl({{"dir", true, "simulated flash directory", "DIR"},
                  {"key", true, "vendor public key PEM (run)", "PATH"},
                  {"slot-size", true, "slot size in bytes (default 65536)", "N"}});
  if (absl::Status parsed = cl.Parse(argc - 1, argv + 1); !parsed.ok()) {
    std::fprintf(stderr, "cxsec boot: %s\n%s", std::string(parsed.message()).c_str(), kUsage);
    return 2;
  }
  absl::StatusOr<std::string> dir = cl.RequiredValue("dir");
  if (!dir.ok()) return Fail(dir.status());
  absl::StatusOr<long long> slot_size = cl.IntValue("slot-size", 65536, 4096, 1 << 24);
  if (!slot_size.ok()) return Fail(slot_size.status());
  std::vector<firmware::TrustedKey> keys;
  if (action == "run") {
    absl::StatusOr<std::string> key_path = cl.RequiredValue("key");
    if (!key_path.ok()) return Fail(key_path.status());
    absl::StatusOr<std::string> pem = ReadFileBounded(*key_path, 64 << 10);
    if (!pem.ok()) return Fail(pem.status());
    absl::StatusOr<firmware::TrustedKey> key = firmware::TrustedKeyFromPublicKeyPem(*pem);
    if (!key.ok()) return Fail(key.status());
    keys.push_back(std::move(*key));
  }
  if (absl::Status made = MakeDirectories(*dir, 0700); !made.ok()) return Fail(made);
  node::NodeBootloader loader(*dir, static_cast<uint32_t>(*slot_size), std::move(keys));
  if (action != "run") {
    if (cl.positionals().size() != 1) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    absl::StatusOr<std::string> image = ReadFileBounded(cl.positionals()[0], kMaxImageBytes);
    if (!image.ok()) return Fail(image.status());
    absl::Status written = action == "provision"
                               ? loader.Provision(AsBytes(*image))
                               : loader.RequestUpgrade(AsBytes(*image), true);
    if (!written.ok()) return Fail(written);
    std::printf("%s: wrote %s\n", action.c_str(), cl.positionals()[0].c_str());
    return 0;
  }
  absl::StatusOr<node::BootResult> booted = loader.Boot();
  if (!booted.ok()) {
    std::printf("boot FAILED: %s\n", std::string(booted.status().message()).c_str());
    return 1;
  }
  const firmware::ImageVersion& v = booted->image->header().version;
  std::printf("booted version %u.%u.%u+%u (security counter %u, swap %s)\n", v.major,
              v.minor, v.revision, v.build, booted->image->security_counter(),
              node::SwapTypeName(booted->swap));
  if (booted->refusal != node::SwapRefusal::kNone) {
    std::printf("update REJECTED: %s (%s)\n",
                booted->secondary_rejected == firmware::RejectReason::kNone
                    ? "not the previous image"
                    : firmware::RejectReasonText(booted->secondary_rejected),
                node::SwapRefusalName(booted->refusal));
    return 3;
  }
  return 0;
}

}  // namespace
}  // namespace cxsec::cli

CXSEC_REGISTER_COMMAND(boot, "the node's boot flow over simulated flash",
                       cxsec::cli::RunBoot);
