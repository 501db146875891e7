#!/bin/bash
# Tests `cxsec provision --dtls-key-area` on the real binary: each device
# gets a version 2 key area (core/device/node_key_area.h) holding the same
# PSK and epoch as its key file, a CRC that checks, a DRBG seed of its own;
# an existing deployment (--security) gives the same PSK again; and the
# refusals.
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
A=D0011223344556677 B=D8899AABBCCDDEEFF
"$CXSEC" provision --out "$T/out" --devices "$A,$B" --epoch 3 --dtls-key-area >/dev/null
check "provision exits 0" 0 $?
area="$T/out/devices/$A.keyarea"
check "key area is 100 bytes" 100 "$(stat -c %s "$area")"
check "key area is 0600" 600 "$(stat -c %a "$area")"
# magic CXNK, version 2, flags 0, length 100 (LE), device id.
check "header and device id" 43584e4b020064000011223344556677 "$(xxd -p -l 16 "$area")"
check "no Mioty fields" 000000000000000000000000000000000000000000000000000000000000000000000000 \
  "$(xxd -p -s 16 -l 28 "$area" | tr -d '\n')0000000000000000"
check "epoch 3 (LE)" 03000000 "$(xxd -p -s 44 -l 4 "$area")"
psk=$(sed -n 's/^psk = //p' "$T/out/devices/$A.key")
check "PSK is the key file's" "$psk" "$(xxd -p -s 48 -l 16 "$area")"
check "CRC-32 of bytes 0..95" ok "$(python3 -c '
import sys, zlib, struct
b = open(sys.argv[1], "rb").read()
print("ok" if struct.unpack("<I", b[96:100])[0] == zlib.crc32(b[:96]) else "bad")' "$area")"
s1=$(xxd -p -s 64 -l 32 "$area" | tr -d '\n')
s2=$(xxd -p -s 64 -l 32 "$T/out/devices/$B.keyarea" | tr -d '\n')
[[ ${#s1} -eq 64 && "$s1" != "$s2" ]] && echo "ok   DRBG seeds differ" || { echo "FAIL seeds [$s1] [$s2]"; fail=1; }

# More devices of the same deployment: the same PSK for the same device.
"$CXSEC" provision --security "$T/out/security.txt" --out "$T/more" --devices "$A" \
  --dtls-key-area >/dev/null
check "--security exits 0" 0 $?
check "same PSK from the same deployment" "$psk" "$(xxd -p -s 48 -l 16 "$T/more/devices/$A.keyarea")"
s3=$(xxd -p -s 64 -l 32 "$T/more/devices/$A.keyarea" | tr -d '\n')
[[ "$s1" != "$s3" ]] && echo "ok   a re-provisioned device gets a new seed" || { echo "FAIL seed reused"; fail=1; }

"$CXSEC" provision --security "$T/out/security.txt" --out "$T/more" --devices "$A" \
  --dtls-key-area >/dev/null 2>&1
check "never overwrites a key area" 1 $?
"$CXSEC" provision --out "$T/mix" --devices "$A" --mioty-eui 70b3d56770001234 \
  --dtls-key-area >/dev/null 2>&1
check "refuses --mioty-eui with --dtls-key-area" 2 $?
"$CXSEC" provision --out "$T/plain" --devices "$A" >/dev/null
[[ ! -e "$T/plain/devices/$A.keyarea" ]] && echo "ok   no key area without the flag" || { echo "FAIL key area written"; fail=1; }
exit $fail
