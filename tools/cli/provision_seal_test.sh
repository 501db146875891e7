#!/bin/bash
# Tests `cxsec provision --seal-new-master` and `--seal-master` on the real
# binary: the per-device keys are the known answers of
# docs/SEALED_READINGS.md (computed there by tools/seal/seal_vectors.py),
# files are 0600, a master others may read is refused and nothing is
# written, and the mode mixes that make no sense are refused.
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
value() {  # value FILE NAME
  sed -n "s/^$2 = //p" "$1"
}
MASTER=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
printf '%s\n' $MASTER >"$T/master.key"
chmod 600 "$T/master.key"

"$CXSEC" provision --out "$T/out" --devices D0011223344556677 \
  --seal-master "$T/master.key" >/dev/null
check "provision --seal-master exits 0" 0 $?
f="$T/out/devices/D0011223344556677.seal"
check "key file is 0600" 600 "$(stat -c %a "$f")"
check "mac key = mac_key_epoch_0" 5cabe232b37fa2e83b946a9ab070741a "$(value "$f" seal_mac_key)"
check "enc key = enc_key_epoch_0" ba2c462cf1d535abaf3ecbda52eb8deb "$(value "$f" seal_enc_key)"
check "epoch 0" 0 "$(value "$f" seal_epoch)"
a="$T/out/devices/D0011223344556677.sealarea"
check "seal key area is 0600" 600 "$(stat -c %a "$a")"
# magic CXSK, version 1, flags 1 (encryption key), length 56, device id,
# epoch 0 (LE), mac_key_epoch_0, enc_key_epoch_0, then the CRC-32.
check "seal key area layout" \
  4358534b010138000011223344556677000000005cabe232b37fa2e83b946a9ab070741aba2c462cf1d535abaf3ecbda52eb8deb \
  "$(xxd -p -l 52 "$a" | tr -d '\n')"
check "seal key area CRC-32 (zlib)" \
  "$(python3 -c 'import sys,zlib,struct; b=open(sys.argv[1],"rb").read(); print(struct.pack("<I", zlib.crc32(b[:52])).hex())' "$a")" \
  "$(xxd -p -s 52 -l 4 "$a")"
check "no security.txt written" no "$([[ -e "$T/out/security.txt" ]] && echo yes || echo no)"
# Flashed as whole sectors (docs/NODE_FIRMWARE.md, "Seal epochs on the
# node"): the key area's sector is the area, then erased flash (0xFF: no
# epoch start record of an earlier provisioning survives), and the
# ratchet's second sector (0x003F5000) comes erased, so a re-provisioned
# node cannot take an area of a later epoch left there from before.
check "seal key area sector: 4096 bytes" 4096 "$(stat -c %s "$a")"
check "seal key area sector: erased after the area" 0 \
  "$(tail -c +57 "$a" | tr -d '\377' | wc -c)"
r="$T/out/devices/D0011223344556677.sealratchet"
check "ratchet sector written" yes "$([[ -f "$r" ]] && echo yes || echo no)"
check "ratchet sector is 0600" 600 "$(stat -c %a "$r" 2>/dev/null)"
check "ratchet sector: 4096 bytes" 4096 "$(stat -c %s "$r" 2>/dev/null)"
check "ratchet sector: all erased (0xFF)" 0 "$(tr -d '\377' <"$r" 2>/dev/null | wc -c)"

"$CXSEC" provision --out "$T/e17" --devices D0011223344556677 \
  --seal-master "$T/master.key" --seal-epoch 17 >/dev/null
f="$T/e17/devices/D0011223344556677.seal"
check "mac key = mac_key_epoch_17" b949300511c2b21eca8b2680c9bf314e "$(value "$f" seal_mac_key)"
check "enc key = enc_key_epoch_17" b2112eadabad006756d589ff9bec120e "$(value "$f" seal_enc_key)"

"$CXSEC" provision --out "$T/maconly" --devices D0011223344556677 \
  --seal-master "$T/master.key" --seal-mac-only >/dev/null
