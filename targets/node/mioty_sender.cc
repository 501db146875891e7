#include "targets/node/mioty_sender.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/encoding/hex.h"
#include "core/seal/sealed_reading.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "platforms/posix/endpoint.h"
#include "platforms/posix/files.h"

namespace cxsec::node {
namespace {

// The counter file holds the next counter to use, in decimal.
absl::StatusOr<uint64_t> ReadNextCounter(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return 0;
  CXSEC_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 64));
  uint64_t next = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &next) ||
      next > uint64_t{UINT32_MAX} + 1) {
    return absl::DataLossError(
        absl::StrCat(path, ": corrupt mioty counter file"));
  }
  return next;
}

// The largest telemetry RunMiotyNode sends: {"n": a 32-bit number}.
constexpr size_t kMaxTelemetrySize = 3 + 5;

void AppendCborUint(uint64_t value, Bytes* out) {
  if (value < 24) {
    out->push_back(static_cast<uint8_t>(value));
  } else if (value < 0x100) {
    out->insert(out->end(), {0x18, static_cast<uint8_t>(value)});
  } else if (value < 0x10000) {
    out->insert(out->end(), {0x19, static_cast<uint8_t>(value >> 8),
                             static_cast<uint8_t>(value)});
  } else {
    out->insert(out->end(), {0x1a, static_cast<uint8_t>(value >> 24),
                             static_cast<uint8_t>(value >> 16),
                             static_cast<uint8_t>(value >> 8),
                             static_cast<uint8_t>(value)});
  }
}

}  // namespace

struct MiotySender::Impl {
  MiotySenderConfig config;
  mioty::MiotyNetworkKey key;
  sockaddr_in gateway{};
  int fd = -1;
  uint64_t next = 0;

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }
};

MiotySender::MiotySender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MiotySender::MiotySender(MiotySender&&) noexcept = default;
MiotySender& MiotySender::operator=(MiotySender&&) noexcept = default;
MiotySender::~MiotySender() = default;

absl::StatusOr<MiotySender> MiotySender::Open(MiotySenderConfig config,
                                              ByteView network_key) {
  CXSEC_ASSIGN_OR_RETURN(mioty::MiotyNetworkKey key,
                         mioty::MiotyNetworkKey::FromBytes(network_key));
  CXSEC_ASSIGN_OR_RETURN(sockaddr_in gateway, ParseIpv4Endpoint(config.gateway));
  if (config.counter_file.empty()) {
    return absl::InvalidArgumentError("mioty: no counter file configured");
  }
  CXSEC_ASSIGN_OR_RETURN(uint64_t next, ReadNextCounter(config.counter_file));
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("mioty: socket: ", std::strerror(errno)));
  }
  auto impl = std::unique_ptr<Impl>(
      new Impl{std::move(config), std::move(key), gateway, fd, next});
  return MiotySender(std::move(impl));
}

absl::StatusOr<uint32_t> MiotySender::Send(ByteView payload,
                                           std::optional<uint8_t> mpf) {
  return SendFrame(
      [payload](uint32_t) -> absl::StatusOr<Bytes> {
        return Bytes(payload.begin(), payload.end());
      },
      mpf);
}

absl::Status MiotySender::CheckSealedFits(size_t reading_size,
                                          bool has_mpf) const {
  const bool long_addressing = impl_->config.long_addressing;
  const size_t limit = mioty::MaxPayloadSize(long_addressing, has_mpf);
  const size_t sealed = seal::SealedSize(seal::Transport::kMioty, reading_size);
  if (sealed <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "mioty: a sealed reading of ", sealed, " bytes (", reading_size,
      " bytes of reading + ", seal::kMiotyOverhead,
      " of envelope) does not fit a frame, whose payload is at most ", limit,
      " bytes with ", long_addressing ? "long" : "short", " addressing",
      has_mpf ? " and an MPF byte" : "", ": send readings of at most ",
      limit >= seal::kMiotyOverhead ? limit - seal::kMiotyOverhead : 0,
      " bytes"));
}

