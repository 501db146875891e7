#!/usr/bin/env bash
# Key rotation on the composed cxsec-gateway, as docs/DTLS_AND_KEYS.md tells
# an operator to do it: `cxsec rollover --start`, SIGHUP; nodes fetch their
# next-epoch key (GET /k); `cxsec rollover --retire`, SIGHUP; the old
# epoch's keys are refused. Before, SIGHUP reloaded only the Mioty keys, so
# after --retire a retired key still got 2.04 until a restart and after
# --start nodes never learnt the new epoch. The client holding the retired
# key is Debian's coap-client-openssl, not cxsec code.
set -uo pipefail
# $1: the shared set-up (testing_dtls_gateway_fixture.sh); then gateway,
# cxsec, cxsec-node and the GnuTLS priority file.
fixture="$1"
shift
# shellcheck source=targets/gateway/testing_dtls_gateway_fixture.sh
source "$fixture" rollover "$@"

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
