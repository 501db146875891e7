#!/usr/bin/env bash
# Power cut after every flash write or erase of a TEST swap, in QEMU:
#
#   boot_power_cut_qemu_test.sh BOOT_IN_QEMU BOOTLOADER_POWER_CUT_TEST.elf STORAGE.bin
#
# STORAGE holds factory image 1.0.0 (confirmed) and a TEST request for
# 2.0.0. A run without a cut counts the flash operations the swap boot
# makes (N). Then for each cut point 1..N: boot with ./cut_after = cut
# (the image dumps the flash to ./flash.bin and stops, exit 42, right after
# that operation), and boot again from the dump without a cut. That second
# boot must run the app, never refuse: 2.0.0 when the swap's last step had
# not happened, else 1.0.0 after the revert (the test image never ran to
# confirm itself, as MCUboot does it).
set -euo pipefail

boot_in_qemu=$(realpath "$1")
bootloader=$(realpath "$2")
storage=$(realpath "$3")
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/power-cut.XXXXXX")
cd "$work"
address=0x00300000
new_image="bootloader: image 2.0.0+0 security counter 6 (stored 5) verified"
old_image="bootloader: image 1.0.0+0 security counter 5 (stored 5) verified"

echo "==== without a cut ===="
"$boot_in_qemu" --load "$storage@$address" --expect-line "bootloader: swap test" \
  --expect-line "$new_image" "$bootloader" | tee full.log
total=$(sed -n 's/^bootloader: flash operation \([0-9]*\)\r*$/\1/p' full.log | tail -n 1)
[ -n "$total" ] && [ "$total" -ge 6 ] || { echo "FAIL: counted ${total:-no} flash operations"; exit 1; }
echo "the swap boot makes $total flash operations"

failures=0
for cut in $(seq 1 "$total"); do
  rm -f flash.bin cut_after
  echo "$cut" >cut_after
  if ! "$boot_in_qemu" --load "$storage@$address" --expect-exit 42 \
      --expect-line "bootloader: POWER CUT" "$bootloader" >"cut-$cut.log"; then
    cat "cut-$cut.log"; echo "FAIL: no power cut after operation $cut"; failures=$((failures + 1)); continue
  fi
  mv flash.bin "after-cut-$cut.bin"
  rm -f cut_after
  expected=$new_image
  [ "$cut" -lt "$total" ] || expected=$old_image
  if ! "$boot_in_qemu" --load "$work/after-cut-$cut.bin@$address" \
      --expect-line "$expected" --expect-line "app: running" "$bootloader" >"resume-$cut.log" ||
      grep -q '^bootloader: REFUSED\|^bootloader: update REFUSED' "resume-$cut.log"; then
    cat "resume-$cut.log"; echo "FAIL: reset after a power cut after operation $cut"
    failures=$((failures + 1))
  else
    echo "cut after operation $cut: $(grep -m1 '^bootloader: swap\|^bootloader: image' "resume-$cut.log" | tr -d '\r')"
  fi
  rm -f "after-cut-$cut.bin"
done
[ "$failures" -eq 0 ] && echo "PASS: $total power cut points, each boots on"
[ "$failures" -eq 0 ]
