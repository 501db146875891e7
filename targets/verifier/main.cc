// cxsec-verifier: the cloud side. Checks gateways' JWTs against the
// registry and stores accepted telemetry durably.
#include "targets/common/binary_main.h"
#include "targets/verifier/verifier_core.h"

namespace cxsec::verifier {
namespace {

absl::Status Validate(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(CheckOneOf(config, "registry", {"sqlite", "etcd"}));
  return absl::OkStatus();
}

absl::Status Run(const KeyValueFile& config) {
  VerifierCore core({}, {}, {});
  CXSEC_RETURN_IF_ERROR(core.Start(nullptr));
  core.Stop();
  return absl::OkStatus();
}

}  // namespace
}  // namespace cxsec::verifier

int main(int argc, char** argv) {
  cxsec::TargetBinary binary{
      .name = "cxsec-verifier",
      .summary = "The cloud verifier: HTTPS ingest with JWT-authenticated "
                 "gateways, a device registry, least-privilege roles.",
      .composition = cxsec::verifier::kVerifierComposition,
      .config_keys =
          {
              {"data_dir", true, "directory for the registry and sinks"},
              {"listen", false, "HTTPS address, default 127.0.0.1:8443"},
              {"tls_cert", false, "server certificate chain (PEM)"},
              {"tls_key", false, "server private key (PEM, mode 0600)"},
              {"registry", false, "sqlite (default) or etcd"},
              {"etcd_endpoints", false, "etcd URLs, comma-separated"},
          },
      .validate = cxsec::verifier::Validate,
      .run = cxsec::verifier::Run,
  };
  return cxsec::RunTargetBinary(binary, argc, argv);
}
