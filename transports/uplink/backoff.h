// ExponentialBackoff: how long the uplink waits before its next attempt
// after consecutive failures: initial * multiplier^failures, capped at
// `max`, then "equal jitter" (a uniform draw in [d/2, d]) so that many
// gateways that lost the cloud at the same moment do not all return at the
// same moment, while the wait still grows exponentially.
#ifndef CXSEC_TRANSPORTS_UPLINK_BACKOFF_H_
#define CXSEC_TRANSPORTS_UPLINK_BACKOFF_H_

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace cxsec {

struct BackoffPolicy {
  absl::Duration initial = absl::Milliseconds(200);
  absl::Duration max = absl::Seconds(60);
  double multiplier = 2.0;
};

class ExponentialBackoff {
 public:
  // `seed` makes the jitter reproducible in tests; 0 draws a random seed.
  explicit ExponentialBackoff(const BackoffPolicy& policy, uint64_t seed = 0)
      : policy_(policy),
        random_(seed != 0 ? seed : std::random_device{}()) {}

  // Ceiling returns the un-jittered delay after `failures` failures (>= 1).
  absl::Duration Ceiling(int failures) const {
    absl::Duration delay = policy_.initial;
    for (int i = 1; i < failures && delay < policy_.max; ++i) {
      delay = delay * policy_.multiplier;
    }
    return delay < policy_.max ? delay : policy_.max;
  }

  // NextDelay records one more failure and returns the jittered wait.
  absl::Duration NextDelay() {
    if (failures_ < 1000) ++failures_;
    absl::Duration ceiling = Ceiling(failures_);
    std::uniform_real_distribution<double> unit(0.5, 1.0);
    return ceiling * unit(random_);
  }

  // Reset forgets the failures after a success.
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  BackoffPolicy policy_;
  std::mt19937_64 random_;
  int failures_ = 0;
};

}  // namespace cxsec

#endif  // CXSEC_TRANSPORTS_UPLINK_BACKOFF_H_
