// udp_uart_bridge: the host end of a QEMU DTLS node's UART, both ways. It
// listens on a Unix socket that QEMU's UART0 connects to (`-chardev
// socket,id=uart,path=SOCKET -serial chardev:uart`), splits the byte
// stream into SLIP frames with the node's own decoder (core/device/slip.h)
// and sends each frame as one UDP datagram to the gateway; each datagram
// the gateway sends back is SLIP-encoded onto the UART. The UDP socket is
// connected to the gateway, so datagrams from anyone else never reach the
// node. It forwards bytes; DTLS is end to end between node and gateway.
// (mioty_uart_bridge is the one-way Mioty counterpart: a Mioty gateway
// never answers.)
//
//   udp_uart_bridge --uart-socket /run/node.sock --gateway 127.0.0.1:5684
//
// One node per bridge; it exits 0 when the node's side closes (QEMU
// ended) and prints "udp_uart_bridge: to gateway N, to node M, dropped D".
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/cli/command_line.h"
#include "core/device/slip.h"
#include "core/status.h"
#include "platforms/posix/endpoint.h"

namespace cxsec::node {
namespace {

// The node's largest datagram (uart_datagram_link.h) with room to spare;
// anything longer is dropped whole, as the node drops it too.
constexpr size_t kMaxDatagram = 2048;

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
      absl::StrCat("udp_uart_bridge: ", what, ": ", std::strerror(errno)));
}

// WriteAll: the whole buffer onto the node's UART socket. A node side
// that has gone (QEMU exited while a datagram for it, typically the
// gateway's close_notify, was on its way) is CancelledError: the end of
// the run, as a read seeing the close is. MSG_NOSIGNAL: without it that
// write raised SIGPIPE and killed the bridge before it printed its counts.
absl::Status WriteAll(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) {
        return absl::CancelledError("the node's UART closed");
      }
      return Errno("write to the node's UART");
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
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
  if (::connect(udp.get(), reinterpret_cast<const sockaddr*>(&gateway),
                sizeof(gateway)) != 0) {
    return Errno(absl::StrCat("connect to ", gateway_text));
  }

  device::SlipDecoder<kMaxDatagram> decoder;
  uint64_t to_gateway = 0;
  uint64_t to_node = 0;
  uint64_t dropped = 0;
  std::vector<uint8_t> buffer(kMaxDatagram);
  std::vector<uint8_t> wire(device::SlipEncodedSizeMax(kMaxDatagram));
  for (;;) {
    pollfd fds[2] = {{uart.get(), POLLIN, 0}, {udp.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Errno("poll");
    }
    if (fds[1].revents & POLLIN) {
      const ssize_t n = ::recv(udp.get(), buffer.data(), buffer.size(), 0);
      if (n > 0) {
        const size_t encoded = device::SlipEncode(
            std::span(buffer.data(), static_cast<size_t>(n)), wire);
        const absl::Status written = WriteAll(uart.get(), wire.data(), encoded);
        if (absl::IsCancelled(written)) break;
        CXSEC_RETURN_IF_ERROR(written);
        ++to_node;
      }
      // ECONNREFUSED (an ICMP port unreachable while the gateway is down)
      // and the like: the node's DTLS retransmission handles them.
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::read(uart.get(), buffer.data(), buffer.size());
      // QEMU closing its end with datagrams for the node still unread
      // (the gateway's close_notify) resets the connection: also the end.
      if (n == 0 || (n < 0 && errno == ECONNRESET)) break;
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
        if (::send(udp.get(), frame.data(), frame.size(), 0) ==
            static_cast<ssize_t>(frame.size())) {
          ++to_gateway;
        } else {
          ++dropped;  // e.g. ECONNREFUSED: the gateway is not up (yet)
        }
      }
    }
  }
  std::printf("udp_uart_bridge: to gateway %llu, to node %llu, dropped %llu\n",
              static_cast<unsigned long long>(to_gateway),
              static_cast<unsigned long long>(to_node),
              static_cast<unsigned long long>(dropped));
  std::fflush(stdout);
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  CommandLine cl(
      {{"uart-socket", true,
        "Unix socket QEMU's UART connects to (created 0600)", "PATH"},
       {"gateway", true, "the gateway's UDP port (DTLS)", "IP:PORT"}});
  absl::Status parsed = cl.Parse(argc - 1, argv + 1);
  if (!parsed.ok()) {
    std::fprintf(stderr, "udp_uart_bridge: %s\n",
                 std::string(parsed.message()).c_str());
    return 2;
  }
  if (cl.Has("help")) {
    std::printf(
        "Usage: udp_uart_bridge --uart-socket PATH --gateway IP:PORT\n%s",
        cl.Usage().c_str());
    return 0;
  }
  if (!cl.Has("uart-socket") || !cl.Has("gateway")) {
    std::fprintf(stderr,
                 "udp_uart_bridge: --uart-socket and --gateway are required\n");
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
