// cxsec-verifier: the cloud side. Checks gateways' JWTs against the
// registry and stores accepted telemetry durably.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "platforms/posix/files.h"
#include "targets/common/binary_main.h"
#include "targets/verifier/http/https_server.h"
#include "targets/verifier/iam/iam.h"
#include "targets/verifier/registry/etcd_kv_store.h"
#include "targets/verifier/registry/registry.h"
#include "targets/verifier/registry/sqlite_kv_store.h"
#include "targets/verifier/service/gateway_token_verifier.h"
#include "targets/verifier/seal/redis_seal_state.h"
#include "targets/verifier/seal/seal_authority.h"
#include "targets/verifier/service/verifier_service.h"
#include "targets/verifier/sinks/redis_sink.h"
#include "targets/verifier/sinks/redis_stream_consumer.h"
#include "targets/verifier/sinks/telemetry_log.h"
#include "targets/verifier/sinks/webhook_forwarder.h"
#include "targets/verifier/verifier_core.h"

namespace cxsec::verifier {
namespace {

std::string Value(const KeyValueFile& config, absl::string_view key,
                  absl::string_view fallback) {
  const KeyValueFile::Entry* entry = config.Find(key);
  return entry == nullptr ? std::string(fallback) : entry->value;
}

constexpr char kEtcdWatchDeadlineKey[] = "etcd_watch_deadline_seconds";

// The etcd keys: TLS files only for https:// endpoints (and then the CA is
// required, the certificate and key go together), a sane watch deadline.
absl::Status ValidateEtcd(const KeyValueFile& config) {
  const KeyValueFile::Entry* endpoints = config.Find("etcd_endpoints");
  bool https =
      endpoints != nullptr && absl::StartsWith(endpoints->value, "https://");
  for (const char* key : {"etcd_ca_file", "etcd_cert_file", "etcd_key_file"}) {
    const KeyValueFile::Entry* entry = config.Find(key);
    if (entry != nullptr && !https) {
      return config.LineError(
          entry->line, absl::StrCat("'", key,
                                    "' applies to https:// etcd_endpoints "
                                    "only"));
    }
  }
  if (https && config.Find("etcd_ca_file") == nullptr) {
    return config.LineError(endpoints->line,
                            "https:// etcd_endpoints need 'etcd_ca_file'");
  }
  if ((config.Find("etcd_cert_file") == nullptr) !=
      (config.Find("etcd_key_file") == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source(), ": 'etcd_cert_file' and 'etcd_key_file' go together"));
  }
  absl::StatusOr<long long> deadline =
      config.GetInt(kEtcdWatchDeadlineKey, 30, 2, 3600);
  if (!deadline.ok()) return deadline.status();
  return absl::OkStatus();
}

// The dedup window's limits (docs/CONFIG.md). The index addresses entries
// with 32-bit slots, so the count stays well below 2^32.
constexpr long long kMaxDedupWindowMessages = 1'000'000'000;
constexpr long long kMaxDedupWindowSeconds = 366LL * 24 * 3600;

absl::StatusOr<DedupWindow> DedupWindowFromConfig(const KeyValueFile& config) {
  DedupWindow window;
  CXSEC_ASSIGN_OR_RETURN(
      long long messages,
      config.GetInt("dedup_window_messages",
                    static_cast<long long>(DedupWindow::kDefaultMaxMessages), 1,
                    kMaxDedupWindowMessages));
  CXSEC_ASSIGN_OR_RETURN(
      long long seconds,
      config.GetInt("dedup_window_seconds", 0, 0, kMaxDedupWindowSeconds));
  window.max_messages = static_cast<uint64_t>(messages);
  window.max_age = absl::Seconds(seconds);
  return window;
}

// The Redis sink's keys (docs/CONFIG.md, docs/SCALE_OUT.md).
constexpr const char* kRedisKeys[] = {
    "redis_address",        "redis_key_prefix",      "redis_username",
    "redis_password_file",  "redis_timeout_ms",      "redis_wait_replicas",
    "redis_wait_timeout_ms", "webhook_reclaim_idle_ms"};

// The consumer group the webhook forwarders of all instances share when
// the Redis sink is on (docs/SCALE_OUT.md, "Webhooks with the Redis sink").
constexpr char kWebhookGroup[] = "cxsec-webhook";

bool RedisSinkSelected(const KeyValueFile& config) {
  return Value(config, "telemetry_sink", "ndjson") == "redis";
}

// RedisSinkOptionsFromConfig reads every redis_* key; the password file
// only if `read_secret` (Validate checks the rest without touching it).
absl::StatusOr<RedisSinkOptions> RedisSinkOptionsFromConfig(
    const KeyValueFile& config, bool read_secret) {
  RedisSinkOptions options;
  std::string address = Value(config, "redis_address", "127.0.0.1:6379");
  size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    const KeyValueFile::Entry* entry = config.Find("redis_address");
    return config.LineError(entry != nullptr ? entry->line : 0,
                            "'redis_address' must be HOST:PORT");
  }
  options.host = address.substr(0, colon);
  options.port = static_cast<uint16_t>(port);
  options.key_prefix = Value(config, "redis_key_prefix", "cxsec:");
  if (options.key_prefix.empty() ||
      options.key_prefix.find_first_of(" \t") != std::string::npos) {
    return config.LineError(config.Find("redis_key_prefix")->line,
                            "'redis_key_prefix' must be non-empty, no spaces");
  }
  options.username = Value(config, "redis_username", "");
  if (!options.username.empty() &&
      config.Find("redis_password_file") == nullptr) {
    return config.LineError(config.Find("redis_username")->line,
                            "'redis_username' needs 'redis_password_file'");
  }
  CXSEC_ASSIGN_OR_RETURN(long long timeout_ms,
                         config.GetInt("redis_timeout_ms", 2000, 100, 60000));
  options.io_timeout = absl::Milliseconds(timeout_ms);
  CXSEC_ASSIGN_OR_RETURN(long long replicas,
                         config.GetInt("redis_wait_replicas", 0, 0, 16));
  options.wait_replicas = static_cast<int>(replicas);
  CXSEC_ASSIGN_OR_RETURN(
      long long wait_ms, config.GetInt("redis_wait_timeout_ms", 1000, 1, 60000));
  options.wait_timeout = absl::Milliseconds(wait_ms);
  CXSEC_ASSIGN_OR_RETURN(options.dedup_window, DedupWindowFromConfig(config));
  if (read_secret) {
    if (const KeyValueFile::Entry* file = config.Find("redis_password_file")) {
      // Checked like every secret file: 0600 (or stricter), not a link,
      // owned by us or root; its content goes to AUTH and nowhere else.
      CXSEC_ASSIGN_OR_RETURN(std::string password,
                             ReadPrivateFile(file->value, 4096));
      while (!password.empty() &&
             (password.back() == '\n' || password.back() == '\r')) {
        password.pop_back();
      }
      if (password.empty()) {
        SecureZero(password.data(), password.size());
        return absl::InvalidArgumentError(
            absl::StrCat(file->value, ": the Redis password file is empty"));
      }
      options.password = SecretBytes::CopyFrom(AsBytes(password));
      SecureZero(password.data(), password.size());
    }
  }
  return options;
}

