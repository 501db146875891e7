// The three policy concepts a SecurityCore is composed of. A policy is a
// plain class; these concepts state what it must offer, so that a wrong
// policy fails to compile with one message naming the concept.
//
// Policies are orthogonal: a Transport knows nothing of identities, an
// Identity nothing of uplinks; only a target (targets/*) composes them.
#ifndef CXSEC_CORE_POLICY_CONCEPTS_H_
#define CXSEC_CORE_POLICY_CONCEPTS_H_

#include <concepts>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "core/policy/message.h"

namespace cxsec {

// Transport: receives frames from nodes, authenticates and decrypts them,
// and hands VerifiedMessages to a sink (DTLS-PSK over 6LoWPAN, Mioty).
//   static constexpr absl::string_view kName;
//   absl::Status Start(MessageSink sink);  // begins receiving
//   void Stop();                           // stops; idempotent
template <class T>
concept Transport = requires(T& transport, MessageSink sink) {
  { T::kName } -> std::convertible_to<absl::string_view>;
  { transport.Start(std::move(sink)) } -> std::same_as<absl::Status>;
  { transport.Stop() } -> std::same_as<void>;
};

// Identity: a signing key that proves who this device is (TPM-held or a
// software key). Signatures are in JWS form (ES256: r||s, 64 bytes).
//   static constexpr absl::string_view kName;
//   std::string JwsAlgorithm() const;      // "ES256" or "EdDSA"
//   absl::StatusOr<std::string> KeyId();   // RFC 7638 thumbprint
//   absl::StatusOr<Bytes> Sign(ByteView);  // JWS signature bytes
template <class T>
concept Identity = requires(T& identity, const T& const_identity,
                            ByteView message) {
  { T::kName } -> std::convertible_to<absl::string_view>;
  { const_identity.JwsAlgorithm() } -> std::convertible_to<std::string>;
  { identity.KeyId() } -> std::same_as<absl::StatusOr<std::string>>;
  { identity.Sign(message) } -> std::same_as<absl::StatusOr<Bytes>>;
};

// Uplink: carries accepted messages to the cloud, durably.
//   static constexpr absl::string_view kName;
//   absl::Status Start(BearerTokenSource tokens);
//   absl::Status Enqueue(VerifiedMessage m);  // OK once durably spooled
//   void Stop();
template <class T>
concept Uplink = requires(T& uplink, BearerTokenSource tokens,
                          VerifiedMessage message) {
  { T::kName } -> std::convertible_to<absl::string_view>;
  { uplink.Start(std::move(tokens)) } -> std::same_as<absl::Status>;
  { uplink.Enqueue(std::move(message)) } -> std::same_as<absl::Status>;
  { uplink.Stop() } -> std::same_as<void>;
};

}  // namespace cxsec

#endif  // CXSEC_CORE_POLICY_CONCEPTS_H_
