#!/bin/bash
# How cost grows with the work (issue 20 item 8): each row measured at
# several sizes, each figure next to its same-run baseline (the smallest
# size) and its goal.
#   - gateway: cxsec-dtls-gateway (the gateway's DtlsServer in a process of
#     its own) holding 100, 1,000 and 10,000 idle DTLS-PSK sessions: RSS
#     per session, and the rate of further handshakes at each size
#     (tools/bench/dtls_scaling.cc). Goals: <= 16 KiB per idle session,
#     rate at 10,000 >= 0.8x the rate at 100.
#   - verifier: cxsec-verifier with 1,000, 100,000 and 1,000,000 devices in
#     its SQLite registry: telemetry ingest (wrk POSTs to random registered
#     devices, cached gateway token) and device lookup latency (wrk GET
#     /v1/devices/<random id>); start-up time with a 10,000,000-line
#     telemetry log. Goals: ingest at 1M >= 0.9x ingest at 1,000; start-up
#     < 5 s.
#   - spool: SqliteSpool (synchronous=FULL) with 1,000,000 messages waiting
#     next to an empty one: enqueue rate (1 and 8 callers) and bytes on
#     disk per message (tools/bench/spool_scaling.cc). Goal: rate >= 0.8x
#     of the empty spool.
# Usage: tools/bench/scaling.sh [gateway|verifier|spool]...  (default: all)
# Prints one Markdown table per part; rows go to $BENCH_ROWS via
# bench_rows.emit() when report.sh runs it. Takes about 5-8 minutes.
# Extra bazel flags: CXSEC_BAZEL_FLAGS. Run lengths: SCALING_SECONDS (wrk
# runs, default 5), SCALING_SPOOL_SECONDS and SCALING_SPOOL_ROUNDS (the
# two spools take turns, ROUNDS slices of SECONDS each; default 1 and 4). SCALING_DTLS_PERF=FILE
# records a perf profile of the gateway during the last handshake probe.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(gateway verifier spool)
secs="${SCALING_SECONDS:-5}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
build() {
  # shellcheck disable=SC2086  # a list of flags, split on purpose
  bazel build --jobs=2 -c opt ${CXSEC_BAZEL_FLAGS:-} "$@" >/dev/null 2>&1 ||
    bazel build --jobs=2 -c opt ${CXSEC_BAZEL_FLAGS:-} "$@"
}
bin="$root/bazel-bin"
wait_for() {  # wait_for FILE PATTERN: up to 60 s
  for _ in $(seq 1 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2
  cat "$1" >&2
  return 1
}

gateway_part() {
  build //tools/bench:dtls_scaling //transports/dtls:cxsec-dtls-gateway
  local levels="${SCALING_DTLS_LEVELS:-100,1000,10000}"
  local most="${levels##*,}" probe="${SCALING_DTLS_PROBE:-2000}"
  # The client holds one UDP socket per session (libcoap: one context per
  # node); the gateway one socket for all. Raise the soft limit to what
  # the largest level needs, refusing if the hard limit is too low.
  local need=$((most + probe + 256))
  if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || { echo "gateway: need $need file descriptors, hard limit $(ulimit -Hn)" >&2; return 1; }
  fi
  local dir="$work/dtls"
  mkdir -m 700 "$dir"
  "$bin/tools/bench/dtls_scaling" --provision "$dir" --devices 64
  local port=$((20000 + RANDOM % 20000))
  export GNUTLS_SYSTEM_PRIORITY_FILE="$root/transports/dtls/gnutls_psk_ccm8.conf"
  # Session caps raised for the run (the defaults: 1,000 sessions, 4 per
  # identity; cxsec-gateway's dtls_max_sessions etc. are the same options).
  "$bin/transports/dtls/cxsec-dtls-gateway" --security "$dir/security.txt" --port "$port" \
    --spool /dev/null --max-sessions $((most * 2)) --max-handshakes 100 \
    --max-sessions-per-identity 0 --idle-timeout 3600 --rate 1000000 --burst 1000000 \
    > "$dir/gw.out" 2> "$dir/gw.err" &
  local gw=$!
  pids+=("$gw")
  sleep 1
  kill -0 "$gw" || { cat "$dir/gw.err" >&2; return 1; }
  local scaling="$bin/tools/bench/dtls_scaling" n held=0 holders=0 per=300
  rss() { awk '/^VmRSS:/ {print $2}' "/proc/$gw/status"; }
  local base_rss; base_rss=$(rss)
  : > "$dir/out"
  # Each holder keeps its sessions open until its stdin (a fifo) closes.
  for n in ${levels//,/ }; do
    local t0 first=$held
    t0=$(date +%s%N)
    while [ "$held" -lt "$n" ]; do
      local count=$(( n - held < per ? n - held : per ))
      mkfifo "$dir/in-$holders"
      "$scaling" --dir "$dir" --gateway "127.0.0.1:$port" --hold "$count" --first "$held" \
        < "$dir/in-$holders" > "$dir/holder-$holders" 2>> "$dir/holders.err" &
      pids+=($!)
      # shellcheck disable=SC2034  # fd: kept open, the holder waits for its EOF
      exec {fd}> "$dir/in-$holders"
      held=$((held + count)); holders=$((holders + 1))
    done
    for i in $(seq 0 $((holders - 1))); do wait_for "$dir/holder-$i" held= >/dev/null; done
    local fill_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    local ok; ok=$(sed 's/.*held=\([0-9]*\).*/\1/' "$dir"/holder-* | awk '{s += $1} END {print s}')
    local failed; failed=$(sed 's/.*failed=\([0-9]*\).*/\1/' "$dir"/holder-* | awk '{s += $1} END {print s}')
    sleep 1  # let the gateway settle before reading its RSS
    local r; r=$(rss)
    local probe_out perf_pid=""
    if [ -n "${SCALING_DTLS_PERF:-}" ] && [ "$n" = "$most" ]; then
      # Where the gateway's time goes at the largest size (perf report -i FILE).
      perf record -q -g -o "$SCALING_DTLS_PERF" -p "$gw" >/dev/null 2>&1 &
      perf_pid=$!
    fi
    probe_out=$("$scaling" --dir "$dir" --gateway "127.0.0.1:$port" --probe "$probe" --first 1000000 \
      --threads "${SCALING_DTLS_THREADS:-4}" 2>> "$dir/holders.err")
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
    echo "level=$n held=$ok fill_per_s=$(python3 -c "print($((n - first)) / max($fill_ms, 1) * 1000)") rss_kb=$r base_rss_kb=$base_rss $probe_out holder_failed=$failed" >> "$dir/out"
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "$gw" 2>/dev/null || true
  python3 - "$dir/out" "$probe" "$dir/holders.err" <<'PY'
import re, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
rows = [dict(kv.split("=") for kv in line.split()) for line in open(sys.argv[1]) if line.startswith("level=")]
probe = sys.argv[2]
client_errors = [line.strip() for line in open(sys.argv[3]) if line.strip()]
base = rows[0]
base_rate = float(base["per_s"])
print("cxsec-dtls-gateway (DtlsServer), PSK-AES-128-CCM-8, loopback; sessions held idle by client processes "
      "of up to 300 DtlsNode sessions each (3 file descriptors per node; libcoap's select() stops at 1024) (2 threads), each session a handshake + one POST /t; then "
      f"{probe} more handshakes (open, POST, close; 4 threads) timed with them held. RSS from /proc/PID/status.")
print()
print("| sessions held | established | gateway RSS (KiB) | RSS growth per session since start (B) | goal | since the previous size (B) | "
      f"handshakes/s with these held ({probe} more) | vs at {int(base['level']):,} | goal | fill rate (/s) |")
print("| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: |")
prev_rss, prev_held = None, 0
for r in rows:
    n, held = int(r["level"]), int(r["held"])
    rss, base_rss = int(r["rss_kb"]), int(r["base_rss_kb"])
    per = (rss - base_rss) * 1024 / held if held else 0
    rate = float(r["per_s"])
    ratio = rate / base_rate if base_rate else 0
    # The goal is the cost of an idle session, judged where the process's
    # fixed memory (heap arenas, GnuTLS and libcoap state) no longer
    # dominates: at the largest size.
    last = r is rows[-1]
    mem_goal = f"<= 16,384: {'met' if per <= 16384 else '**missed**'}" if last else ""
    rate_goal = ""
    if r is rows[-1] and len(rows) > 1:
        rate_goal = f">= 0.8x: {'met' if ratio >= 0.8 else '**missed**'}"
    marginal = (rss - (prev_rss if prev_rss is not None else base_rss)) * 1024 / max(held - prev_held, 1)
    prev_rss, prev_held = rss, held
    print(f"| {n:,} | {held:,} | {rss:,} (idle at start {base_rss:,}) | {per:,.0f} | {mem_goal} | {marginal:,.0f} | "
          f"{rate:,.0f} | {ratio:.2f}x | {rate_goal} | {float(r['fill_per_s']):,.0f} |")
    emit(f"gateway RSS per idle DTLS session at {n} sessions", per, 16384, "B",
         baseline_name="goal: 16 KiB", goal=1.0 if last else None, better="lower")
    if r is not rows[0]:
        emit(f"handshakes/s with {n} sessions held vs with {int(base['level'])}", rate, base_rate,
             "/s", baseline_name=f"same, {int(base['level'])} sessions held, same run",
             goal=0.8 if r is rows[-1] else None)
failed = sum(int(r["failed"]) for r in rows) + int(rows[-1]["holder_failed"])
print()
print(f"Failed sessions during the run: {failed}" + ("" if failed == 0 else " **(figures count only the established ones)**"))
if client_errors:
    from collections import Counter
    print()
    print("What the clients said (each process prints its first 5 failures):")
    print()
    for text, count in Counter(client_errors).most_common(5):
        print(f"- {count}x `{text}`")
PY
}

verifier_part() {
  build //targets/verifier:cxsec-verifier //targets/verifier:bench_token
  local dir="$work/verifier"
  mkdir -m 700 "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/key.pem" \
    -out "$dir/cert.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1
  chmod 600 "$dir/key.pem"
  local port=$((20000 + RANDOM % 20000))
  cat > "$dir/verifier.conf" <<CONF
data_dir = $dir/data
listen = 127.0.0.1:$port
tls_cert = $dir/cert.pem
tls_key = $dir/key.pem
threads = 2
registry = sqlite
CONF
  chmod 600 "$dir/verifier.conf"
  local vpid="" startup_ms=0
  # start: starts the verifier; startup_ms: ms until it logged "listening".
  start() {
    : > "$dir/stderr"
    local t0; t0=$(date +%s%N)
    "$bin/targets/verifier/cxsec-verifier" --config="$dir/verifier.conf" > "$dir/stdout" 2> "$dir/stderr" &
    vpid=$!
    pids+=("$vpid")
    for _ in $(seq 1 1200); do grep -q listening "$dir/stderr" 2>/dev/null && break; sleep 0.005; done
    grep -q listening "$dir/stderr" || { cat "$dir/stderr" >&2; return 1; }
    startup_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  }
  stop() { kill "$vpid"; wait "$vpid" 2>/dev/null || true; }
  start
  local admin url="https://127.0.0.1:$port"
  admin="$(cat "$dir/data/bootstrap-admin.key")"
  api() { curl -skf -X "$1" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$url$2" -d "$3" >/dev/null; }
  api POST /v1/projects '{"id":"bench"}'
  api POST /v1/gateways '{"id":"G0123456789abcdef01","project":"bench"}'
  local nonce
  nonce=$(curl -sk -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    "$url/v1/gateways/G0123456789abcdef01/enrollment-challenge" -d '{}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["nonce"])')
  "$bin/targets/verifier/bench_token" "$dir/gw.pem" G0123456789abcdef01 bench 1 "$nonce" > "$dir/token"
  curl -skf -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    "$url/v1/gateways/G0123456789abcdef01/keys" --data-binary @"$dir/gw.pem.enroll.json" >/dev/null
  # One device through the API: its stored record is the template of the
  # bulk rows (the registry's own JSON, whatever its field order).
  api POST /v1/devices '{"id":"d0000000","project":"bench"}'
  stop
  local levels="${SCALING_VERIFIER_LEVELS:-1000,100000,1000000}" have=1 n
  : > "$dir/rows"
  for n in ${levels//,/ }; do
    # Bulk rows straight into the registry's SQLite KV table (the record
    # format of the device created above), with the verifier stopped.
    python3 - "$dir/data/registry.db" "$have" "$n" <<'PY'
import sqlite3, sys
db, have, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
template = c.execute("SELECT v FROM kv WHERE k = 'devices/d0000000'").fetchone()[0]
assert template.count("d0000000") == 1, template
c.execute("PRAGMA synchronous=OFF")
c.executemany("INSERT INTO kv (k, v) VALUES (?, ?)",
              ((f"devices/d{i:07d}", template.replace("d0000000", f"d{i:07d}")) for i in range(have, n)))
c.commit()
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
PY
    have=$n
    start
    cat > "$dir/post.lua" <<LUA
counter = 0
thread_id = 0
local next_id = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $(cat "$dir/token")"
setup = function(thread) next_id = next_id + 1; thread:set("thread_id", next_id) end
init = function() math.randomseed(thread_id * 7919 + $n) end
request = function()
  counter = counter + 1
  local device = string.format("d%07d", math.random(0, $n - 1))
  local body = '{"messages":[{"deviceId":"' .. device .. '","messageId":"s$n-' .. thread_id .. '-' .. counter .. '","timestamp":1,"payload":{"t":1}}]}'
  return wrk.format(nil, "/v1/telemetry", nil, body)
end
LUA
    cat > "$dir/get.lua" <<LUA
thread_id = 0
local next_id = 0
wrk.headers["Authorization"] = "Bearer $admin"
setup = function(thread) next_id = next_id + 1; thread:set("thread_id", next_id) end
init = function() math.randomseed(thread_id * 104729 + $n) end
request = function()
  return wrk.format("GET", string.format("/v1/devices/d%07d", math.random(0, $n - 1)))
end
LUA
    # The server's own CPU time over the ingest run (utime + stime, clock
    # ticks): wrk shares the cores, so the request rate alone mixes both.
    local ticks0 ticks1
    ticks0=$(awk '{print $14 + $15}' "/proc/$vpid/stat")
    wrk -t2 -c32 -d"${secs}s" -s "$dir/post.lua" "$url/" > "$dir/post-$n.wrk"
    ticks1=$(awk '{print $14 + $15}' "/proc/$vpid/stat")
    # Registry cache hits over the ingest run (the verifier started fresh).
    curl -sk -H "Authorization: Bearer $admin" "$url/metrics" |
      awk '/^cxsec_registry_cache_hit_ratio / {print $2}' > "$dir/hits-$n"
    wrk -t2 -c8 -d"${secs}s" --latency -s "$dir/get.lua" "$url/" > "$dir/get-$n.wrk"
    echo "$n $startup_ms $dir/post-$n.wrk $dir/get-$n.wrk $((ticks1 - ticks0)) $(cat "$dir/hits-$n")" >> "$dir/rows"
    stop
  done
  # Start-up with a telemetry log of 10,000,000 lines: the lines the runs
  # above stored, repeated with fresh message ids (the verifier rebuilds
  # its dedup index from the log's tail at start).
  local lines="${SCALING_LOG_LINES:-10000000}"
  local small_ms
  start; small_ms=$startup_ms; stop
  local before; before=$(wc -l < "$dir/data/telemetry.ndjson")
  python3 - "$dir/data/telemetry.ndjson" "$lines" <<'PY'
import sys
path, total = sys.argv[1], int(sys.argv[2])
template = open(path).readline().rstrip("\n")
key = '"messageId":"'
a = template.index(key) + len(key)
b = template.index('"', a)
head, tail = template[:a], template[b:] + "\n"
with open(path, "w") as f:
    step = 200000
    for start in range(0, total, step):
        f.write("".join(f"{head}big-{i}{tail}" for i in range(start, min(total, start + step))))
PY
  local big_ms log_bytes
  log_bytes=$(stat -c %s "$dir/data/telemetry.ndjson")
  start; big_ms=$startup_ms
  # The restarted verifier must still take telemetry.
  curl -skf -X POST -H "Authorization: Bearer $(cat "$dir/token")" -H 'Content-Type: application/json' \
    "$url/v1/telemetry" -d '{"messages":[{"deviceId":"d0000001","messageId":"after-big","timestamp":1,"payload":{"t":1}}]}' >/dev/null
  stop
  # The same log with a dedup window of 1,000,000 records instead of the
  # default 4,000,000: start-up follows the window, not the log.
  echo "dedup_window_messages = 1000000" >> "$dir/verifier.conf"
  local window_ms
  start; window_ms=$startup_ms; stop
  python3 - "$dir/rows" "$small_ms" "$before" "$big_ms" "$lines" "$log_bytes" "$secs" "$window_ms" "$(getconf CLK_TCK)" <<'PY'
import re, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
rows_path, small_ms, before, big_ms, lines, log_bytes, secs, window_ms, clk_tck = sys.argv[1:]
def ms(text, pct):
    m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", text, re.M)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
rows = []
for line in open(rows_path):
    n, startup, post, get, ticks, *hits = line.split()
    pt, gt = open(post).read(), open(get).read()
    non2xx = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", pt + gt))
    completed = int(re.search(r"(\d+) requests in", pt).group(1))
    rows.append(dict(n=int(n), startup=int(startup),
                     cpu_us=int(ticks) * 1e6 / int(clk_tck) / max(completed, 1),
                     ingest=float(re.search(r"Requests/sec:\s+([\d.]+)", pt).group(1)),
                     lookup=float(re.search(r"Requests/sec:\s+([\d.]+)", gt).group(1)),
                     p50=ms(gt, 50), p99=ms(gt, 99), non2xx=non2xx,
                     hits=float(hits[0]) if hits else float("nan")))
b = rows[0]
print(f"cxsec-verifier, SQLite registry, 2 server threads; wrk -t2 ({secs} s per run) on the same 2 cores. "
      "Ingest: POST /v1/telemetry, one message to a random registered device, cached gateway token, "
      "fdatasync'd NDJSON log (-c32). Lookup: GET /v1/devices/<random id>, admin key (-c8, --latency).")
print()
print(f"| devices | ingest (req/s) | vs {b['n']:,} | goal | server CPU per ingest request (us) | vs {b['n']:,} | registry cache hits during ingest | lookup (req/s) | lookup p50 (ms) | vs {b['n']:,} | lookup p99 (ms) | start-up (ms) | non-2xx |")
print("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    ratio = r["ingest"] / b["ingest"]
    goal = f">= 0.9x: {'met' if ratio >= 0.9 else '**missed**'}" if r is rows[-1] and len(rows) > 1 else ""
    print(f"| {r['n']:,} | {r['ingest']:,.0f} | {ratio:.2f}x | {goal} | {r['cpu_us']:.1f} | {r['cpu_us'] / b['cpu_us']:.2f}x | {r['hits']:.1%} | {r['lookup']:,.0f} | {r['p50']:.2f} | "
          f"{r['p50'] / b['p50']:.2f}x | {r['p99']:.2f} | {r['startup']:,} | {r['non2xx']} |")
    if r is not b:
        emit(f"telemetry ingest with {r['n']} registered devices vs {b['n']}", r["ingest"], b["ingest"], "req/s",
             baseline_name=f"same, {b['n']} devices, same run", goal=0.9 if r is rows[-1] else None)
        emit(f"server CPU per ingest request with {r['n']} registered devices vs {b['n']}", r["cpu_us"], b["cpu_us"],
             "us", baseline_name=f"same, {b['n']} devices, same run", better="lower")
        emit(f"device lookup p50 with {r['n']} registered devices vs {b['n']}", r["p50"], b["p50"], "ms",
             baseline_name=f"same, {b['n']} devices, same run", better="lower")
big, small = int(big_ms), int(small_ms)
print()
print("| start-up until \"listening\" | ms | baseline | ratio | goal |")
print("| --- | ---: | ---: | ---: | --- |")
print(f"| telemetry log of {int(lines):,} lines ({int(log_bytes) / 1e9:.2f} GB), {rows[-1]['n']:,} devices | {big:,} | "
      f"{small:,} (same registry, log of {int(before):,} lines) | {big / small:.2f}x | < 5,000 ms: {'met' if big < 5000 else '**missed**'} |")
print(f"| same log, dedup_window_messages = 1,000,000 (default 4,000,000) | {int(window_ms):,} | {small:,} | "
      f"{int(window_ms) / small:.2f}x | |")
emit(f"verifier start-up with a telemetry log of {int(lines)} lines", big, 5000, "ms",
     baseline_name="goal: 5 s", goal=1.0, better="lower")
emit(f"verifier start-up with a telemetry log of {int(lines)} lines vs a small log", big, small, "ms",
     baseline_name="same registry, small log, same run", better="lower")
print()
print("The log was just written, so it is in the page cache: a cold start reads it from disk.")
if any(r["non2xx"] for r in rows):
    print("**Some requests were refused (non-2xx): the figures above do not count.**")
PY
}

spool_part() {
  build //tools/bench:spool_scaling
  mkdir -m 700 "$work/spool"
  "$bin/tools/bench/spool_scaling" --dir "$work/spool" --backlog "${SCALING_SPOOL_BACKLOG:-1000000}" \
    --seconds "${SCALING_SPOOL_SECONDS:-1}" --rounds "${SCALING_SPOOL_ROUNDS:-4}" --callers 8 > "$work/spool.out"
  python3 - "$work/spool.out" <<'PY'
import sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
rows = {}
for line in open(sys.argv[1]):
    kv = dict(x.split("=") for x in line.split())
    rows[kv["spool"]] = kv
e, f = rows["empty"], rows["backlog"]
n = int(f["waiting"])
callers = e["callers"]
print("SqliteSpool, WAL, synchronous=FULL, 48-byte payloads from 1,000 devices; the backlog written in bulk, "
      f"then the spool reopened on it; the two spools take turns ({e['rounds']} slices each, alternating), so both see the same disk.")
print()
print(f"| operation | {n:,} waiting | empty spool (same run) | ratio | goal |")
print("| --- | ---: | ---: | ---: | --- |")
for key, label in (("rate1", "enqueue, 1 caller (messages/s)"), ("rateN", f"enqueue, {callers} callers (messages/s)")):
    v, b = float(f[key]), float(e[key])
    r = v / b
    print(f"| {label} | {v:,.0f} | {b:,.0f} | {r:.2f}x | >= 0.8x: {'met' if r >= 0.8 else '**missed**'} |")
    emit(f"spool {label} with {n} waiting vs empty", v, b, "messages/s", baseline_name="empty spool, same run", goal=0.8)
disk, logical = int(f["db_bytes"]), int(f["logical_bytes"])
per, per_logical = disk / n, logical / n
print(f"| disk bytes per waiting message (database + WAL) | {per:,.1f} | {per_logical:,.1f} (payload + ids the spool counts) | {per / per_logical:.2f}x | |")
print(f"| open the spool (ms) | {float(f['open_ms']):,.1f} | {float(e['open_ms']):,.1f} | | |")
emit("spool disk bytes per waiting message vs payload and id bytes", per, per_logical, "B",
     baseline_name="payload + ids, as the spool counts them", better="lower")
print()
print(f"Database with {n:,} waiting: {disk / 2**20:,.1f} MiB. spool_max_messages defaults to 1,000,000, so a gateway "
      "holds a million waiting messages only with it raised (the benchmark raises it).")
PY
}

echo "Load when the section started: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for part in "${parts[@]}"; do
  echo
  echo "### $part"
  echo
  "${part}_part"
done
