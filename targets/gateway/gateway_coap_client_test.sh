#!/usr/bin/env bash
# Readings of a third-party CoAP client reach the composed gateway's spool,
# once each, on the real binaries: Debian's coap-client-openssl (its own
# CoAP and DTLS stack) run twice back to back with one device's identity
# and PSK. Every run starts at CoAP token 01, so with message ids made of
# device and token the second reading was acknowledged 2.04 and then
# dropped by the spool as a duplicate. Also: a client that sends a reading
# id (option 65000) in two runs is stored once (that is what the id is
# for), and cxsec-node, which sends one per reading, stores each once.
set -uo pipefail
# $1: the shared set-up (testing_dtls_gateway_fixture.sh); then gateway,
# cxsec, cxsec-node and the GnuTLS priority file.
fixture="$1"
shift
# shellcheck source=targets/gateway/testing_dtls_gateway_fixture.sh
source "$fixture" coap_client "$@"

A=${usable[0]}
post "$A"
post "$A"
[ "$(rows "$A")" = "2 2" ] || fail "two coap-client runs: spool holds '$(rows "$A")' (messages, ids), expected '2 2'"

B=${usable[1]}
post "$B" -O 65000,0x00c0ffee
post "$B" -O 65000,0x00c0ffee
[ "$(rows "$B")" = "1 1" ] || fail "one reading id sent twice: spool holds '$(rows "$B")', expected '1 1'"

N=D0011223344556606
cat >"$dir/node.conf" <<CONF
device_id = $N
transport = dtls
gateway = 127.0.0.1:$port
key_file = $dir/dep/devices/$N.key
interval_seconds = 1
post_count = 2
CONF
chmod 0600 "$dir/node.conf"
timeout 60 "$node" --config="$dir/node.conf" 2>"$dir/node.err" || fail "cxsec-node failed: $(cat "$dir/node.err")"
[ "$(rows $N)" = "2 2" ] || fail "cxsec-node: spool holds '$(rows $N)', expected '2 2'"

kill -0 $pid 2>/dev/null || fail "gateway died"
kill -TERM $pid
wait $pid
trap - EXIT
# Issue 18 item 8: on SIGTERM the composed gateway says what it did.
grep -qE "cxsec-gateway: dtls accepted=[1-9].* suite=PSK-AES-128-CCM-8" "$dir/err" ||
  fail "no DTLS counters with the negotiated suite on SIGTERM: $(tail -3 "$dir/err")"
grep -qE "cxsec-gateway: uplink spooled=[1-9]" "$dir/err" ||
  fail "no uplink counters on SIGTERM: $(tail -3 "$dir/err")"
echo "$fails failures"
[ "$fails" -eq 0 ]