absl::Status ValidateSink(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(
      CheckOneOf(config, "telemetry_sink", {"ndjson", "redis"}));
  if (!RedisSinkSelected(config)) {
    for (const char* key : kRedisKeys) {
      if (const KeyValueFile::Entry* entry = config.Find(key)) {
        return config.LineError(
            entry->line,
            absl::StrCat("'", key, "' applies to telemetry_sink = redis only"));
      }
    }
    return absl::OkStatus();
  }
  // With the Redis sink the webhook forwarder is a consumer of the stream.
  CXSEC_RETURN_IF_ERROR(
      config.GetInt("webhook_reclaim_idle_ms", 30000, 100, 86400000).status());
  if (const KeyValueFile::Entry* idle = config.Find("webhook_reclaim_idle_ms");
      idle != nullptr && config.Find("webhook_url") == nullptr) {
    return config.LineError(idle->line,
                            "'webhook_reclaim_idle_ms' needs 'webhook_url'");
  }
  return RedisSinkOptionsFromConfig(config, /*read_secret=*/false).status();
}

absl::Status Validate(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(CheckOneOf(config, "registry", {"sqlite", "etcd"}));
  CXSEC_RETURN_IF_ERROR(ValidateSink(config));
  if (Value(config, "registry", "sqlite") == "etcd" &&
      config.Find("etcd_endpoints") == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.source(), ": registry = etcd needs 'etcd_endpoints'"));
  }
  CXSEC_RETURN_IF_ERROR(ValidateEtcd(config));
  CXSEC_RETURN_IF_ERROR(DedupWindowFromConfig(config).status());
  CXSEC_RETURN_IF_ERROR(
      config.GetInt("seal_max_bad_tags_per_gateway", 100, 0, 1'000'000'000)
          .status());
  if (config.Find("seal_encryption_master_file") != nullptr &&
      config.Find("seal_master_file") == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source(),
        ": 'seal_encryption_master_file' needs 'seal_master_file'"));
  }
  if ((config.Find("webhook_url") == nullptr) != (config.Find("webhook_secret_file") == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source(), ": 'webhook_url' and 'webhook_secret_file' go together"));
  }
  if (const KeyValueFile::Entry* url = config.Find("webhook_url")) {
    CXSEC_ASSIGN_OR_RETURN(bool allow_plain_http,
                           config.GetBool(kWebhookAllowPlainHttpKey, false));
    absl::Status checked = CheckWebhookUrl(url->value, allow_plain_http);
    if (!checked.ok()) return config.LineError(url->line, checked.message());
    if (!absl::StartsWith(url->value, "https://") &&
        config.Find("webhook_ca_file") != nullptr) {
      return config.LineError(
          config.Find("webhook_ca_file")->line,
          "'webhook_ca_file' applies to https:// webhooks only");
    }
  } else if (config.Find(kWebhookAllowPlainHttpKey) != nullptr ||
             config.Find("webhook_ca_file") != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.source(), ": '", kWebhookAllowPlainHttpKey,
                     "' and 'webhook_ca_file' need 'webhook_url'"));
  }
  if (config.Find("tls_cert") == nullptr || config.Find("tls_key") == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.source(), ": 'tls_cert' and 'tls_key' are required"));
  }
  return absl::OkStatus();
}

