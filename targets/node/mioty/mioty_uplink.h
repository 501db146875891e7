// MiotyUplink: what the Mioty node does per reading, device-side and
// board-independent: reserve (persist) the next frame counter, encode the
// TS-UNB frame with the shared codec (core/mioty/frame_codec.h), and
// write it SLIP-framed (core/device/slip.h) to the link to the radio or,
// in QEMU, to the host bridge. The order is the point: a counter is on
// flash before any frame carrying it leaves the node.
//
//   MiotyUplink<MbedTlsMiotyCrypto, BoardCounterFlash, BoardUartLink>
//       uplink(key, params, store, link);
//   auto sent = uplink.Send(ReadingPayload(n, buffer));
//   if (!sent.ok()) log(UplinkReasonName(sent.reason()));
//
// A sealed reading (docs/SEALED_READINGS.md) is sealed under the counter
// of the frame that carries it, so its payload can only be made once that
// counter is reserved: SendComposed hands the counter to a callback.
#ifndef CXSEC_TARGETS_NODE_MIOTY_MIOTY_UPLINK_H_
#define CXSEC_TARGETS_NODE_MIOTY_MIOTY_UPLINK_H_

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/device/result.h"
#include "core/device/slip.h"
#include "core/mioty/frame_codec.h"
#include "platforms/cortex_m/board/board.h"
#include "targets/node/mioty/frame_counter_store.h"

namespace cxsec::node {

// UplinkLink: where framed bytes go (blocking write).
template <class L>
concept UplinkLink = requires(L& link, std::span<const uint8_t> bytes) {
  link.Write(bytes);
};

// BoardUartLink: the board's UART.
struct BoardUartLink {
  void Write(std::span<const uint8_t> bytes) { board::UartWrite(bytes); }
};

// UplinkReason: an extend-only list (core/device/result.h).
enum class [[nodiscard]] UplinkReason : uint8_t{
    kNone = 0,
    kCounterNotPersisted = 1,  // see the store's CounterReason
    kCounterExhausted = 2,     // re-key the node
    kEncodeFailed = 3,         // payload too large, key not loaded
    kFramingFailed = 4,
    kComposeFailed = 5,  // SendComposed's callback made no payload
};

constexpr const char* UplinkReasonName(UplinkReason reason) {
  switch (reason) {
    case UplinkReason::kNone:
      return "ok";
    case UplinkReason::kCounterNotPersisted:
      return "counter_not_persisted";
    case UplinkReason::kCounterExhausted:
      return "counter_exhausted";
    case UplinkReason::kEncodeFailed:
      return "encode_failed";
    case UplinkReason::kFramingFailed:
      return "framing_failed";
    case UplinkReason::kComposeFailed:
      return "compose_failed";
  }
  return "unknown";
}

// ReadingPayload: the reading as CBOR {"n": value}, the same telemetry
// the host node sends (targets/node/mioty_sender.cc). Returns the bytes
// used in `out`, which holds any value (at most 9 bytes).
inline std::span<const uint8_t> ReadingPayload(uint32_t value,
                                               std::span<uint8_t, 9> out) {
  out[0] = 0xa1;  // map of one pair
  out[1] = 0x61;  // text string of 1 byte
  out[2] = 'n';
  size_t n = 3;
  if (value < 24) {
    out[n++] = static_cast<uint8_t>(value);
  } else if (value < 0x100) {
    out[n++] = 0x18;
    out[n++] = static_cast<uint8_t>(value);
  } else if (value < 0x10000) {
    out[n++] = 0x19;
    out[n++] = static_cast<uint8_t>(value >> 8);
    out[n++] = static_cast<uint8_t>(value);
  } else {
    out[n++] = 0x1a;
    for (int shift = 24; shift >= 0; shift -= 8) {
      out[n++] = static_cast<uint8_t>(value >> shift);
    }
  }
  return out.first(n);
}

template <mioty::MiotyCryptoPolicy Crypto, CounterFlash Flash, UplinkLink Link>
class MiotyUplink {
 public:
  using Codec = mioty::FrameCodec<Crypto>;

  // `params` gives the addressing (EUI, short address, long or not, MPF);
  // its counter is replaced per frame.
  MiotyUplink(const mioty::NetworkKey<Crypto>& key,
              const mioty::UplinkParams& params,
              FrameCounterStore<Flash>& store, Link& link)
      : key_(key), params_(params), store_(store), link_(link) {}

  // Send persists the next counter, then encodes and writes one frame.
  // Returns the counter the frame carries.
  device::Result<uint32_t, UplinkReason> Send(
      std::span<const uint8_t> payload) {
    return SendComposed([payload](uint32_t) { return payload; },
                        /*empty_payload_ok=*/true);
  }

  // SendComposed persists the next counter, then calls
  // `compose(counter)`, which returns the payload for the frame carrying
  // that counter (a span that stays valid until SendComposed returns,
  // e.g. a sealed reading in the caller's buffer); then encodes and writes
  // the frame. An empty payload means compose failed: the counter stays
  // used, nothing is sent (kComposeFailed).
  template <class Compose>
  device::Result<uint32_t, UplinkReason> SendComposed(
      Compose&& compose, bool empty_payload_ok = false) {
    using Outcome = device::Result<uint32_t, UplinkReason>;
    const auto counter = store_.ReserveNext();
    if (!counter.ok()) {
      store_reason_ = counter.reason();
      return Outcome::Failure(counter.reason() == CounterReason::kExhausted
                                  ? UplinkReason::kCounterExhausted
                                  : UplinkReason::kCounterNotPersisted);
    }
    const std::span<const uint8_t> payload = compose(counter.value());
    if (payload.empty() && !empty_payload_ok) {
      return Outcome::Failure(UplinkReason::kComposeFailed);
    }
    mioty::UplinkParams params = params_;
    params.counter = counter.value();
    size_t size = 0;
    if (Codec::EncodeUplink(key_, params, payload, frame_, size) !=
        mioty::FrameReason::kNone) {
      return Outcome::Failure(UplinkReason::kEncodeFailed);
    }
    const size_t wire_size =
        device::SlipEncode(std::span(frame_.data(), size), wire_);
    if (wire_size == 0) return Outcome::Failure(UplinkReason::kFramingFailed);
    link_.Write(std::span(wire_.data(), wire_size));
    return Outcome::Success(counter.value());
  }

  // store_reason: why the last counter reservation failed.
  CounterReason store_reason() const { return store_reason_; }

 private:
  const mioty::NetworkKey<Crypto>& key_;
  mioty::UplinkParams params_;
  FrameCounterStore<Flash>& store_;
  Link& link_;
  CounterReason store_reason_ = CounterReason::kNone;
  std::array<uint8_t, mioty::kMaxMpduSize> frame_{};
  std::array<uint8_t, device::SlipEncodedSizeMax(mioty::kMaxMpduSize)> wire_{};
};

}  // namespace cxsec::node

#endif  // CXSEC_TARGETS_NODE_MIOTY_MIOTY_UPLINK_H_
