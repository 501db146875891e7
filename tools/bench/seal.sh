#!/bin/bash
# Sealed readings (core/seal, docs/SEALED_READINGS.md): host cost per
# reading next to the bare BoringSSL calls of the same shape, measured in
# the same run (core/seal/seal_benchmark.cc):
#  - DTLS/CoAP: EVP_AEAD AES-128-CCM (M=8, L=2) tag over the same bytes,
#    plus AES-128-CTR of the body in encrypted mode;
#  - Mioty: CMAC_CTX (Reset per reading) over the same bytes, plus CTR.
# Prints a markdown table: shape | bytes added | seal ns | open ns | bare ns
# | seal/bare. Extra bazel flags: CXSEC_BAZEL_FLAGS (e.g. --config=cached).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck disable=SC2086  # a list of flags, split on purpose
bazel build -c opt --jobs=2 ${CXSEC_BAZEL_FLAGS:-} //core/seal:seal_benchmark >&2
BIN=bazel-bin/core/seal/seal_benchmark
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
def get(name):
    return runs[name + "_median"]
def ns(name):
    return 1e9 / get(name)["items_per_second"]
print("| transport, mode, reading size | bytes added | seal (ns) | open (ns) | bare BoringSSL (ns) | seal / bare | open / bare |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for t, tname in ((0, "DTLS/CoAP"), (1, "Mioty")):
    for m, mname in ((0, "MAC-only"), (1, "encrypted")):
        for n in (12, 40, 200):
            key = f"{t}/{m}/{n}"
            seal, open_, bare = ns(f"BM_Seal/{key}"), ns(f"BM_Open/{key}"), ns(f"BM_BareBoringSsl/{key}")
            added = get(f"BM_Seal/{key}")["bytes_added"]
            print(f"| {tname}, {mname}, {n} B | {added:.0f} | {seal:,.0f} | {open_:,.0f} | {bare:,.0f} | {seal / bare:.2f} | {open_ / bare:.2f} |")
            emit(f"seal, {tname}, {mname}, {n} B", seal, bare, "ns", baseline_name="bare BoringSSL", better="lower")
            emit(f"open, {tname}, {mname}, {n} B", open_, bare, "ns", baseline_name="bare BoringSSL", better="lower")
PY
