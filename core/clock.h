// An injectable clock. Code that checks expiry (JWT exp/iat, key expiry,
// token refresh, replay windows) takes a Clock& so tests can move time
// instead of sleeping.
//
//   FakeClock clock(absl::FromUnixSeconds(1700000000));
//   clock.Advance(absl::Hours(2));
#ifndef CXSEC_CORE_CLOCK_H_
#define CXSEC_CORE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cxsec {

// Clock: the source of "now".
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// SystemClock: wall-clock time.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }

  // Default returns a process-wide SystemClock.
  static Clock& Default() {
    static SystemClock* clock = new SystemClock();
    return *clock;
  }
};

// FakeClock: time that moves only when told; safe to share between threads.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::UnixEpoch()) : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mutex_);
    return now_;
  }
  void Set(absl::Time now) {
    absl::MutexLock lock(&mutex_);
    now_ = now;
  }
  void Advance(absl::Duration by) {
    absl::MutexLock lock(&mutex_);
    now_ += by;
  }

 private:
  mutable absl::Mutex mutex_;
  absl::Time now_;
};

}  // namespace cxsec

#endif  // CXSEC_CORE_CLOCK_H_
