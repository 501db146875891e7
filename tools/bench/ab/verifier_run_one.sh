#!/bin/bash
# One measured run for verifier_ab.sh: a fresh cxsec-verifier (2 threads)
# from BIN_DIR, registered through the admin API like tools/bench/verifier.sh,
# one checked request, then wrk on POST /v1/telemetry (cached gateway JWT)
# and GET /healthz, with the server's CPU time per request.
# Usage: verifier_run_one.sh BIN_DIR [SECS]
# Prints: RESULT bin=... telemetry=<req/s> healthz=<req/s> non2xx=<n> ...
# Works with verifiers from before the bootstrap key file (key on stdout).
set -euo pipefail
bin="$(cd "$1" && pwd)"; secs="${2:-10}"
conns="${WRK_CONNECTIONS:-32}"
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1
chmod 600 "$work/key.pem"
port=$((20000 + RANDOM % 20000))
cat > "$work/verifier.conf" <<CONF
data_dir = $work/data
listen = 127.0.0.1:$port
tls_cert = $work/cert.pem
tls_key = $work/key.pem
threads = 2
CONF
chmod 600 "$work/verifier.conf"
"$bin/cxsec-verifier" --config="$work/verifier.conf" > "$work/stdout" 2> "$work/stderr" &
pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/stderr" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$work/stderr" || { echo "verifier did not start"; cat "$work/stderr"; exit 1; }
if [ -f "$work/data/bootstrap-admin.key" ]; then
  admin="$(tr -d '\n' < "$work/data/bootstrap-admin.key")"; src="file"
else
  admin="$(grep -o 'cxk_[A-Za-z0-9_-]*' "$work/stdout" | head -1)"; src="stdout"
fi
[ -n "$admin" ] || { echo "no admin key"; cat "$work/stdout" "$work/stderr"; exit 1; }
url="https://127.0.0.1:$port"
api() { local code; code=$(curl -sk -o "$work/api.out" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' "$url$2" --data-binary "$3");
  case "$code" in 2*) ;; *) echo "admin $1 $2 -> $code $(cat "$work/api.out")"; exit 1;; esac; }
api POST /v1/projects '{"id":"bench"}'
api POST /v1/gateways '{"id":"G0123456789abcdef01","project":"bench"}'
# Verifiers since issue 17 item 2 want a proof of possession over a
# challenge; older ones (no such route) take the bare public key.
code=$(curl -sk -o "$work/challenge.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' "$url/v1/gateways/G0123456789abcdef01/enrollment-challenge" -d '{}')
if [ "$code" = 201 ]; then
  nonce=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nonce"])' "$work/challenge.out")
  "$bin/bench_token" "$work/gw.pem" G0123456789abcdef01 bench 10 "$nonce" > "$work/tokens"
  api POST /v1/gateways/G0123456789abcdef01/keys "$(cat "$work/gw.pem.enroll.json")"
else
  "$bin/bench_token" "$work/gw.pem" G0123456789abcdef01 bench 10 > "$work/tokens"
  api POST /v1/gateways/G0123456789abcdef01/keys "$(python3 -c 'import json,sys; print(json.dumps({"publicKeyPem": open(sys.argv[1]).read()}))' "$work/gw.pem")"
fi
token="$(head -1 "$work/tokens")"
api POST /v1/devices '{"id":"dev-1","project":"bench"}'
# One check request per run: must be 200 with status accepted.
body='{"messages":[{"deviceId":"dev-1","messageId":"check-1","timestamp":1,"payload":{"t":1}}]}'
code=$(curl -sk -o "$work/check.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' "$url/v1/telemetry" --data-binary "$body")
echo "CHECK bin=$bin admin_key_from=$src http=$code body=$(cat "$work/check.out")"
if [ "$code" != 200 ] || ! grep -q '"status":"accepted"' "$work/check.out"; then echo "check failed"; exit 1; fi
# Ids carry the wrk thread: every thread's Lua state starts with the same
# math.random sequence and counter, so without it the threads sent the
# same ids and up to half the POSTs were duplicates, answered, not stored.
cat > "$work/post.lua" <<LUA
counter = 0
thread_id = 0
local next_id = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
setup = function(thread) next_id = next_id + 1; thread:set("thread_id", next_id) end
request = function()
  counter = counter + 1
  local body = '{"messages":[{"deviceId":"dev-1","messageId":"c' .. thread_id .. '-' .. counter .. '","timestamp":1,"payload":{"t":1}}]}'
  return wrk.format(nil, "/v1/telemetry", nil, body)
end
LUA
rate() { tee -a "$work/wrk.out" | awk '/Requests\/sec/ {print $2}'; }
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }   # server utime+stime, clock ticks
reqs() { awk '/requests in/ {n=$1} END {print n}' "$work/wrk.out"; }
if [ -n "${PERF_OUT:-}" ]; then perf record -F 999 -g -p "$pid" -o "$PERF_OUT" -- sleep "$secs" 2>"$work/perf.err" & perfpid=$!; fi
c0=$(cpu); telemetry=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$work/post.lua" "$url/" | rate); c1=$(cpu); rt=$(reqs); [ -n "${PERF_OUT:-}" ] && wait "$perfpid"
healthz=$(wrk -t2 -c"$conns" -d"${secs}s" "$url/healthz" | rate); c2=$(cpu); rh=$(reqs)
hz=$(getconf CLK_TCK)
tcpu=$(awk -v a="$c0" -v b="$c1" -v n="$rt" -v hz="$hz" 'BEGIN{printf "%.1f", (b-a)/hz*1e6/n}')
hcpu=$(awk -v a="$c1" -v b="$c2" -v n="$rh" -v hz="$hz" 'BEGIN{printf "%.1f", (b-a)/hz*1e6/n}')
non2xx=$(awk '/Non-2xx/ {n += $NF} END {print n + 0}' "$work/wrk.out")
errs=$(awk '/Socket errors/ {print}' "$work/wrk.out" | tr '\n' ' ')
lines=$(wc -l < "$work/data/telemetry.ndjson")
echo "RESULT bin=$(basename "$bin") telemetry=$telemetry healthz=$healthz non2xx=$non2xx tele_cpu_us_per_req=$tcpu healthz_cpu_us_per_req=$hcpu stored_lines=$lines $errs"
if [ -n "${KEEP_WRK:-}" ]; then cat "$work/wrk.out"; fi
