#!/bin/bash
# Flash and RAM of the node firmware images (Cortex-M3, -Os, as built by
# the default configuration), from arm-none-eabi-size, against the goals
# of issue 15, plus the Mioty node's stack peak measured in QEMU (the
# start-up code paints the stack; the image reports how deep it got) and
# the bytes of the image that are Mbed TLS itself (arm-none-eabi-nm). The
# DTLS node's stack and heap peaks need a gateway to talk to: it prints
# them on every run, and qemu_dtls_node_e2e_test's log shows them.
# Prints markdown tables.
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel build //targets/node/bootloader:bootloader //targets/node/mioty:node_mioty \
  //targets/node/dtls:node_dtls \
  //targets/node/mioty:test_key_area.keyarea //targets/node/mioty:erased_counter_sectors \
  //targets/node/bootloader:signed_app //targets/node/bootloader:rollback_counter_5 \
  //targets/node/bootloader:swap_storage_test_confirming >&2
bin=bazel-bin
boot=$PWD/$bin/targets/node/bootloader
# The bootloader's stack peak: it prints it before jumping. The swap case
# runs in a scratch directory because the app there dumps flash.bin.
boot_peak() {
  (cd "$(mktemp -d)" && qemu-system-arm -M mps2-an385 -nographic -monitor none \
    -semihosting-config enable=on,target=native -kernel "$boot/bootloader.elf" "$@" \
    -serial null 2>&1 </dev/null | sed -n 's/^bootloader: stack peak \([0-9]*\) of.*/\1/p')
}
plain_peak=$(boot_peak -device "loader,file=$boot/signed_app.bin,addr=0x00300000" \
  -device "loader,file=$boot/rollback_counter_5.bin,addr=0x003FF000")
swap_peak=$(boot_peak -device "loader,file=$boot/swap_storage_test_confirming.bin,addr=0x00300000")
boot_stack=$(( ${plain_peak:-0} > ${swap_peak:-0} ? ${plain_peak:-0} : ${swap_peak:-0} ))
elf="$bin/targets/node/mioty/node_mioty.elf"
stack=$(qemu-system-arm -M mps2-an385 -nographic -monitor none \
  -semihosting-config enable=on,target=native -kernel "$elf" \
  -device "loader,file=$bin/targets/node/mioty/test_key_area.keyarea,addr=0x003FE000" \
  -device "loader,file=$bin/targets/node/mioty/erased_counter_sectors.bin,addr=0x003FC000" \
  -serial null 2>&1 </dev/null | sed -n 's/^node_mioty: stack peak //p')
python3 - "$bin/targets/node/bootloader/bootloader.elf" "$elf" "${stack:-not measured}" \
  "$bin/targets/node/dtls/node_dtls.elf" "${plain_peak:-?}" "${swap_peak:-?}" <<'PY'
import subprocess, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
def size(elf):
    text, data, bss = subprocess.check_output(["arm-none-eabi-size", elf], text=True).splitlines()[1].split()[:3]
    return int(text) + int(data), int(data) + int(bss)
print("| image | flash (bytes) | flash goal | ratio | RAM incl. stack (bytes) | RAM goal |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name, elf, flash_goal, ram_goal in (("bootloader.elf", sys.argv[1], 32768, "8 KiB"),
                                        ("node_mioty.elf (Mioty node)", sys.argv[2], 49152, ""),
                                        ("node_dtls.elf (DTLS node)", sys.argv[4], 131072, "")):
    flash, ram = size(elf)
    print(f"| {name} | {flash} ({flash / 1024:.1f} KiB) | {flash_goal // 1024} KiB | "
          f"{flash / flash_goal:.2f} | {ram} ({ram / 1024:.1f} KiB) | {ram_goal} |")
    emit(f"flash, {name.split(' ')[0]}", flash, flash_goal, "bytes", baseline_name="flash goal",
         goal=1.0, better="lower")
def mbedtls_bytes(elf):
    total = 0
    for line in subprocess.check_output(["arm-none-eabi-nm", "-S", elf], text=True).splitlines():
        parts = line.split()
        if len(parts) == 4 and int(parts[0], 16) < 0x20000000 and (
                parts[3].startswith(("mbedtls_", "ssl_", "ccm_", "aes_", "sha256_"))
                or parts[3] in ("FT0", "RT0", "FSb", "RSb", "RCON")):
            total += int(parts[1], 16)
    return total
mbedtls = mbedtls_bytes(sys.argv[2])
boot_flash, boot_ram = size(sys.argv[1])
print()
print(f"Bootloader (swap/confirm/revert state machine of targets/node/boot/boot_swap.h,")
print(f"ECDSA P-256 with Mbed TLS): {boot_flash} bytes of flash, {mbedtls_bytes(sys.argv[1])} of them")
print(f"Mbed TLS; RAM {boot_ram} bytes including its 3 KiB stack and 4 KiB Mbed TLS")
print(f"heap. Stack high-water mark in QEMU: {sys.argv[5]} bytes on a plain boot,")
print(f"{sys.argv[6]} bytes on a boot that swaps in a TEST upgrade (of 3072).")
print()
print("MCUboot, same signature type (ECDSA P-256): MCUboot's documentation")
print("(docs/ of mcu-tools/mcuboot, read at commit 2d4bacc, 2026-07-22; the")
print("pages of docs.mcuboot.com) publishes no flash or RAM figure for any")
print("signature type, so there is no official number to put here. The")
print("nearest published figures are users' measurements on MCUboot's own")
print("forum: about 19 kB with NDEBUG on a Cortex-M33 with elliptic curves for")
print("signing and encryption, and 16,032 bytes for a bare-metal Cortex-M0+")
print("port with UART support, signature type not stated")
print("(https://github.com/mcu-tools/mcuboot/discussions/1806). Different")
print("cores, compilers and options: a ballpark, not a same-run baseline.")
print()
print(f"Mioty node: {mbedtls} bytes of the image are Mbed TLS (AES key schedule,")
print("block encrypt, the ECB/CTR wrappers; the decrypt path and its tables,")
print("about 2.1 KiB, come along through mbedtls_aes_crypt_ecb). Stack peak in")
print(f"QEMU while sending 5 frames: {sys.argv[3]}.")
print()
print(f"DTLS node: {mbedtls_bytes(sys.argv[4])} bytes of the image are Mbed TLS (its named")
print("functions and tables: the DTLS 1.2 client, PSK key exchange, CCM_8,")
print("HMAC_DRBG, SHA-256, the static-buffer allocator; static helpers without")
print("the prefixes are not counted). Stack and Mbed TLS heap peaks: printed by")
print("the node on every run (qemu_dtls_node_e2e_test's log).")
PY
