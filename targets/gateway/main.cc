// cxsec-gateway: bridges nodes' radio networks to the cloud verifier.
//
// Start-up order (docs/GATEWAY.md): validate the config, read what only
// root may read (CA bundle, identity key or TPM connection, security.txt,
// Mioty key store), drop to `run_as_user` (or stay root only with an
// explicit `run_as_root = true`), then open the spool and start
// the composition; it runs until SIGTERM or SIGINT. SIGHUP reloads
// security.txt and the Mioty key store (docs/GATEWAY.md).
//
// GnuTLS reads GNUTLS_SYSTEM_PRIORITY_FILE when it is loaded, before main,
// so with DTLS enabled the binary re-executes itself once with it set to
// `dtls_priority_file` (as cxsec-dtls-gateway does).
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/jwt/issuer.h"
#include "platforms/posix/files.h"
#include "platforms/posix/privileges.h"
#include "platforms/tpm/tpm_auth_file.h"
#include "targets/common/binary_main.h"
#include "targets/gateway/gateway_core.h"
#include "transports/dtls/security_loader.h"
#include "transports/mioty/key_store.h"
#include "transports/uplink/https_client.h"
#include "transports/uplink/https_uplink.h"

namespace cxsec::gateway {
namespace {

constexpr size_t kMaxCaBundleBytes = 1 << 20;
constexpr size_t kMaxKeyFileBytes = 64 << 10;
constexpr char kDefaultSpoolDir[] = "/var/lib/cxsec";
constexpr char kDefaultPriorityFile[] = "/etc/cxsec/gnutls_psk_ccm8.conf";
constexpr char kDefaultTpmHandle[] = "0x81000010";

// The process's argv, for the one re-exec that loads GnuTLS's override.
char** g_argv = nullptr;

// KeyError names the line of `key` in `config`, or, for a key that is not
// set (its default is at fault), the key alone: "line 0" points nowhere.
absl::Status KeyError(const KeyValueFile& config, absl::string_view key,
                      absl::string_view message) {
  const KeyValueFile::Entry* entry = config.Find(key);
  if (entry == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source(), ": '", key, "' (not set, default used): ", message));
  }
  return config.LineError(entry->line, absl::StrCat("'", key, "': ", message));
}

// CheckPriorityFile: with DTLS on, start-up re-executes with GnuTLS's
// priority override; --check-config runs the same check so that a missing
// file is reported before the start, with the way to fix it.
absl::Status CheckPriorityFile(const KeyValueFile& config) {
  std::string file =
      config.GetString("dtls_priority_file", kDefaultPriorityFile);
  if (access(file.c_str(), R_OK) != 0) {
    int error = errno;
    return KeyError(
        config, "dtls_priority_file",
        absl::StrCat("GnuTLS priority file ", file, " is not readable (",
                     std::strerror(error),
                     "); install transports/dtls/gnutls_psk_ccm8.conf there "
                     "(docs/GATEWAY.md, Install) or point "
                     "dtls_priority_file at it"));
  }
  return absl::OkStatus();
}

// ValidatePrivileges: the gateway parses radio traffic from anyone in
// range, so staying root must be a decision written in the config, never
// the silent result of a missing `run_as_user`.
absl::Status ValidatePrivileges(const KeyValueFile& config) {
  CXSEC_ASSIGN_OR_RETURN(bool run_as_root,
                         config.GetBool("run_as_root", false));
  bool has_user = config.Find("run_as_user") != nullptr;
  if (has_user && run_as_root) {
    return KeyError(config, "run_as_root",
                    "contradicts 'run_as_user'; set only one of them");
  }
  if (has_user) {
    absl::StatusOr<Account> account =
        LookUpAccount(config.GetString("run_as_user"));
    if (!account.ok()) {
      return KeyError(config, "run_as_user", account.status().message());
    }
    return absl::OkStatus();
  }
  if (!run_as_root) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source(),
        ": neither 'run_as_user' nor 'run_as_root = true' is set: the "
        "gateway would keep running as the account that started it (root). "
        "Set run_as_user = <service account> (e.g. cxsec, see "
        "targets/gateway/systemd/cxsec.sysusers.conf), or run_as_root = true "
        "if root is really intended"));
  }
  return absl::OkStatus();
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
  CXSEC_RETURN_IF_ERROR(ValidatePrivileges(config));
  return absl::OkStatus();
}

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// ParseHostPort reads "ipv4:port"; port 0 ("any") only if allowed.
absl::StatusOr<HostPort> ParseHostPort(const KeyValueFile& config,
                                       absl::string_view key,
                                       bool allow_port_zero) {
  std::string value = config.GetString(key);
  size_t colon = value.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(value).substr(colon + 1), &port) ||
      port < (allow_port_zero ? 0 : 1) || port > 65535) {
    return KeyError(config, key,
                    absl::StrCat("expected IPv4 'address:port' with port ",
                                 allow_port_zero ? 0 : 1, "..65535"));
  }
  return HostPort{value.substr(0, colon), static_cast<uint16_t>(port)};
}

