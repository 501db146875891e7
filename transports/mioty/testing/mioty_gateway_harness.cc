// A gateway process for mioty_restart_test: runs a MiotyTransport on
// 127.0.0.1 with the given key store and replay state directory; the sink
// appends "<message_id>\n" to --delivered and fsyncs it before accepting,
// so the file lists exactly what was durably delivered. Writes the bound
// port to --port-file once ready, then runs until killed.
//   mioty_gateway_harness KEYS STATE_DIR DELIVERED PORT_FILE
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "platforms/posix/files.h"
#include "transports/mioty/mioty_transport.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s KEYS STATE_DIR DELIVERED PORT_FILE\n", argv[0]);
    return 2;
  }
  int out = ::open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) return 1;
  cxsec::mioty::MiotyTransport transport(cxsec::mioty::MiotyTransportConfig{
      .key_store_path = argv[1], .state_dir = argv[2]});
  absl::Status started = transport.Start([out](cxsec::VerifiedMessage m) {
    std::string line = m.message_id + "\n";
    if (::write(out, line.data(), line.size()) !=
            static_cast<ssize_t>(line.size()) ||
        ::fsync(out) != 0) {
      return absl::InternalError("delivered file write failed");
    }
    return absl::OkStatus();
  });
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", std::string(started.message()).c_str());
    return 1;
  }
  absl::Status written = cxsec::WriteFileAtomically(
      argv[4], absl::StrCat(transport.port(), "\n"), 0600);
  if (!written.ok()) return 1;
  for (;;) ::pause();
}
