// The node's bootloader, as a function over any SwapFlash: runs the boot state
// machine and only then runs the verified image in the primary slot. Every line
// it prints starts with "bootloader: " so QEMU tests can match them.
//
// On reset (after the board's start-up code): run BootSwap
// (targets/node/boot/boot_swap.h, the same source the host simulation
// runs) over the board's flash with Mbed TLS: finish an interrupted swap,
// revert an unconfirmed TEST image, verify and swap in a requested update
// (TEST or PERM), verify the primary (header, TLVs, SHA-256, ECDSA P-256
// against the key compiled in from bootloader_trusted_key.h, SEC_CNT >=
// stored counter), swap back if that fails, raise the stored counter for
// a confirmed image. Then sanity-check the application's vector table,
// set VTOR and MSP from it and branch to its reset handler. A refused
// update prints "bootloader: update REFUSED <reason>" and boots the old
// image; when nothing may run it prints "bootloader: REFUSED <reason
// name>" and exits with kRefusedExitCode without jumping.
#ifndef CXSEC_TARGETS_NODE_BOOTLOADER_BOOTLOADER_RUN_H_
#define CXSEC_TARGETS_NODE_BOOTLOADER_BOOTLOADER_RUN_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/firmware/image_format.h"
#include "core/firmware/image_verifier.h"
#include "mbedtls/memory_buffer_alloc.h"
#include "platforms/cortex_m/board/board.h"
#include "platforms/cortex_m/semihosting/semihosting.h"
#include "targets/node/boot/boot_swap.h"
#include "targets/node/bootloader/bootloader_trusted_key.h"
#include "targets/node/bootloader/flash_layout.h"
#include "targets/node/bootloader/node_image_verifier.h"