// RequireBoth: a transport is enabled by a pair of keys, never by one.
absl::Status RequireBoth(const KeyValueFile& config, absl::string_view a,
                         absl::string_view b) {
  bool has_a = config.Find(a) != nullptr;
  bool has_b = config.Find(b) != nullptr;
  if (has_a && !has_b) return KeyError(config, a, absl::StrCat("needs '", b, "'"));
  if (has_b && !has_a) return KeyError(config, b, absl::StrCat("needs '", a, "'"));
  return absl::OkStatus();
}

absl::Status ValidateIdentity(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(CheckOneOf(config, "identity", {"tpm", "software"}));
  if (config.GetString("identity", "tpm") == "software") {
    if (config.Find("key_file") == nullptr) {
      return KeyError(config, "identity",
                      "'software' needs 'key_file' (PKCS#8 PEM, mode 0600)");
    }
    absl::StatusOr<std::string> pem =
        ReadPrivateFile(config.GetString("key_file"), kMaxKeyFileBytes);
    if (!pem.ok()) return KeyError(config, "key_file", pem.status().message());
    absl::StatusOr<SoftKey> key = SoftKey::FromPkcs8Pem(SecretBytes::CopyFrom(AsBytes(*pem)));
    SecureZero(pem->data(), pem->size());
    if (!key.ok()) return KeyError(config, "key_file", key.status().message());
    return absl::OkStatus();
  }
  if (config.Find("tpm_tcti") == nullptr) {
    return KeyError(config, "identity",
                    "'tpm' needs 'tpm_tcti', e.g. device:/dev/tpmrm0");
  }
  absl::StatusOr<uint32_t> handle =
      TpmKey::ParseHandle(config.GetString("tpm_handle", kDefaultTpmHandle));
  if (!handle.ok()) return KeyError(config, "tpm_handle", handle.status().message());
  // A key with an empty authorization value signs for any local account
  // that can open the TPM: that needs saying explicitly.
  CXSEC_ASSIGN_OR_RETURN(bool empty_auth,
                         config.GetBool("tpm_allow_empty_auth", false));
  bool has_auth_file = config.Find("tpm_auth_file") != nullptr;
  if (has_auth_file && empty_auth) {
    return KeyError(config, "tpm_allow_empty_auth",
                    "contradicts 'tpm_auth_file'; remove one of them");
  }
  if (!has_auth_file && !empty_auth) {
    return KeyError(
        config, "identity",
        "'tpm' needs 'tpm_auth_file' (the 0600 root-owned file `cxsec tpm "
        "enroll --auth-file` wrote), or 'tpm_allow_empty_auth = true' for a "
        "key any local TPM user may sign with");
  }
  if (has_auth_file) {
    absl::StatusOr<SecretBytes> auth =
        ReadTpmAuthFile(config.GetString("tpm_auth_file"));
    if (!auth.ok()) {
      return KeyError(config, "tpm_auth_file", auth.status().message());
    }
  }
  return absl::OkStatus();
}

// ServiceAccount is the uid `run_as_user` names. Its files are accepted as
// key files too: the gateway reads security.txt and the Mioty store as root
// at start and again as that account on SIGHUP, so with run_as_user they
// must be that account's (docs/GATEWAY.md).
std::optional<uid_t> ServiceAccount(const KeyValueFile& config) {
  if (config.Find("run_as_user") == nullptr) return std::nullopt;
  struct passwd* account = ::getpwnam(config.GetString("run_as_user").c_str());
  if (account == nullptr) return std::nullopt;
  return account->pw_uid;
}

