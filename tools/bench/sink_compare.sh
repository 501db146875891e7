#!/bin/bash
# Telemetry ingest with the Redis sink next to the NDJSON sink, in the same
# run (issue 19 item 6): two cxsec-verifier instances, one per sink (the
# Redis one with a redis-server of its own, AOF, appendfsync always), take
# turns under wrk (NDJSON, Redis, NDJSON, Redis), each POST one message with
# a cached gateway token. Prints each sink's rate (mean of its two turns),
# the ratio (goal: Redis at least 0.8x of NDJSON), and the CPU time per
# message: the verifier's, and with Redis also redis-server's.
# Then the same with 16 messages per POST (SINK_COMPARE_BATCH; 0 skips).
# Usage: tools/bench/sink_compare.sh [seconds per turn, default 10]
# Extra bazel flags: CXSEC_BAZEL_FLAGS (e.g. --config=cached).
set -euo pipefail
secs="${1:-10}"
# Messages per POST: 1 is the worst case for the sinks' per-batch costs;
# a gateway's uplink sends up to batch_max_messages (256) per POST.
per="${MESSAGES_PER_POST:-1}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck disable=SC2086  # a list of flags, split on purpose
bazel build --jobs=2 -c opt ${CXSEC_BAZEL_FLAGS:-} //targets/verifier:cxsec-verifier \
  //targets/verifier:bench_token >/dev/null 2>&1
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
vb_start ndjson
vb_start_redis redis
vb_start redis "telemetry_sink = redis
redis_address = 127.0.0.1:${vb_redis_port[redis]}"
for sink in ndjson redis; do
  vb_enroll "$sink" 1
  vb_api "$sink" POST /v1/devices '{"id":"dev-1","project":"bench"}'
  # Message ids carry the turn and the wrk thread, so none is a duplicate.
  for turn in 1 2; do
    cat > "$work/$sink/post$turn.lua" <<LUA
counter = 0
thread_id = 0
local next_id = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $(head -1 "$work/$sink/tokens")"
setup = function(thread) next_id = next_id + 1; thread:set("thread_id", next_id) end
request = function()
  counter = counter + 1
  local parts = {}
  for j = 1, $per do
    parts[j] = '{"deviceId":"dev-1","messageId":"t$turn-' .. thread_id .. '-' .. counter .. '-' .. j .. '","timestamp":1,"payload":{"t":1}}'
  end
  return wrk.format(nil, "/v1/telemetry", nil, '{"messages":[' .. table.concat(parts, ",") .. ']}')
end
LUA
  done
done
# turn SINK N: one wrk run, with the verifier's (and redis-server's) CPU
# ticks over it.
turn() {
  local sink="$1" n="$2" t0 t1 r0=0 r1=0
  t0=$(vb_ticks "${vb_pid[$sink]}")
  [ "$sink" != redis ] || r0=$(vb_ticks "${vb_redis_pid[redis]}")
  wrk -t2 -c"${WRK_CONNECTIONS:-32}" -d"${secs}s" -s "$work/$sink/post$n.lua" \
    "https://127.0.0.1:${vb_port[$sink]}/" > "$work/$sink.$n.wrk"
  t1=$(vb_ticks "${vb_pid[$sink]}")
  [ "$sink" != redis ] || { vb_redis_settle redis; r1=$(vb_ticks "${vb_redis_pid[redis]}"); }
  echo "$((t1 - t0)) $((r1 - r0))" > "$work/$sink.$n.ticks"
}
turn ndjson 1
turn redis 1
turn ndjson 2
turn redis 2
stored_redis=$(redis-cli -p "${vb_redis_port[redis]}" XLEN cxsec:telemetry)
stored_ndjson=$(wc -l < "$work/ndjson/data/telemetry.ndjson")
echo "server threads: ${VERIFIER_THREADS:-2}; wrk -t2 -c${WRK_CONNECTIONS:-32}, ${secs}s per turn; $(nproc) cores shared by wrk and the servers; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$work" "$(getconf CLK_TCK)" "$stored_ndjson" "$stored_redis" "$per" <<'PY'
import re, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
work, hz, stored_ndjson, stored_redis, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def turn(sink, n):
    text = open(f"{work}/{sink}.{n}.wrk").read()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    reqs = int(re.search(r"(\d+) requests in", text).group(1)) * per
    non2xx = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    server, store = (int(x) / hz for x in open(f"{work}/{sink}.{n}.ticks").read().split())
    return rate * per, reqs, server, store, non2xx
runs = {s: [turn(s, n) for n in (1, 2)] for s in ("ndjson", "redis")}
def mean_rate(s): return sum(r[0] for r in runs[s]) / 2
def per_msg(s, i): return sum(r[i] for r in runs[s]) / sum(r[1] for r in runs[s]) * 1e6
nd, rd = mean_rate("ndjson"), mean_rate("redis")
ratio = rd / nd if nd else 0.0
print("| | NDJSON sink | Redis sink | ratio | goal |")
print("| --- | ---: | ---: | ---: | --- |")
# One place for what the batch size changes in names and units; the
# single-message row names stay as compare.sh knows them.
if per == 1:
    what, unit, batch_name, suffix = "one message (req/s", "req/s", "", ""
else:
    what, unit = f"{per} messages per POST (messages/s", "messages/s"
    batch_name = suffix = f", {per} messages per POST"
print(f"| POST /v1/telemetry, cached token, {what}; turns {runs['ndjson'][0][0]:.0f}, {runs['ndjson'][1][0]:.0f} / {runs['redis'][0][0]:.0f}, {runs['redis'][1][0]:.0f}) | {nd:.0f} | {rd:.0f} | {ratio:.2f} | >= 0.8: {'met' if ratio >= 0.8 else '**missed**'} |")
v_nd, v_rd, r_rd = per_msg("ndjson", 2), per_msg("redis", 2), per_msg("redis", 3)
print(f"| verifier CPU per message (us) | {v_nd:.1f} | {v_rd:.1f} | {v_rd / v_nd:.2f} | |")
print(f"| redis-server CPU per message (us) | | {r_rd:.1f} | | |")
print(f"| verifier + store CPU per message (us) | {v_nd:.1f} | {v_rd + r_rd:.1f} | {(v_rd + r_rd) / v_nd:.2f} | |")
emit(f"POST /v1/telemetry, cached token{batch_name}: Redis sink vs NDJSON sink ({unit})", rd, nd, unit,
     baseline_name="NDJSON sink, same run, alternating turns", goal=0.8)
emit("CPU per message, verifier + redis-server vs verifier with NDJSON" + suffix, v_rd + r_rd, v_nd, "us",
     baseline_name="verifier with the NDJSON sink, same run", better="lower")
non2xx = sum(r[4] for s in runs for r in runs[s])
sent = {s: sum(r[1] for r in runs[s]) for s in runs}
print()
print(f"non-2xx answers: {non2xx} (must be 0). Stored: NDJSON {stored_ndjson} lines for {sent['ndjson']} messages in completed POSTs, "
      f"Redis {stored_redis} stream entries for {sent['redis']}.")
PY

# The same comparison with gateway-sized batches, in fresh instances: a
# single message per POST is the worst case for the NDJSON sink's per-POST
# costs, a batch shows the Redis sink's per-message ceiling (one
# redis-server thread). SINK_COMPARE_BATCH=0 skips it.
batch="${SINK_COMPARE_BATCH:-16}"
if [ "$per" = 1 ] && [ "$batch" != 0 ]; then
  cleanup
  trap - EXIT
  echo
  echo "### $batch messages per POST"
  echo
  MESSAGES_PER_POST="$batch" exec bash "$0" "$secs"
fi
