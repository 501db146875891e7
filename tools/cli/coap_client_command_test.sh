#!/usr/bin/env bash
# `cxsec coap-client-command` on the real binaries: the commands it prints
# make Debian's coap-client-openssl and coap-client-gnutls (independent
# DTLS stacks) post a reading that cxsec-gateway acknowledges and spools;
# for a PSK with a 0x00 byte (which no argv can carry) it refuses and says
# why.
set -uo pipefail
cxsec="$1"
gateway="$2"
priority_file="$(cd "$(dirname "$3")" && pwd)/$(basename "$3")"
dir="${TEST_TMPDIR:-$(mktemp -d)}/coap_client_command"
mkdir -p "$dir/spool"
chmod 0700 "$dir/spool"
fails=0
fail() {
  echo "FAIL $*"
  fails=$((fails + 1))
}

# 200 devices: with 16-byte PSKs, about 6% hold a 0x00 byte, so both kinds
# are there but for a chance of 3 in a million (then the NUL case is
# skipped, said below).
ids=$(for i in $(seq 1 200); do printf 'D%016x,' "$i"; done)
"$cxsec" provision --out "$dir/deploy" --devices "${ids%,}" >/dev/null || exit 1
with_nul="" without_nul=""
for f in "$dir"/deploy/devices/*.key; do
  hex=$(sed -n 's/^psk = //p' "$f")
  if echo "$hex" | grep -qE '^(..)*00'; then
    with_nul="${with_nul:-$f}"
  else
    without_nul="${without_nul:-$f}"
  fi
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj /CN=test-ca -days 2 -keyout "$dir/ca.key" -out "$dir/ca.pem" \
  >/dev/null 2>&1 || { echo "openssl failed"; exit 1; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/gw.key" 2>/dev/null
chmod 0600 "$dir/gw.key"
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/gateway.conf" <<CONF
gateway_id = G0123456789abcdef01
project_id = demo
identity = software
key_file = $dir/gw.key
cloud_url = https://127.0.0.1:9
ca_bundle = $dir/ca.pem
spool_dir = $dir/spool
security_file = $dir/deploy/security.txt
dtls_listen = 127.0.0.1:$port
dtls_priority_file = $priority_file
run_as_root = true
CONF
chmod 0600 "$dir/gateway.conf"
"$gateway" --config="$dir/gateway.conf" >"$dir/gw.out" 2>"$dir/gw.err" &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
for _ in $(seq 200); do
  grep -qF "cxsec-gateway: ready" "$dir/gw.out" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
grep -qF "cxsec-gateway: ready" "$dir/gw.out" || { echo "gateway did not start: $(cat "$dir/gw.err")"; exit 1; }

spooled() {  # spooled DEVICE: rows of DEVICE in the gateway's spool
  python3 - "$dir/spool/spool.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(db.execute("SELECT COUNT(*) FROM messages WHERE device_id = ?", (sys.argv[2],)).fetchone()[0])
PY
}

device=$(basename "$without_nul" .key)
expected=0
for client in coap-client-openssl coap-client-gnutls; do
  "$cxsec" coap-client-command --key-file "$without_nul" --gateway "127.0.0.1:$port" \
    --client "$client" >"$dir/$client.sh" || { fail "$client: no command"; continue; }
  grep -qF -- "-u '$device.1' -k \$'\\x" "$dir/$client.sh" ||
    fail "$client: unexpected command: $(grep -- ' -m post' "$dir/$client.sh")"
  (cd "$dir" && timeout 60 bash "$dir/$client.sh") >"$dir/$client.out" 2>&1
  rc=$?
  expected=$((expected + 1))
  [ "$rc" -eq 0 ] || fail "$client: exit $rc: $(cat "$dir/$client.out")"
  if grep -qE '(4|5)\.[0-9][0-9]' "$dir/$client.out"; then
    fail "$client: gateway answered an error: $(cat "$dir/$client.out")"
  fi
  n=$(spooled "$device" 2>/dev/null)
  # The second client's reading may share the first one's CoAP token; the
  # gateway's de-duplication is not what this test is about.
  [ "${n:-0}" -ge 1 ] || fail "$client: reading of $device not spooled"
done
echo "posted as $device with both clients; spool holds $(spooled "$device") of its readings"

if [ -n "$with_nul" ]; then
  if "$cxsec" coap-client-command --key-file "$with_nul" >"$dir/nul.out" 2>"$dir/nul.err"; then
    fail "a PSK with a 0x00 byte gave a command: $(cat "$dir/nul.out")"
  fi
  grep -qF "contains a 0x00 byte. coap-client 4.3.1 reads the PSK only as a C string" \
    "$dir/nul.err" || fail "no reason for the refusal: $(cat "$dir/nul.err")"
else
  echo "note: no device of 200 had a 0x00 byte in its PSK; that case is skipped"
fi

kill -TERM $pid
wait $pid 2>/dev/null
trap - EXIT
echo "$fails failures"
[ "$fails" -eq 0 ]
