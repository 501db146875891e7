#include "transports/mioty/mioty_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "platforms/posix/endpoint.h"

namespace cxsec::mioty {

struct MiotyTransport::Impl {
  MiotyTransportConfig config;
  std::optional<MiotyKeyStore> store;
  std::optional<ReplayGuard> guard;
  Clock* clock;
  MessageSink sink;
  int fd = -1;
  uint16_t port = 0;
  std::thread thread;
  std::mutex handling;  // one frame at a time (receive thread, HandleFrame)
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> rejected{0};

  absl::Status Verify(ByteView mpdu, const FrameHeader& header,
                      const MiotyDevice& device, uint8_t* plain,
                      VerifiedFrame* frame, ReplayState* state) {
    CXSEC_ASSIGN_OR_RETURN(*state, guard->State(device.eui));
    std::optional<uint32_t> counter = ReconstructCounter(
        ReplayGuard::ReferenceCounter(*state, device.min_counter),
        header.counter_low24);
    if (!counter) {
      return absl::PermissionDeniedError(absl::StrCat(
          "mioty: device ", EuiToHex(device.eui),
          " has exhausted its 32-bit counter; re-key it"));
    }
    return VerifyUplink(device.key, header, device.eui, *counter, mpdu,
                        absl::MakeSpan(plain, kMaxMpduSize), *frame);
  }

  absl::Status Handle(ByteView mpdu) {
    std::lock_guard<std::mutex> lock(handling);
    FrameHeader header;
    CXSEC_RETURN_IF_ERROR(ParseFrameHeader(mpdu, header));
    uint8_t plain[kMaxMpduSize];
    VerifiedFrame frame;
    ReplayState state;
    const MiotyDevice* device = nullptr;
    if (header.long_addressing) {
      const MiotyDevice* d = store->FindByEui(header.eui);
      if (d == nullptr) {
        return absl::NotFoundError(absl::StrCat(
            "mioty: unknown EUI-64 ", EuiToHex(header.eui)));
      }
      CXSEC_RETURN_IF_ERROR(Verify(mpdu, header, *d, plain, &frame, &state));
      device = d;
    } else {
      absl::Span<const MiotyDevice* const> candidates =
          store->CandidatesFor(header.short_address);
      if (candidates.empty()) {
        return absl::NotFoundError(absl::StrCat(
            "mioty: unknown short address ",
            absl::Hex(header.short_address, absl::kZeroPad4)));
      }
      absl::Status last;
      // Bounded: the key store holds at most max_candidates per address.
      for (const MiotyDevice* candidate : candidates) {
        last = Verify(mpdu, header, *candidate, plain, &frame, &state);
        if (last.ok()) {
          device = candidate;
          break;
        }
      }
      if (device == nullptr) {
        if (candidates.size() == 1) return last;
        return absl::UnauthenticatedError(absl::StrCat(
            "mioty: no key of the ", candidates.size(),
            " devices with short address ",
            absl::Hex(header.short_address, absl::kZeroPad4),
            " verifies the frame"));
      }
    }
    CXSEC_ASSIGN_OR_RETURN(ReplayState next, guard->Admit(state, frame.counter,
                                                          device->min_counter));
    CXSEC_RETURN_IF_ERROR(guard->Commit(device->eui, next));
    VerifiedMessage message;
    message.device_id = device->device_id;
    message.message_id =
        absl::StrCat("mioty-", message.device_id, "-", frame.counter);
    message.transport = std::string(kName);
    message.received_at = clock->Now();
    message.payload = ToBytes(frame.payload);
    absl::Status delivered = sink(std::move(message));
    if (!delivered.ok()) {
      absl::Status rolled_back = guard->Commit(device->eui, state);
      if (!rolled_back.ok()) {
        std::fprintf(stderr, "mioty: could not roll back the counter of %s: %s\n",
                     EuiToHex(device->eui).c_str(),
                     std::string(rolled_back.message()).c_str());
      }
      return absl::UnavailableError(absl::StrCat(
          "mioty: the sink did not accept the message: ", delivered.message()));
    }
    return absl::OkStatus();
  }

