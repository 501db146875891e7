// MiotyTransport: the gateway's Mioty receiver (a cxsec::Transport). It
// takes TS-UNB uplink MPDUs as UDP datagrams on 127.0.0.1 (standing in for
// the base station that would forward them), finds the device by EUI-64
// (long addressing) or tries each key registered for the short address
// (bounded by the key store), verifies the MIC with the counter rebuilt
// from the device's last accepted one, enforces replay protection, and
// hands a VerifiedMessage to the sink:
//   device_id  = the key store's device id (D + 16 upper-case hex digits,
//   the form DTLS devices have; by default D + the EUI-64),
//   message_id = "mioty-<device id>-<counter>" (stable, so an uplink can
//   deduplicate), transport = "mioty".
//
// Order per frame: verify -> replay check -> persist the new counter ->
// sink. If the sink refuses (not durably accepted), the counter state is
// rolled back so the frame has not been consumed. Persisting before the
// sink means a crash can lose a frame but never deliver one twice.
//
//   MiotyTransport transport({.listen = "127.0.0.1:5700",
//                             .key_store_path = "/etc/cxsec/mioty-keys.json",
//                             .state_dir = "/var/lib/cxsec/mioty"});
//   CXSEC_RETURN_IF_ERROR(transport.Start(sink));
#ifndef CXSEC_TRANSPORTS_MIOTY_MIOTY_TRANSPORT_H_
#define CXSEC_TRANSPORTS_MIOTY_MIOTY_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/policy/message.h"
#include "transports/mioty/key_store.h"
#include "transports/mioty/replay_guard.h"

namespace cxsec::mioty {

struct MiotyTransportConfig {
  std::string listen = "127.0.0.1:0";  // IPv4 host:port; port 0 = any
  std::string key_store_path;          // used unless a store is given
  std::string state_dir;               // replay state (required)
  ReplayPolicy replay;
};

// MiotyTransportStats: counts since Start (read from any thread).
struct MiotyTransportStats {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
};

class MiotyTransport {
 public:
  static constexpr absl::string_view kName = "mioty";

  explicit MiotyTransport(MiotyTransportConfig config,
                          Clock& clock = SystemClock::Default());
  // With a key store already in memory (tests, embedding).
  MiotyTransport(MiotyTransportConfig config, MiotyKeyStore store,
                 Clock& clock = SystemClock::Default());
  MiotyTransport(MiotyTransport&&) noexcept;
  MiotyTransport& operator=(MiotyTransport&&) noexcept;
  ~MiotyTransport();

  // Start loads the key store and replay state, binds the UDP socket and
  // starts the receive thread.
  [[nodiscard]] absl::Status Start(MessageSink sink);
  void Stop();

  // The bound UDP port (after Start).
  uint16_t port() const;
  MiotyTransportStats stats() const;

  // ReloadKeys re-reads the key store file (config.key_store_path) with the
  // same checks as Start (mode 0600, every line valid) and puts it in use
  // between two frames; replay state is untouched. On any error the keys in
  // use stay as they were. Returns the number of devices now registered.
  // The gateway calls it on SIGHUP; after a privilege drop the file must be
  // readable by the service account.
  [[nodiscard]] absl::StatusOr<size_t> ReloadKeys();

  // HandleFrame runs the whole receive path for one MPDU; the receive
  // thread calls it per datagram. OK means the sink accepted the message.
  // Frames are handled one at a time (a mutex), whoever calls.
  [[nodiscard]] absl::Status HandleFrame(ByteView mpdu);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cxsec::mioty

#endif  // CXSEC_TRANSPORTS_MIOTY_MIOTY_TRANSPORT_H_
