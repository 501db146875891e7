// cxsec-dtls-gateway: runs the gateway's DTLS transport on its own, with
// a durable spool file as its sink. It is what two gateways share for
// roaming (the same security.txt), what Debian's coap-client talks to in
// the interop test, and what the benchmark measures. cxsec-gateway embeds
// the same DtlsServer as its transport policy.
//
//   cxsec-dtls-gateway --security /etc/cxsec/security.txt --port 5684
//       --spool /var/spool/cxsec/dtls.jsonl
//
// SIGHUP re-reads security.txt (start or retire a key rollover without a
// restart); SIGTERM/SIGINT stop it. GnuTLS reads its priority override
// when it is loaded, so the binary re-executes itself once with
// GNUTLS_SYSTEM_PRIORITY_FILE set to --priority-file.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/cli/command_line.h"
#include "core/encoding/hex.h"
#include "transports/dtls/dtls_server.h"
#include "transports/dtls/security_loader.h"

namespace {

std::atomic<bool> stop_requested{false};
std::atomic<bool> reload_requested{false};

void OnSignal(int signal) {
  if (signal == SIGHUP) {
    reload_requested = true;
  } else {
    stop_requested = true;
  }
}

// SpoolSink appends one JSON line per message and fdatasyncs it before
// returning OK: a message is acknowledged to the node only once on disk.
class SpoolSink {
 public:
  explicit SpoolSink(int fd, bool sync) : fd_(fd), sync_(sync) {}
  absl::Status operator()(cxsec::VerifiedMessage m) {
    std::string line = absl::StrCat(
        "{\"device_id\":\"", m.device_id, "\",\"message_id\":\"", m.message_id,
        "\",\"transport\":\"", m.transport, "\",\"received_at\":\"",
        absl::FormatTime(m.received_at), "\",\"payload_hex\":\"",
        cxsec::HexEncode(m.payload), "\"}\n");
    absl::MutexLock lock(&mutex_);
    if (write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      return absl::UnavailableError("spool write failed");
    }
    if (sync_ && fdatasync(fd_) != 0) {
      return absl::UnavailableError("spool fdatasync failed");
    }
    return absl::OkStatus();
  }

