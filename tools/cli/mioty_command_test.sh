#!/bin/bash
# Tests `cxsec mioty` end to end on the real binary.
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
contains() {  # contains NAME NEEDLE HAYSTACK
  if [[ "$3" != *"$2"* ]]; then
    echo "FAIL $1: [$2] not in [$3]"; fail=1
  else
    echo "ok   $1"
  fi
}
KEY=2b7e151628aed2a6abf7158809cf4f3c
VECTOR=001234020304178ac8d513a6a8b1a995eb6e94498674908c5993f6bd7fd3

out=$("$CXSEC" mioty encode --eui 70b3d56770001234 --key $KEY --counter 16909060 \
      000102030405060708090a0b0c0d0e0f10111213)
check "encode reproduces the TS-UNB-Lib vector" "$VECTOR" "$out"

long=$("$CXSEC" mioty encode --eui 70b3d56770001234 --key $KEY --counter 7 --long --mpf 21 cafe)
check "long+mpf frame length (19 bytes)" 38 "${#long}"

printf 'eui,short_address,network_key\n70b3d56770001234,1234,%s\n0011223344551234,1234,000102030405060708090a0b0c0d0e0f\n' $KEY > "$T/devices.csv"
chmod 600 "$T/devices.csv"
out=$("$CXSEC" mioty keys import --keys "$T/keys.json" "$T/devices.csv")
contains "import reports the collision" "collision: short address 1234" "$out"
check "key store is 0600" 600 "$(stat -c %a "$T/keys.json")"
out=$("$CXSEC" mioty keys list --keys "$T/keys.json")
contains "list shows the device" "70b3d56770001234 1234" "$out"
[[ "$out" != *"$KEY"* ]] && echo "ok   list never prints keys" || { echo "FAIL list printed a key"; fail=1; }

out=$("$CXSEC" mioty decode --keys "$T/keys.json" $VECTOR)
contains "decode device" "device 70b3d56770001234" "$out"
contains "decode counter" "counter 16909060" "$out"
contains "decode payload" "payload 000102030405060708090a0b0c0d0e0f10111213" "$out"

out=$("$CXSEC" mioty decode --keys "$T/keys.json" "$long")
contains "decode long+mpf" "mpf 21" "$out"
contains "decode long+mpf payload" "payload cafe" "$out"

tampered=${VECTOR:0:20}ff${VECTOR:22}
out=$("$CXSEC" mioty decode --keys "$T/keys.json" $tampered 2>&1); rc=$?
check "tampered frame exits 1" 1 "$rc"
contains "tampered frame reason" "verifies the frame" "$out"

unknown=$("$CXSEC" mioty encode --eui 70b3d56770009999 --key $KEY --counter 1 00)
out=$("$CXSEC" mioty decode --keys "$T/keys.json" "$unknown" 2>&1); rc=$?
check "unknown short address exits 1" 1 "$rc"
contains "unknown short address reason" "unknown short address 9999" "$out"

out=$("$CXSEC" mioty decode --keys "$T/keys.json" 0012 2>&1); rc=$?
contains "truncated frame reason" "truncated" "$out"

# Replay state: a gateway that accepted 0x01020304 reports the vector as a replay.
mkdir -p "$T/state"
printf 'mioty-replay-v1 highest=16909060 seen=0000000000000001\n' > "$T/state/70b3d56770001234.counter"
out=$("$CXSEC" mioty decode --keys "$T/keys.json" --state "$T/state" $VECTOR)
contains "decode with state reports replay" "replay_check mioty: replayed counter 16909060" "$out"

# Seeding: a device that joins with its counter already above 2^24. From
# nothing the gateway rebuilds the counter's upper byte as 0 and the MIC
# fails; seeded with the device's last counter, the next frame verifies.
high=$("$CXSEC" mioty encode --eui 70b3d56770001234 --key $KEY --counter 305419897 beef)
mkdir -p "$T/state2"
out=$("$CXSEC" mioty decode --keys "$T/keys.json" --state "$T/state2" "$high" 2>&1); rc=$?
check "unseeded high counter fails" 1 "$rc"
out=$("$CXSEC" mioty state show --state "$T/state2" --eui 70b3d56770001234)
check "state show before seeding" "70b3d56770001234 no frame accepted yet" "$out"
out=$("$CXSEC" mioty state seed --state "$T/state2" --eui 70b3d56770001234 --counter 305419896)
check "seed reports the counter" "70b3d56770001234 last accepted counter 305419896" "$out"
out=$("$CXSEC" mioty decode --keys "$T/keys.json" --state "$T/state2" "$high")
contains "seeded high counter decodes" "counter 305419897" "$out"
contains "seeded frame would be accepted" "replay_check would be accepted" "$out"
out=$("$CXSEC" mioty state show --state "$T/state2" --eui 70b3d56770001234)
check "state show after seeding" "70b3d56770001234 last accepted counter 305419896" "$out"
out=$("$CXSEC" mioty state seed --state "$T/state2" --eui 70b3d56770001234 --counter 5 2>&1); rc=$?
check "lowering the counter is refused" 1 "$rc"
contains "lowering names why" "seeding only raises it" "$out"
out=$("$CXSEC" mioty state show --state "$T/state2" --eui 70b3d56770001234)
check "refused seed changed nothing" "70b3d56770001234 last accepted counter 305419896" "$out"
for bad in " 7" "+7" "4294967296" "" "12a"; do
  out=$("$CXSEC" mioty state seed --state "$T/state2" --eui 70b3d56770001234 --counter "$bad" 2>&1); rc=$?
  check "counter '$bad' is refused as usage" 2 "$rc"
