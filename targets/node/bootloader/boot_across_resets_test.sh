#!/usr/bin/env bash
# Boots the bootloader in QEMU twice with the emulated flash kept across
# the reset: the first boot starts from STORAGE (the node's whole storage
# region), the application writes the region back to ./flash.bin over
# semihosting (test_app/swap_test_app_main.cc), and the second boot
# starts from that file. Each boot is judged by boot_in_qemu.sh with its
# own options:
#
#   boot_across_resets_test.sh BOOT_IN_QEMU BOOTLOADER.elf STORAGE.bin \
#       [boot 1 options] --reset [boot 2 options]
#
# Options are boot_in_qemu.sh's (--expect-line, --forbid-line, ...). Each
# boot gets 25 s (two fit the small test size's 60 s), so a hung image is
# reported by the harness with its output.
set -euo pipefail

boot_in_qemu=$(realpath "$1")
bootloader=$(realpath "$2")
storage=$(realpath "$3")
shift 3
first=()
while [ $# -gt 0 ] && [ "$1" != "--reset" ]; do first+=("$1"); shift; done
[ "${1:-}" = "--reset" ] || { echo "boot_across_resets_test: no --reset" >&2; exit 2; }
shift
second=("$@")

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/resets.XXXXXX")
cd "$work"
storage_address=0x00300000

echo "==== boot 1 ===="
"$boot_in_qemu" --timeout 25 --load "$storage@$storage_address" ${first[@]+"${first[@]}"} "$bootloader"
[ -s flash.bin ] || { echo "FAIL: boot 1 left no flash.bin (the app did not run to its dump)"; exit 1; }
mv flash.bin after-boot-1.bin

echo "==== boot 2 (reset, flash kept) ===="
"$boot_in_qemu" --timeout 25 --load "$work/after-boot-1.bin@$storage_address" ${second[@]+"${second[@]}"} "$bootloader"
