#!/usr/bin/env bash
# Key rotation on the composed cxsec-gateway, as docs/DTLS_AND_KEYS.md tells
# an operator to do it: `cxsec rollover --start`, SIGHUP; nodes fetch their
# next-epoch key (GET /k); `cxsec rollover --retire`, SIGHUP; the old
# epoch's keys are refused. Before, SIGHUP reloaded only the Mioty keys, so
# after --retire a retired key still got 2.04 until a restart and after
# --start nodes never learnt the new epoch. The client holding the retired
# key is Debian's coap-client-openssl, not cxsec code.
set -uo pipefail
gateway="$1"
cxsec="$2"
node="$3"
priority="$(cd "$(dirname "$4")" && pwd)/$(basename "$4")"
dir="${TEST_TMPDIR:-$(mktemp -d)}/rollover"
mkdir -p "$dir/spool"
chmod 0700 "$dir/spool"
fails=0
fail() {
  echo "FAIL $*"
  fails=$((fails + 1))
}
command -v coap-client-openssl >/dev/null || { echo "coap-client-openssl missing (libcoap3-bin)"; exit 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj /CN=test-ca -days 2 -keyout "$dir/ca.key" -out "$dir/ca.pem" \
  >/dev/null 2>&1 || { echo "openssl failed"; exit 1; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/gw.key" 2>/dev/null
chmod 0600 "$dir/gw.key"
devices=D0011223344556601,D0011223344556602,D0011223344556603,D0011223344556604,D0011223344556605,D0011223344556606
"$cxsec" provision --out "$dir/dep" --devices "$devices" >/dev/null || { echo "provision failed"; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/gateway.conf" <<CONF
gateway_id = G0123456789abcdef01
project_id = demo
identity = software
key_file = $dir/gw.key
cloud_url = https://127.0.0.1:9
ca_bundle = $dir/ca.pem
spool_dir = $dir/spool
security_file = $dir/dep/security.txt
dtls_listen = 127.0.0.1:$port
dtls_priority_file = $priority
run_as_root = true
CONF
chmod 0600 "$dir/gateway.conf"

"$gateway" --config="$dir/gateway.conf" >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
for _ in $(seq 200); do
  grep -q "cxsec-gateway: ready" "$dir/out" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
grep -q "cxsec-gateway: ready" "$dir/out" || { cat "$dir/err"; echo "gateway did not start"; exit 1; }

rows() {  # rows DEVICE: "<messages> <distinct message ids>" in the spool
  python3 - "$dir/spool/spool.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
n, d = db.execute("SELECT COUNT(*), COUNT(DISTINCT message_id) FROM messages "
                  "WHERE device_id = ?", (sys.argv[2],)).fetchone()
print(n, d)
PY
}

# coap-client takes the PSK as raw bytes on its command line: pick devices
# whose PSK holds no NUL or newline byte.
psk_hex() { sed -n 's/^psk = //p' "$dir/dep/devices/$1.key"; }
usable=()
for id in ${devices//,/ }; do
  psk_hex "$id" | grep -qiE '^(..)*(00|0a)' || usable+=("$id")
done
[ ${#usable[@]} -ge 2 ] || { echo "fewer than 2 devices with an argv-safe PSK"; exit 1; }
key_of() { printf "$(psk_hex "$1" | sed 's/../\\x&/g')"; }

# {"v3":{"s":"p","d":{"t":21500}}}
printf '\xa1\x62v3\xa2\x61s\x61p\x61d\xa1\x61t\x19\x53\xfc' >"$dir/p.cbor"
post() {  # post DEVICE [extra coap-client args]: one CON POST /t
  local id=$1
  shift
  timeout 30 coap-client-openssl -m post -t 60 -B 10 -f "$dir/p.cbor" \
    -u "$id" -k "$(key_of "$id")" "$@" "coaps://127.0.0.1:$port/t" >"$dir/client.out" 2>&1
  # coap-client prints nothing on a 2.04 without a body, the code otherwise.
  if grep -qE '(4|5)\.[0-9][0-9]' "$dir/client.out"; then
    fail "coap-client got an error: $(cat "$dir/client.out")"
  fi
}


spooled() { rows "$1" | cut -d' ' -f1; }
grep -q "DTLS accepts key epoch 1 only" "$dir/err" || fail "start-up does not log the accepted epochs: $(cat "$dir/err")"
wait_log() {  # wait_log TEXT: up to 10 s in the gateway's stderr
  for _ in $(seq 100); do
    grep -qF -- "$1" "$dir/err" && return 0
    sleep 0.1
  done
  return 1
}

# Epoch 1: the third-party client with device B's key is accepted.
B=${usable[0]}
post "$B"
[ "$(spooled "$B")" = 1 ] || fail "epoch-1 key before any rollover: spooled $(spooled "$B"), expected 1"

# Start the rollover; SIGHUP makes the gateway accept both epochs at once.
"$cxsec" rollover --security "$dir/dep/security.txt" --start >/dev/null || { echo "rollover --start failed"; exit 1; }
kill -HUP $pid
wait_log "DTLS accepts key epochs 1 and 2" || fail "no reload line after --start: $(tail -3 "$dir/err")"

# A cxsec node learns epoch 2 over GET /k (it asks every 10 posts).
N=D0011223344556606
cat >"$dir/node.conf" <<CONF
device_id = $N
transport = dtls
gateway = 127.0.0.1:$port
key_file = $dir/dep/devices/$N.key
interval_seconds = 1
post_count = 10
CONF
chmod 0600 "$dir/node.conf"
timeout 60 "$node" --config="$dir/node.conf" 2>"$dir/node.err" || fail "cxsec-node failed: $(tail -3 "$dir/node.err")"
grep -q "^epoch = 2" "$dir/dep/devices/$N.key" || fail "the node did not move to epoch 2: $(grep epoch "$dir/dep/devices/$N.key")"

# Retire epoch 1; after SIGHUP the epoch-1 key is refused at once.
"$cxsec" rollover --security "$dir/dep/security.txt" --retire >/dev/null || { echo "rollover --retire failed"; exit 1; }
kill -HUP $pid
wait_log "DTLS accepts key epoch 2 only" || fail "no reload line after --retire: $(tail -3 "$dir/err")"
before=$(spooled "$B")
post_refused() {  # post_refused IDENTITY: a request that must not be stored
  timeout 30 coap-client-openssl -m post -t 10 -B 5 -f "$dir/p.cbor" \
    -u "$1" -k "$(key_of "$B")" "coaps://127.0.0.1:$port/t" >"$dir/client.out" 2>&1
}
post_refused "$B"      # bare id: now means epoch 2, whose key B lacks
post_refused "$B.1"    # the retired epoch named explicitly
[ "$(spooled "$B")" = "$before" ] || fail "a retired epoch-1 key was still accepted after --retire and SIGHUP"
grep -q "epoch 1 is not accepted" "$dir/err" || fail "the refused epoch is not logged: $(tail -5 "$dir/err")"

# The node on epoch 2 still delivers.
sed -i 's/^post_count = .*/post_count = 1/' "$dir/node.conf"
before=$(spooled $N)
timeout 60 "$node" --config="$dir/node.conf" 2>"$dir/node.err" || fail "epoch-2 node failed: $(tail -3 "$dir/node.err")"
[ "$(spooled $N)" = $((before + 1)) ] || fail "epoch-2 node: spooled $(spooled $N), expected $((before + 1))"

# A security.txt that others may read is refused on SIGHUP; the keys in
# use stay and the gateway keeps running.
chmod 0644 "$dir/dep/security.txt"
kill -HUP $pid
wait_log "security.txt reload failed, keeping the keys in use" || fail "no refusal line: $(tail -3 "$dir/err")"
chmod 0600 "$dir/dep/security.txt"

kill -0 $pid 2>/dev/null || fail "gateway died"
kill -TERM $pid
wait $pid
trap - EXIT
grep -qiE "$(psk_hex "$B")" "$dir/out" "$dir/err" && fail "a PSK reached the log"
echo "$fails failures"
[ "$fails" -eq 0 ]
