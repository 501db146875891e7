#!/usr/bin/env bash
# Shows that boot_in_qemu.sh can fail, so a green QEMU test means something:
#   qemu_harness_test.sh HARNESS EXIT_CODE_PROBE.elf SELFTEST.elf
#  1. an image that exits 3 fails a run that expects 0,
#  2. and passes one that expects 3 (the status reaches the host unchanged);
#  3. a passing image fails when a line it never printed is expected,
#  4. or when a line it did print is forbidden (--forbid-line);
#  5. --load of a missing file is an error, not a silent empty slot.
set -uo pipefail
harness="$1"
probe="$2"
selftest="$3"
failures=0

expect() {  # expect pass|fail DESCRIPTION HARNESS-ARGS...
  local want="$1" description="$2"
  shift 2
  local output got
  output=$("$harness" "$@" 2>&1)
  if [ $? -eq 0 ]; then got=pass; else got=fail; fi
  if [ "$got" = "$want" ]; then
    echo "ok: $description ($got)"
  else
    echo "NOT OK: $description: the harness said $got, expected $want"
    echo "$output" | sed 's/^/    /'
    failures=$((failures + 1))
  fi
}

expect fail "an image exiting 3 fails when 0 is expected" --timeout 15 "$probe"
expect pass "an image exiting 3 passes when 3 is expected" --timeout 15 --expect-exit 3 \
  --expect-line "exit_code_probe: exiting with 3" "$probe"
expect fail "a line the image never printed fails the run" --timeout 15 \
  --expect-line "selftest: this line is never printed" "$selftest"
expect fail "a forbidden line the image printed fails the run" --timeout 15 \
  --expect-exit 3 --forbid-line "exit_code_probe: exiting with 3" "$probe"
expect fail "a missing --load file fails the run" --timeout 15 --expect-exit 3 \
  --load "/nonexistent/slot.bin@0x00300000" "$probe"
[ "$failures" -eq 0 ]
