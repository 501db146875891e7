#!/bin/bash
# Sealed-readings ingest of cxsec-verifier (issue 16 item 6): POST
# /v1/telemetry of sealed readings (DTLS encoding, encrypted; the verifier
# checks the tag, decrypts, applies the counter state and stores) next to
# the same reading unsealed, on the same server, in the same run (the
# unsealed run before and after, averaged). One cached gateway token, one
# message per POST, wrk on loopback sharing the cores with the server; the
# server's CPU time per request (/proc/PID/stat) is given too. Goal: sealed
# at least 0.9x of unsealed.
# Usage: tools/bench/sealed_ingest.sh [seconds per run, default 10]
# Extra bazel flags: CXSEC_BAZEL_FLAGS (e.g. --config=cached).
set -euo pipefail
secs="${1:-10}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck disable=SC2086  # a list of flags, split on purpose
bazel build --jobs=2 -c opt ${CXSEC_BAZEL_FLAGS:-} //targets/verifier:cxsec-verifier \
  //targets/verifier:bench_token //targets/verifier/seal:seal_authority_benchmark \
  //tools/bench:seal_payloads //tools:cxsec >/dev/null 2>&1
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
"$bin/tools/cxsec" provision --out "$work/seal" --seal-new-master >/dev/null
vb_start ingest "seal_master_file = $work/seal/seal-master.key"
server_pid="${vb_pid[ingest]}"
url="https://127.0.0.1:${vb_port[ingest]}"
api() { vb_api ingest "$@"; }
vb_enroll ingest 1
# One sealed device per wrk thread: a device's sequences must arrive in
# order give or take the replay window (32), and each thread keeps its
# connections' requests within that. 25,000 readings per device and second
# of the run: more than one server on two cores answers, so no sequence is
# posted twice (checked below).
plain_device=D8899AABBCCDDEEFF
api POST /v1/devices "{\"id\":\"$plain_device\",\"project\":\"bench\",\"seal\":\"optional\"}"
sealed_ids=(D001122334455661 D001122334455662)
for t in 1 2; do
  id="${sealed_ids[$((t - 1))]}0"
  api POST /v1/devices "{\"id\":\"$id\",\"project\":\"bench\",\"seal\":\"required\"}"
  "$bin/tools/bench/seal_payloads" "$work/seal/seal-master.key" "$id" $((25000 * secs)) > "$work/payloads$t"
  tail -n +2 "$work/payloads$t" > "$work/sealed$t"