 private:
  absl::Mutex mutex_;
  int fd_;
  bool sync_;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "cxsec-dtls-gateway: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  cxsec::CommandLine cl({
      {"security", true, "security.txt (mode 0600)", "PATH"},
      {"listen", true, "IPv4 address to bind (default 127.0.0.1)", "ADDR"},
      {"port", true, "UDP port (default 5684)", "PORT"},
      {"spool", true, "append verified messages here, fdatasync'd", "PATH"},
      {"priority-file", true,
       "GnuTLS override leaving only TLS_PSK_WITH_AES_128_CCM_8 "
       "(default /etc/cxsec/gnutls_psk_ccm8.conf)",
       "PATH"},
      {"max-handshakes", true, "concurrent handshakes (default 100)", "N"},
      {"max-sessions", true, "established sessions (default 1000)", "N"},
      {"max-sessions-per-identity", true,
       "sessions of one device; a newer one ends the oldest (default 4, "
       "0: no limit)",
       "N"},
      {"idle-timeout", true, "seconds before an idle session is dropped (300)",
       "S"},
      {"rate", true, "requests per second per identity (default 10)", "R"},
      {"burst", true, "request burst per identity (default 20)", "N"},
      {"max-payload", true, "largest telemetry payload in bytes (1024)", "N"},
      {"no-sync", false, "do not fdatasync the spool (benchmarks only)", ""},
  });
  absl::Status parsed = cl.Parse(argc - 1, argv + 1);
  if (!parsed.ok()) return Fail(std::string(parsed.message()));
  if (cl.Has("help")) {
    std::printf("Usage: cxsec-dtls-gateway --security PATH [flags]\n\n%s",
                cl.Usage().c_str());
    return 0;
  }
  if (std::getenv("GNUTLS_SYSTEM_PRIORITY_FILE") == nullptr) {
    std::string file = cl.Value("priority-file", "/etc/cxsec/gnutls_psk_ccm8.conf");
    if (access(file.c_str(), R_OK) != 0) {
      return Fail(absl::StrCat("GnuTLS priority file ", file,
                               " is not readable (see --priority-file)"));
    }
    setenv("GNUTLS_SYSTEM_PRIORITY_FILE", file.c_str(), 1);
    execv("/proc/self/exe", argv);
    return Fail("cannot re-execute with the GnuTLS priority file");
  }
  absl::StatusOr<std::string> security_path = cl.RequiredValue("security");
  if (!security_path.ok()) return Fail(std::string(security_path.status().message()));
  absl::StatusOr<cxsec::SecurityConfig> security =
      cxsec::dtls::LoadSecurityFile(*security_path);
  if (!security.ok()) return Fail(std::string(security.status().message()));

  cxsec::dtls::DtlsServerOptions options;
  options.listen_address = cl.Value("listen", "127.0.0.1");
  auto number = [&](const char* name, long long fallback, long long max) {
    absl::StatusOr<long long> v = cl.IntValue(name, fallback, 0, max);
    if (!v.ok()) {
      Fail(std::string(v.status().message()));
      std::exit(2);
    }
    return *v;
  };
  options.port = static_cast<uint16_t>(number("port", 5684, 65535));
  options.max_handshakes = number("max-handshakes", 100, 100000);
  options.max_sessions = number("max-sessions", 1000, 1000000);
  options.max_sessions_per_identity =
      number("max-sessions-per-identity", 4, 1000000);
  options.idle_timeout_seconds = number("idle-timeout", 300, 86400);
  options.requests_per_second = number("rate", 10, 1000000);
  options.request_burst = number("burst", 20, 1000000);
  options.max_payload_bytes = number("max-payload", 1024, 65536);

  std::string spool_path = cl.Value("spool", "/dev/null");
  int fd = open(spool_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(absl::StrCat("cannot open spool ", spool_path));
  auto sink = std::make_shared<SpoolSink>(fd, !cl.Has("no-sync") && spool_path != "/dev/null");

  signal(SIGHUP, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  cxsec::dtls::DtlsServer server(options, std::move(*security));
  absl::Status started =
      server.Start([sink](cxsec::VerifiedMessage m) { return (*sink)(std::move(m)); });
  if (!started.ok()) return Fail(std::string(started.message()));
  std::printf("cxsec-dtls-gateway: listening on %s:%u/udp (coaps)\n",
              options.listen_address.c_str(), options.port);
  std::fflush(stdout);
  while (!stop_requested) {
    if (reload_requested.exchange(false)) {
      absl::StatusOr<cxsec::SecurityConfig> fresh =
          cxsec::dtls::LoadSecurityFile(*security_path);
      if (fresh.ok()) {
        server.ReplaceSecurity(std::move(*fresh));
        std::fprintf(stderr, "cxsec-dtls-gateway: reloaded %s\n", security_path->c_str());
      } else {
        std::fprintf(stderr, "cxsec-dtls-gateway: keeping old keys: %s\n",
                     std::string(fresh.status().message()).c_str());
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  server.Stop();
  cxsec::dtls::DtlsServerCounters c = server.Counters();
  std::fprintf(stderr,
               "cxsec-dtls-gateway: handshakes_ok=%llu handshakes_failed=%llu "
               "unknown_identities=%llu sessions_evicted=%llu "
               "messages_accepted=%llu suite=%s last_failed_identity=%s\n",
               static_cast<unsigned long long>(c.handshakes_ok),
               static_cast<unsigned long long>(c.handshakes_failed),
               static_cast<unsigned long long>(c.unknown_identities),
               static_cast<unsigned long long>(c.sessions_evicted),
               static_cast<unsigned long long>(c.messages_accepted),
               c.last_cipher_suite.c_str(), c.last_failed_identity.c_str());
  close(fd);
  return 0;
}
