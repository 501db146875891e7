#!/usr/bin/env bash
# Fails when a firmware ELF outgrows its budget, so growth is a decision:
#   check_image_budget.sh IMAGE.elf MAX_FLASH_BYTES MAX_RAM_BYTES
# Flash is .text (code, rodata, vector table) plus .data's initial values;
# RAM is .data plus .bss, which includes the main stack and every static
# buffer (the image has no heap of its own).
set -euo pipefail
image="$1" max_flash="$2" max_ram="$3"
read -r text data bss _ < <(arm-none-eabi-size "$image" | awk 'NR == 2')
flash=$((text + data))
ram=$((data + bss))
echo "$(basename "$image"): flash $flash of $max_flash bytes, RAM $ram of $max_ram bytes"
[ "$flash" -le "$max_flash" ] || { echo "FAIL: flash over budget"; exit 1; }
[ "$ram" -le "$max_ram" ] || { echo "FAIL: RAM over budget"; exit 1; }
