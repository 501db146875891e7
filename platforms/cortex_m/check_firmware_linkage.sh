#!/usr/bin/env bash
# The linkage check for a Cortex-M firmware image (the device-side
# counterpart of tools/build_defs/check_no_openssl3.sh):
#   check_firmware_linkage.sh IMAGE.elf IMAGE.device_deps.txt
# Passes when IMAGE is a static 32-bit ARM executable (no program
# interpreter, no dynamic section, so it cannot load any shared library)
# and its dependency list (written by cortex_m_firmware) names none of the
# host-only libraries: Abseil, Boost, libcoap, tpm2-tss, BoringSSL.
set -euo pipefail
elf="$1"
deps="$2"
status=0
fail() { echo "FAIL: $*"; status=1; }

header=$(arm-none-eabi-readelf -h "$elf")
grep -q 'Class:.*ELF32' <<<"$header" || fail "$elf is not ELF32"
grep -q 'Machine:.*ARM' <<<"$header" || fail "$elf is not an ARM image"
grep -q 'Type:.*EXEC' <<<"$header" || fail "$elf is not an executable"
if arm-none-eabi-readelf -l "$elf" | grep -q 'INTERP'; then
  fail "$elf asks for a program interpreter"
fi
if ! arm-none-eabi-readelf -d "$elf" | grep -q 'There is no dynamic section'; then
  fail "$elf has a dynamic section"
fi

[ -s "$deps" ] || fail "$deps is empty: the dependency list was not collected"
banned='^@(com_google_absl|boost|libcoap|tpm2_tss|boringssl)//'
if grep -E "$banned" "$deps"; then
  fail "the image depends on the host-only libraries above"
fi
# Host-only libraries linked by flag rather than by label would show up as
# symbols: Abseil's and Boost's namespaces, libcoap's, tss2's and BoringSSL's
# prefixes (BoringSSL's functions carry no prefix; its OPENSSL_ ones do).
if arm-none-eabi-nm -C "$elf" | grep -E ' (absl::|boost::|coap_|Tss2_|OPENSSL_)'; then
  fail "$elf contains symbols of a host-only library"
fi
[ "$status" -eq 0 ] && echo "PASS: $elf is a static ARM image; $(wc -l <"$deps") dependencies, none host-only"
exit "$status"
