// cxsec-gateway: bridges nodes' radio networks to the cloud verifier.
#include "targets/common/binary_main.h"
#include "targets/gateway/gateway_core.h"

namespace cxsec::gateway {
namespace {

absl::Status Validate(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(CheckIdFormat(config, "gateway_id", 'G', 18));
  CXSEC_RETURN_IF_ERROR(CheckOneOf(config, "identity", {"tpm", "software"}));
  return absl::OkStatus();
}

absl::Status Run(const KeyValueFile& config) {
  GatewayCore core({}, {}, {});
  CXSEC_RETURN_IF_ERROR(core.Start(nullptr));
  core.Stop();
  return absl::OkStatus();
}

}  // namespace
}  // namespace cxsec::gateway

int main(int argc, char** argv) {
  cxsec::TargetBinary binary{
      .name = "cxsec-gateway",
      .summary = "Bridges 6LoWPAN (CoAP/DTLS-PSK) and Mioty nodes to the "
                 "cloud verifier over HTTPS, authenticated by a TPM key.",
      .composition = cxsec::gateway::kGatewayComposition,
      .config_keys =
          {
              {"gateway_id", true, "this gateway's id: G + 18 hex digits"},
              {"project_id", true, "the cloud project (JWT audience)"},
              {"identity", false, "tpm (default) or software"},
              {"key_file", false, "software identity: PKCS#8 PEM, mode 0600"},
              {"tpm_tcti", false, "TPM: device:/dev/tpmrm0 or swtpm:host=,port="},
              {"tpm_handle", false, "TPM: persistent key handle, e.g. 0x81000100"},
              {"cloud_url", false, "verifier base URL, https://host:port"},
              {"ca_bundle", false, "PEM CA bundle that signs the verifier"},
              {"security_file", false, "security.txt with the deployment keys"},
              {"dtls_listen", false, "CoAP/DTLS address, default [::]:5684"},
              {"mioty_listen", false, "Mioty base-station UDP address"},
              {"mioty_keys", false, "Mioty key store file, mode 0600"},
              {"spool_dir", false, "durable store-and-forward directory"},
              {"run_as_user", false, "account to drop to after start-up"},
          },
      .validate = cxsec::gateway::Validate,
      .run = cxsec::gateway::Run,
  };
  return cxsec::RunTargetBinary(binary, argc, argv);
}