absl::StatusOr<uint32_t> MiotySender::SendSealed(NodeSealer& sealer,
                                                 ByteView reading,
                                                 std::optional<uint8_t> mpf) {
  if (sealer.transport() != seal::Transport::kMioty) {
    return absl::InvalidArgumentError(
        "mioty: the sealer is not a Mioty one (its sequence must be the "
        "frame counter)");
  }
  CXSEC_RETURN_IF_ERROR(CheckSealedFits(reading.size(), mpf.has_value()));
  return SendFrame(
      [&](uint32_t counter) -> absl::StatusOr<Bytes> {
        return sealer.SealWithSequence(counter, reading);
      },
      mpf);
}

absl::StatusOr<uint32_t> MiotySender::SendFrame(
    absl::FunctionRef<absl::StatusOr<Bytes>(uint32_t counter)> payload_for,
    std::optional<uint8_t> mpf) {
  Impl& impl = *impl_;
  if (impl.next > UINT32_MAX) {
    return absl::ResourceExhaustedError(
        "mioty: the 32-bit packet counter is exhausted; re-key this node");
  }
  const uint32_t counter = static_cast<uint32_t>(impl.next);
  mioty::UplinkParams params;
  params.eui = impl.config.eui;
  params.short_address = impl.config.short_address;
  params.long_addressing = impl.config.long_addressing;
  params.counter = counter;
  params.mpf = mpf;
  CXSEC_ASSIGN_OR_RETURN(Bytes payload, payload_for(counter));
  uint8_t frame[mioty::kMaxMpduSize];
  CXSEC_ASSIGN_OR_RETURN(size_t size,
                         mioty::EncodeUplink(impl.key, params, payload,
                                             absl::MakeSpan(frame)));
  // Persist first: a counter is never used twice, even across a crash.
  CXSEC_RETURN_IF_ERROR(WriteFileAtomically(
      impl.config.counter_file, absl::StrCat(impl.next + 1, "\n"), 0600));
  impl.next += 1;
  ssize_t sent = ::sendto(impl.fd, frame, size, 0,
                          reinterpret_cast<const sockaddr*>(&impl.gateway),
                          sizeof(impl.gateway));
  if (sent != static_cast<ssize_t>(size)) {
    return absl::UnavailableError(absl::StrCat(
        "mioty: sending to ", impl.config.gateway, " failed: ",
        std::strerror(errno)));
  }
  return counter;
}

std::vector<ConfigKey> MiotyNodeConfigKeys() {
  return {
      {"mioty_eui", false, "Mioty: this node's EUI-64, 16 hex digits"},
      {"mioty_short_address", false,
       "Mioty: short address, 4 hex digits (default: EUI's last 2 bytes)"},
      {"mioty_key_file", false,
       "Mioty: file with the 16-byte network key in hex, mode 0600"},
      {"mioty_counter_file", false, "Mioty: persisted packet counter"},
      {"mioty_long_addressing", false,
       "Mioty: true to send the EUI-64 instead of the short address"},
  };
}

absl::Status ValidateMiotyNodeConfig(const KeyValueFile& config) {
  if (config.GetString("transport") != "mioty") return absl::OkStatus();
  for (absl::string_view key :
       {"mioty_eui", "mioty_key_file", "mioty_counter_file", "gateway"}) {
    if (config.Find(key) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          config.source(), ": transport = mioty needs '", key, "'"));
    }
  }
  const KeyValueFile::Entry* eui = config.Find("mioty_eui");
  if (!HexDecodeExact(eui->value, mioty::kEuiSize, "mioty_eui").ok()) {
    return config.LineError(eui->line,
                            "'mioty_eui' must be 16 hex digits (an EUI-64)");
  }
  if (const KeyValueFile::Entry* s = config.Find("mioty_short_address")) {
    if (!HexDecodeExact(s->value, 2, "short address").ok()) {
      return config.LineError(s->line,
                              "'mioty_short_address' must be 4 hex digits");
    }
  }
  CXSEC_RETURN_IF_ERROR(config.GetBool("mioty_long_addressing", false).status());
  CXSEC_RETURN_IF_ERROR(config.GetInt("post_count", 0, 0, 1000000000).status());
  return absl::OkStatus();
}