absl::Status ValidateTransports(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(RequireBoth(config, "security_file", "dtls_listen"));
  CXSEC_RETURN_IF_ERROR(RequireBoth(config, "mioty_keys", "mioty_listen"));
  if (config.Find("dtls_listen") != nullptr) {
    CXSEC_RETURN_IF_ERROR(ParseHostPort(config, "dtls_listen", false).status());
    absl::StatusOr<SecurityConfig> security =
        dtls::LoadSecurityFile(config.GetString("security_file"),
                                ServiceAccount(config));
    if (!security.ok()) {
      return KeyError(config, "security_file", security.status().message());
    }
    CXSEC_RETURN_IF_ERROR(CheckPriorityFile(config));
  }
  CXSEC_RETURN_IF_ERROR(config.GetInt("dtls_rate", 10, 1, 1'000'000).status());
  CXSEC_RETURN_IF_ERROR(config.GetInt("dtls_burst", 20, 1, 1'000'000).status());
  CXSEC_RETURN_IF_ERROR(
      config.GetInt("dtls_max_sessions", 1000, 1, 1'000'000).status());
  CXSEC_RETURN_IF_ERROR(
      config.GetInt("dtls_max_handshakes", 100, 1, 100'000).status());
  CXSEC_RETURN_IF_ERROR(
      config.GetInt("dtls_max_sessions_per_identity", 4, 0, 1'000'000)
          .status());
  if (config.Find("mioty_listen") != nullptr) {
    CXSEC_RETURN_IF_ERROR(ParseHostPort(config, "mioty_listen", true).status());
    absl::StatusOr<mioty::MiotyKeyStore> store =
        mioty::MiotyKeyStore::Load(config.GetString("mioty_keys"), {},
                                   ServiceAccount(config));
    if (!store.ok()) return KeyError(config, "mioty_keys", store.status().message());
  }
  return absl::OkStatus();
}

absl::Status Validate(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(CheckIdFormat(config, "gateway_id", 'G', 18));
  CXSEC_RETURN_IF_ERROR(ValidateIdentity(config));
  CXSEC_RETURN_IF_ERROR(ValidateTransports(config));
  CXSEC_RETURN_IF_ERROR(
      config.GetInt("token_lifetime_seconds", 3600, 10, 86400).status());
  return ValidateUplink(config);
}

// OpenIdentity opens the configured key: the TPM connection (device node
// or swtpm socket) or the software key file. Runs before the drop.
absl::StatusOr<ConfiguredIdentity> OpenIdentity(const KeyValueFile& config) {
  if (config.GetString("identity", "tpm") == "software") {
    CXSEC_ASSIGN_OR_RETURN(
        std::string pem,
        ReadPrivateFile(config.GetString("key_file"), kMaxKeyFileBytes));
    absl::StatusOr<SoftKey> key = SoftKey::FromPkcs8Pem(SecretBytes::CopyFrom(AsBytes(pem)));
    SecureZero(pem.data(), pem.size());
    if (!key.ok()) return key.status();
    return ConfiguredIdentity(std::move(*key));
  }
  CXSEC_ASSIGN_OR_RETURN(
      uint32_t handle,
      TpmKey::ParseHandle(config.GetString("tpm_handle", kDefaultTpmHandle)));
  SecretBytes auth;
  if (config.Find("tpm_auth_file") != nullptr) {
    CXSEC_ASSIGN_OR_RETURN(auth,
                           ReadTpmAuthFile(config.GetString("tpm_auth_file")));
  }
  absl::StatusOr<TpmKey> key =
      TpmKey::Open(config.GetString("tpm_tcti"), handle, auth);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat("TPM identity (", config.GetString("tpm_tcti"),
                                     "): ", key.status().message()));
  }
  return ConfiguredIdentity(std::move(*key));
}

// AcceptedEpochs says which key epochs DTLS accepts, for the log.
std::string AcceptedEpochs(const SecurityConfig& security) {
  if (!security.next_epoch.has_value()) {
    return absl::StrCat("DTLS accepts key epoch ", security.epoch,
                        " only");
  }
  return absl::StrCat("DTLS accepts key epochs ", security.epoch, " and ",
                      *security.next_epoch, " (rollover in progress: GET /k ",
                      "serves epoch ", *security.next_epoch, ")");
}

