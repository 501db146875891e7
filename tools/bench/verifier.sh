#!/bin/bash
# Benchmark cxsec-verifier with wrk on loopback: POST /v1/telemetry with a
# valid, cached gateway token (authentication + fdatasync'd NDJSON storage)
# next to GET /healthz on the same server in the same run (the plain HTTPS
# request rate), and POST /v1/telemetry with a fresh token per request next
# to `bssl-tool speed` ECDSA P-256 verify (one core) in the same run.
# Prints: operation | cxsec | baseline | ratio.
# Usage: tools/bench/verifier.sh [seconds per run, default 10]
# VERIFIER_SINK=redis stores into a redis-server started here (AOF,
# appendfsync always; docs/SCALE_OUT.md) instead of the NDJSON log.
set -euo pipefail
secs="${1:-10}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bazel build --jobs=2 -c opt //targets/verifier:cxsec-verifier //targets/verifier:bench_token >/dev/null 2>&1
bin="$root/bazel-bin/targets/verifier"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
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
threads = ${VERIFIER_THREADS:-2}
CONF
if [ "${VERIFIER_SINK:-ndjson}" = redis ]; then
  redis_port=$((port + 1))
  mkdir -p "$work/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save '' \
    --appendonly yes --appendfsync always --daemonize no --logfile "$work/redis.log" &
  pids+=($!)
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  printf 'telemetry_sink = redis\nredis_address = 127.0.0.1:%s\n' "$redis_port" >> "$work/verifier.conf"
fi
chmod 600 "$work/verifier.conf"
"$bin/cxsec-verifier" --config="$work/verifier.conf" > "$work/stdout" 2> "$work/stderr" &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening "$work/stderr" 2>/dev/null && break; sleep 0.1; done
admin="$(cat "$work/data/bootstrap-admin.key")"
url="https://127.0.0.1:$port"
api() { curl -sk -X "$1" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$url$2" -d "$3" >/dev/null; }
api POST /v1/projects '{"id":"bench"}'
api POST /v1/gateways '{"id":"G0123456789abcdef01","project":"bench"}'
# Key enrolment needs a challenge signed by the new key (docs/VERIFIER_API.md).
nonce=$(curl -sk -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  "$url/v1/gateways/G0123456789abcdef01/enrollment-challenge" -d '{}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["nonce"])')
"$bin/bench_token" "$work/gw.pem" G0123456789abcdef01 bench 60000 "$nonce" > "$work/tokens"
head -1 "$work/tokens" > "$work/token"
curl -skf -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  "$url/v1/gateways/G0123456789abcdef01/keys" --data-binary @"$work/gw.pem.enroll.json" >/dev/null
api POST /v1/devices '{"id":"dev-1","project":"bench"}'
cat > "$work/post.lua" <<LUA
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $(cat "$work/token")"
request = function()
  counter = counter + 1
  local body = '{"messages":[{"deviceId":"dev-1","messageId":"' .. tostring(math.random(1, 1e12)) .. '-' .. counter .. '","timestamp":1,"payload":{"t":1}}]}'
  return wrk.format(nil, "/v1/telemetry", nil, body)
end
LUA
cat > "$work/fresh.lua" <<LUA
local tokens = {}
for line in io.lines("$work/tokens") do tokens[#tokens + 1] = line end
local counter = 0
local offset = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
setup = function(thread) thread:set("offset", offset); offset = offset + 30000 end
request = function()
  counter = counter + 1
  local token = tokens[((offset + counter) % #tokens) + 1]
  local body = '{"messages":[{"deviceId":"dev-1","messageId":"f' .. offset .. '-' .. counter .. '","timestamp":1,"payload":{"t":1}}]}'
  return wrk.format(nil, "/v1/telemetry", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
LUA
# rate: Requests/sec from wrk's output, also kept to count non-2xx answers.
rate() { tee -a "$work/wrk.out" | awk '/Requests\/sec/ {print $2}'; }
healthz=$(wrk -t2 -c${WRK_CONNECTIONS:-32} -d"${secs}s" "$url/healthz" | rate)
telemetry=$(wrk -t2 -c${WRK_CONNECTIONS:-32} -d"${secs}s" -s "$work/post.lua" "$url/" | rate)
healthz2=$(wrk -t2 -c${WRK_CONNECTIONS:-32} -d"${secs}s" "$url/healthz" | rate)
fresh=$(wrk -t2 -c${WRK_CONNECTIONS:-32} -d"${secs}s" -s "$work/fresh.lua" "$url/" | rate)
bssl=$(bssl-tool speed -filter 'ECDSA P-256' -timeout "$secs" 2>&1 | awk '/P-256 verify/ {gsub(/\(/, "", $(NF-1)); print $(NF-1)}')
cores=$(nproc)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
healthz_mean=$(awk -v a="$healthz" -v b="$healthz2" 'BEGIN { printf "%.2f", (a + b) / 2 }')
bssl_cores=$(awk -v a="$bssl" -v c="$cores" 'BEGIN { printf "%.2f", a * c }')
echo "sink: ${VERIFIER_SINK:-ndjson}; server threads: ${VERIFIER_THREADS:-2}; wrk -t2 -c${WRK_CONNECTIONS:-32}, ${secs}s per run; $cores cores shared by wrk and the server"
non2xx=$(awk '/Non-2xx/ {n += $NF} END {print n + 0}' "$work/wrk.out")
echo "non-2xx answers across all wrk runs: $non2xx (must be 0 for the figures to count)"
echo
echo "| operation | cxsec | baseline | ratio |"
echo "| --- | --- | --- | --- |"
echo "| POST /v1/telemetry, cached token, fdatasync'd (req/s) vs GET /healthz same server (mean of runs before and after: $healthz, $healthz2) | $telemetry | $healthz_mean | $(ratio "$telemetry" "$healthz_mean") |"
echo "| POST /v1/telemetry, fresh ES256 token per request (req/s) vs bssl-tool ECDSA P-256 verify, 1 core | $fresh | $bssl | $(ratio "$fresh" "$bssl") |"
echo "| same, vs bssl-tool verify x $cores cores | $fresh | $bssl_cores | $(ratio "$fresh" "$bssl_cores") |"
