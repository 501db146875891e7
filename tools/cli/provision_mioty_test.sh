#!/bin/bash
# Tests `cxsec provision --mioty-eui` on the real binary: the key area it
# writes is byte for byte the documented layout (core/device/node_key_area.h),
# its CSV imports into a gateway key store, and the refusals.
set -u
CXSEC="$1"
T="${TEST_TMPDIR:-$(mktemp -d)}"
fail=0
check() {  # check NAME EXPECTED ACTUAL
  if [[ "$2" != "$3" ]]; then
    echo "FAIL $1: expected [$2], got [$3]"; fail=1
  else
    echo "ok   $1"
  fi
}
KEY=2b7e151628aed2a6abf7158809cf4f3c
# magic CXNK, version 1, flags 1 (long), length 48, device id, EUI, short
# address abcd (big-endian), reserved, key, CRC-32 (little-endian).
EXPECTED=43584e4b01013000001122334455667770b3d56770001234abcd00002b7e151628aed2a6abf7158809cf4f3c15039c12

printf '%s\n' $KEY >"$T/node.key"
chmod 600 "$T/node.key"
"$CXSEC" provision --out "$T/out" --devices D0011223344556677 \
  --mioty-eui 70b3d56770001234 --mioty-short abcd --mioty-long \
  --mioty-key-file "$T/node.key" >/dev/null
check "provision exits 0" 0 $?
area="$T/out/devices/D0011223344556677.keyarea"
check "key area is the documented layout" "$EXPECTED" "$(xxd -p "$area" | tr -d '\n')"
check "key area is 0600" 600 "$(stat -c %a "$area")"
csv="$T/out/devices/D0011223344556677.mioty.csv"
check "csv line carries the device id" "70b3d56770001234,abcd,$KEY,,D0011223344556677" "$(cat "$csv")"
check "csv is 0600" 600 "$(stat -c %a "$csv")"
"$CXSEC" mioty keys import --keys "$T/keys.json" "$csv" >/dev/null
check "the gateway imports the csv" 0 $?

# A random key by default: two nodes never share one.
"$CXSEC" provision --out "$T/r1" --devices D0000000000000001 --mioty-eui 0000000000000001 >/dev/null
"$CXSEC" provision --out "$T/r2" --devices D0000000000000002 --mioty-eui 0000000000000002 >/dev/null
k1=$(xxd -p -s 28 -l 16 "$T/r1/devices/D0000000000000001.keyarea")
k2=$(xxd -p -s 28 -l 16 "$T/r2/devices/D0000000000000002.keyarea")
[[ ${#k1} -eq 32 && "$k1" != "$k2" ]] && echo "ok   random keys differ" || { echo "FAIL random keys [$k1] [$k2]"; fail=1; }
check "short addressing by default (flags 0)" 00 "$(xxd -p -s 5 -l 1 "$T/r1/devices/D0000000000000001.keyarea")"

"$CXSEC" provision --out "$T/out" --devices D0011223344556677 \
  --mioty-eui 70b3d56770001234 --mioty-key-file "$T/node.key" >/dev/null 2>&1
check "never overwrites a key area" 1 $?
chmod 644 "$T/node.key"
err=$("$CXSEC" provision --out "$T/o2" --devices D0011223344556677 \
  --mioty-eui 70b3d56770001234 --mioty-key-file "$T/node.key" 2>&1 >/dev/null)
[[ $? -ne 0 && "$err" == *node.key* ]] && echo "ok   refuses a key file others can read" || { echo "FAIL mode: $err"; fail=1; }
chmod 600 "$T/node.key"
printf 'not hex\n' >"$T/bad.key"; chmod 600 "$T/bad.key"
"$CXSEC" provision --out "$T/o3" --devices D0011223344556677 \
  --mioty-eui 70b3d56770001234 --mioty-key-file "$T/bad.key" >/dev/null 2>&1
check "refuses a malformed key file" 2 $?
"$CXSEC" provision --out "$T/o4" --devices D0011223344556677,D0011223344556678 \
  --mioty-eui 70b3d56770001234 >/dev/null 2>&1
check "one node per key area" 2 $?
"$CXSEC" provision --out "$T/o5" --devices D0011223344556677 --mioty-eui 70b3 >/dev/null 2>&1
check "refuses a short EUI" 2 $?
exit $fail
