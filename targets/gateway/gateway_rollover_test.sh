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
psk_of_file() { sed -n 's/^psk = //p' "$1"; }
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

# Issue 18 item 2: a rollover that recovers from a compromise. Device B's
# key is marked compromised and the next epoch comes from a fresh master
# secret, so neither B's thief nor whoever copied security.txt before this
# rollover can follow it.
cp "$dir/dep/security.txt" "$dir/copied.txt" && chmod 0600 "$dir/copied.txt"
"$cxsec" provision --security "$dir/copied.txt" --out "$dir/thief" --devices "$B" >/dev/null ||
  { echo "provision from the copy failed"; exit 1; }
"$cxsec" rollover --security "$dir/dep/security.txt" --start --fresh-master --compromised "$B" >/dev/null ||
  { echo "rollover --start --fresh-master --compromised failed"; exit 1; }
kill -HUP $pid
wait_log "DTLS accepts key epochs 2 and 3" || fail "no reload line after the recovery rollover: $(tail -3 "$dir/err")"
node_once() {  # node_once KEYFILE POSTS: cxsec-node; its exit status
  sed -e "s#^key_file = .*#key_file = $1#" -e "s/^post_count = .*/post_count = $2/" \
    -e "s/^device_id = .*/device_id = $(sed -n 's/^device_id = //p' "$1")/" \
    "$dir/node.conf" >"$dir/once.conf"
  chmod 0600 "$dir/once.conf"
  timeout 90 "$node" --config="$dir/once.conf" 2>"$dir/once.err"
}
before=$(spooled "$B")
node_once "$dir/thief/devices/$B.key" 1 && fail "the compromised device's epoch-2 key was accepted"
[ "$(spooled "$B")" = "$before" ] || fail "a reading under the compromised key was stored"
grep -q "marked compromised for key epochs below 3" "$dir/err" || fail "the refusal does not say compromised: $(tail -3 "$dir/err")"
# The honest node moves to epoch 3 over the air; the copy cannot derive it.
node_once "$dir/dep/devices/$N.key" 10 || fail "the honest node failed during the recovery rollover: $(tail -3 "$dir/once.err")"
grep -q "^epoch = 3" "$dir/dep/devices/$N.key" || fail "the honest node did not move to epoch 3"
"$cxsec" rollover --security "$dir/copied.txt" --start >/dev/null
"$cxsec" provision --security "$dir/copied.txt" --out "$dir/thief3" --devices "$N" >/dev/null
[ "$(psk_of_file "$dir/thief3/devices/$N.key")" != "$(psk_of_file "$dir/dep/devices/$N.key")" ] ||
  fail "the epoch-3 key was derivable from the copied security.txt"
node_once "$dir/thief3/devices/$N.key" 1 && fail "a key derived from the copied security.txt was accepted"
# B, provisioned again out of band with an epoch-3 key, is back.
"$cxsec" provision --security "$dir/dep/security.txt" --out "$dir/again" --devices "$B" >/dev/null ||
  fail "re-provisioning B failed"
before=$(spooled "$B")
node_once "$dir/again/devices/$B.key" 1 || fail "re-provisioned B failed: $(tail -3 "$dir/once.err")"
[ "$(spooled "$B")" = $((before + 1)) ] || fail "re-provisioned B: nothing stored"
"$cxsec" rollover --security "$dir/dep/security.txt" --retire >/dev/null || fail "retire failed"
grep -q "^next_master_secret\|^compromised" "$dir/dep/security.txt" &&
  fail "retire left the fresh master or a spent compromised entry"

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
