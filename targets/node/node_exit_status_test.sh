#!/usr/bin/env bash
# cxsec-node's exit status says whether its readings were delivered, on the
# real binaries: a node whose key epoch the gateway retired (`cxsec rollover
# --start`, then `--retire`) and a node with no gateway at all both exit
# non-zero and say why; a node the gateway accepts exits 0. Before, the
# first two logged "post failed" and exited 0.
set -uo pipefail
gateway="$1"
node="$2"
cxsec="$3"
priority_file="$(cd "$(dirname "$4")" && pwd)/$(basename "$4")"
dir="${TEST_TMPDIR:-$(mktemp -d)}/node_exit"
mkdir -p "$dir/spool"
chmod 0700 "$dir/spool"
fails=0
fail() {
  echo "FAIL $*"
  fails=$((fails + 1))
}
DEVICE=D0000000000000001

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj /CN=test-ca -days 2 -keyout "$dir/ca.key" -out "$dir/ca.pem" \
  >/dev/null 2>&1 || { echo "openssl failed"; exit 1; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/gw.key" 2>/dev/null
chmod 0600 "$dir/gw.key"
# The node keeps its epoch-1 key; the gateway's copy moves on to epoch 2
# and retires epoch 1.
"$cxsec" provision --out "$dir/deploy" --devices $DEVICE >/dev/null || exit 1
cp "$dir/deploy/devices/$DEVICE.key" "$dir/epoch1.key"
cp "$dir/deploy/security.txt" "$dir/security-epoch1.txt"
"$cxsec" rollover --security "$dir/deploy/security.txt" --start >/dev/null || exit 1
"$cxsec" rollover --security "$dir/deploy/security.txt" --retire >/dev/null || exit 1

port=$((20000 + RANDOM % 20000))
start_gateway() {  # start_gateway SECURITY_FILE: runs until stop_gateway
  cat >"$dir/gateway.conf" <<CONF
gateway_id = G0123456789abcdef01
project_id = demo
identity = software
key_file = $dir/gw.key
cloud_url = https://127.0.0.1:9
ca_bundle = $dir/ca.pem
spool_dir = $dir/spool
security_file = $1
dtls_listen = 127.0.0.1:$port
dtls_priority_file = $priority_file
run_as_root = true
CONF
  chmod 0600 "$dir/gateway.conf"
  "$gateway" --config="$dir/gateway.conf" >"$dir/gw.out" 2>"$dir/gw.err" &
  gateway_pid=$!
  for _ in $(seq 200); do
    grep -qF "cxsec-gateway: ready" "$dir/gw.out" 2>/dev/null && return 0
    kill -0 $gateway_pid 2>/dev/null || break
    sleep 0.1
  done
  echo "gateway did not start: $(cat "$dir/gw.err")"
  exit 1
}
stop_gateway() {
  kill -TERM "$gateway_pid" 2>/dev/null
  wait "$gateway_pid" 2>/dev/null
}
trap 'kill -9 ${gateway_pid:-0} 2>/dev/null' EXIT

run_node() {  # run_node NAME: one post with epoch1.key; sets rc, err file
  cat >"$dir/$1.conf" <<CONF
device_id = $DEVICE
transport = dtls
gateway = 127.0.0.1:$port
key_file = $dir/epoch1.key
interval_seconds = 1
post_count = 1
CONF
  chmod 0600 "$dir/$1.conf"
  "$node" --config="$dir/$1.conf" >"$dir/$1.out" 2>"$dir/$1.err"
  rc=$?
}

# 1. Retired key: the gateway refuses the handshake.
start_gateway "$dir/deploy/security.txt"
run_node retired
stop_gateway
[ "$rc" -ne 0 ] || fail "retired key: exit 0 after: $(cat "$dir/retired.err")"
grep -qF "1 of 1 readings not delivered (no 2.04 from the gateway)" "$dir/retired.err" ||
  fail "retired key: no delivery count: $(cat "$dir/retired.err")"
grep -qF "(key epoch 1): either the gateway is not reachable, or it refuses this key" \
  "$dir/retired.err" || fail "retired key: no reason: $(cat "$dir/retired.err")"

# 2. No gateway at all on the port.
run_node unreachable
[ "$rc" -ne 0 ] || fail "no gateway: exit 0 after: $(cat "$dir/unreachable.err")"
grep -qF "1 of 1 readings not delivered" "$dir/unreachable.err" ||
  fail "no gateway: no delivery count: $(cat "$dir/unreachable.err")"

# 3. Control: the same key at a gateway still on epoch 1 is delivered.
start_gateway "$dir/security-epoch1.txt"
run_node accepted
stop_gateway
[ "$rc" -eq 0 ] || fail "accepted key: exit $rc: $(cat "$dir/accepted.err")"

trap - EXIT
echo "$fails failures"
[ "$fails" -eq 0 ]