// On the first start (no principals yet) the "admin" principal is created
// and its API key written to a new file at `key_path`, mode 0600, created
// exclusively: an existing file (a stale key, or a link an attacker laid
// there) is never overwritten or followed. The key never goes to stdout or
// stderr, which systemd copies into the journal for every reader of it. If
// the file cannot be written, the principal is removed again, so no admin
// exists whose key nobody received.
absl::Status BootstrapAdmin(Iam& iam, const std::string& key_path) {
  CXSEC_ASSIGN_OR_RETURN(std::optional<std::string> admin,
                         iam.BootstrapAdmin());
  if (!admin.has_value()) return absl::OkStatus();
  absl::Status written = CreateFileExclusively(key_path, *admin + "\n", 0600);
  SecureZero(admin->data(), admin->size());
  if (!written.ok()) {
    absl::Status undone = iam.DeletePrincipal("bootstrap", "admin");
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot write the bootstrap admin API key: ", written.message(),
        undone.ok()
            ? "; nothing was created, remove or move that file and start again"
            : absl::StrCat("; removing the new admin also failed (",
                           undone.message(), ")")));
  }
  std::fprintf(
      stderr,
      "cxsec-verifier: first start: bootstrap admin API key written to %s "
      "(mode 0600); store it safely and delete the file\n",
      key_path.c_str());
  return absl::OkStatus();
}

