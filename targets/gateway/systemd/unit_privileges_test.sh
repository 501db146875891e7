#!/usr/bin/env bash
# The shipped unit's privilege settings, applied to the real cxsec-gateway
# with setpriv(1): the closest real means here, where containers run no
# systemd (systemd-analyze verify checks the rest, check_unit_test.sh).
# The capability bounding set, securebits and no_new_privs are read from
# cxsec-gateway.service itself; the gateway must start as root under them,
# drop to `nobody` and end with no capability, no group and no way back.
# A unit that set noroot as well (SecureBits=noroot noroot-locked) leaves
# root no capability at exec, so the drop fails: the gateway must refuse to
# run then, saying why, rather than stay root. The Mioty key store belongs
# to the service account, and SIGHUP reloads it after the drop.
set -uo pipefail
unit="$1"
gateway="$2"
cxsec="$3"
fails=0
fail() {
  echo "FAIL $*"
  fails=$((fails + 1))
}
[ "$(id -u)" -eq 0 ] || { echo "needs root (the unit starts the gateway as root)"; exit 1; }
getent passwd nobody >/dev/null || { echo "no 'nobody' account"; exit 1; }

# Outside the test's own tmpdir: 'nobody' must reach the spool.
dir=$(mktemp -d /tmp/cxsec-unit.XXXXXX)
chmod 0755 "$dir"
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
mkdir -p "$dir/spool" && chown nobody "$dir/spool" && chmod 0700 "$dir/spool"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj /CN=test-ca -days 2 -keyout "$dir/ca.key" -out "$dir/ca.pem" \
  >/dev/null 2>&1 || { echo "openssl failed"; exit 1; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/gw.key" 2>/dev/null
chmod 0600 "$dir/gw.key"
"$cxsec" mioty keys add --keys "$dir/keys.json" --eui 70b3d56770001234 \
  --key 2b7e151628aed2a6abf7158809cf4f3c >/dev/null || exit 1
# As docs/GATEWAY.md says: the key store belongs to the service account,
# so that the gateway, started as root, accepts it and, dropped to that
# account, can read it again on SIGHUP.
chown nobody "$dir/keys.json"
cat >"$dir/gateway.conf" <<CONF
gateway_id = G0123456789abcdef01
project_id = demo
identity = software
key_file = $dir/gw.key
cloud_url = https://127.0.0.1:9
ca_bundle = $dir/ca.pem
spool_dir = $dir/spool
mioty_listen = 127.0.0.1:0
mioty_keys = $dir/keys.json
run_as_user = nobody
CONF
chmod 0600 "$dir/gateway.conf"

# The unit's settings as setpriv arguments.
bounding=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[ -n "$bounding" ] || { echo "the unit has no CapabilityBoundingSet"; exit 1; }
bounding_arg="-all"
for cap in $bounding; do
  cap=${cap#CAP_}
  bounding_arg+=",+${cap,,}"
done
securebits=$(sed -n 's/^SecureBits=//p' "$unit")
securebits_arg=""
for bit in $securebits; do
  securebits_arg+="${securebits_arg:+,}+${bit//-/_}"
done
grep -q '^NoNewPrivileges=yes' "$unit" || fail "the unit does not set NoNewPrivileges=yes"
grep -q '^AmbientCapabilities=$' "$unit" || fail "the unit grants ambient capabilities"

start() {  # start SECUREBITS_ARG: the gateway under the unit's settings
  local bits=()
  [ -n "$1" ] && bits=(--securebits "$1")
  setpriv "${bits[@]}" --bounding-set "$bounding_arg" --inh-caps -all \
    --ambient-caps -all --no-new-privs -- \
    "$gateway" --config="$dir/gateway.conf" >"$dir/out" 2>"$dir/err" &
  pid=$!
}
status_of() { sed -n "s/^$1:[[:space:]]*//p" "/proc/$pid/status"; }

echo "unit: CapabilityBoundingSet=$bounding SecureBits=$securebits"
start "$securebits_arg"
for _ in $(seq 200); do
  grep -q "cxsec-gateway: ready" "$dir/out" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
if ! grep -q "cxsec-gateway: ready" "$dir/out"; then
  fail "the gateway did not start under the unit's settings: $(cat "$dir/err")"
else
  grep -q "running as 'nobody'" "$dir/err" || fail "no drop line: $(cat "$dir/err")"
  [ "$(status_of Uid | awk '{print $1 $2 $3 $4}')" = "$(id -u nobody | sed 's/.*/&&&&/')" ] ||
    fail "uids after the drop: $(status_of Uid)"
  [ -z "$(status_of Groups)" ] || fail "supplementary groups left: $(status_of Groups)"
  for set in CapInh CapPrm CapEff CapBnd CapAmb; do
    [ "$(status_of $set)" = 0000000000000000 ] || fail "$set = $(status_of $set) after the drop"
  done
  [ "$(status_of NoNewPrivs)" = 1 ] || fail "no_new_privs is not set"
  # A key added to the account's store is picked up by SIGHUP after the drop.
  # (The operator edits it as that account; the test's cxsec, inside root's
  # home, is not reachable by nobody, so ownership is handed back instead.)
  chown root "$dir/keys.json"
  "$cxsec" mioty keys add --keys "$dir/keys.json" --eui 70b3d5677000abcd \
    --key 000102030405060708090a0b0c0d0e0f >/dev/null || fail "keys add failed"
  chown nobody "$dir/keys.json"
  kill -HUP $pid
  for _ in $(seq 100); do
    grep -q "reloaded Mioty keys: 2 devices" "$dir/err" && break
    sleep 0.1
  done
  grep -q "reloaded Mioty keys: 2 devices" "$dir/err" ||
    fail "SIGHUP after the drop did not reload the account's key store: $(tail -2 "$dir/err")"
  kill -TERM $pid
  wait $pid || fail "gateway exit status $? after SIGTERM"
fi
pid=

# With noroot set too, root has no capability after exec: the gateway must
# refuse to run (it cannot drop), never stay root.
start "+noroot,+noroot_locked"
wait $pid
rc=$?
pid=
[ "$rc" -ne 0 ] || fail "the gateway ran although it could not drop privileges"
grep -qi "privilege\|setgroups\|setgid\|setuid\|capabilit\|not permitted\|permission denied" "$dir/err" ||
  fail "the refusal does not say why: $(cat "$dir/err")"
echo "--- refusal: $(tail -1 "$dir/err")"

echo "$fails failures"
[ "$fails" -eq 0 ]
