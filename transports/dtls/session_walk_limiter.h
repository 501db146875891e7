// Keeps libcoap's per-datagram walk over every session from making the
// gateway's cost per packet grow with the sessions it holds.
//
// libcoap 4.3.1 (Debian's libcoap-3-gnutls) calls coap_io_prepare_io, which
// visits every session of every endpoint to find idle sessions, DTLS
// retransmission timeouts and the next wake-up, before and after each
// datagram it reads (coap_io_process, coap_io_do_epoll). Holding 10,000
// sessions, that walk took 87% of the gateway's CPU and handshakes ran at
// 0.02x of their rate with 100 sessions (docs/PERFORMANCE_NOTES.md).
//
// cxsec builds libcoap from Debian's source with a per-context hook in
// front of coap_io_prepare_io (third_party/libcoap/0002-prepare-io-hook.patch).
// For a context given to the limiter, the real walk runs at most once per
// interval; in between the call returns the time until the next walk is
// due, so libcoap's timer wakes the thread for it. Timers (idle timeout,
// DTLS retransmission) therefore fire up to one interval late. A session
// that ended must still be freed at once (libcoap forgets its address only
// then): DtlsServer frees those itself, as the walk would, and can ask for
// a walk on the next call (WalkOnNextCall). The interval is 20 times the
// last walk's duration, between 5 and 100 ms, so walking costs at most
// about 5% of the thread while the shortest libcoap timer (DTLS, 1 s)
// keeps its meaning. Other contexts (clients) walk on every call.
#ifndef CXSEC_TRANSPORTS_DTLS_SESSION_WALK_LIMITER_H_
#define CXSEC_TRANSPORTS_DTLS_SESSION_WALK_LIMITER_H_

#include <coap3/coap.h>

#include <chrono>
#include <cstdint>

namespace cxsec::dtls {

struct SessionWalkCounts {
  uint64_t walks = 0;    // real walks over every session
  uint64_t skipped = 0;  // calls answered without one
};

// ScopedSessionWalkLimit limits the walks of `context` while it lives; it
// must be created and destroyed on the thread that runs `context` (the
// hook is called from there), one per context.
class ScopedSessionWalkLimit {
 public:
  static constexpr std::chrono::microseconds kMinInterval{5'000};
  static constexpr std::chrono::microseconds kMaxInterval{100'000};
  static constexpr int kIntervalPerWalk = 20;

  explicit ScopedSessionWalkLimit(coap_context_t* context);
  ~ScopedSessionWalkLimit();
  ScopedSessionWalkLimit(const ScopedSessionWalkLimit&) = delete;
  ScopedSessionWalkLimit& operator=(const ScopedSessionWalkLimit&) = delete;

  // engaged: libcoap's calls for the context reach the limiter (true once
  // libcoap has prepared its I/O at least once through it).
  bool engaged() const { return counts_.walks + counts_.skipped > 0; }
  SessionWalkCounts counts() const { return counts_; }
  // WalkOnNextCall: the next call walks, whatever the interval (e.g. a
  // session ended in a state its owner cannot free it in).
  void WalkOnNextCall() { walk_requested_ = true; }

  // For the hook only.
  unsigned Prepare(coap_socket_t* sockets[], unsigned max_sockets,
                   unsigned* num_sockets, coap_tick_t now);
  coap_context_t* context() const { return context_; }

 private:
  coap_context_t* const context_;
  bool hooked_ = false;
  SessionWalkCounts counts_;
  bool walk_requested_ = false;
  coap_tick_t last_walk_ = 0;  // libcoap ticks (ms) of the last walk
  coap_tick_t next_timeout_ =
      0;                      // when the last walk's timers are due; 0: none
  coap_tick_t interval_ = 0;  // ticks
};

}  // namespace cxsec::dtls

#endif  // CXSEC_TRANSPORTS_DTLS_SESSION_WALK_LIMITER_H_
