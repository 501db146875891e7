#!/usr/bin/env bash
# Boots a Cortex-M3 firmware ELF in QEMU's mps2-an385 and judges the run:
#
#   boot_in_qemu.sh [--timeout SECONDS] [--expect-exit CODE]
#                   [--expect-line TEXT]... [--forbid-line TEXT]...
#                   [--load FILE@ADDRESS]... IMAGE.elf
#
# Passes (exit 0) only when QEMU ended because the image exited through
# semihosting with CODE (default 0) within SECONDS (default 60), every
# --expect-line TEXT appeared as a whole line of its output (UART0 and
# semihosting console both go to QEMU's stdout) and no --forbid-line TEXT
# did. Otherwise prints why and exits 1. --load preloads FILE's bytes at
# ADDRESS (QEMU's -device loader), e.g. a firmware slot in emulated flash.
# The image's output is always shown, so a failing test log has it.
set -uo pipefail

timeout_seconds=60
expect_exit=0
expect_lines=()
forbid_lines=()
loader_args=()
while [ $# -gt 1 ]; do
  case "$1" in
    --timeout) timeout_seconds="$2"; shift 2 ;;
    --expect-exit) expect_exit="$2"; shift 2 ;;
    --expect-line) expect_lines+=("$2"); shift 2 ;;
    --forbid-line) forbid_lines+=("$2"); shift 2 ;;
    --load)
      load_file="${2%@*}"; load_address="${2##*@}"
      [ -f "$load_file" ] || { echo "boot_in_qemu: no file $load_file to load" >&2; exit 2; }
      loader_args+=(-device "loader,file=$load_file,addr=$load_address")
      shift 2 ;;
    *) echo "boot_in_qemu: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: boot_in_qemu.sh [--timeout S] [--expect-exit N] [--expect-line TEXT]... IMAGE.elf" >&2; exit 2; }
image="$1"
[ -f "$image" ] || { echo "boot_in_qemu: no image $image" >&2; exit 2; }
command -v qemu-system-arm >/dev/null || { echo "boot_in_qemu: qemu-system-arm missing (tools/setup/install-deps.sh)" >&2; exit 2; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
started=$(date +%s%N)
# -nographic: UART0 on stdio, no display. -monitor none: nothing else
# reads stdin. target=native: semihosting calls act on this host.
timeout --kill-after=5 "$timeout_seconds" \
  qemu-system-arm -M mps2-an385 -nographic -monitor none \
  -semihosting-config enable=on,target=native \
  -kernel "$image" ${loader_args[@]+"${loader_args[@]}"} </dev/null >"$log" 2>&1
exit_code=$?
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))

echo "---- $(basename "$image") output ----"
cat "$log"
echo "---- end of output (exit $exit_code after ${elapsed_ms} ms) ----"

verdict=0
if [ "$exit_code" -eq 124 ] || [ "$exit_code" -eq 137 ]; then
  echo "FAIL: the image did not exit within ${timeout_seconds}s"
  verdict=1
elif [ "$exit_code" -ne "$expect_exit" ]; then
  echo "FAIL: exit status $exit_code, expected $expect_exit"
  verdict=1
fi
# Lines may end in \r if a board writes CRLF; compare without it.
for line in ${expect_lines[@]+"${expect_lines[@]}"}; do
  if ! tr -d '\r' <"$log" | grep -Fxq -- "$line"; then
    echo "FAIL: missing output line: $line"
    verdict=1
  fi
done
for line in ${forbid_lines[@]+"${forbid_lines[@]}"}; do
  if tr -d '\r' <"$log" | grep -Fxq -- "$line"; then
    echo "FAIL: forbidden output line: $line"
    verdict=1
  fi
done
[ "$verdict" -eq 0 ] && echo "PASS: exit $exit_code, ${#expect_lines[@]} expected lines seen"
exit "$verdict"
