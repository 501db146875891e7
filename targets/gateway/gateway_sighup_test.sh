#!/usr/bin/env bash
# cxsec-gateway reloads its Mioty key store on SIGHUP, on the real binary:
# a device added to the file is accepted without a restart, a key file that
# others may read is refused while the keys in use stay, and the gateway
# keeps running throughout. Frames go over real UDP; accepted ones land in
# the gateway's SQLite spool (no verifier runs, so nothing leaves it).
set -uo pipefail
gateway="$1"
cxsec="$2"
dir="${TEST_TMPDIR:-$(mktemp -d)}/sighup"
mkdir -p "$dir/spool"
chmod 0700 "$dir/spool"
KEY_A=2b7e151628aed2a6abf7158809cf4f3c
KEY_B=000102030405060708090a0b0c0d0e0f
EUI_A=70b3d56770001234
EUI_B=70b3d5677000abcd
fails=0
fail() {
  echo "FAIL $*"
  fails=$((fails + 1))
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj /CN=test-ca -days 2 -keyout "$dir/ca.key" -out "$dir/ca.pem" \
  >/dev/null 2>&1 || { echo "openssl failed"; exit 1; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/gw.key" 2>/dev/null
chmod 0600 "$dir/gw.key"
"$cxsec" mioty keys add --keys "$dir/keys.json" --eui $EUI_A --key $KEY_A || exit 1
cat >"$dir/gateway.conf" <<EOF
gateway_id = G0123456789abcdef01
project_id = demo
identity = software
key_file = $dir/gw.key
cloud_url = https://127.0.0.1:9
ca_bundle = $dir/ca.pem
spool_dir = $dir/spool
mioty_listen = 127.0.0.1:0
mioty_keys = $dir/keys.json
run_as_root = true
EOF
chmod 0600 "$dir/gateway.conf"

"$gateway" --config="$dir/gateway.conf" >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
wait_for() {  # wait_for FILE TEXT: up to 20 s
  for _ in $(seq 200); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    kill -0 $pid 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
wait_for "$dir/out" "cxsec-gateway: ready" || { cat "$dir/err"; echo "gateway did not start"; exit 1; }
port=$(sed -n 's/.*mioty=127.0.0.1:\([0-9]*\).*/\1/p' "$dir/out")

send() {  # send EUI KEY COUNTER: one short-addressed frame over UDP
  local frame
  frame=$("$cxsec" mioty encode --eui "$1" --key "$2" --counter "$3" 0102)
  python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(bytes.fromhex(sys.argv[1]), ("127.0.0.1", int(sys.argv[2])))' "$frame" "$port"
}
spooled() {  # how many Mioty messages the spool holds
  python3 - "$dir/spool/spool.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
PY
}
expect_spooled() {  # expect_spooled N WHAT: waits up to 10 s for N rows
  for _ in $(seq 100); do
    [ "$(spooled 2>/dev/null)" = "$1" ] && return 0
    sleep 0.1
  done
  fail "$2: spool holds $(spooled 2>/dev/null), expected $1"
}

send $EUI_A $KEY_A 1
expect_spooled 1 "registered device accepted"
send $EUI_B $KEY_B 1
sleep 0.5
expect_spooled 1 "unregistered device refused"

"$cxsec" mioty keys add --keys "$dir/keys.json" --eui $EUI_B --key $KEY_B || exit 1
kill -HUP $pid
wait_for "$dir/err" "reloaded Mioty keys: 2 devices" || fail "no reload line: $(cat "$dir/err")"
send $EUI_B $KEY_B 2
expect_spooled 2 "device added by SIGHUP accepted"

chmod 0644 "$dir/keys.json"
kill -HUP $pid
wait_for "$dir/err" "Mioty key reload failed, keeping the keys in use" ||
  fail "no refusal line: $(cat "$dir/err")"
grep -qF "$dir/keys.json" "$dir/err" || fail "the refusal does not name the file"
send $EUI_B $KEY_B 3
expect_spooled 3 "keys in use kept after a refused reload"

kill -0 $pid 2>/dev/null || fail "gateway died"
kill -TERM $pid
wait $pid
rc=$?
trap - EXIT
[ "$rc" -eq 0 ] || fail "gateway exit code $rc after SIGTERM"
grep -q "$KEY_A\|$KEY_B" "$dir/out" "$dir/err" && fail "a network key reached the log"
echo "$fails failures"
[ "$fails" -eq 0 ]
