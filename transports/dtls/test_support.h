// Test helpers for the DTLS transport: a free loopback UDP port, a test
// deployment and provisioned node key files in $TEST_TMPDIR.
#ifndef CXSEC_TRANSPORTS_DTLS_TEST_SUPPORT_H_
#define CXSEC_TRANSPORTS_DTLS_TEST_SUPPORT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/deployment/node_key_file.h"
#include "core/deployment/security_file.h"
#include "platforms/posix/files.h"

namespace cxsec::dtls::testing {

// FreeUdpPort asks the kernel for an unused loopback UDP port.
inline uint16_t FreeUdpPort() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t size = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

inline std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

inline SecurityConfig TestSecurity(uint32_t epoch = 1) {
  SecurityConfig config;
  config.pan_id = 0x1a2b;
  config.master_secret = *SecretBytes::Random(kMasterSecretBytes);
  config.epoch = epoch;
  return config;
}

inline std::string DeviceId(int n) { return absl::StrFormat("D%016X", 0xC0FFEE00 + n); }

// WriteNodeKey provisions `device_id` for `epoch` into a 0600 key file.
inline std::string WriteNodeKey(const SecurityConfig& security,
                                const std::string& device_id, uint32_t epoch,
                                const std::string& name) {
  NodeKey key{device_id, security.pan_id, epoch,
              *DeriveDevicePsk(security.MasterFor(epoch), device_id, epoch)};
  std::string path = absl::StrCat(TempDir(), "/", name);
  if (!WriteFileAtomically(path, FormatNodeKeyFile(key), 0600).ok()) std::abort();
  return path;
}

}  // namespace cxsec::dtls::testing

#endif  // CXSEC_TRANSPORTS_DTLS_TEST_SUPPORT_H_
