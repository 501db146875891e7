// The error model of cxsec: every fallible operation returns absl::Status or
// absl::StatusOr<T>, never throws across an API, and never reports a
// security decision as a bare bool. These macros keep propagation short.
//
//   absl::StatusOr<Token> Parse(absl::string_view text) {
//     CXSEC_ASSIGN_OR_RETURN(Bytes raw, Base64UrlDecode(text));
//     CXSEC_RETURN_IF_ERROR(CheckSize(raw));
//     ...
//   }
#ifndef CXSEC_CORE_STATUS_H_
#define CXSEC_CORE_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CXSEC_STATUS_CONCAT_INNER_(a, b) a##b
#define CXSEC_STATUS_CONCAT_(a, b) CXSEC_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define CXSEC_RETURN_IF_ERROR(expr)                          \
  do {                                                       \
    ::absl::Status cxsec_status_ = (expr);                   \
    if (!cxsec_status_.ok()) return cxsec_status_;           \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status,
// otherwise moves the value into `lhs` (which may be a declaration).
#define CXSEC_ASSIGN_OR_RETURN(lhs, rexpr)                                  \
  CXSEC_ASSIGN_OR_RETURN_IMPL_(                                             \
      CXSEC_STATUS_CONCAT_(cxsec_statusor_, __LINE__), lhs, rexpr)

#define CXSEC_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // CXSEC_CORE_STATUS_H_
