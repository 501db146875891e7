#!/bin/bash
# Benchmark cxsec-verifier with wrk on loopback: POST /v1/telemetry with a
# valid, cached gateway token (authentication + fdatasync'd NDJSON storage)
# next to GET /healthz on the same server in the same run (the plain HTTPS
# request rate), and POST /v1/telemetry with a fresh token per request next
# to one ECDSA P-256 verify of cxsec's own BoringSSL (in-process, one core:
# jwt_benchmark's BM_SignatureOnly/es256) in the same run.
# Prints: operation | cxsec | baseline | ratio.
# wrk and the server share the machine's cores, so the request rates
# mostly measure wrk on a two-core box. A second table gives the server's
# CPU time per request (utime + stime of its /proc/PID/stat before and
# after each wrk run, over the requests wrk completed) next to the CPU time
# of the bare work, measured in the same run: one ECDSA P-256 verify
# (cxsec's BoringSSL, the library the server links) for a fresh-token
# request, a GET /healthz on the same
# server and one write+fdatasync of a line of the log's line size in the
# same directory for a cached-token request. Goals (issue 20 item 7):
# fresh token <= 1.25x one P-256 verify, cached token <= 2x one /healthz.
# Usage: tools/bench/verifier.sh [seconds per run, default 10]
# Extra bazel flags: CXSEC_BAZEL_FLAGS (e.g. --config=cached).
# VERIFIER_SINK=redis stores into a redis-server started here (AOF,
# appendfsync always; docs/SCALE_OUT.md) instead of the NDJSON log.
set -euo pipefail
secs="${1:-10}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck disable=SC2086  # a list of flags, split on purpose
bazel build --jobs=2 -c opt ${CXSEC_BAZEL_FLAGS:-} //targets/verifier:cxsec-verifier //targets/verifier:bench_token //platforms/tpm:jwt_benchmark >/dev/null 2>&1
bin="$root/bazel-bin"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tools/bench/lib/verifier_bench.sh
source "$root/tools/bench/lib/verifier_bench.sh"
vb_cert
if [ "${VERIFIER_SINK:-ndjson}" = redis ]; then
  vb_start_redis v
  redis_pid="${vb_redis_pid[v]}"
  vb_start v "telemetry_sink = redis
redis_address = 127.0.0.1:${vb_redis_port[v]}"
else
  vb_start v
fi
server_pid="${vb_pid[v]}"
url="https://127.0.0.1:${vb_port[v]}"
api() { vb_api v "$@"; }
# Fresh tokens for the fresh-token run: 12,000 per second of the run (two
# wrk threads, half each), more than this verifier answers on two cores,
# so no token is sent twice and none is a cache hit (checked below).
vb_enroll v $((12000 * secs))
head -1 "$work/v/tokens" > "$work/token"
api POST /v1/devices '{"id":"dev-1","project":"bench"}'
# Message ids carry the wrk thread (every thread's Lua state starts with
# the same math.random sequence and the same counter), so no POST is a
# duplicate that the verifier answers without storing; the stored-line
# count below checks it. Globals, not locals: thread:set/get reach globals.
cat > "$work/post.lua" <<LUA
counter = 0
thread_id = 0
local next_id = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $(cat "$work/token")"
setup = function(thread) next_id = next_id + 1; thread:set("thread_id", next_id) end
request = function()
  counter = counter + 1
  local body = '{"messages":[{"deviceId":"dev-1","messageId":"c' .. thread_id .. '-' .. counter .. '","timestamp":1,"payload":{"t":1}}]}'
  return wrk.format(nil, "/v1/telemetry", nil, body)
