// cxsec-gateway: bridges nodes' radio networks to the cloud verifier.
//
// Start-up order (docs/GATEWAY.md): validate the config, read what only
// root may read (CA bundle; later the TPM device and privileged ports),
// drop to `run_as_user`, then open the spool and start the composition.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "platforms/posix/files.h"
#include "platforms/posix/privileges.h"
#include "targets/common/binary_main.h"
#include "targets/gateway/gateway_core.h"
#include "transports/uplink/https_client.h"
#include "transports/uplink/https_uplink.h"

namespace cxsec::gateway {
namespace {

constexpr size_t kMaxCaBundleBytes = 1 << 20;
constexpr char kDefaultSpoolDir[] = "/var/lib/cxsec";

// LineError names the line of `key` in `config`.
absl::Status KeyError(const KeyValueFile& config, absl::string_view key,
                      absl::string_view message) {
  const KeyValueFile::Entry* entry = config.Find(key);
  return config.LineError(entry ? entry->line : 0,
                          absl::StrCat("'", key, "': ", message));
}

absl::Status ValidateUplink(const KeyValueFile& config) {
  if (config.Find("cloud_url") != nullptr) {
    absl::StatusOr<HttpsUrl> url = ParseHttpsUrl(config.GetString("cloud_url"));
    if (!url.ok()) return KeyError(config, "cloud_url", url.status().message());
    if (config.Find("ca_bundle") == nullptr) {
      return KeyError(config, "cloud_url",
                      "needs 'ca_bundle', the CAs that sign the verifier");
    }
  }
  if (config.Find("ca_bundle") != nullptr) {
    std::string path = config.GetString("ca_bundle");
    absl::StatusOr<std::string> pem = ReadFileBounded(path, kMaxCaBundleBytes);
    if (!pem.ok()) return KeyError(config, "ca_bundle", pem.status().message());
    absl::StatusOr<int> count = CountPemCertificates(*pem);
    if (!count.ok()) {
      return KeyError(config, "ca_bundle",
                      absl::StrCat(path, ": ", count.status().message()));
    }
  }
  if (config.Find("spki_pin") != nullptr) {
    absl::StatusOr<std::vector<std::string>> pins =
        ParseSpkiPins(config.GetString("spki_pin"));
    if (!pins.ok()) return KeyError(config, "spki_pin", pins.status().message());
  }
  if (config.Find("spool_dir") != nullptr &&
      config.GetString("spool_dir").rfind('/', 0) != 0) {
    return KeyError(config, "spool_dir", "must be an absolute path");
  }
  CXSEC_RETURN_IF_ERROR(config.GetInt("spool_max_bytes", 256 << 20, 1 << 20,
                                      1ll << 40)
                            .status());
  CXSEC_RETURN_IF_ERROR(
      config.GetInt("spool_max_messages", 1'000'000, 1, 1'000'000'000)
          .status());
  CXSEC_RETURN_IF_ERROR(
      config.GetInt("batch_max_messages", 256, 1, 500).status());
  CXSEC_RETURN_IF_ERROR(CheckOneOf(config, "spool_sync", {"full", "normal"}));
  if (config.Find("run_as_user") != nullptr) {
    absl::StatusOr<Account> account =
        LookUpAccount(config.GetString("run_as_user"));
    if (!account.ok()) {
      return KeyError(config, "run_as_user", account.status().message());
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(CheckIdFormat(config, "gateway_id", 'G', 18));
  CXSEC_RETURN_IF_ERROR(CheckOneOf(config, "identity", {"tpm", "software"}));
  return ValidateUplink(config);
}

absl::StatusOr<HttpsUplinkOptions> UplinkOptions(const KeyValueFile& config) {
  if (config.Find("cloud_url") == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source(), ": 'cloud_url' and 'ca_bundle' are needed to run"));
  }
  HttpsUplinkOptions options;
  options.client.url = config.GetString("cloud_url");
  CXSEC_ASSIGN_OR_RETURN(options.client.ca_bundle_pem,
                         ReadFileBounded(config.GetString("ca_bundle"),
                                         kMaxCaBundleBytes));
  CXSEC_ASSIGN_OR_RETURN(options.client.spki_pins,
                         ParseSpkiPins(config.GetString("spki_pin")));
  options.spool.path =
      absl::StrCat(config.GetString("spool_dir", kDefaultSpoolDir), "/spool.db");
  options.spool.sync = config.GetString("spool_sync", "full") == "normal"
                           ? SpoolSync::kNormal
                           : SpoolSync::kFull;
  CXSEC_ASSIGN_OR_RETURN(options.spool.max_bytes,
                         config.GetInt("spool_max_bytes", 256 << 20, 1 << 20,
                                       1ll << 40));
  CXSEC_ASSIGN_OR_RETURN(options.spool.max_messages,
                         config.GetInt("spool_max_messages", 1'000'000, 1,
                                       1'000'000'000));
  CXSEC_ASSIGN_OR_RETURN(long long batch,
                         config.GetInt("batch_max_messages", 256, 1, 500));
  options.batch_max_messages = static_cast<size_t>(batch);
  return options;
}

absl::Status Run(const KeyValueFile& config) {
  // 1. As root: read what only root may read. (The TPM identity and the
  //    transports' sockets are opened here too once their backends land.)
  CXSEC_ASSIGN_OR_RETURN(HttpsUplinkOptions options, UplinkOptions(config));
  CXSEC_ASSIGN_OR_RETURN(HttpsUplink uplink, HttpsUplink::Create(options));
  // 2. Drop to the service account for good, before any thread starts.
  if (config.Find("run_as_user") != nullptr) {
    CXSEC_RETURN_IF_ERROR(DropPrivileges(config.GetString("run_as_user")));
  }
  // 3. Unprivileged: the spool opens in Start, then the transports.
  GatewayCore core({}, {}, std::move(uplink));
  BearerTokenSource tokens = [&core]() -> absl::StatusOr<std::string> {
    // The identity backend (TPM or software key) mints the JWT here.
    absl::StatusOr<std::string> key_id = core.identity().KeyId();
    if (!key_id.ok()) return key_id.status();
    return absl::UnimplementedError("JWT minting lands with the identity");
  };
  CXSEC_RETURN_IF_ERROR(core.Start(std::move(tokens)));
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
              {"cloud_url", false, "verifier base URL, https://host:port[/prefix]"},
              {"ca_bundle", false, "PEM CA bundle that signs the verifier"},
              {"spki_pin", false,
               "base64 SHA-256 of the verifier's public key (SPKI); "
               "comma-separated for rotation"},
              {"security_file", false, "security.txt with the deployment keys"},
              {"dtls_listen", false, "CoAP/DTLS address, default [::]:5684"},
              {"mioty_listen", false, "Mioty base-station UDP address"},
              {"mioty_keys", false, "Mioty key store file, mode 0600"},
              {"spool_dir", false,
               "store-and-forward directory, mode 0700 (/var/lib/cxsec)"},
              {"spool_max_bytes", false,
               "spool limit in bytes, default 268435456; full -> CoAP 5.03"},
              {"spool_max_messages", false,
               "spool limit in messages, default 1000000"},
              {"spool_sync", false,
               "full (default: survives power loss) or normal (kill -9 only)"},
              {"batch_max_messages", false,
               "messages per POST /v1/telemetry, 1..500 (default 256)"},
              {"run_as_user", false, "account to drop to after start-up"},
          },
      .validate = cxsec::gateway::Validate,
      .run = cxsec::gateway::Run,
  };
  return cxsec::RunTargetBinary(binary, argc, argv);
}
