# Shared set-up of the composed-gateway DTLS tests (sourced, not run):
# a provisioned deployment of six devices, cxsec-gateway with DTLS on a
# free port and a SQLite spool, and helpers to post with Debian's
# coap-client-openssl and count what the spool holds.
#
#   source "$fixture" NAME GATEWAY CXSEC NODE PRIORITY_FILE
#
# Leaves: $dir, $port, $pid (the gateway, killed on exit), $devices,
# ${usable[@]} (devices whose PSK coap-client can take on its command
# line), and the functions fail, rows, psk_hex, key_of and post.
# shellcheck shell=bash
fixture_name="$1"
shift
gateway="$1"
cxsec="$2"
# shellcheck disable=SC2034  # used by the scripts that source this file
node="$3"
priority="$(cd "$(dirname "$4")" && pwd)/$(basename "$4")"
dir="${TEST_TMPDIR:-$(mktemp -d)}/$fixture_name"
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
# The format string is the key: printf turns its \xHH escapes into bytes.
# shellcheck disable=SC2059
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