done
out=$("$CXSEC" mioty encode --eui 70b3d56770001234 --key $KEY --counter " 7" 00 2>&1); rc=$?
check "encode refuses a counter with a space" 2 "$rc"

# Minimum counter: a gateway with no replay state for a device (new,
# roaming, state wiped) refuses counters below the key store's floor, and
# rebuilds a high counter's upper byte from it.
"$CXSEC" mioty keys add --keys "$T/keys3.json" --eui 70b3d56770001234 --key $KEY \
  --min-counter 1000 || fail=1
out=$("$CXSEC" mioty keys list --keys "$T/keys3.json")
check "list shows the minimum counter" "70b3d56770001234 1234 D70B3D56770001234 min_counter=1000" "$out"
mkdir -p "$T/state3"
out=$("$CXSEC" mioty decode --keys "$T/keys3.json" --state "$T/state3" "$long")
contains "old frame under the floor is refused without state" \
  "replay_check mioty: counter 7 is below the device's minimum counter 1000" "$out"
"$CXSEC" mioty keys add --keys "$T/keys4.json" --eui 70b3d56770001234 --key $KEY \
  --min-counter 305419896 || fail=1
out=$("$CXSEC" mioty decode --keys "$T/keys4.json" --state "$T/state3" "$high")
contains "floor above 2^24 rebuilds the counter" "counter 305419897" "$out"
contains "frame above the floor would be accepted" "replay_check would be accepted" "$out"
for bad in "-1" "4294967296" "0x10" "" "7 "; do
  out=$("$CXSEC" mioty keys add --keys "$T/keys5.json" --eui 70b3d56770001234 \
        --key $KEY --min-counter "$bad" 2>&1); rc=$?
  check "min counter '$bad' is refused as usage" 2 "$rc"
done
[[ ! -e "$T/keys5.json" ]] && echo "ok   refused add wrote nothing" || { echo "FAIL refused add wrote a store"; fail=1; }
"$CXSEC" mioty keys set --keys "$T/keys3.json" --eui 70b3d56770001234 --min-counter 5 || fail=1
out=$("$CXSEC" mioty keys list --keys "$T/keys3.json")
check "set changes the minimum counter" "70b3d56770001234 1234 D70B3D56770001234 min_counter=5" "$out"
out=$("$CXSEC" mioty decode --keys "$T/keys3.json" --state "$T/state3" "$long")
contains "lowered floor admits counter 7" "replay_check would be accepted" "$out"
out=$("$CXSEC" mioty keys set --keys "$T/keys3.json" --eui 0011223344556677 --min-counter 5 2>&1); rc=$?
check "set on an unknown device exits 1" 1 "$rc"

"$CXSEC" mioty keys remove --keys "$T/keys.json" --eui 0011223344551234 || fail=1
out=$("$CXSEC" mioty keys list --keys "$T/keys.json")
check "remove leaves one device" "70b3d56770001234 1234 D70B3D56770001234" "$out"

# --device-id: the D... id the gateway sends the device's readings under
# (the same form as a DTLS device's id), upper-cased; anything else is
# refused as usage and writes nothing.
"$CXSEC" mioty keys add --keys "$T/keys6.json" --eui 70b3d56770001234 --key $KEY \
  --device-id D00112233445566aa || fail=1
out=$("$CXSEC" mioty keys list --keys "$T/keys6.json")
check "add --device-id is listed upper-cased" "70b3d56770001234 1234 D00112233445566AA" "$out"
out=$("$CXSEC" mioty keys add --keys "$T/keys7.json" --eui 70b3d56770001234 --key $KEY \
      --device-id 70b3d56770001234 2>&1); rc=$?
check "a device id without D is refused as usage" 2 "$rc"
contains "the refusal names the form" "expected D followed by 16 hex digits" "$out"
[[ ! -e "$T/keys7.json" ]] && echo "ok   refused --device-id wrote nothing" || { echo "FAIL refused --device-id wrote a store"; fail=1; }

chmod 644 "$T/keys.json"
out=$("$CXSEC" mioty decode --keys "$T/keys.json" $VECTOR 2>&1); rc=$?
check "0644 key store refused" 1 "$rc"
contains "0644 error names the file" "$T/keys.json" "$out"
chmod 600 "$T/keys.json"
chmod 644 "$T/devices.csv"
out=$("$CXSEC" mioty keys import --keys "$T/keys.json" "$T/devices.csv" 2>&1); rc=$?
check "0644 import source refused" 1 "$rc"

exit $fail
