// mioty_uart_bridge: the host end of a QEMU Mioty node's UART. It listens
// on a Unix socket that QEMU's UART0 connects to (`-chardev
// socket,id=uart,path=SOCKET -serial chardev:uart`), splits the byte
// stream into frames with the node's own SLIP decoder
// (core/device/slip.h), and sends each frame as one UDP datagram to the
// gateway's Mioty port, as a base station would hand over a received
// MPDU. It forwards; the gateway verifies (a bad frame is its to reject).
//
//   mioty_uart_bridge --uart-socket /run/node.sock --gateway 127.0.0.1:4700
//
// One node per bridge; it exits 0 when the node's side closes (QEMU
// ended) and prints "mioty_uart_bridge: forwarded N frames, dropped M".
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/cli/command_line.h"
#include "core/device/slip.h"
#include "core/mioty/frame_codec.h"
#include "core/status.h"
#include "platforms/posix/endpoint.h"

namespace cxsec::node {
namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status Errno(absl::string_view what) {
  return absl::UnavailableError(
      absl::StrCat("mioty_uart_bridge: ", what, ": ", std::strerror(errno)));
}

absl::Status Bridge(const std::string& socket_path,
                    const std::string& gateway_text) {
  CXSEC_ASSIGN_OR_RETURN(sockaddr_in gateway, ParseIpv4Endpoint(gateway_text));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--uart-socket must be a path of 1 to ",
                     sizeof(address.sun_path) - 1, " bytes"));
  }
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  FileDescriptor listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.get() < 0) return Errno("socket");
  ::unlink(socket_path.c_str());
  // Only this user may connect: the socket carries a node's radio link.
  const mode_t old_umask = ::umask(077);
  const int bound =
      ::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address),
             sizeof(address));
  ::umask(old_umask);
  if (bound != 0) return Errno(absl::StrCat("bind ", socket_path));
  if (::listen(listener.get(), 1) != 0) return Errno("listen");
  FileDescriptor uart(
      ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ::unlink(socket_path.c_str());
  if (uart.get() < 0) return Errno("accept");
  FileDescriptor udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (udp.get() < 0) return Errno("udp socket");

  device::SlipDecoder<mioty::kMaxMpduSize> decoder;
  uint64_t forwarded = 0;
  uint64_t dropped = 0;
  uint8_t buffer[512];
  for (;;) {
    const ssize_t n = ::read(uart.get(), buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("read from the node's UART");
    }
    for (ssize_t i = 0; i < n; ++i) {
      const device::SlipEvent event = decoder.Push(buffer[i]);
      if (event == device::SlipEvent::kOversize ||
          event == device::SlipEvent::kBadEscape) {
        ++dropped;
        continue;
      }
      if (event != device::SlipEvent::kFrame) continue;
      const std::span<const uint8_t> frame = decoder.frame();
      const ssize_t sent = ::sendto(udp.get(), frame.data(), frame.size(), 0,
                                    reinterpret_cast<const sockaddr*>(&gateway),
                                    sizeof(gateway));
      if (sent != static_cast<ssize_t>(frame.size())) {
        return Errno(absl::StrCat("sending to ", gateway_text));
      }
      ++forwarded;
    }
  }
  std::printf("mioty_uart_bridge: forwarded %llu frames, dropped %llu\n",
              static_cast<unsigned long long>(forwarded),
              static_cast<unsigned long long>(dropped));
  std::fflush(stdout);
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  CommandLine cl(
      {{"uart-socket", true,
        "Unix socket QEMU's UART connects to (created 0600)", "PATH"},
       {"gateway", true, "the gateway's Mioty UDP port", "IP:PORT"}});
  absl::Status parsed = cl.Parse(argc - 1, argv + 1);
  if (!parsed.ok()) {
    std::fprintf(stderr, "mioty_uart_bridge: %s\n",
                 std::string(parsed.message()).c_str());
    return 2;
  }
  if (cl.Has("help")) {
    std::printf(
        "Usage: mioty_uart_bridge --uart-socket PATH --gateway IP:PORT\n%s",
        cl.Usage().c_str());
    return 0;
  }
  if (!cl.Has("uart-socket") || !cl.Has("gateway")) {
    std::fprintf(
        stderr,
        "mioty_uart_bridge: --uart-socket and --gateway are required\n");
    return 2;
  }
  absl::Status status = Bridge(cl.Value("uart-socket"), cl.Value("gateway"));
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
    return absl::IsInvalidArgument(status) ? 2 : 1;
  }
  return 0;
}

}  // namespace
}  // namespace cxsec::node

int main(int argc, char** argv) { return cxsec::node::Main(argc, argv); }