absl::Status RunMiotyNode(const KeyValueFile& config) {
  MiotySenderConfig sender_config;
  CXSEC_ASSIGN_OR_RETURN(
      Bytes eui, HexDecodeExact(config.GetString("mioty_eui"), 8, "mioty_eui"));
  std::copy(eui.begin(), eui.end(), sender_config.eui.begin());
  sender_config.short_address = mioty::ShortAddressOf(sender_config.eui);
  if (config.Find("mioty_short_address") != nullptr) {
    CXSEC_ASSIGN_OR_RETURN(
        Bytes s, HexDecodeExact(config.GetString("mioty_short_address"), 2,
                                "mioty_short_address"));
    sender_config.short_address = static_cast<uint16_t>((s[0] << 8) | s[1]);
  }
  CXSEC_ASSIGN_OR_RETURN(sender_config.long_addressing,
                         config.GetBool("mioty_long_addressing", false));
  sender_config.gateway = config.GetString("gateway");
  sender_config.counter_file = config.GetString("mioty_counter_file");
  const std::string key_path = config.GetString("mioty_key_file");
  CXSEC_ASSIGN_OR_RETURN(std::string key_text, ReadPrivateFile(key_path, 256));
  absl::StatusOr<Bytes> raw = HexDecodeExact(
      absl::StripAsciiWhitespace(key_text), mioty::kNetworkKeySize,
      absl::StrCat(key_path, ": network key"));
  SecureZero(key_text.data(), key_text.size());
  if (!raw.ok()) return raw.status();
  SecretBytes key = SecretBytes::CopyFrom(*raw);
  SecureZero(raw->data(), raw->size());
  CXSEC_ASSIGN_OR_RETURN(
      MiotySender sender,
      MiotySender::Open(std::move(sender_config),
                        key.Reveal(SecretAccess::Grant())));
  CXSEC_ASSIGN_OR_RETURN(std::unique_ptr<NodeSealer> sealer,
                         OpenNodeSealer(config, seal::Transport::kMioty));
  if (sealer != nullptr) {
    // The largest reading this node sends, {"n": a 32-bit number}, must
    // still fit a frame once sealed: found at start, not on the first send.
    CXSEC_RETURN_IF_ERROR(sender.CheckSealedFits(kMaxTelemetrySize));
    std::fprintf(stderr,
                 "cxsec-node: sealing readings (seal_mode = %s, seal epoch "
                 "%u; the sequence is the frame counter)\n",
                 SealModeName(sealer->mode()), sealer->epoch());
  }
  CXSEC_ASSIGN_OR_RETURN(long long messages, config.GetInt("post_count", 0, 0, 1000000000));
  CXSEC_ASSIGN_OR_RETURN(long long interval,
                         config.GetInt("interval_seconds", 60, 1, 86400));
  for (long long i = 0; messages == 0 || i < messages; ++i) {
    if (i > 0) absl::SleepFor(absl::Seconds(interval));
    // Telemetry: the CBOR map {"n": i}.
    Bytes payload = {0xa1, 0x61, 'n'};
    AppendCborUint(static_cast<uint64_t>(i), &payload);
    CXSEC_ASSIGN_OR_RETURN(uint32_t counter,
                           sealer != nullptr
                               ? sender.SendSealed(*sealer, payload)
                               : sender.Send(payload));
    std::printf("cxsec-node: sent %smioty frame, counter %u\n",
                sealer != nullptr ? "sealed " : "", counter);
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

}  // namespace cxsec::node
