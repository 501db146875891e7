// Device-side results: what a heap-free, exception-free function returns
// when it can fail. Used by code that must also build for a Cortex-M node
// (the bootloader, the image verifier), where absl::Status is not
// available: no Abseil, no heap, no exceptions, no RTTI.
//
//   enum class CounterReason : uint8_t { kNone = 0, kCorrupt = 1 };
//   device::Result<uint32_t, CounterReason> ReadCounter();
//
//   auto counter = ReadCounter();
//   if (!counter.ok()) report(counter.reason());
//   else use(counter.value());
//
// Rules for the reason enums (ReasonCode):
//   - value 0 is `kNone` and means success; nothing else does, so a result
//     is never "truthy" by accident and never a bare bool;
//   - the list is extend-only: values are written out explicitly and never
//     renumbered or reused, so a reason logged by old firmware still means
//     the same thing to new tools.
#ifndef CXSEC_CORE_DEVICE_RESULT_H_
#define CXSEC_CORE_DEVICE_RESULT_H_

#include <concepts>
#include <type_traits>

namespace cxsec::device {

// ReasonCode: an enum class whose `kNone` (= 0) is success.
template <class E>
concept ReasonCode = std::is_enum_v<E> && requires {
  { E::kNone } -> std::convertible_to<E>;
} && (static_cast<std::underlying_type_t<E>>(E::kNone) == 0);

// Result: either a `Value` (ok()) or the reason it could not be produced.
// `Value` must be default-constructible and copyable; it is held inline.
template <class Value, ReasonCode Reason>
class [[nodiscard]] Result {
 public:
  // Success: a result holding `value`.
  static constexpr Result Success(const Value& value) {
    return Result(value, Reason::kNone);
  }
  // Failure: a result holding `reason`, which must not be kNone (a
  // failure without a reason would read as success, so it traps).
  static constexpr Result Failure(Reason reason) {
    if (reason == Reason::kNone) __builtin_trap();
    return Result(Value{}, reason);
  }

  constexpr bool ok() const { return reason_ == Reason::kNone; }
  constexpr Reason reason() const { return reason_; }
  // value: only meaningful when ok(); a failed result holds Value{}.
  constexpr const Value& value() const { return value_; }

 private:
  constexpr Result(const Value& value, Reason reason)
      : value_(value), reason_(reason) {}
  Value value_;
  Reason reason_;
};

}  // namespace cxsec::device

#endif  // CXSEC_CORE_DEVICE_RESULT_H_
