// See session_walk_limiter.h.
#include "transports/dtls/session_walk_limiter.h"

#include <algorithm>

namespace cxsec::dtls {
namespace {

coap_tick_t Ticks(std::chrono::microseconds d) {
  return static_cast<coap_tick_t>(
      (d.count() * COAP_TICKS_PER_SECOND + 999'999) / 1'000'000);
}

unsigned TicksToMs(coap_tick_t ticks) {
  return static_cast<unsigned>((ticks * 1000 + COAP_TICKS_PER_SECOND - 1) /
                               COAP_TICKS_PER_SECOND);
}

unsigned PrepareIoHook(void* limit, coap_context_t* /*ctx*/,
                       coap_socket_t* sockets[], unsigned max_sockets,
                       unsigned* num_sockets, coap_tick_t now) {
  return static_cast<ScopedSessionWalkLimit*>(limit)->Prepare(
      sockets, max_sockets, num_sockets, now);
}

}  // namespace

ScopedSessionWalkLimit::ScopedSessionWalkLimit(coap_context_t* context)
    : context_(context), interval_(Ticks(kMinInterval)) {
  // Only with epoll: without it coap_io_prepare_io also lists the sockets
  // select() waits on, and every call must do that.
  if (coap_context_get_coap_fd(context) >= 0) {
    coap_context_set_prepare_io_hook(context, &PrepareIoHook, this);
    hooked_ = true;
  }
}

ScopedSessionWalkLimit::~ScopedSessionWalkLimit() {
  if (hooked_) coap_context_set_prepare_io_hook(context_, nullptr, nullptr);
}

unsigned ScopedSessionWalkLimit::Prepare(coap_socket_t* sockets[],
                                         unsigned max_sockets,
                                         unsigned* num_sockets,
                                         coap_tick_t now) {
  const bool timers_due = next_timeout_ != 0 && now >= next_timeout_;
  if (counts_.walks > 0 && !walk_requested_ && !timers_due &&
      now < last_walk_ + interval_) {
    ++counts_.skipped;
    *num_sockets = 0;
    // Wake for the walk that is due, or earlier for the last walk's
    // timers, so nothing the skipped walk would have found waits longer.
    coap_tick_t due = last_walk_ + interval_;
    if (next_timeout_ != 0) due = std::min(due, next_timeout_);
    return std::max(1u, TicksToMs(due - now));
  }
  const auto start = std::chrono::steady_clock::now();
  unsigned timeout_ms =
      coap_io_prepare_io_walk(context_, sockets, max_sockets, num_sockets, now);
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  ++counts_.walks;
  walk_requested_ = false;
  last_walk_ = now;
  next_timeout_ =
      timeout_ms == 0
          ? 0
          : now +
                (coap_tick_t{timeout_ms} * COAP_TICKS_PER_SECOND + 999) / 1000;
  interval_ =
      Ticks(std::clamp(took * kIntervalPerWalk, kMinInterval, kMaxInterval));
  return timeout_ms;
}

}  // namespace cxsec::dtls
