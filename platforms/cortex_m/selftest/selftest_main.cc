// The node self-test image: boots on the board, runs Mbed TLS's known
// answers (mbedtls_known_answers.h), exercises the board interface (flash,
// entropy, clock), reports the stack's high-water mark, and exits 0 only
// if everything passed. Booted in QEMU by :selftest_qemu_test; every line
// it prints starts with "selftest: " so the harness can match them.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mbedtls/memory_buffer_alloc.h"
#include "platforms/cortex_m/board/board.h"
#include "platforms/cortex_m/board/console.h"
#include "platforms/cortex_m/selftest/mbedtls_known_answers.h"

namespace {

namespace board = cxsec::board;
using board::ConsoleWrite;
using board::ConsoleWriteDecimal;
using board::ConsoleWriteLine;

// Mbed TLS's heap: bignum/ECP allocate from here and nowhere else. 8 KiB
// holds an ECDSA P-256 verify with the window size cxsec configures.
std::array<uint8_t, 8192> mbedtls_heap;

void ReportFailure(std::string_view what, std::string_view detail) {
  ConsoleWrite("selftest: ");
  ConsoleWrite(what);
  ConsoleWrite(" FAILED: ");
  ConsoleWriteLine(detail);
}

bool RunKnownAnswers() {
  bool all_passed = true;
  for (auto* test : cxsec::selftest::kAllKnownAnswerTests) {
    const uint64_t started = board::MonotonicMilliseconds();
    const cxsec::selftest::KnownAnswerResult result = test();
    const uint64_t elapsed = board::MonotonicMilliseconds() - started;
    if (result.passed()) {
      ConsoleWrite("selftest: ");
      ConsoleWrite(result.name);
      ConsoleWriteLine(" ok");
      ConsoleWrite("selftest: ");
      ConsoleWrite(result.name);
      ConsoleWrite(" took ");
      ConsoleWriteDecimal(elapsed);
      ConsoleWriteLine(" ms");
      continue;
    }
    all_passed = false;
    if (result.outcome == cxsec::selftest::KnownAnswerOutcome::kMismatch) {
      ReportFailure(result.name, "wrong answer");
    } else {
      ConsoleWrite("selftest: ");
      ConsoleWrite(result.name);
      ConsoleWrite(" FAILED: Mbed TLS error -0x");
      const auto code = static_cast<uint16_t>(-result.mbedtls_error);
      const uint8_t code_bytes[] = {static_cast<uint8_t>(code >> 8),
                                    static_cast<uint8_t>(code)};
      board::ConsoleWriteHex(code_bytes);
      ConsoleWriteLine("");
    }
  }
  return all_passed;
}

// Two draws that are non-zero and differ: catches a source that is missing
// or stuck, not one that is weak (that needs statistics and hardware).
bool CheckEntropy() {
  std::array<uint8_t, 16> first{};
  std::array<uint8_t, 16> second{};
  if (board::EntropyFill(first) != board::BoardStatus::kOk ||
      board::EntropyFill(second) != board::BoardStatus::kOk) {
    ReportFailure("entropy", "the board's source failed");
    return false;
  }
  uint8_t any_bits = 0;
  uint8_t difference = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    any_bits |= first[i];
    difference |= static_cast<uint8_t>(first[i] ^ second[i]);
  }
  if (any_bits == 0 || difference == 0) {
    ReportFailure("entropy", "stuck output");
    return false;
  }
  ConsoleWriteLine("selftest: entropy ok");
  return true;
}

// Erase, program, read back, and the two NOR rules the board enforces.
bool CheckFlash() {
  const board::FlashGeometry geometry = board::StorageGeometry();
  const uint32_t last_sector = geometry.size_bytes - geometry.erase_unit_bytes;
  const std::array<uint8_t, 8> pattern = {0xC5, 0x5E, 0xC0, 0xDE,
                                          0x00, 0x01, 0x02, 0x03};
  std::array<uint8_t, 8> readback{};
  auto fail = [](std::string_view detail) {
    ReportFailure("flash", detail);
    return false;
  };
  if (board::FlashErase(last_sector, geometry.erase_unit_bytes) !=
      board::BoardStatus::kOk)
    return fail("erase");
  if (board::FlashRead(last_sector, readback) != board::BoardStatus::kOk ||
      readback[0] != 0xFF) {
    return fail("erased bytes do not read 0xFF");
  }
  if (board::FlashWrite(last_sector, pattern) != board::BoardStatus::kOk)
    return fail("write");
  if (board::FlashRead(last_sector, readback) != board::BoardStatus::kOk ||
      readback != pattern) {
    return fail("read back differs");
  }
  if (board::FlashWrite(last_sector, pattern) !=
      board::BoardStatus::kNotErased) {
    return fail("a write over programmed bytes was not refused");
  }
  if (board::FlashWrite(last_sector + 1, std::span(pattern).first(4)) !=
      board::BoardStatus::kMisaligned) {
    return fail("a misaligned write was not refused");
  }
  if (board::FlashRead(geometry.size_bytes, std::span(readback).first(1)) !=
      board::BoardStatus::kOutOfRange) {
    return fail("a read past the region was not refused");
  }
  ConsoleWrite("selftest: flash ok (");
  ConsoleWriteDecimal(geometry.size_bytes / 1024);
  ConsoleWriteLine(" KiB storage)");
  return true;
}

}  // namespace

int main() {
  ConsoleWrite("selftest: cxsec node self-test on ");
  ConsoleWriteLine(board::BoardName());
  mbedtls_memory_buffer_alloc_init(mbedtls_heap.data(), mbedtls_heap.size());

  bool passed = RunKnownAnswers();
  passed = CheckEntropy() && passed;
  passed = CheckFlash() && passed;
  mbedtls_memory_buffer_alloc_free();

  const board::StackUsage stack = board::MeasureStackUsage();
  ConsoleWrite("selftest: stack peak ");
  ConsoleWriteDecimal(stack.peak_used_bytes);
  ConsoleWrite(" of ");
  ConsoleWriteDecimal(stack.size_bytes);
  ConsoleWriteLine(" bytes");

  ConsoleWriteLine(passed ? "selftest: PASS" : "selftest: FAIL");
  return passed ? 0 : 1;
}