// ConnectEtcd reads the etcd keys. Over https:// the CA bundle is what
// etcd's certificate must chain to (no system store: an etcd is a
// private service), and the client key is read like every other secret
// (0600, not a link, ours or root's).
absl::StatusOr<std::unique_ptr<KvStore>> ConnectEtcd(
    const KeyValueFile& config) {
  EtcdKvStoreOptions options;
  std::string endpoint = Value(config, "etcd_endpoints", "");
  options.endpoint_url = endpoint.substr(0, endpoint.find(','));
  options.prefix = Value(config, "etcd_prefix", "cxsec/");
  CXSEC_ASSIGN_OR_RETURN(long long deadline,
                         config.GetInt(kEtcdWatchDeadlineKey, 30, 2, 3600));
  options.watch_deadline = absl::Seconds(deadline);
  if (const KeyValueFile::Entry* ca = config.Find("etcd_ca_file")) {
    absl::StatusOr<std::string> pem = ReadFileBounded(ca->value, 4 << 20);
    if (!pem.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "etcd CA bundle ", ca->value, ": ", pem.status().message()));
    }
    options.ca_bundle_pem = *std::move(pem);
  }
  if (const KeyValueFile::Entry* cert = config.Find("etcd_cert_file")) {
    absl::StatusOr<std::string> pem = ReadFileBounded(cert->value, 1 << 20);
    if (!pem.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("etcd client certificate ", cert->value, ": ",
                       pem.status().message()));
    }
    options.client_certificate_pem = *std::move(pem);
    CXSEC_ASSIGN_OR_RETURN(
        options.client_private_key_pem,
        ReadPrivateFile(Value(config, "etcd_key_file", ""), 64 << 10));
  }
  absl::StatusOr<std::unique_ptr<EtcdKvStore>> store =
      EtcdKvStore::Connect(std::move(options));
  if (!store.ok()) return store.status();
  return std::unique_ptr<KvStore>(std::move(*store));
}

