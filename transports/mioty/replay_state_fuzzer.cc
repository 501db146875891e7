// Fuzzes the decoder of the per-device replay state file (one line,
// "mioty-replay-v1 highest=N seen=HEX16"). A corrupt file must give an
// error, never a crash; a decoded state must encode and decode to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "transports/mioty/replay_guard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using cxsec::mioty::ReplayGuard;
  using cxsec::mioty::ReplayState;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ReplayState> state = ReplayGuard::DecodeState(text, "fuzz");
  if (!state.ok()) {
    if (!absl::IsDataLoss(state.status())) std::abort();
    return 0;
  }
  absl::StatusOr<ReplayState> again =
      ReplayGuard::DecodeState(ReplayGuard::EncodeState(*state), "again");
  if (!again.ok() || !(*again == *state)) std::abort();
  return 0;
}