  void Receive() {
    uint8_t buffer[kMaxMpduSize + 1];
    while (!stopping.load()) {
      pollfd p{fd, POLLIN, 0};
      int ready = ::poll(&p, 1, 100);
      if (ready <= 0) continue;
      sockaddr_in from{};
      socklen_t from_len = sizeof(from);
      ssize_t n = ::recvfrom(fd, buffer, sizeof(buffer), 0,
                             reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) continue;
      absl::Status status = Count(Handle(ByteView(buffer, static_cast<size_t>(n))));
      if (!status.ok()) {
        uint64_t r = rejected.load();
        // Log the first rejections and then every power of two, so a flood
        // of forged frames cannot flood the log.
        if (r <= 16 || (r & (r - 1)) == 0) {
          std::fprintf(stderr, "mioty: rejected a %zd-byte frame (%llu so far): %s\n",
                       n, static_cast<unsigned long long>(r),
                       std::string(status.message()).c_str());
        }
      }
    }
  }

  absl::Status Count(absl::Status status) {
    (status.ok() ? accepted : rejected).fetch_add(1);
    return status;
  }
};

MiotyTransport::MiotyTransport(MiotyTransportConfig config, Clock& clock)
    : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->clock = &clock;
}

MiotyTransport::MiotyTransport(MiotyTransportConfig config, MiotyKeyStore store,
                               Clock& clock)
    : MiotyTransport(std::move(config), clock) {
  impl_->store.emplace(std::move(store));
}

MiotyTransport::MiotyTransport(MiotyTransport&&) noexcept = default;
MiotyTransport& MiotyTransport::operator=(MiotyTransport&&) noexcept = default;
MiotyTransport::~MiotyTransport() { Stop(); }

absl::StatusOr<size_t> MiotyTransport::ReloadKeys() {
  Impl& impl = *impl_;
  if (impl.config.key_store_path.empty()) {
    return absl::FailedPreconditionError(
        "mioty: no key store file configured to reload from");
  }
  // Loaded outside the frame lock: frames keep flowing while the file is
  // read and checked, and wait only for the swap.
  CXSEC_ASSIGN_OR_RETURN(MiotyKeyStore store,
                         MiotyKeyStore::Load(impl.config.key_store_path));
  const size_t devices = store.size();
  std::lock_guard<std::mutex> lock(impl.handling);
  // Assigned into the engaged optional, never reset: HandleFrame checks
  // that a store exists without taking the lock.
  if (impl.store) {
    *impl.store = std::move(store);
  } else {
    impl.store.emplace(std::move(store));
  }
  return devices;
}

absl::Status MiotyTransport::Start(MessageSink sink) {
  Impl& impl = *impl_;
  if (impl.fd >= 0) return absl::FailedPreconditionError("mioty: already started");
  if (!impl.store) {
    if (impl.config.key_store_path.empty()) {
      return absl::InvalidArgumentError("mioty: no key store configured");
    }
    CXSEC_ASSIGN_OR_RETURN(MiotyKeyStore store,
                           MiotyKeyStore::Load(impl.config.key_store_path));
    impl.store.emplace(std::move(store));
  }
  if (!impl.guard) {
    CXSEC_ASSIGN_OR_RETURN(ReplayGuard guard,
                           ReplayGuard::Open(impl.config.state_dir,
                                             impl.config.replay));
    impl.guard.emplace(std::move(guard));
  }
  impl.sink = std::move(sink);
  CXSEC_ASSIGN_OR_RETURN(sockaddr_in addr, ParseIpv4Endpoint(impl.config.listen, /*allow_port_zero=*/true));
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("mioty: socket: ", std::strerror(errno)));
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int error = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat(
        "mioty: cannot bind ", impl.config.listen, ": ", std::strerror(error)));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl.port = ntohs(addr.sin_port);
  impl.fd = fd;
  impl.stopping = false;
  impl.thread = std::thread([&impl] { impl.Receive(); });
  return absl::OkStatus();
}

void MiotyTransport::Stop() {
  if (!impl_) return;
  impl_->stopping = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->fd >= 0) {
    ::close(impl_->fd);
    impl_->fd = -1;
  }
}

uint16_t MiotyTransport::port() const { return impl_->port; }

MiotyTransportStats MiotyTransport::stats() const {
  return {impl_->accepted.load(), impl_->rejected.load()};
}

absl::Status MiotyTransport::HandleFrame(ByteView mpdu) {
  Impl& impl = *impl_;
  if (!impl.store || !impl.guard || !impl.sink) {
    return absl::FailedPreconditionError("mioty: transport not started");
  }
  return impl.Count(impl.Handle(mpdu));
}

}  // namespace cxsec::mioty
