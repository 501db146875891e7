// Fuzzes the boot state journal (boot_swap.h) the bootloader reads from
// flash at every reset: whatever the two sectors hold, Load never crashes
// or reads outside them, and when it succeeds, a Save followed by a Load
// gives back exactly the state saved (the journal never loses or mixes up
// the anti-rollback counter or the swap phase).
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "targets/node/boot/boot_swap.h"
#include "targets/node/boot/memory_swap_flash.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec::node::boot;
  MemoryFlash flash;
  std::vector<uint8_t>& main_sector = flash.bytes(FlashArea::kBootState);
  std::vector<uint8_t>& backup = flash.bytes(FlashArea::kBootStateBackup);
  const size_t first = std::min(size, main_sector.size());
  std::copy_n(data, first, main_sector.begin());
  std::copy_n(data + first, std::min(size - first, backup.size()),
              backup.begin());

  BootStateJournal<MemoryFlash> journal(flash);
  BootState state;
  if (journal.Load(state) != BootFailure::kNone) return 0;
  state.security_counter += 1;
  state.phase =
      state.phase == SwapPhase::kIdle ? SwapPhase::kStarted : SwapPhase::kIdle;
  state.swap =
      state.phase == SwapPhase::kIdle ? SwapType::kNone : SwapType::kTest;
  if (journal.Save(state) != BootFailure::kNone) std::abort();
  BootStateJournal<MemoryFlash> again(flash);
  BootState loaded;
  if (again.Load(loaded) != BootFailure::kNone ||
      loaded.security_counter != state.security_counter ||
      loaded.phase != state.phase || loaded.swap != state.swap) {
    std::abort();
  }
  return 0;
}
