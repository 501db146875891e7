#!/bin/bash
# Sealed-readings ingest of cxsec-verifier (issue 16 item 6): POST
# /v1/telemetry of sealed readings (DTLS encoding, encrypted; the verifier
# checks the tag, decrypts, applies the counter state and stores) next to
# the same readings unsealed, on the same server, in the same run. Runs
# alternate, unsealed first and last (U S U S U S U); each sealed run is
# compared with the mean of the unsealed runs on either side of it, and
# the row gives the median of those ratios: on a shared two-core machine
# two unsealed runs a minute apart differ by up to 30%, more than the
# effect measured, and one sandwich is at the mercy of that drift. One
# cached gateway token, one message per POST, wrk on loopback sharing the
# cores with the server; the server's CPU time per request
# (/proc/PID/stat) is given too. Goal: sealed at least 0.9x of unsealed.
# Usage: tools/bench/sealed_ingest.sh [seconds per run, default 5]
#   SEALED_ROUNDS (default 7, at most 9): sealed runs
# Extra bazel flags: CXSEC_BAZEL_FLAGS (e.g. --config=cached).
set -euo pipefail
secs="${1:-5}"
rounds="${SEALED_ROUNDS:-7}"
if [ "$rounds" -lt 1 ] || [ "$rounds" -gt 9 ]; then echo "SEALED_ROUNDS must be 1..9" >&2; exit 2; fi
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
# One sealed device per wrk thread and round (the round is the id's last
# digit): a device's sequences must arrive in order give or take the
# replay window (32), and each thread keeps its connections' requests
# within that; a fresh device per round, so no round replays another's.
# 25,000 readings per device and second of the run: more than one server
# on two cores answers, so no sequence is posted twice (checked below).
plain_device=D8899AABBCCDDEEFF
api POST /v1/devices "{\"id\":\"$plain_device\",\"project\":\"bench\",\"seal\":\"optional\"}"
sealed_ids=(D001122334455661 D001122334455662)
for round in $(seq 1 "$rounds"); do
  for t in 1 2; do
    id="${sealed_ids[$((t - 1))]}$round"
    api POST /v1/devices "{\"id\":\"$id\",\"project\":\"bench\",\"seal\":\"required\"}"
    "$bin/tools/bench/seal_payloads" "$work/seal/seal-master.key" "$id" $((25000 * secs)) > "$work/payloads$round.$t"
    cut -d' ' -f2 "$work/payloads$round.$t" > "$work/sealed$round.$t"
  done
