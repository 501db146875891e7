// SecurityCore<Transport, Identity, Uplink>: the host that composes one
// policy of each kind into a device's security core. Each target names its
// composition once, in targets/<target>/, e.g.
//
//   using GatewayCore =
//       SecurityCore<TransportSet<DtlsTransport, MiotyTransport>,
//                    TpmIdentity, HttpsUplink>;
//
// A policy that does not satisfy its concept stops compilation with one
// static_assert naming the parameter and the concept, instead of pages of
// template errors.
#ifndef CXSEC_CORE_SECURITY_CORE_H_
#define CXSEC_CORE_SECURITY_CORE_H_

#include <utility>

#include "absl/status/status.h"
#include "core/policy/concepts.h"

namespace cxsec {

template <class TransportPolicy, class IdentityPolicy, class UplinkPolicy>
class SecurityCore {
  static_assert(Transport<TransportPolicy>,
                "cxsec: SecurityCore's 1st parameter must satisfy "
                "cxsec::Transport (Start(MessageSink), Stop(), kName); see "
                "core/policy/concepts.h");
  static_assert(Identity<IdentityPolicy>,
                "cxsec: SecurityCore's 2nd parameter must satisfy "
                "cxsec::Identity (Sign(ByteView), KeyId(), JwsAlgorithm(), "
                "kName); see core/policy/concepts.h");
  static_assert(Uplink<UplinkPolicy>,
                "cxsec: SecurityCore's 3rd parameter must satisfy "
                "cxsec::Uplink (Start(BearerTokenSource), "
                "Enqueue(VerifiedMessage), Stop(), kName); see "
                "core/policy/concepts.h");

 public:
  using TransportType = TransportPolicy;
  using IdentityType = IdentityPolicy;
  using UplinkType = UplinkPolicy;

  SecurityCore(TransportPolicy transport, IdentityPolicy identity,
               UplinkPolicy uplink)
      : transport_(std::move(transport)),
        identity_(std::move(identity)),
        uplink_(std::move(uplink)) {}

  // Start starts the uplink first, so that nothing a transport accepts has
  // nowhere to go, then the transport feeding it. `tokens` supplies the
  // uplink's bearer credential, normally a JWT minted from identity().
  [[nodiscard]] absl::Status Start(BearerTokenSource tokens) {
    absl::Status status = uplink_.Start(std::move(tokens));
    if (!status.ok()) return status;
    status = transport_.Start([this](VerifiedMessage message) {
      return uplink_.Enqueue(std::move(message));
    });
    if (!status.ok()) uplink_.Stop();
    return status;
  }

  // Stop stops the transport (no new messages), then the uplink.
  void Stop() {
    transport_.Stop();
    uplink_.Stop();
  }

  TransportPolicy& transport() { return transport_; }
  IdentityPolicy& identity() { return identity_; }
  UplinkPolicy& uplink() { return uplink_; }

 private:
  TransportPolicy transport_;
  IdentityPolicy identity_;
  UplinkPolicy uplink_;
};

}  // namespace cxsec

#endif  // CXSEC_CORE_SECURITY_CORE_H_