// OpenTransports builds the enabled transports, reading their key files
// (root-only) now; sockets are bound in Start.
absl::StatusOr<GatewayTransports> OpenTransports(
    const KeyValueFile& config, std::shared_ptr<ReceiptBox> receipts) {
  EnabledTransport<dtls::DtlsServer> dtls_slot;
  EnabledTransport<mioty::MiotyTransport> mioty_slot;
  if (config.Find("dtls_listen") != nullptr) {
    CXSEC_ASSIGN_OR_RETURN(HostPort listen, ParseHostPort(config, "dtls_listen", false));
    CXSEC_ASSIGN_OR_RETURN(SecurityConfig security,
                           dtls::LoadSecurityFile(config.GetString("security_file"),
                                ServiceAccount(config)));
    std::fprintf(stderr, "cxsec-gateway: %s\n", AcceptedEpochs(security).c_str());
    dtls::DtlsServerOptions options;
    options.listen_address = listen.host;
    options.port = listen.port;
    CXSEC_ASSIGN_OR_RETURN(options.requests_per_second,
                           config.GetInt("dtls_rate", 10, 1, 1'000'000));
    CXSEC_ASSIGN_OR_RETURN(options.request_burst,
                           config.GetInt("dtls_burst", 20, 1, 1'000'000));
    CXSEC_ASSIGN_OR_RETURN(options.max_sessions,
                           config.GetInt("dtls_max_sessions", 1000, 1, 1'000'000));
    CXSEC_ASSIGN_OR_RETURN(options.max_handshakes,
                           config.GetInt("dtls_max_handshakes", 100, 1, 100'000));
    CXSEC_ASSIGN_OR_RETURN(
        options.max_sessions_per_identity,
        config.GetInt("dtls_max_sessions_per_identity", 4, 0, 1'000'000));
    CXSEC_ASSIGN_OR_RETURN(options.commit_threads,
                           config.GetInt("dtls_commit_threads", 32, 0, 256));
    options.take_receipts = ReceiptsToDtls(receipts);
    dtls_slot = EnabledTransport<dtls::DtlsServer>(
        std::make_unique<dtls::DtlsServer>(options, std::move(security)));
  }
  if (config.Find("mioty_listen") != nullptr) {
    CXSEC_ASSIGN_OR_RETURN(mioty::MiotyKeyStore store,
                           mioty::MiotyKeyStore::Load(config.GetString("mioty_keys"), {},
                                   ServiceAccount(config)));
    mioty::MiotyTransportConfig mioty_config;
    mioty_config.listen = config.GetString("mioty_listen");
    // Read now (before the privilege drop) and kept for SIGHUP reloads,
    // which read the file again as the service account.
    mioty_config.key_store_path = config.GetString("mioty_keys");
    mioty_config.state_dir =
        absl::StrCat(config.GetString("spool_dir", kDefaultSpoolDir), "/mioty");
    mioty_slot = EnabledTransport<mioty::MiotyTransport>(
        std::make_unique<mioty::MiotyTransport>(std::move(mioty_config),
                                                std::move(store)));
  }
  if (!dtls_slot.enabled() && !mioty_slot.enabled()) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source(),
        ": no transport enabled (set security_file + dtls_listen and/or "
        "mioty_keys + mioty_listen)"));
  }
  return GatewayTransports(std::move(dtls_slot), std::move(mioty_slot));
}