end
LUA
# Each wrk thread takes its own half of the tokens (offset), so no token is
# sent twice; done() prints how many requests the busiest thread built.
cat > "$work/fresh.lua" <<LUA
local tokens = {}
for line in io.lines("$work/v/tokens") do tokens[#tokens + 1] = line end
local half = math.floor(#tokens / 2)
local next_offset = 0
local threads = {}
counter = 0
offset = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
setup = function(thread)
  thread:set("offset", next_offset)
  next_offset = next_offset + half
  threads[#threads + 1] = thread
end
request = function()
  counter = counter + 1
  local token = tokens[((offset + counter - 1) % #tokens) + 1]
  local body = '{"messages":[{"deviceId":"dev-1","messageId":"f' .. offset .. '-' .. counter .. '","timestamp":1,"payload":{"t":1}}]}'
  return wrk.format(nil, "/v1/telemetry", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
done = function()
  local most = 0
  for _, t in ipairs(threads) do most = math.max(most, t:get("counter")) end
  io.write("FRESH tokens_per_thread=" .. half .. " most_requests_per_thread=" .. most .. "\n")
end
LUA
# run NAME [WRK ARGS...]: one wrk run against the server, keeping wrk's
# output ($work/NAME.wrk, also appended to wrk.out to count non-2xx
# answers) and the server's CPU time over the run: utime + stime of
# /proc/PID/stat in clock ticks, before and after ($work/NAME.ticks).
ticks() { vb_ticks "$server_pid"; }
# With the Redis sink, redis-server's CPU over each run too: a message's
# cost is the verifier's and the store's ($work/NAME.redis_ticks).
redis_ticks() { if [ -n "${redis_pid:-}" ]; then vb_redis_settle v; vb_ticks "$redis_pid"; else echo 0; fi; }
run() {
  local name="$1" t0 t1 r0 r1
  shift
  t0=$(ticks)
  r0=$(redis_ticks)
  wrk -t2 -c"${WRK_CONNECTIONS:-32}" -d"${secs}s" "$@" > "$work/$name.wrk"
  t1=$(ticks)
  r1=$(redis_ticks)
  echo $((t1 - t0)) > "$work/$name.ticks"
  echo $((r1 - r0)) > "$work/$name.redis_ticks"
  cat "$work/$name.wrk" >> "$work/wrk.out"
}
run healthz "$url/healthz"
run telemetry -s "$work/post.lua" "$url/"
log_lines() { if [ -f "$work/v/data/telemetry.ndjson" ]; then wc -l < "$work/v/data/telemetry.ndjson"; else echo -1; fi; }
log_lines > "$work/telemetry.stored"
run healthz2 "$url/healthz"
run fresh -s "$work/fresh.lua" "$url/"
log_lines > "$work/fresh.stored"
# Bare work of the same run, as CPU time on this machine:
#  - one ECDSA P-256 verify by the BoringSSL the server links (built from
#    source with its assembly, third_party/boringssl.BUILD):
#    jwt_benchmark's BM_SignatureOnly/es256, CPU time per verify; Debian's
#    bssl-tool would measure its packaged, slower build instead;
#  - one fdatasync'd append: write + fdatasync of a line as long as the
#    verifier's own NDJSON lines, in its data directory, in a loop.
python3 - "$secs" "$work/v/data" "$bin/platforms/tpm/jwt_benchmark" > "$work/bare" <<'PY'
import json, os, subprocess, sys, time
secs, data, jwt_bench = sys.argv[1], sys.argv[2], sys.argv[3]
out = subprocess.run([jwt_bench, "--benchmark_filter=^BM_SignatureOnly/es256", f"--benchmark_min_time={secs}",
                      "--benchmark_format=json"], capture_output=True, text=True, check=True).stdout
b = json.loads(out)["benchmarks"][0]
unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
verify_us = b["cpu_time"] * unit
rate = 1e6 / verify_us if verify_us else 0.0
log = os.path.join(data, "telemetry.ndjson")
lines = []
if os.path.exists(log):  # not with VERIFIER_SINK=redis
    with open(log, "rb") as f:
        lines = f.read().splitlines()
size = round(sum(len(l) + 1 for l in lines) / len(lines)) if lines else 200
line = b"x" * (size - 1) + b"\n"
path = os.path.join(data, "append-bench.ndjson")
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
n, c0, w0 = 2000, time.process_time(), time.monotonic()
for _ in range(n):
    os.write(fd, line)
    os.fdatasync(fd)
append_us = (time.process_time() - c0) / n * 1e6
append_wall_us = (time.monotonic() - w0) / n * 1e6
os.close(fd)
os.unlink(path)
print(f"verify_rate={rate} verify_cpu_us={verify_us:.2f} line_bytes={size} "
      f"append_cpu_us={append_us:.2f} append_wall_us={append_wall_us:.1f}")
PY
cores=$(nproc)
echo "sink: ${VERIFIER_SINK:-ndjson}; server threads: ${VERIFIER_THREADS:-2}; wrk -t2 -c${WRK_CONNECTIONS:-32}, ${secs}s per run; $cores cores shared by wrk and the server; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
non2xx=$(awk '/Non-2xx/ {n += $NF} END {print n + 0}' "$work/wrk.out")
echo "non-2xx answers across all wrk runs: $non2xx (must be 0 for the figures to count)"
echo
python3 - "$work" "$cores" "$(getconf CLK_TCK)" <<'PY'
import re, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
work, cores, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def wrk(name):
    text = open(f"{work}/{name}.wrk").read()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    reqs = int(re.search(r"(\d+) requests in", text).group(1))
    cpu_s = int(open(f"{work}/{name}.ticks").read()) / hz
    return rate, reqs, cpu_s
bare = dict(kv.split("=") for kv in open(f"{work}/bare").read().split())
verify_rate = float(bare["verify_rate"])
verify_us, append_us = float(bare["verify_cpu_us"]), float(bare["append_cpu_us"])
(h1, hn1, hc1), (h2, hn2, hc2) = wrk("healthz"), wrk("healthz2")
telemetry, tn, tc = wrk("telemetry")
fresh, fn, fc = wrk("fresh")
stored_t = int(open(f"{work}/telemetry.stored").read())
stored_f = int(open(f"{work}/fresh.stored").read()) - max(stored_t, 0)
m = re.search(r"FRESH tokens_per_thread=(\d+) most_requests_per_thread=(\d+)", open(f"{work}/fresh.wrk").read())
per_thread, most = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
healthz = (h1 + h2) / 2
healthz_us = (hc1 + hc2) / (hn1 + hn2) * 1e6
cached_us, fresh_us = tc / tn * 1e6, fc / fn * 1e6
def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"
print("Request rates (wall clock; wrk shares the cores with the server):")
print()
print("| operation | cxsec | baseline | ratio |")
print("| --- | --- | --- | --- |")
print(f"| POST /v1/telemetry, cached token, fdatasync'd (req/s) vs GET /healthz same server (mean of runs before and after: {h1:.2f}, {h2:.2f}) | {telemetry:.2f} | {healthz:.2f} | {ratio(telemetry, healthz)} |")
print(f"| POST /v1/telemetry, fresh ES256 token per request (req/s) vs one ECDSA P-256 verify of cxsec's BoringSSL, 1 core | {fresh:.2f} | {verify_rate:.1f} | {ratio(fresh, verify_rate)} |")
print(f"| same, vs that verify x {cores} cores | {fresh:.2f} | {verify_rate * cores:.2f} | {ratio(fresh, verify_rate * cores)} |")
emit("POST /v1/telemetry, cached token (req/s) vs GET /healthz", telemetry, healthz, "req/s", baseline_name="GET /healthz, same server, mean of runs before and after")
emit("POST /v1/telemetry, fresh ES256 token (req/s) vs P-256 verify, 1 core", fresh, verify_rate, "req/s", baseline_name="ECDSA P-256 verify, cxsec's BoringSSL, in-process")
emit("POST /v1/telemetry, fresh ES256 token (req/s) vs P-256 verify x cores", fresh, verify_rate * cores, "req/s", baseline_name=f"ECDSA P-256 verify, cxsec's BoringSSL, in-process x {cores}")
print()
print("Server CPU time per request (utime + stime of the server process over each wrk run, divided by the requests wrk completed) next to the CPU time of the bare work, same run:")
print()
print("| operation | server CPU per request (us) | bare work, CPU (us) | ratio | goal |")
print("| --- | ---: | --- | ---: | --- |")
rows = (
    ("POST /v1/telemetry, fresh ES256 token", fresh_us, verify_us, "one ECDSA P-256 verify (cxsec's BoringSSL, in-process)", 1.25),
    ("POST /v1/telemetry, cached token", cached_us, healthz_us, "one GET /healthz, same server", 2.0),
    ("POST /v1/telemetry, cached token vs /healthz + one append", cached_us, healthz_us + append_us,
     f"GET /healthz + one write+fdatasync of a {bare['line_bytes']}-byte line", None),
)
for name, value, base, label, goal in rows:
    r = value / base if base else 0.0
    verdict = "" if goal is None else (f"<= {goal}x: met" if r <= goal else f"<= {goal}x: **missed**")
    print(f"| {name} | {value:.1f} | {base:.1f} ({label}) | {r:.2f}x | {verdict} |")
    emit(f"server CPU per request: {name}", value, base, "us", baseline_name=label, goal=goal, better="lower")
print(f"| GET /healthz | {healthz_us:.1f} | | | |")
redis_us = int(open(f"{work}/telemetry.redis_ticks").read()) / hz / tn * 1e6
if redis_us > 0:
    print(f"| redis-server CPU per cached-token POST (the store's share; not in the rows above) | {redis_us:.1f} | | | |")
    print(f"| verifier + redis-server CPU per cached-token POST | {cached_us + redis_us:.1f} | | | |")
    emit("redis-server CPU per cached-token POST", redis_us, None, "us", better="lower")
print(f"| one write+fdatasync of a {bare['line_bytes']}-byte line (wall {float(bare['append_wall_us']):.0f} us) | {append_us:.1f} | | | |")
print()
reuse = ("no token sent twice" if m and most <= per_thread else
         "**tokens were sent twice (cache hits): the fresh-token rows flatter the server**")
print(f"Fresh-token run: {per_thread} tokens per wrk thread, at most {most} requests built by one thread: {reuse}.")
if stored_t >= 0:  # no NDJSON log with VERIFIER_SINK=redis
    print(f"Lines stored (duplicates are answered 200 but not stored): cached-token run {stored_t} for {tn} completed POSTs, "
          f"fresh-token run {stored_f} for {fn}{'' if stored_t >= tn and stored_f >= fn else ' **(fewer: some POSTs were duplicates)**'}.")
PY