namespace cxsec::node::bootloader {

namespace board = cxsec::board;
namespace firmware = cxsec::firmware;
namespace boot = cxsec::node::boot;

namespace internal {

// The bootloader's report goes out over semihosting, as the node
// applications' logs do, not on UART0: on this board UART0 is the
// application's data link (SLIP frames to the host bridge), and text there
// reached the gateway as a bogus first datagram, which could stall that
// node's DTLS handshake. A board port without a debugger routes these
// three functions to a debug UART instead.
inline std::array<char, 96> log_line;
inline size_t log_length = 0;

inline void ConsoleWrite(std::string_view text) {
  for (char c : text) {
    if (log_length < log_line.size() - 2) log_line[log_length++] = c;
  }
}

inline void ConsoleWriteDecimal(uint64_t value) {
  char digits[20];
  size_t count = 0;
  do {
    digits[sizeof(digits) - 1 - count] = static_cast<char>('0' + value % 10);
    value /= 10;
    ++count;
  } while (value != 0);
  ConsoleWrite(std::string_view(digits + sizeof(digits) - count, count));
}

inline void ConsoleWriteLine(std::string_view text) {
  ConsoleWrite(text);
  log_line[log_length++] = '\n';
  log_line[log_length] = '\0';
  cxsec::semihosting::WriteString(log_line.data());
  log_length = 0;
}

// Exit status of a refused boot: distinct from the fault handler's 127
// and from 0, which only the application returns.
inline constexpr int kRefusedExitCode = 2;

// Mbed TLS's heap for one ECDSA P-256 verify (bignums, ECP points); the
// only memory Mbed TLS may allocate. Sized from the verify's needs with
// cxsec's MBEDTLS_ECP_WINDOW_SIZE 2.
inline std::array<uint8_t, 4096> mbedtls_heap;

// The verifier's read buffer (hashing reads the slot in chunks this
// size), also the swap's copy buffer.
inline std::array<uint8_t, 256> read_buffer;

// The trusted key set: one key, generated at build time from the test key
// by :bootloader_trusted_key (openssl, the same SPKI hash imgtool uses).
inline constexpr std::array<firmware::TrustedKey, 1> kTrustedKeys = {
    kBootloaderTrustedKey};

[[noreturn]] inline void Refuse(std::string_view reason) {
  ConsoleWrite("bootloader: REFUSED ");
  ConsoleWriteLine(reason);
  board::Exit(kRefusedExitCode);
}

inline void ReportVersion(const firmware::ImageVersion& version) {
  ConsoleWriteDecimal(version.major);
  ConsoleWrite(".");
  ConsoleWriteDecimal(version.minor);
  ConsoleWrite(".");
  ConsoleWriteDecimal(version.revision);
  ConsoleWrite("+");
  ConsoleWriteDecimal(version.build);
}

// Cortex-M system registers (ARMv7-M architecture, not board-specific).
inline volatile uint32_t& Register(uint32_t address) {
  return *reinterpret_cast<volatile uint32_t*>(address);
}
inline constexpr uint32_t kSysTickControl = 0xE000E010;
inline constexpr uint32_t kInterruptControlState = 0xE000ED04;
inline constexpr uint32_t kPendSysTickClear = 1u << 25;
inline constexpr uint32_t kVectorTableOffset = 0xE000ED08;

// Hands the CPU to the application whose vector table is at `vectors`:
// stops the bootloader's SysTick (its handler is ours, not the app's),
// points VTOR at the app's table, loads its initial MSP and branches to
// its reset handler. Nothing of the bootloader's stack survives.
[[noreturn]] inline void JumpToApplication(uint32_t vectors) {
  const uint32_t initial_stack = *reinterpret_cast<const uint32_t*>(vectors);
  const uint32_t reset_handler =
      *reinterpret_cast<const uint32_t*>(vectors + 4);
  Register(kSysTickControl) = 0;
  Register(kInterruptControlState) = kPendSysTickClear;
  Register(kVectorTableOffset) = vectors;
  __asm__ volatile(
      "dsb\n"
      "isb\n"
      "msr msp, %0\n"
      "bx %1\n"
      :
      : "r"(initial_stack), "r"(reset_handler)
      : "memory");
  __builtin_unreachable();
}

}  // namespace internal

// RunBootloader: the whole boot (see the file comment) over `flash`; jumps
// to the application or exits with the refusal. bootloader_main.cc runs it
// on the board's flash; a test image may wrap that flash.
template <boot::SwapFlash Flash>
[[noreturn]] void RunBootloader(Flash& flash) {
  using namespace internal;
  ConsoleWriteLine("bootloader: cxsec node bootloader");
  mbedtls_memory_buffer_alloc_init(mbedtls_heap.data(), mbedtls_heap.size());
  boot::BootSwap<Flash, firmware::MbedTlsFirmwareCrypto> machine(
      flash, kTrustedKeys, read_buffer, {.require_security_counter = true});
  const boot::BootReport report = machine.Boot();
  mbedtls_memory_buffer_alloc_free();

  if (report.swap != boot::SwapType::kNone &&
      report.swap != boot::SwapType::kFail) {
    ConsoleWrite("bootloader: swap ");
    ConsoleWriteLine(boot::SwapTypeName(report.swap));
  }
  if (report.refusal != boot::SwapRefusal::kNone) {
    // The verifier's reason when there is one (digest_mismatch, rollback,
    // ...), else the state machine's (primary_unconfirmed, ...).
    ConsoleWrite("bootloader: update REFUSED ");
    ConsoleWriteLine(report.refusal == boot::SwapRefusal::kSecondaryRejected
                         ? firmware::RejectReasonName(report.image_reason)
                         : boot::SwapRefusalName(report.refusal));
  }
  if (report.failure == boot::BootFailure::kNoBootableImage) {
    Refuse(firmware::RejectReasonName(report.image_reason));
  }
  if (report.failure != boot::BootFailure::kNone) {
    Refuse(boot::BootFailureName(report.failure));
  }
  if (report.counter_raised) {
    ConsoleWrite("bootloader: security counter raised to ");
    ConsoleWriteDecimal(report.stored_counter);
    ConsoleWriteLine("");
  }

  const firmware::VerifiedImage& image = report.primary.image();
  // The vector table follows the header; its first entries must point
  // into RAM (stack) and into this slot's body (Thumb code) before the
  // CPU is handed over, or a mislinked image would fault inside us.
  // (The slot is memory-mapped on this board, so the verified bytes are
  // the ones the CPU executes.)
  const uint32_t vectors = kPrimarySlotAddress + image.header().hdr_size;
  const uint32_t body_end = vectors + image.header().img_size;
  if (image.header().img_size < 8 || (vectors & 0x7F) != 0) {
    Refuse("bad_vector_table");
  }
  const uint32_t reset_handler =
      *reinterpret_cast<const uint32_t*>(vectors + 4);
  if ((reset_handler & 1u) == 0 || (reset_handler & ~1u) < vectors + 8 ||
      (reset_handler & ~1u) >= body_end) {
    Refuse("bad_vector_table");
  }

  ConsoleWrite("bootloader: image ");
  ReportVersion(image.header().version);
  ConsoleWrite(" security counter ");
  ConsoleWriteDecimal(image.security_counter());
  ConsoleWrite(" (stored ");
  ConsoleWriteDecimal(report.stored_counter);
  ConsoleWriteLine(") verified");
  const board::StackUsage stack = board::MeasureStackUsage();
  ConsoleWrite("bootloader: stack peak ");
  ConsoleWriteDecimal(stack.peak_used_bytes);
  ConsoleWrite(" of ");
  ConsoleWriteDecimal(stack.size_bytes);
  ConsoleWriteLine(" bytes");
  ConsoleWriteLine("bootloader: starting application");
  JumpToApplication(vectors);
}

}  // namespace cxsec::node::bootloader

#endif  // CXSEC_TARGETS_NODE_BOOTLOADER_BOOTLOADER_RUN_H_