// LoadGnuTlsOverride re-executes the binary once with GnuTLS's priority
// override in its environment; it returns only on failure.
absl::Status LoadGnuTlsOverride(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(CheckPriorityFile(config));
  std::string file =
      config.GetString("dtls_priority_file", kDefaultPriorityFile);
  setenv("GNUTLS_SYSTEM_PRIORITY_FILE", file.c_str(), 1);
  execv("/proc/self/exe", g_argv);
  return absl::InternalError("cannot re-execute with the GnuTLS priority file");
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

// ReloadMiotyKeys answers SIGHUP: the Mioty key store is read again and
// put in use, or, if the file is unreadable or invalid, the keys in use
// stay and the log says why. Either way the gateway keeps running.
void ReloadMiotyKeys(mioty::MiotyTransport* mioty) {
  if (mioty == nullptr) {
    std::fprintf(stderr, "cxsec-gateway: SIGHUP: Mioty is off, no keys to reload\n");
    return;
  }
  absl::StatusOr<size_t> devices = mioty->ReloadKeys();
  if (devices.ok()) {
    std::fprintf(stderr, "cxsec-gateway: reloaded Mioty keys: %zu devices\n", *devices);
  } else {
    std::fprintf(stderr,
                 "cxsec-gateway: Mioty key reload failed, keeping the keys in use: %s\n",
                 std::string(devices.status().message()).c_str());
  }
}

// ReloadDtlsSecurity answers SIGHUP: security.txt is read again, as the
// service account after the drop (so it must be that account's file, mode
// 0600, or readable by it), and put in use at once: new handshakes use it,
// and requests in sessions of a retired epoch are refused with 4.01. An
// unreadable or invalid file leaves the keys in use, and the log says why.
void ReloadDtlsSecurity(dtls::DtlsServer* dtls, const std::string& path) {
  absl::StatusOr<SecurityConfig> security = dtls::LoadSecurityFile(path);
  if (!security.ok()) {
    std::string hint;
    if (::geteuid() != 0) {
      hint = absl::StrCat(
          " (after the privilege drop the file is read as uid ", ::geteuid(),
          ": make that account its owner, mode 0600, or restart the gateway)");
    }
    std::fprintf(stderr,
                 "cxsec-gateway: security.txt reload failed, keeping the keys "
                 "in use: %s%s\n",
                 std::string(security.status().message()).c_str(),
                 hint.c_str());
    return;
  }
  std::string accepted = AcceptedEpochs(*security);
  dtls->ReplaceSecurity(std::move(*security));
  std::fprintf(stderr, "cxsec-gateway: reloaded %s: %s\n", path.c_str(),
               accepted.c_str());
}

// PrintCounters says on the way out what this run did, per transport and
// on the uplink, as cxsec-dtls-gateway does: what was accepted, refused by
// reason, spooled and sent, and the DTLS suite that was negotiated.
void PrintCounters(GatewayCore& core) {
  auto& dtls_slot = core.transport().Get<EnabledTransport<dtls::DtlsServer>>();
  if (dtls_slot.enabled()) {
    dtls::DtlsServerCounters c = dtls_slot.get()->Counters();
    std::fprintf(
        stderr,
        "cxsec-gateway: dtls accepted=%llu sealed=%llu handshakes_ok=%llu "
        "handshakes_failed=%llu unknown_identities=%llu sessions_refused=%llu "
        "sessions_evicted=%llu wrong_suite=%llu malformed=%llu too_large=%llu "
        "rate_limited=%llu sink_failures=%llu keys_served=%llu "
        "answers_separate=%llu answers_dropped=%llu answers_repeated=%llu "
        "suite=%s\n",
        static_cast<unsigned long long>(c.messages_accepted),
        static_cast<unsigned long long>(c.sealed_accepted),
        static_cast<unsigned long long>(c.handshakes_ok),
        static_cast<unsigned long long>(c.handshakes_failed),
        static_cast<unsigned long long>(c.unknown_identities),
        static_cast<unsigned long long>(c.sessions_refused),
        static_cast<unsigned long long>(c.sessions_evicted),
        static_cast<unsigned long long>(c.wrong_suite),
        static_cast<unsigned long long>(c.malformed),
        static_cast<unsigned long long>(c.too_large),
        static_cast<unsigned long long>(c.rate_limited),
        static_cast<unsigned long long>(c.sink_failures),
        static_cast<unsigned long long>(c.keys_served),
        static_cast<unsigned long long>(c.answers_separate),
        static_cast<unsigned long long>(c.answers_dropped),
        static_cast<unsigned long long>(c.answers_repeated),
        c.last_cipher_suite.empty() ? "none" : c.last_cipher_suite.c_str());
  }
  auto& mioty_slot =
      core.transport().Get<EnabledTransport<mioty::MiotyTransport>>();
  if (mioty_slot.enabled()) {
    mioty::MiotyTransportStats m = mioty_slot.get()->stats();
    std::fprintf(stderr, "cxsec-gateway: mioty accepted=%llu rejected=%llu\n",
                 static_cast<unsigned long long>(m.accepted),
                 static_cast<unsigned long long>(m.rejected));
  }
  UplinkStats u = core.uplink().stats();
  std::string by_reason;
  for (const auto& [reason, count] : u.rejected_by_reason) {
    absl::StrAppend(&by_reason, by_reason.empty() ? "" : ",", reason, ":",
                    count);
  }
  std::fprintf(
      stderr,
      "cxsec-gateway: uplink spooled=%lld refused_full=%lld sent_batches=%lld "
      "accepted=%lld duplicates=%lld rejected=%lld (%s) conflicts=%lld "
      "set_aside=%lld still_spooled=%lld\n",
      static_cast<long long>(u.enqueued), static_cast<long long>(u.refused_full),
      static_cast<long long>(u.batches_sent),
      static_cast<long long>(u.accepted), static_cast<long long>(u.duplicates),
      static_cast<long long>(u.rejected),
      by_reason.empty() ? "none" : by_reason.c_str(),
      static_cast<long long>(u.conflicts), static_cast<long long>(u.set_aside),
      static_cast<long long>(u.spooled_now));
  // Where a reading's time went (tools/bench/e2e.sh reads this line).
  uint64_t sink_calls = 0, sink_us = 0;
  if (dtls_slot.enabled()) {
    dtls::DtlsServerCounters c = dtls_slot.get()->Counters();
    sink_calls = c.sink_calls;
    sink_us = c.sink_us;
  }
  std::fprintf(
      stderr,
      "cxsec-gateway: stages dtls_spool_commits=%llu dtls_spool_commit_us=%llu "
      "uplink_messages=%lld uplink_build_us=%lld uplink_round_trip_us=%lld "
      "uplink_acknowledge_us=%lld\n",
      static_cast<unsigned long long>(sink_calls),
      static_cast<unsigned long long>(sink_us),
      static_cast<long long>(u.messages_sent), static_cast<long long>(u.build_us),
      static_cast<long long>(u.round_trip_us),
      static_cast<long long>(u.acknowledge_us));
}

absl::Status Run(const KeyValueFile& config) {
  if (config.Find("dtls_listen") != nullptr &&
      std::getenv("GNUTLS_SYSTEM_PRIORITY_FILE") == nullptr) {
    return LoadGnuTlsOverride(config);
  }
  // 1. As root: read what only root may read and open the TPM.
  CXSEC_ASSIGN_OR_RETURN(HttpsUplinkOptions options, UplinkOptions(config));
  // Seal receipts go from the uplink back to DTLS nodes (in memory only).
  auto receipts = std::make_shared<ReceiptBox>();
  options.on_receipt = ReceiptsFromUplink(receipts);
  CXSEC_ASSIGN_OR_RETURN(HttpsUplink uplink, HttpsUplink::Create(options));
  CXSEC_ASSIGN_OR_RETURN(ConfiguredIdentity identity, OpenIdentity(config));
  CXSEC_ASSIGN_OR_RETURN(GatewayTransports transports,
                         OpenTransports(config, receipts));
  // Signals are taken by sigwait below; blocked before any thread starts,
  // so every thread inherits the mask.
  // SIGHUP reloads security.txt and the Mioty key store; SIGTERM and
  // SIGINT stop.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // 2. Drop to the service account for good, before any thread starts.
  // Without run_as_user, Validate has required run_as_root = true.
  if (config.Find("run_as_user") != nullptr) {
    CXSEC_RETURN_IF_ERROR(DropPrivileges(config.GetString("run_as_user")));
    std::fprintf(stderr,
                 "cxsec-gateway: running as '%s' (uid %d): no supplementary "
                 "group, no capability, no new privileges\n",
                 config.GetString("run_as_user").c_str(),
                 static_cast<int>(::getuid()));
  } else {
    std::fprintf(stderr,
                 "cxsec-gateway: run_as_root = true: staying uid %d, not "
                 "dropping privileges\n",
                 static_cast<int>(::geteuid()));
  }
  // 3. Unprivileged: the spool opens in Start, then the transports.
  CXSEC_ASSIGN_OR_RETURN(long long token_lifetime,
                         config.GetInt("token_lifetime_seconds", 3600, 10, 86400));
  GatewayCore core(std::move(transports), std::move(identity), std::move(uplink));
  CachingTokenSource<ConfiguredIdentity> tokens(
      core.identity(),
      {.subject = config.GetString("gateway_id"),
       .audience = config.GetString("project_id"),
       .lifetime = absl::Seconds(token_lifetime)},
      SystemClock::Default());
  CXSEC_RETURN_IF_ERROR(core.Start(tokens.AsBearerTokenSource()));
  auto& mioty_slot =
      core.transport().Get<EnabledTransport<mioty::MiotyTransport>>();
  std::printf("cxsec-gateway: ready identity=%s dtls=%s mioty=%s\n",
              std::string(core.identity().Backend()).c_str(),
              config.GetString("dtls_listen", "off").c_str(),
              mioty_slot.enabled()
                  ? absl::StrCat("127.0.0.1:", mioty_slot.get()->port()).c_str()
                  : "off");
  std::fflush(stdout);
  auto& dtls_slot = core.transport().Get<EnabledTransport<dtls::DtlsServer>>();
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) == 0 && signal_number == SIGHUP) {
    // SIGHUP reloads every key file of an enabled transport.
    if (dtls_slot.enabled()) {
      ReloadDtlsSecurity(dtls_slot.get(), config.GetString("security_file"));
    }
    if (mioty_slot.enabled() || !dtls_slot.enabled()) {
      ReloadMiotyKeys(mioty_slot.enabled() ? mioty_slot.get() : nullptr);
    }
  }
  std::fprintf(stderr, "cxsec-gateway: stopping (signal %d)\n", signal_number);
  core.Stop();
  PrintCounters(core);
  ReceiptBoxCounters r = receipts->Counters();
  std::fprintf(stderr,
               "cxsec-gateway: seal receipts from_verifier=%llu "
               "passed_to_nodes=%llu dropped=%llu lost_at_exit=%zu\n",
               static_cast<unsigned long long>(r.put),
               static_cast<unsigned long long>(r.taken),
               static_cast<unsigned long long>(r.dropped), r.pending);
  return absl::OkStatus();
}

}  // namespace
}  // namespace cxsec::gateway