f="$T/maconly/devices/D0011223344556677.seal"
check "MAC-only: mac key" 5cabe232b37fa2e83b946a9ab070741a "$(value "$f" seal_mac_key)"
check "MAC-only: no enc key" "" "$(value "$f" seal_enc_key)"
check "MAC-only: key area flags 0, enc key zero" 0000000000000000000000000000000000 \
  "$(xxd -p -s 5 -l 1 "$T/maconly/devices/D0011223344556677.sealarea")$(xxd -p -s 36 -l 16 "$T/maconly/devices/D0011223344556677.sealarea")"

# The customer's own encryption master: the MAC key stays the verifier's,
# the encryption key changes.
printf 'ff%.0s' {1..32} >"$T/customer.key"
chmod 600 "$T/customer.key"
"$CXSEC" provision --out "$T/split" --devices D0011223344556677 \
  --seal-master "$T/master.key" --seal-encryption-master "$T/customer.key" >/dev/null
f="$T/split/devices/D0011223344556677.seal"
check "split: mac key from the verifier's master" 5cabe232b37fa2e83b946a9ab070741a "$(value "$f" seal_mac_key)"
enc=$(value "$f" seal_enc_key)
check "split: enc key from the customer's master" yes \
  "$([[ ${#enc} == 32 && $enc != ba2c462cf1d535abaf3ecbda52eb8deb ]] && echo yes || echo no)"

# A master others may read is refused, names the file, quotes no secret,
# and nothing is written.
chmod 644 "$T/master.key"
err=$("$CXSEC" provision --out "$T/open" --devices D0011223344556677 \
  --seal-master "$T/master.key" 2>&1 >/dev/null)
check "0644 master refused" 1 "$([[ -n "$err" ]] && [[ ! -e "$T/open/devices/D0011223344556677.seal" ]] && echo 1 || echo 0)"
check "error names the file" 1 "$([[ "$err" == *master.key* ]] && echo 1 || echo 0)"
check "error quotes no secret" 0 "$([[ "$err" == *$MASTER* ]] && echo 1 || echo 0)"
chmod 600 "$T/master.key"

# A bad id among good ones: nothing written.
"$CXSEC" provision --out "$T/badid" --devices D0011223344556677,Dnothex \
  --seal-master "$T/master.key" >/dev/null 2>&1
check "bad id refused" 2 $?
check "bad id: nothing written" no "$([[ -e "$T/badid/devices/D0011223344556677.seal" || -e "$T/badid/devices/D0011223344556677.sealarea" || -e "$T/badid/devices/D0011223344556677.sealratchet" ]] && echo yes || echo no)"

# Never overwrites.
overwritten=1
"$CXSEC" provision --out "$T/out" --devices D0011223344556677 \
  --seal-master "$T/master.key" >/dev/null 2>&1 || overwritten=0
check "existing key file not overwritten" 0 "$overwritten"

# Mixes that make no sense.
"$CXSEC" provision --out "$T/mix" --devices D0011223344556677 \
  --seal-master "$T/master.key" --dtls-key-area >/dev/null 2>&1
check "--seal-master with --dtls-key-area refused" 2 $?
"$CXSEC" provision --out "$T/mix2" --devices D0011223344556677 --seal-mac-only >/dev/null 2>&1
check "--seal-mac-only without --seal-master refused" 2 $?
check "  and no security.txt written" no "$([[ -e "$T/mix2/security.txt" ]] && echo yes || echo no)"

# A new master: 64 hex digits, 0600, random.
"$CXSEC" provision --out "$T/m1" --seal-new-master >/dev/null
"$CXSEC" provision --out "$T/m2" --seal-new-master >/dev/null
m1=$(cat "$T/m1/seal-master.key"); m2=$(cat "$T/m2/seal-master.key")
check "new master is 64 hex digits" 1 "$([[ $m1 =~ ^[0-9a-f]{64}$ ]] && echo 1 || echo 0)"
check "new master is 0600" 600 "$(stat -c %a "$T/m1/seal-master.key")"
check "two new masters differ" 1 "$([[ $m1 != "$m2" ]] && echo 1 || echo 0)"
"$CXSEC" provision --out "$T/m2" --devices D0011223344556677 \
  --seal-master "$T/m2/seal-master.key" >/dev/null
check "a new master provisions devices" 0 $?

exit $fail
