// TransportSet: several transports acting as one, e.g. a gateway that
// bridges both 6LoWPAN (DTLS) and Mioty to one uplink:
//
//   using GatewayTransports = TransportSet<DtlsTransport, MiotyTransport>;
//
// Start starts each in order and, if one fails, stops those already
// started, so a half-started gateway never keeps running.
#ifndef CXSEC_CORE_POLICY_TRANSPORT_SET_H_
#define CXSEC_CORE_POLICY_TRANSPORT_SET_H_

#include "absl/strings/string_view.h"
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "core/policy/concepts.h"

namespace cxsec {

template <Transport... Transports>
class TransportSet {
 public:
  static constexpr absl::string_view kName = "transport-set";

  TransportSet() = default;
  explicit TransportSet(Transports... transports)
      : transports_(std::move(transports)...) {}

  absl::Status Start(MessageSink sink) {
    return StartFrom<0>(sink);
  }

  void Stop() {
    std::apply([](auto&... t) { (t.Stop(), ...); }, transports_);
  }

  template <class T>
  T& Get() { return std::get<T>(transports_); }

 private:
  template <size_t I>
  absl::Status StartFrom(const MessageSink& sink) {
    if constexpr (I == sizeof...(Transports)) {
      return absl::OkStatus();
    } else {
      absl::Status status = std::get<I>(transports_).Start(sink);
      if (!status.ok()) return status;
      status = StartFrom<I + 1>(sink);
      if (!status.ok()) std::get<I>(transports_).Stop();
      return status;
    }
  }

  std::tuple<Transports...> transports_;
};

}  // namespace cxsec

#endif  // CXSEC_CORE_POLICY_TRANSPORT_SET_H_