absl::Status Run(const KeyValueFile& config) {
  std::string data_dir = Value(config, "data_dir", "");
  CXSEC_RETURN_IF_ERROR(MakeDirectories(data_dir, 0700));
  // Secret files are read before anything is created, so a bad one stops
  // the start with nothing half done.
  std::optional<RedisSinkOptions> redis_options;
  if (RedisSinkSelected(config)) {
    CXSEC_ASSIGN_OR_RETURN(redis_options,
                           RedisSinkOptionsFromConfig(config, true));
  }
  std::unique_ptr<KvStore> store;
  if (Value(config, "registry", "sqlite") == "etcd") {
    CXSEC_ASSIGN_OR_RETURN(store, ConnectEtcd(config));
  } else {
    CXSEC_ASSIGN_OR_RETURN(store, SqliteKvStore::Open(data_dir + "/registry.db"));
  }
  const Clock* clock = &SystemClock::Default();
  Registry registry(store.get(), clock);
  Iam iam(store.get(), &registry);
  CXSEC_RETURN_IF_ERROR(BootstrapAdmin(
      iam,
      Value(config, "bootstrap_key_file", data_dir + "/bootstrap-admin.key")));
  // A file-size limit (RLIMIT_FSIZE) must fail a write with EFBIG, which
  // the telemetry log answers with "retry" and recovers from, instead of
  // killing the process with SIGXFSZ.
  signal(SIGXFSZ, SIG_IGN);
  // Sealed readings: the masters stay on the verifier side (never in
  // anything a gateway reads); the counter state commits with the log.
  // With the Redis sink the counter state lives in Redis, shared by all
  // instances and advanced by the sink's append script atomically
  // with the stream entry (docs/SCALE_OUT.md); this process only caches it.
  std::unique_ptr<RedisSealState> shared_seal_state;
  std::unique_ptr<SealAuthority> seal;
  if (config.Find("seal_master_file") != nullptr) {
    SealAuthorityOptions seal_options;
    seal_options.mac_master_file = Value(config, "seal_master_file", "");
    seal_options.enc_master_file =
        Value(config, "seal_encryption_master_file", "");
    if (redis_options.has_value()) {
      RedisSealStateOptions shared;
      shared.host = redis_options->host;
      shared.port = redis_options->port;
      shared.key_prefix = redis_options->key_prefix;
      shared.username = redis_options->username;
      if (redis_options->password.has_value()) {
        shared.password = SecretBytes::CopyFrom(
            redis_options->password->Reveal(SecretAccess::Grant()));
      }
      shared.io_timeout = redis_options->io_timeout;
      shared_seal_state = std::make_unique<RedisSealState>(std::move(shared));
      seal_options.shared_state = shared_seal_state.get();
    } else {
      seal_options.state_file = data_dir + "/seal_state.json";
      seal_options.log_path = data_dir + "/telemetry.ndjson";
    }
    CXSEC_ASSIGN_OR_RETURN(seal, SealAuthority::Open(seal_options));
  }
  // The webhook forwarder's consumer with the Redis sink: the sink's
  // connection settings, one group for all instances, and a consumer name
  // per instance that stays the same across its restarts (so a restarted
  // instance takes back its own pending entries first).
  std::optional<StreamConsumerOptions> webhook_stream;
  if (redis_options.has_value() && config.Find("webhook_url") != nullptr) {
    StreamConsumerOptions c;
    c.host = redis_options->host;
    c.port = redis_options->port;
    c.key_prefix = redis_options->key_prefix;
    c.group = kWebhookGroup;
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
    c.consumer = absl::StrCat(host[0] != '\0' ? host : "verifier", "/",
                              Value(config, "listen", "127.0.0.1:8443"));
    if (redis_options->password.has_value()) {
      c.password = SecretBytes::CopyFrom(
          redis_options->password->Reveal(SecretAccess::Grant()));
    }
    c.io_timeout = redis_options->io_timeout;
    c.block = absl::Seconds(1);
    CXSEC_ASSIGN_OR_RETURN(
        long long idle_ms,
        config.GetInt("webhook_reclaim_idle_ms", 30000, 100, 86400000));
    c.reclaim_idle = absl::Milliseconds(idle_ms);
    webhook_stream = std::move(c);
  }
  std::unique_ptr<TelemetryLog> log;
  std::unique_ptr<RedisTelemetrySink> redis;
  TelemetrySink* sink = nullptr;
  if (redis_options.has_value()) {
    CXSEC_ASSIGN_OR_RETURN(
        redis, RedisTelemetrySink::Start(std::move(*redis_options)));
    sink = redis.get();
  } else {
    TelemetryLogOptions log_options;
    CXSEC_ASSIGN_OR_RETURN(log_options.dedup_window,
                           DedupWindowFromConfig(config));
    log_options.clock = clock;
    if (seal != nullptr) {
      log_options.after_durable = [authority = seal.get()](uint64_t offset) {
        authority->AfterDurable(offset);
      };
    }
    CXSEC_ASSIGN_OR_RETURN(
        log, TelemetryLog::Open(data_dir + "/telemetry.ndjson", log_options));
    sink = log.get();
  }
  std::unique_ptr<WebhookForwarder> webhook;
  if (config.Find("webhook_url") != nullptr) {
    WebhookOptions webhook_options;
    webhook_options.url = Value(config, "webhook_url", "");
    CXSEC_ASSIGN_OR_RETURN(webhook_options.allow_plain_http,
                           config.GetBool(kWebhookAllowPlainHttpKey, false));
    if (absl::StartsWith(webhook_options.url, "https://")) {
      // No CA file: the system's trust store, as any HTTPS client would.
      std::string ca_file =
          Value(config, "webhook_ca_file", kSystemCaBundlePath);
      absl::StatusOr<std::string> ca_pem = ReadFileBounded(ca_file, 4 << 20);
      if (!ca_pem.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "webhook CA bundle ", ca_file, ": ", ca_pem.status().message()));
      }
      webhook_options.ca_bundle_pem = *std::move(ca_pem);
    }
    CXSEC_ASSIGN_OR_RETURN(std::string secret,
                           ReadPrivateFile(Value(config, "webhook_secret_file", ""), 4096));
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) {
      secret.pop_back();
    }
    webhook_options.secret = SecretBytes::CopyFrom(AsBytes(secret));
    SecureZero(secret.data(), secret.size());
    webhook_options.cursor_path = data_dir + "/webhook.cursor";
    if (log != nullptr) {
      CXSEC_ASSIGN_OR_RETURN(webhook,
                             WebhookForwarder::Start(log.get(), std::move(webhook_options), clock));
    } else {
      CXSEC_ASSIGN_OR_RETURN(std::unique_ptr<RedisStreamConsumer> consumer,
                             RedisStreamConsumer::Create(std::move(*webhook_stream)));
      CXSEC_ASSIGN_OR_RETURN(
          webhook, WebhookForwarder::StartFromStream(
                       std::move(consumer), std::move(webhook_options), clock));
    }
  }
  RegistryGatewayTokenVerifier tokens(&registry, clock);
  VerifierService service(&registry, &iam, &tokens, sink, clock);
  CXSEC_ASSIGN_OR_RETURN(
      long long max_bad_tags,
      config.GetInt("seal_max_bad_tags_per_gateway", 100, 0, 1'000'000'000));
  service.SetSealAuthority(seal.get(), static_cast<uint64_t>(max_bad_tags));
  if (webhook != nullptr) {
    service.metrics().AddExporter(
        [forwarder = webhook.get()] { return forwarder->RenderMetrics(); });
  }
  if (redis != nullptr) {
    service.metrics().AddExporter(
        [r = redis.get()] { return r->RenderMetrics(); });
  }

  HttpsServerOptions options;
  std::string listen = Value(config, "listen", "127.0.0.1:8443");
  size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("listen '", listen, "' must be HOST:PORT"));
  }
  options.listen_host = listen.substr(0, colon);
  options.listen_port = static_cast<uint16_t>(port);
  options.cert_chain_file = Value(config, "tls_cert", "");
  options.private_key_file = Value(config, "tls_key", "");
  options.client_ca_file = Value(config, "tls_client_ca", "");
  uint32_t threads = 8;
  if (!absl::SimpleAtoi(Value(config, "threads", "2"), &threads) || threads == 0 ||
      threads > 256) {
    return absl::InvalidArgumentError("'threads' must be 1-256");
  }
  options.threads = static_cast<int>(threads);

  // Block the stop signals before any thread starts so only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  CXSEC_ASSIGN_OR_RETURN(
      std::unique_ptr<HttpsServer> server,
      HttpsServer::Create(options, [&service](const HttpRequest& r, HttpResponder respond) {
        service.Handle(r, std::move(respond));
      }));
  server->Start();
  std::fprintf(stderr, "cxsec-verifier: listening on %s:%u\n", options.listen_host.c_str(),
               server->port());
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "cxsec-verifier: signal %d, draining\n", signal_number);
  server->Shutdown(absl::Seconds(10));
  if (seal != nullptr && log != nullptr) {
    absl::Status saved = seal->Snapshot(log->durable_bytes());
    if (!saved.ok()) {
      std::fprintf(stderr, "cxsec-verifier: sealed-readings state: %s\n",
                   std::string(saved.message()).c_str());
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace cxsec::verifier

int main(int argc, char** argv) {
  cxsec::TargetBinary binary{
      .name = "cxsec-verifier",
      .summary =
          "The cloud verifier: HTTPS ingest with JWT-authenticated "
          "gateways, a device registry, least-privilege roles.",
      .composition = cxsec::verifier::kVerifierComposition,
      .config_keys =
          {
              {"data_dir", true, "directory for the registry and sinks"},
              {"bootstrap_key_file", false,
               "new file (0600) for the first admin API key, default "
               "DATA_DIR/bootstrap-admin.key"},
              {"listen", false, "HTTPS address, default 127.0.0.1:8443"},
              {"tls_cert", false, "server certificate chain (PEM)"},
              {"tls_key", false, "server private key (PEM, mode 0600)"},
              {"tls_client_ca", false,
               "require client certificates from this CA"},
              {"registry", false, "sqlite (default) or etcd"},
              {"etcd_endpoints", false,
               "etcd URLs, comma-separated (first is used)"},
              {"etcd_prefix", false, "etcd key prefix, default cxsec/"},
              {"etcd_watch_deadline_seconds", false,
               "seconds the etcd watch may stay silent before it is "
               "presumed dead and replaced (instance unhealthy meanwhile), "
               "2-3600, default 30; etcd's "
               "--experimental-watch-progress-notify-interval must be "
               "shorter"},
              {"etcd_ca_file", false,
               "CA bundle (PEM) etcd's certificate must chain to; required "
               "with https:// etcd_endpoints"},
              {"etcd_cert_file", false,
               "client certificate chain (PEM) presented to etcd"},
              {"etcd_key_file", false,
               "private key (PEM, mode 0600) of etcd_cert_file"},
              {"threads", false, "HTTPS server threads, default 2"},
              {"dedup_window_messages", false,
               "records the dedup index remembers, 1-1000000000, default "
               "4000000 (about 40 bytes of RAM each)"},
              {"dedup_window_seconds", false,
               "also forget records received longer ago than this, "
               "0-31622400; 0 (default): no age limit"},
              {"telemetry_sink", false,
               "ndjson (default: DATA_DIR/telemetry.ndjson) or redis (a "
               "Redis stream shared by several instances)"},
              {"redis_address", false,
               "HOST:PORT of the Redis primary, default 127.0.0.1:6379"},
              {"redis_key_prefix", false,
               "prefix of every Redis key the sink uses, default cxsec:"},
              {"redis_username", false,
               "Redis ACL user for AUTH (needs redis_password_file)"},
              {"redis_password_file", false,
               "file (mode 0600) holding the Redis password"},
              {"redis_timeout_ms", false,
               "connect/read/write timeout, 100-60000, default 2000"},
              {"redis_wait_replicas", false,
               "replicas WAIT must confirm before \"accepted\", 0-16, "
               "default 0 (no WAIT)"},
              {"redis_wait_timeout_ms", false,
               "how long WAIT waits for them, 1-60000, default 1000"},
              {"webhook_url", false,
               "https://host[:port]/path receiving signed NDJSON "
               "(http:// only with webhook_allow_plain_http = true)"},
              {"webhook_ca_file", false,
               "CA bundle (PEM) for the https:// webhook receiver, default "
               "the system store /etc/ssl/certs/ca-certificates.crt"},
              {"webhook_allow_plain_http", false,
               "true to allow an http:// webhook_url (trusted networks "
               "only), default false"},
              {"webhook_secret_file", false,
               "HMAC-SHA256 key for webhooks (mode 0600)"},
              {"webhook_reclaim_idle_ms", false,
               "with telemetry_sink = redis: take over webhook deliveries "
               "another instance left pending this long, 100-86400000, "
               "default 30000"},
              {"seal_master_file", false,
               "sealed readings: the integrity master (64 hex digits, mode "
               "0600) from `cxsec provision --seal-new-master`; also the "
               "encryption master unless the next key says otherwise"},
              {"seal_encryption_master_file", false,
               "sealed readings: a separate encryption master (0600), or "
               "'none' to check tags without being able to decrypt"},
              {"seal_max_bad_tags_per_gateway", false,
               "sealed readings with a bad tag a gateway may send before it "
               "is disabled and audited, 0-1000000000, default 100 (0: "
               "never disable)"},
          },
      .validate = cxsec::verifier::Validate,
      .run = cxsec::verifier::Run,
  };
  return cxsec::RunTargetBinary(binary, argc, argv);
}
