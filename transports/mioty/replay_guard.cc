#include "transports/mioty/replay_guard.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/encoding/hex.h"
#include "core/status.h"
#include "platforms/posix/files.h"

namespace cxsec::mioty {
namespace {

constexpr char kMagic[] = "mioty-replay-v1";
constexpr size_t kMaxStateFileBytes = 256;

uint64_t EuiKey(const Eui64& eui) {
  uint64_t key = 0;
  for (uint8_t b : eui) key = (key << 8) | b;
  return key;
}

}  // namespace

absl::StatusOr<ReplayGuard> ReplayGuard::Open(std::string dir,
                                              ReplayPolicy policy) {
  if (policy.window > kMaxReplayWindow) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mioty replay window ", policy.window, " exceeds the maximum of ",
        kMaxReplayWindow));
  }
  if (policy.max_jump == 0 || policy.max_jump > kMaxReplayJump) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mioty maximum counter jump must be between 1 and ", kMaxReplayJump));
  }
  if (dir.empty()) {
    return absl::InvalidArgumentError("mioty replay state directory is empty");
  }
  CXSEC_RETURN_IF_ERROR(MakeDirectories(dir, 0700));
  return ReplayGuard(std::move(dir), policy);
}

std::string ReplayGuard::PathFor(const Eui64& eui) const {
  return absl::StrCat(dir_, "/", HexEncode(ByteView(eui.data(), eui.size())), ".counter");
}

std::string ReplayGuard::EncodeState(const ReplayState& state) {
  if (!state.highest) return absl::StrCat(kMagic, " none\n");
  return absl::StrCat(kMagic, " highest=", *state.highest,
                      " seen=", absl::Hex(state.seen, absl::kZeroPad16), "\n");
}

absl::StatusOr<ReplayState> ReplayGuard::DecodeState(absl::string_view text,
                                                     absl::string_view source) {
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(
        source, ": corrupt mioty replay state (", why,
        "); frames from this device are refused until it is repaired"));
  };
  if (!absl::ConsumeSuffix(&text, "\n")) return corrupt("no final newline");
  std::vector<absl::string_view> parts = absl::StrSplit(text, ' ');
  if (parts.empty() || parts[0] != kMagic) return corrupt("bad magic");
  ReplayState state;
  if (parts.size() == 2 && parts[1] == "none") return state;
  if (parts.size() != 3) return corrupt("expected 3 fields");
  absl::string_view highest = parts[1], seen = parts[2];
  uint32_t value = 0;
  if (!absl::ConsumePrefix(&highest, "highest=") ||
      !absl::SimpleAtoi(highest, &value)) {
    return corrupt("bad highest counter");
  }
  if (!absl::ConsumePrefix(&seen, "seen=") || seen.size() != 16 ||
      !absl::SimpleHexAtoi(seen, &state.seen)) {
    return corrupt("bad seen bitmap");
  }
  state.highest = value;
  return state;
}

absl::StatusOr<ReplayState> ReplayGuard::State(const Eui64& eui) {
  auto it = cache_.find(EuiKey(eui));
  if (it != cache_.end()) return it->second;
  const std::string path = PathFor(eui);
  struct stat st;
  ReplayState state;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return absl::InternalError(
          absl::StrCat(path, ": stat failed: ", std::strerror(errno)));
    }
  } else {
    CXSEC_ASSIGN_OR_RETURN(std::string text,
                           ReadFileBounded(path, kMaxStateFileBytes));
    CXSEC_ASSIGN_OR_RETURN(state, DecodeState(text, path));
  }
  cache_[EuiKey(eui)] = state;
  return state;
}

namespace {

// StaleOrNone: the guard knows nothing that the minimum does not supersede.
bool StaleOrNone(const ReplayState& state, uint32_t min_counter) {
  return !state.highest ||
         (min_counter > 0 && *state.highest < min_counter - 1);
}

}  // namespace

std::optional<uint32_t> ReplayGuard::ReferenceCounter(const ReplayState& state,
                                                      uint32_t min_counter) {
  if (!StaleOrNone(state, min_counter)) return state.highest;
  if (min_counter > 0) return min_counter - 1;
  return std::nullopt;
}

absl::StatusOr<ReplayState> ReplayGuard::Admit(const ReplayState& state,
                                               uint32_t counter,
                                               uint32_t min_counter) const {
  if (counter < min_counter) {
    return absl::PermissionDeniedError(absl::StrCat(
        "mioty: counter ", counter, " is below the device's minimum counter ",
        min_counter, " (key store)"));
  }
  if (StaleOrNone(state, min_counter)) return ReplayState{counter, 1};
  const uint32_t highest = *state.highest;
  if (counter > highest) {
    const uint32_t jump = counter - highest;
    if (jump > policy_.max_jump) {
      return absl::PermissionDeniedError(absl::StrCat(
          "mioty: counter ", counter, " jumps ", jump,
          " past the last accepted ", highest, " (the maximum is ",
          policy_.max_jump, ")"));
    }
    uint64_t seen = jump >= 64 ? 0 : state.seen << jump;
    return ReplayState{counter, seen | 1};
  }
  const uint32_t age = highest - counter;
  if (age == 0 || age >= policy_.window || (state.seen >> age) & 1) {
    return absl::PermissionDeniedError(absl::StrCat(
        "mioty: replayed counter ", counter, " (last accepted ", highest,
        policy_.window > 0 ? ", or already seen in the window" : "", ")"));
  }
  return ReplayState{highest, state.seen | (uint64_t{1} << age)};
}

absl::Status ReplayGuard::Commit(const Eui64& eui, const ReplayState& state) {
  CXSEC_RETURN_IF_ERROR(
      WriteFileAtomically(PathFor(eui), EncodeState(state), 0600));
  cache_[EuiKey(eui)] = state;
  return absl::OkStatus();
}

}  // namespace cxsec::mioty
