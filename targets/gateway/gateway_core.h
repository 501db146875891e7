// The gateway's composition: the one place that picks its transport,
// identity and uplink policies. The seed's gateway bridges 6LoWPAN (CoAP
// over DTLS-PSK) and Mioty to the cloud over HTTPS, authenticated by a
// TPM-held key (or a software key, chosen by the config's `identity`).
//
//   SecurityCore<TransportSet<EnabledTransport<DtlsServer>,
//                             EnabledTransport<MiotyTransport>>,
//                ConfiguredIdentity, HttpsUplink>
//
// It also connects the uplink to the DTLS transport for seal receipts
// (ReceiptsFromUplink / ReceiptsToDtls): the two policies know nothing of
// each other.
#ifndef CXSEC_TARGETS_GATEWAY_GATEWAY_CORE_H_
#define CXSEC_TARGETS_GATEWAY_GATEWAY_CORE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/bytes.h"
#include "core/identity/soft_key.h"
#include "core/policy/concepts.h"
#include "core/policy/transport_set.h"
#include "core/security_core.h"
#include "platforms/tpm/tpm_key.h"
#include "targets/gateway/receipt_box.h"
#include "transports/dtls/dtls_server.h"
#include "transports/mioty/mioty_transport.h"
#include "transports/uplink/https_uplink.h"

namespace cxsec::gateway {

// ConfiguredIdentity: the identity the config chose at run time, a TPM key
// (`identity = tpm`) or a software key (`identity = software`). A variant
// rather than a virtual interface keeps the policies plain values.
class ConfiguredIdentity {
 public:
  static constexpr absl::string_view kName = "configured";

  // A TPM key remembers its TCTI, handle and authorization value, so Sign
  // can reconnect after the TPM (or its resource manager, or swtpm) went
  // away and came back.
  explicit ConfiguredIdentity(TpmKey key) : key_(std::move(key)) {}
  explicit ConfiguredIdentity(SoftKey key) : key_(std::move(key)) {}

  // Which backend holds the key: "tpm" or "software".
  absl::string_view Backend() const {
    return std::holds_alternative<TpmKey>(key_) ? "tpm" : "software";
  }
  std::string JwsAlgorithm() const {
    return std::visit(
        [](const auto& key) { return std::string(key.JwsAlgorithm()); }, key_);
  }
  absl::StatusOr<std::string> KeyId() {
    return std::visit([](auto& key) { return key.KeyId(); }, key_);
  }
  // Sign signs with the key; a TPM key whose connection failed is opened
  // again once (same TCTI and handle) before the error is returned, so the
  // gateway recovers by itself when the TPM returns.
  absl::StatusOr<Bytes> Sign(ByteView message) {
    absl::StatusOr<Bytes> signature =
        std::visit([message](auto& key) { return key.Sign(message); }, key_);
    if (signature.ok() || !std::holds_alternative<TpmKey>(key_)) {
      return signature;
    }
    if (absl::IsPermissionDenied(signature.status())) return signature;
    absl::StatusOr<TpmKey> reopened = std::get<TpmKey>(key_).Reconnect();
    if (!reopened.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "TPM signing failed (", signature.status().message(),
          "); reconnecting failed: ", reopened.status().message()));
    }
    key_ = std::move(*reopened);
    return std::get<TpmKey>(key_).Sign(message);
  }

 private:
  std::variant<TpmKey, SoftKey> key_;
};
static_assert(Identity<ConfiguredIdentity>);

// EnabledTransport<T>: a transport the config may leave out. DtlsServer is
// neither copyable nor movable (its loop thread points at it), so it lives
// behind a pointer; an empty slot starts as a no-op.
template <Transport T>
class EnabledTransport {
 public:
  static constexpr absl::string_view kName = T::kName;

  EnabledTransport() = default;
  explicit EnabledTransport(std::unique_ptr<T> transport)
      : transport_(std::move(transport)) {}

  absl::Status Start(MessageSink sink) {
    if (transport_ == nullptr) return absl::OkStatus();
    return transport_->Start(std::move(sink));
  }
  void Stop() {
    if (transport_ != nullptr) transport_->Stop();
  }
  bool enabled() const { return transport_ != nullptr; }
  T* get() { return transport_.get(); }

 private:
  std::unique_ptr<T> transport_;
};

using GatewayTransports = TransportSet<EnabledTransport<dtls::DtlsServer>,
                                       EnabledTransport<mioty::MiotyTransport>>;

using GatewayCore =
    SecurityCore<GatewayTransports, ConfiguredIdentity, HttpsUplink>;

// Seal receipts (docs/SEALED_READINGS.md, "Receipts"): what the uplink
// hears in the verifier's answers waits in a ReceiptBox until the DTLS
// transport answers the device's next sealed reading with it. The box is
// shared by both sides (each holds a reference).
//
//   auto box = std::make_shared<ReceiptBox>();
//   uplink_options.on_receipt = ReceiptsFromUplink(box);
//   dtls_options.take_receipts = ReceiptsToDtls(box);
inline auto ReceiptsFromUplink(std::shared_ptr<ReceiptBox> box) {
  return [box](absl::string_view device_id, Bytes receipt) {
    box->Put(device_id, std::move(receipt));
  };
}
inline auto ReceiptsToDtls(std::shared_ptr<ReceiptBox> box) {
  return [box](absl::string_view device_id, size_t max_bytes) {
    return box->Take(device_id, max_bytes);
  };
}

inline constexpr char kGatewayComposition[] =
    "SecurityCore<TransportSet<DtlsServer, MiotyTransport>, "
    "ConfiguredIdentity<TpmKey | SoftKey>, HttpsUplink>";

}  // namespace cxsec::gateway

#endif  // CXSEC_TARGETS_GATEWAY_GATEWAY_CORE_H_