int main(int argc, char** argv) {
  cxsec::gateway::g_argv = argv;
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
              {"tpm_handle", false, "TPM: persistent key handle (0x81000010)"},
              {"tpm_auth_file", false,
               "TPM: the key's authorization value (0600, root; from cxsec "
               "tpm enroll --auth-file), read before the drop"},
              {"tpm_allow_empty_auth", false,
               "true: the TPM key has no authorization value (any local TPM "
               "user can sign with it)"},
              {"token_lifetime_seconds", false,
               "bearer JWT lifetime, 10..86400 (default 3600); re-minted at 80%"},
              {"cloud_url", false, "verifier base URL, https://host:port[/prefix]"},
              {"ca_bundle", false, "PEM CA bundle that signs the verifier"},
              {"spki_pin", false,
               "base64 SHA-256 of the verifier's public key (SPKI); "
               "comma-separated for rotation"},
              {"security_file", false, "security.txt with the deployment keys"},
              {"dtls_listen", false, "CoAP/DTLS IPv4 address:port, e.g. 0.0.0.0:5684"},
              {"dtls_priority_file", false,
               "GnuTLS CCM_8-only override (/etc/cxsec/gnutls_psk_ccm8.conf)"},
              {"dtls_rate", false, "DTLS requests/s per node (default 10)"},
              {"dtls_burst", false, "DTLS request burst per node (default 20)"},
              {"dtls_max_sessions", false, "DTLS sessions (default 1000)"},
              {"dtls_max_handshakes", false, "concurrent DTLS handshakes (100)"},
              {"dtls_max_sessions_per_identity", false,
               "DTLS sessions per node; a newer one ends the oldest (4; 0: "
               "no limit)"},
              {"dtls_commit_threads", false,
               "threads queueing DTLS readings into the spool; answers are "
               "separate, readings share fsyncs (8; 0: piggy-backed)"},
              {"mioty_listen", false, "Mioty base-station UDP address:port"},
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
              {"run_as_user", false,
               "account to drop to after start-up (not root); this or "
               "run_as_root = true is required"},
              {"run_as_root", false,
               "true: keep running as root, no drop (default false; "
               "required when run_as_user is absent)"},
          },
      .validate = cxsec::gateway::Validate,
      .run = cxsec::gateway::Run,
  };
  return cxsec::RunTargetBinary(binary, argc, argv);
}