done
# The same readings unsealed, as many distinct strings as a sealed run's.
cut -d' ' -f1 "$work/payloads1.1" > "$work/plain_payloads"
token="$(head -1 "$work/ingest/tokens")"
# Each wrk thread takes its own half of the sealed readings (offset); the
# unsealed run numbers its message ids per thread. Globals, not locals:
# thread:set/get reach globals only.
make_sealed_lua() {  # make_sealed_lua ROUND
  local round="$1"
  cat > "$work/sealed$round.lua" <<LUA
local devices = { "${sealed_ids[0]}$round", "${sealed_ids[1]}$round" }
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
  for line in io.lines("$work/sealed$round." .. thread_id) do payloads[#payloads + 1] = line end
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
}
# The unsealed client does the sealed one's work too: it holds as many
# payloads in a Lua table (the same unsealed reading on every line) and
# picks one per request the same way. wrk shares the two cores with the
# server, and a client that walked a table of 125,000 strings in one run
# only (the garbage collector marks it on every cycle) would charge its
# own cost to the sealed side.
make_plain_lua() {  # make_plain_lua RUN: message ids unique to the run
  cat > "$work/$1.lua" <<LUA
counter = 0
thread_id = 0
payloads = nil
local next_id = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
setup = function(thread) next_id = next_id + 1; thread:set("thread_id", next_id) end
init = function(args)
  payloads = {}
  for line in io.lines("$work/plain_payloads") do payloads[#payloads + 1] = line end
end
request = function()
  counter = counter + 1
  local payload = payloads[((counter - 1) % #payloads) + 1]
  local body = '{"messages":[{"deviceId":"$plain_device","messageId":"$1-' .. thread_id .. '-' .. counter .. '","timestamp":1,"transport":"dtls","payload":"' .. payload .. '"}]}'
  return wrk.format(nil, "/v1/telemetry", nil, body)
end
LUA
}
for round in $(seq 0 "$rounds"); do make_plain_lua "plain$round"; done
for round in $(seq 1 "$rounds"); do make_sealed_lua "$round"; done
ticks() { vb_ticks "$server_pid"; }
run() {
  local name="$1" t0 t1
  shift
  t0=$(ticks)
  wrk -t2 -c"${WRK_CONNECTIONS:-32}" -d"${secs}s" "$@" > "$work/$name.wrk"
  t1=$(ticks)
  echo $((t1 - t0)) > "$work/$name.ticks"
}
run plain0 -s "$work/plain0.lua" "$url/"
for round in $(seq 1 "$rounds"); do
  run "sealed$round" -s "$work/sealed$round.lua" "$url/"
  run "plain$round" -s "$work/plain$round.lua" "$url/"
done
sealed_stored=$(grep -c '"seal":{' "$work/ingest/data/telemetry.ndjson" || true)
plain_stored=$(grep -c "\"deviceId\":\"$plain_device\"" "$work/ingest/data/telemetry.ndjson" || true)
# The same difference in-process: CPU time, no TLS, HTTP or disk, so it
# holds still where the wall-clock rates above swing with the load.
"$bin/targets/verifier/seal/seal_authority_benchmark" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only --benchmark_format=json > "$work/inproc.json" 2>/dev/null
echo "server threads: ${VERIFIER_THREADS:-2}; wrk -t2 -c${WRK_CONNECTIONS:-32}, ${secs}s per run, $rounds sealed runs between $((rounds + 1)) unsealed; $(nproc) cores shared by wrk and the server; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$work" "$(getconf CLK_TCK)" "$sealed_stored" "$plain_stored" "$rounds" <<'PY'
import re, statistics, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
work, hz, sealed_stored, plain_stored, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def wrk(name):
    text = open(f"{work}/{name}.wrk").read()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    reqs = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    cpu_s = int(open(f"{work}/{name}.ticks").read()) / hz
    return rate, reqs, cpu_s, non2xx, text
plains = [wrk(f"plain{i}") for i in range(rounds + 1)]
sealeds = [wrk(f"sealed{i}") for i in range(1, rounds + 1)]
# Each sealed run against the mean of its two neighbours; the row is the
# median round (by ratio), so its figures and its ratio belong together.
sandwiches = []
for i, sealed_run in enumerate(sealeds):
    around = (plains[i][0] + plains[i + 1][0]) / 2
    sandwiches.append((sealed_run[0] / around if around else 0.0, sealed_run[0], around))
r, s, plain = sorted(sandwiches)[len(sandwiches) // 2]
n_plain = sum(p[1] for p in plains)
ns = sum(x[1] for x in sealeds)
plain_us = sum(p[2] for p in plains) / n_plain * 1e6
sealed_us = sum(x[2] for x in sealeds) / ns * 1e6
e_all = sum(p[3] for p in plains) + sum(x[3] for x in sealeds)
per_thread, most = 0, 0
for x in sealeds:
    m = re.search(r"SEALED per_thread=(\d+) most=(\d+)", x[4])
    if m:
        per_thread, most = int(m.group(1)), max(most, int(m.group(2)))
print("| operation | sealed | unsealed (mean of the runs before and after it) | ratio | goal |")
print("| --- | ---: | ---: | ---: | --- |")
each = ", ".join(f"{x[0]:.2f}" for x in sandwiches)
print(f"| POST /v1/telemetry, one reading per POST (req/s; median of {rounds} sealed runs, their ratios {each}) | {s:.0f} | {plain:.0f} | {r:.2f} | >= 0.9: {'met' if r >= 0.9 else '**missed**'} |")
rc = sealed_us / plain_us if plain_us else 0.0
print(f"| server CPU per request (us) | {sealed_us:.1f} | {plain_us:.1f} | {rc:.2f} | |")
emit("POST /v1/telemetry, sealed reading (req/s) vs the same reading unsealed", s, plain, "req/s",
     baseline_name="unsealed, same server, mean of the runs before and after; median of the sealed runs", goal=0.9)
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
print(f"non-2xx answers: {e_all} (must be 0). Sealed readings stored: {sealed_stored} for {ns} completed POSTs "
      f"({'every one accepted' if sealed_stored >= ns else '**fewer: some were refused or duplicates**'}); "
      f"unsealed stored: {plain_stored} for {n_plain}. Sequences: {per_thread} per wrk thread, at most {most} used by one "
      f"({'none posted twice' if most <= per_thread else '**some posted twice**'}).")
PY
