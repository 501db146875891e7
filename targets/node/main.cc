// cxsec-node: a battery node, simulated on the host (radio over UDP,
// flash in files).
#include "targets/common/binary_main.h"
#include "targets/node/mioty_sender.h"
#include "targets/node/node_core.h"

namespace cxsec::node {
namespace {

absl::Status Validate(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(CheckIdFormat(config, "device_id", 'D', 16));
  CXSEC_RETURN_IF_ERROR(CheckOneOf(config, "transport", {"dtls", "mioty"}));
  CXSEC_RETURN_IF_ERROR(
      config.GetInt("interval_seconds", 60, 1, 86400).status());
  CXSEC_RETURN_IF_ERROR(ValidateMiotyNodeConfig(config));
  return absl::OkStatus();
}

absl::Status Run(const KeyValueFile& config) {
  if (config.GetString("transport") == "mioty") return RunMiotyNode(config);
  NodeCore core({}, {}, {});
  CXSEC_RETURN_IF_ERROR(core.Start(nullptr));
  core.Stop();
  return absl::OkStatus();
}

}  // namespace
}  // namespace cxsec::node

int main(int argc, char** argv) {
  cxsec::TargetBinary binary{
      .name = "cxsec-node",
      .summary = "A simulated battery node: posts CBOR telemetry to a gateway "
                 "over CoAP/DTLS-PSK or Mioty.",
      .composition = cxsec::node::kNodeComposition,
      .config_keys =
          {
              {"device_id", true, "this node's id: D + 16 hex digits"},
              {"transport", false, "dtls (default) or mioty"},
              {"gateway", false, "gateway address, host:port"},
              {"key_file", false, "provisioned key material, mode 0600"},
              {"interval_seconds", false, "seconds between posts (1..86400)"},
              {"flash_dir", false, "simulated flash (boot slots)"},
          },
      .validate = cxsec::node::Validate,
      .run = cxsec::node::Run,
  };
  for (const cxsec::ConfigKey& key : cxsec::node::MiotyNodeConfigKeys()) {
    binary.config_keys.push_back(key);
  }
  return cxsec::RunTargetBinary(binary, argc, argv);
}
