// A stable, machine-readable reason for an API error ("proof_invalid",
// "challenge_expired", ...), carried as a payload of the absl::Status that
// reports it. The HTTP layer answers it as the "error" field of the JSON
// error body instead of the generic status code name, so clients can act
// on it without parsing the message. Reasons are documented in
// docs/VERIFIER_API.md and never change meaning.
#ifndef CXSEC_TARGETS_VERIFIER_REGISTRY_API_REASON_H_
#define CXSEC_TARGETS_VERIFIER_REGISTRY_API_REASON_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace cxsec::verifier {

inline constexpr absl::string_view kApiReasonPayloadUrl =
    "type.cxsec.dev/verifier.api-reason";

// WithApiReason returns `status` with `reason` attached (OK stays OK).
inline absl::Status WithApiReason(absl::Status status,
                                  absl::string_view reason) {
  if (!status.ok()) status.SetPayload(kApiReasonPayloadUrl, absl::Cord(reason));
  return status;
}

// ApiReasonOf: the reason attached by WithApiReason, if any.
inline std::optional<std::string> ApiReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kApiReasonPayloadUrl);
  if (!payload) return std::nullopt;
  return std::string(*payload);
}

}  // namespace cxsec::verifier

#endif  // CXSEC_TARGETS_VERIFIER_REGISTRY_API_REASON_H_
