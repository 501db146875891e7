#!/bin/bash
# Mioty frame throughput on one core, next to baselines measured in the
# same run:
#  - bare BoringSSL AES-128-CTR + AES-CMAC over the same bytes
#    (BM_BareCtrCmac in core/mioty/mioty_benchmark.cc), and
#  - `bssl-tool speed -filter AES-128-GCM` for the raw AES rate here.
# Prints a markdown table: operation | cxsec | baseline | ratio.
# Goals (issue 5, raised by issue 20): >= 1,000,000 decode+verify frames/s
# for 10-byte payloads, and >= 0.9x the bare CTR + CMAC rate.
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel build -c opt --jobs=2 //core/mioty:mioty_benchmark >&2
BIN=bazel-bin/core/mioty/mioty_benchmark
JSON=$(mktemp)
trap 'rm -f "$JSON"' EXIT
taskset -c 0 "$BIN" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_format=json >"$JSON" 2>/dev/null
python3 - "$JSON" <<'PY'
import json, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
runs = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]
        if b.get("aggregate_name") == "median"}
def rate(name):
    return runs[name + "_median"]["items_per_second"]
print("| operation | cxsec (frames/s) | baseline: bare BoringSSL CTR+CMAC (frames/s) | ratio |")
print("| --- | ---: | ---: | ---: |")
for n in (10, 40):
    base = rate(f"BM_BareCtrCmac/{n}")
    for op, name in (("decode+verify", "BM_MiotyDecodeVerify"), ("encode", "BM_MiotyEncode")):
        r = rate(f"{name}/{n}")
        print(f"| {op}, {n}-byte payload | {r:,.0f} | {base:,.0f} | {r / base:.2f} |")
        # Goal of issue 20 item 6: decode+verify at least 0.9x of the bare crypto.
        emit(f"{op}, {n}-byte payload", r, base, "frames/s", baseline_name="bare BoringSSL CTR+CMAC",
             goal=0.9 if op == "decode+verify" else None)
PY
echo
echo "Raw AES on this machine, same run (bssl-tool speed -filter AES-128-GCM):"
echo
taskset -c 0 bssl-tool speed -filter AES-128-GCM 2>&1 | grep -E "\((16|256) bytes\)" | sed 's/^/    /' || true
