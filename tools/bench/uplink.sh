#!/usr/bin/env bash
# Uplink benchmark: the durable spool and the whole HTTPS uplink, each next
# to raw SQLite (INSERT + COMMIT per message, WAL, same synchronous setting)
# measured in the same run of the same binary. Prints a markdown table.
# Every benchmark runs three times in random order and the median counts:
# fsync latency on a shared, loaded disk swings several-fold from one
# second to the next, so a baseline measured once, seconds away from the
# spool, made single-run ratios swing as much (0.40x and 0.06x).
#   tools/bench/uplink.sh            # optimized build (-c opt)
#   BENCH_COPT=fastbuild tools/bench/uplink.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mode="${BENCH_COPT:-opt}"
bazel build --jobs=2 -c "$mode" //transports/uplink:uplink_benchmark >/dev/null 2>&1
bin="$(bazel info -c "$mode" bazel-bin 2>/dev/null)/transports/uplink/uplink_benchmark"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
TEST_TMPDIR="${TMPDIR:-/tmp}" "$bin" --benchmark_min_time=0.5 \
  --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true \
  --benchmark_format=json >"$out" 2>/dev/null
python3 - "$out" <<'PY'
import json, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
medians = {b["name"]: b
           for b in json.load(open(sys.argv[1]))["benchmarks"]
           if b.get("aggregate_name") == "median"}
def get(prefix, field="items_per_second"):
    for name, b in medians.items():
        if name.startswith(prefix):
            return b[field]
    raise SystemExit("missing benchmark " + prefix)
raw_full = get("BM_SqliteInsertCommitBaseline/0")
raw_normal = get("BM_SqliteInsertCommitBaseline/1")
# One caller: the spool and the raw commit timed in turns in one loop.
def paired(arg):
    name = "BM_SpoolEnqueueAckPaired/%d" % arg
    return get(name, "spool_per_s"), get(name, "raw_per_s")
rows = [
    ("spool enqueue+ack, 1 caller, sync=FULL", *paired(0)),
    ("spool enqueue+ack, 1 caller, sync=NORMAL", *paired(1)),
    ("spool enqueue, 8 callers (group commit), sync=FULL", get("BM_SpoolEnqueueConcurrent/0"), raw_full),
    ("spool enqueue, 8 callers (group commit), sync=NORMAL", get("BM_SpoolEnqueueConcurrent/1"), raw_normal),
    ("end to end into the HTTPS test verifier, sync=FULL", get("BM_UplinkEndToEnd/0"), raw_full),
    ("end to end into the HTTPS test verifier, sync=NORMAL", get("BM_UplinkEndToEnd/1"), raw_normal),
]
# Goals of issue 20 item 2: one caller at sync=FULL at least 0.9x of the raw
# commit, eight callers at least 2x.
goals = {"spool enqueue+ack, 1 caller, sync=FULL": 0.9,
         "spool enqueue, 8 callers (group commit), sync=FULL": 2.0}
print("baseline: raw SQLite INSERT+COMMIT per message, WAL, same synchronous setting, same run;")
print("each figure the median of 3 interleaved repetitions; the 1-caller rows time the spool")
print("and the raw commit in turns within each iteration, so both see the same disk moments")
print()
print("| operation | cxsec (messages/s) | baseline (messages/s) | ratio |")
print("| --- | ---: | ---: | ---: |")
for name, value, base in rows:
    print(f"| {name} | {value:,.0f} | {base:,.0f} | {value / base:.2f} |")
    emit(name, value, base, "messages/s", baseline_name="raw SQLite INSERT+COMMIT, same synchronous",
         goal=goals.get(name))
PY
