#!/bin/bash
# End-to-end test of the 6LoWPAN DTLS transport with real processes:
#  1. `cxsec provision` writes a deployment (security.txt + device keys).
#  2. Two cxsec-dtls-gateway processes load the same security.txt (roaming).
#  3. Debian's coap-client-gnutls and coap-client-openssl (independent DTLS
#     stacks) post CBOR telemetry with a provisioned identity and PSK: both
#     succeed on both gateways; with a wrong PSK they fail, and the gateway
#     logs and counts the failed identity.
#  4. cxsec-node posts to gateway A, then (same key file) to gateway B.
#  5. The negotiated suite is PSK-AES-128-CCM-8 DTLS1.2.
#  6. A security.txt readable by others is refused.
set -u
CXSEC=$1 GATEWAY=$2 NODE=$3 PRIORITY=$4
TMP=${TEST_TMPDIR:-$(mktemp -d)}
FAILURES=0
PIDS=()
fail() { echo "FAIL: $*"; FAILURES=$((FAILURES + 1)); }
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

"$CXSEC" provision --out "$TMP/dep" --pan-id 0x1a2b \
  --devices D0011223344556601,D0011223344556602,D0011223344556603,D0011223344556604,D0011223344556605,D0011223344556606 \
  || { echo "provision failed"; exit 1; }
[ "$(stat -c %a "$TMP/dep/security.txt")" = 600 ] || fail "security.txt is not 0600"

start_gateway() {  # name port
  "$GATEWAY" --security "$TMP/dep/security.txt" --port "$2" --spool "$TMP/$1.spool" \
    --priority-file "$PRIORITY" > "$TMP/$1.out" 2> "$TMP/$1.err" &
  PIDS+=($!)
  for _ in $(seq 1 50); do
    grep -q listening "$TMP/$1.out" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "gateway $1 did not start:"; cat "$TMP/$1.err"; exit 1
}
PORT_A=$(free_port); start_gateway a "$PORT_A"; PID_A=${PIDS[-1]}
PORT_B=$(free_port); start_gateway b "$PORT_B"; PID_B=${PIDS[-1]}

# coap-client 4.3.1 takes the PSK as raw bytes on the command line, so pick
# devices whose PSK has no NUL or newline byte (each does with p ~ 0.88).
psk_hex() { sed -n 's/^psk = //p' "$TMP/dep/devices/$1.key"; }
usable=()
for id in D0011223344556601 D0011223344556602 D0011223344556603 D0011223344556604 D0011223344556605; do
  hex=$(psk_hex $id)
  echo "$hex" | grep -qiE '^(..)*(00|0a)' || usable+=("$id")
done
[ ${#usable[@]} -ge 1 ] || { echo "no device with an argv-safe PSK"; exit 1; }
ID=${usable[0]}
KEY=$(printf "$(psk_hex $ID | sed 's/../\\x&/g')")

# {"v3":{"s":"p","d":{"t":21500}}}
printf '\xa1\x62v3\xa2\x61s\x61p\x61d\xa1\x61t\x19\x53\xfc' > "$TMP/p.cbor"

post() {  # client port identity key -> prints the response, returns status
  timeout 30 "$1" -m post -t 60 -f "$TMP/p.cbor" -u "$3" -k "$4" -B 8 \
    "coaps://127.0.0.1:$2/t" > "$TMP/client.out" 2>&1
}
spooled() { cat "$TMP/$2.spool" 2>/dev/null | grep -c "\"device_id\":\"$1\""; }

for client in coap-client-gnutls coap-client-openssl; do
  for gw in a b; do
    port=$([ $gw = a ] && echo "$PORT_A" || echo "$PORT_B")
    before=$(spooled "$ID" $gw)
    post $client "$port" "$ID" "$KEY"
    after=$(spooled "$ID" $gw)
    [ "$after" -eq $((before + 1)) ] || { fail "$client -> gateway $gw: not spooled"; cat "$TMP/client.out"; }
    if grep -qE '(4|5)\.[0-9][0-9]' "$TMP/client.out"; then fail "$client -> $gw answered with an error"; fi
  done
  # Wrong PSK: the request must not be spooled, and the identity is logged.
  before=$(spooled "$ID" a)
  post $client "$PORT_A" "$ID" "wrong-key-wrong!"
  [ "$(spooled "$ID" a)" -eq "$before" ] || fail "$client with a wrong PSK was accepted"
  grep -q "handshake failed for identity $ID" "$TMP/a.err" || fail "$client: failed identity not logged"
done

# An unknown identity is rejected and logged.
post coap-client-gnutls "$PORT_A" "not-a-device" "$KEY"
grep -q "'not-a-device' is not a device identity" "$TMP/a.err" || fail "unknown identity not logged"

# Roaming: one cxsec-node key file, posting to A then to B.
NODE_ID=D0011223344556606
for gw in a b; do
  port=$([ $gw = a ] && echo "$PORT_A" || echo "$PORT_B")
  cat > "$TMP/node_$gw.conf" <<CONF
device_id = $NODE_ID
transport = dtls
gateway = 127.0.0.1:$port
key_file = $TMP/dep/devices/$NODE_ID.key
interval_seconds = 1
post_count = 2
CONF
  chmod 600 "$TMP/node_$gw.conf"
  timeout 60 "$NODE" --config="$TMP/node_$gw.conf" 2> "$TMP/node_$gw.err" || fail "cxsec-node on $gw exited with an error"
  [ "$(spooled $NODE_ID $gw)" -eq 2 ] || { fail "cxsec-node -> gateway $gw: expected 2 spooled"; cat "$TMP/node_$gw.err"; }
done

# Counters and the negotiated suite, printed by the gateways on exit.
kill -TERM "$PID_A" "$PID_B"; wait "$PID_A" "$PID_B" 2>/dev/null
grep -q "suite=PSK-AES-128-CCM-8 DTLS1.2" "$TMP/a.err" || fail "gateway a: suite not PSK-AES-128-CCM-8"
grep -q "suite=PSK-AES-128-CCM-8 DTLS1.2" "$TMP/b.err" || fail "gateway b: suite not PSK-AES-128-CCM-8"
grep -qE "handshakes_failed=[1-9]" "$TMP/a.err" || fail "gateway a did not count failed handshakes"
echo "--- gateway a"; tail -3 "$TMP/a.err"; echo "--- gateway b"; tail -1 "$TMP/b.err"

# A security.txt readable by others is refused, naming file and mode.
cp "$TMP/dep/security.txt" "$TMP/open.txt"; chmod 644 "$TMP/open.txt"
if "$GATEWAY" --security "$TMP/open.txt" --port "$(free_port)" --priority-file "$PRIORITY" 2> "$TMP/open.err"; then
  fail "gateway accepted a 0644 security.txt"
fi
grep -q "mode 0644" "$TMP/open.err" || fail "mode error does not name the mode"

if [ "$FAILURES" -ne 0 ]; then echo "$FAILURES failure(s)"; exit 1; fi
echo PASS