done
head -1 "$work/payloads1" > "$work/plain"
token="$(head -1 "$work/ingest/tokens")"
# Each wrk thread takes its own half of the sealed readings (offset); the
# unsealed run numbers its message ids per thread. Globals, not locals:
# thread:set/get reach globals only.
cat > "$work/sealed.lua" <<LUA
local devices = { "${sealed_ids[0]}0", "${sealed_ids[1]}0" }
local next_id = 0
local threads = {}
counter = 0
thread_id = 0
payloads = nil
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
setup = function(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
  threads[#threads + 1] = thread
end
-- wrk calls init (after setup has set thread_id) before its clock starts:
-- loading a few hundred thousand payloads in the first request() would
-- charge that one-off to the sealed run's rate.
init = function(args)
  payloads = {}
  for line in io.lines("$work/sealed" .. thread_id) do payloads[#payloads + 1] = line end
end
request = function()
  counter = counter + 1
  local payload = payloads[((counter - 1) % #payloads) + 1]
  local body = '{"messages":[{"deviceId":"' .. devices[thread_id] .. '","messageId":"s' .. counter .. '","timestamp":1,"transport":"dtls","payload":"' .. payload .. '"}]}'
  return wrk.format(nil, "/v1/telemetry", nil, body)
end
done = function()
  local most = 0
  for _, t in ipairs(threads) do most = math.max(most, t:get("counter")) end
  io.write("SEALED per_thread=" .. $((25000 * secs)) .. " most=" .. most .. "\n")
end
LUA
make_plain_lua() {  # make_plain_lua RUN: message ids unique to the run
  cat > "$work/$1.lua" <<LUA
counter = 0
thread_id = 0
local next_id = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
setup = function(thread) next_id = next_id + 1; thread:set("thread_id", next_id) end
request = function()
  counter = counter + 1
  local body = '{"messages":[{"deviceId":"$plain_device","messageId":"$1-' .. thread_id .. '-' .. counter .. '","timestamp":1,"transport":"dtls","payload":"$(cat "$work/plain")"}]}'
  return wrk.format(nil, "/v1/telemetry", nil, body)
end
LUA
}
make_plain_lua plain1
make_plain_lua plain2
ticks() { vb_ticks "$server_pid"; }
run() {
  local name="$1" t0 t1
  shift
  t0=$(ticks)
  wrk -t2 -c"${WRK_CONNECTIONS:-32}" -d"${secs}s" "$@" > "$work/$name.wrk"
  t1=$(ticks)
  echo $((t1 - t0)) > "$work/$name.ticks"
}
run plain1 -s "$work/plain1.lua" "$url/"
run sealed -s "$work/sealed.lua" "$url/"
run plain2 -s "$work/plain2.lua" "$url/"
sealed_stored=$(grep -c '"seal":{' "$work/ingest/data/telemetry.ndjson" || true)
plain_stored=$(grep -c "\"deviceId\":\"$plain_device\"" "$work/ingest/data/telemetry.ndjson" || true)
# The same difference in-process: CPU time, no TLS, HTTP or disk, so it
# holds still where the wall-clock rates above swing with the load.
"$bin/targets/verifier/seal/seal_authority_benchmark" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only --benchmark_format=json > "$work/inproc.json" 2>/dev/null
echo "server threads: ${VERIFIER_THREADS:-2}; wrk -t2 -c${WRK_CONNECTIONS:-32}, ${secs}s per run; $(nproc) cores shared by wrk and the server; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$work" "$(getconf CLK_TCK)" "$sealed_stored" "$plain_stored" <<'PY'
import re, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
work, hz, sealed_stored, plain_stored = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def wrk(name):
    text = open(f"{work}/{name}.wrk").read()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    reqs = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    cpu_s = int(open(f"{work}/{name}.ticks").read()) / hz
    return rate, reqs, cpu_s, non2xx, text
p1, n1, c1, e1, _ = wrk("plain1")
p2, n2, c2, e2, _ = wrk("plain2")
s, ns, cs, es, stext = wrk("sealed")
plain = (p1 + p2) / 2
plain_us = (c1 + c2) / (n1 + n2) * 1e6
sealed_us = cs / ns * 1e6
m = re.search(r"SEALED per_thread=(\d+) most=(\d+)", stext)
per_thread, most = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
print("| operation | sealed | unsealed (mean of runs before and after) | ratio | goal |")
print("| --- | ---: | ---: | ---: | --- |")
r = s / plain if plain else 0.0
print(f"| POST /v1/telemetry, one reading per POST (req/s) | {s:.0f} | {plain:.0f} ({p1:.0f}, {p2:.0f}) | {r:.2f} | >= 0.9: {'met' if r >= 0.9 else '**missed**'} |")
rc = sealed_us / plain_us if plain_us else 0.0
print(f"| server CPU per request (us) | {sealed_us:.1f} | {plain_us:.1f} | {rc:.2f} | |")
emit("POST /v1/telemetry, sealed reading (req/s) vs the same reading unsealed", s, plain, "req/s",
     baseline_name="unsealed, same server, mean of runs before and after", goal=0.9)
emit("server CPU per request: sealed vs unsealed reading", sealed_us, plain_us, "us",
     baseline_name="unsealed reading, same server", better="lower")
import json
medians = {b["run_name"]: b["cpu_time"] for b in json.load(open(f"{work}/inproc.json"))["benchmarks"]
           if b.get("aggregate_name") == "median"}
extra, line = medians["BM_SealedExtra"], medians["BM_LogLineUnsealed"]
print(f"| verifier in-process, CPU per reading (ns): a sealed reading's extra work (decode, open, decide, log fields, commit, receipt) vs the log line every reading gets | {extra:.0f} | {line:.0f} | {extra / line:.2f} | |")
emit("verifier in-process: a sealed reading's extra work vs the log line of every reading", extra, line, "ns",
     baseline_name="log line of an unsealed reading, same binary", better="lower")
print()
print(f"non-2xx answers: {e1 + e2 + es} (must be 0). Sealed readings stored: {sealed_stored} for {ns} completed POSTs "
      f"({'every one accepted' if sealed_stored >= ns else '**fewer: some were refused or duplicates**'}); "
      f"unsealed stored: {plain_stored} for {n1 + n2}. Sequences: {per_thread} per wrk thread, at most {most} used by one "
      f"({'none posted twice' if most <= per_thread else '**some posted twice**'}).")
PY
