// Policies for a composition slot whose backend a target has not chosen
// (or not built) yet. Like Pigweed's missing backends they fail loudly at
// Start: a device never silently runs without its transport, identity or
// uplink.
#ifndef CXSEC_CORE_POLICY_UNCONFIGURED_H_
#define CXSEC_CORE_POLICY_UNCONFIGURED_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/policy/concepts.h"

namespace cxsec {

inline absl::Status NoBackendError(absl::string_view slot) {
  return absl::FailedPreconditionError(absl::StrCat(
      "cxsec: this target was built without a ", slot,
      " backend; pick one in its targets/<target>/ composition"));
}

struct UnconfiguredTransport {
  static constexpr absl::string_view kName = "unconfigured-transport";
  absl::Status Start(MessageSink) { return NoBackendError("transport"); }
  void Stop() {}
};

struct UnconfiguredIdentity {
  static constexpr absl::string_view kName = "unconfigured-identity";
  std::string JwsAlgorithm() const { return ""; }
  absl::StatusOr<std::string> KeyId() { return NoBackendError("identity"); }
  absl::StatusOr<Bytes> Sign(ByteView) { return NoBackendError("identity"); }
};

struct UnconfiguredUplink {
  static constexpr absl::string_view kName = "unconfigured-uplink";
  absl::Status Start(BearerTokenSource) { return NoBackendError("uplink"); }
  absl::Status Enqueue(VerifiedMessage) { return NoBackendError("uplink"); }
  void Stop() {}
};

static_assert(Transport<UnconfiguredTransport>);
static_assert(Identity<UnconfiguredIdentity>);
static_assert(Uplink<UnconfiguredUplink>);

}  // namespace cxsec

#endif  // CXSEC_CORE_POLICY_UNCONFIGURED_H_
