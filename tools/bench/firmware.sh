#!/usr/bin/env bash
# Benchmarks the firmware verifier (1 MiB image, P-256 and Ed25519, 8 KiB
# read buffer) and prints a markdown table next to BoringSSL's own figures
# measured in the same run with `bssl-tool speed`.
#   tools/bench/firmware.sh            (from the repo root)
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel build -c opt --jobs=2 //core/firmware:firmware_benchmark >/dev/null 2>&1
BIN=bazel-bin/core/firmware/firmware_benchmark
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$BIN" --benchmark_format=json --benchmark_min_time=1 > "$OUT/cxsec.json"
bssl-tool speed -filter SHA-256 -timeout 1 > "$OUT/sha.txt" 2>&1
bssl-tool speed -filter ECDSA -timeout 1 > "$OUT/ecdsa.txt" 2>&1
bssl-tool speed -filter Ed25519 -timeout 1 > "$OUT/ed.txt" 2>&1
python3 - "$OUT" <<'PY'
import json, re, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
out = sys.argv[1]
b = {x["name"]: x for x in json.load(open(f"{out}/cxsec.json"))["benchmarks"]}
def us(name): return b[name]["real_time"]  # microseconds
def ops(text, what):
    m = re.search(r"Did \d+ " + re.escape(what) + r" operations in \d+us \(([\d.]+) ops/sec\)", text)
    return float(m.group(1))
sha = open(f"{out}/sha.txt").read()
m = re.search(r"SHA-256 \(8192 bytes\).*?: ([\d.]+) MB/s", sha)
bssl_sha = float(m.group(1))
ecdsa_verify = ops(open(f"{out}/ecdsa.txt").read(), "ECDSA P-256 verify")
ed_verify = ops(open(f"{out}/ed.txt").read(), "Ed25519 verify")
img = 1 << 20
hash_us = us("BM_Sha256Image8KiBBlocks")
hash_mbs = b["BM_Sha256Image8KiBBlocks"]["bytes_per_second"] / 1e6
rows = []
rows.append(("SHA-256, 8 KiB blocks (MB/s, higher is better)", f"{hash_mbs:.0f}", f"{bssl_sha:.0f} (bssl-tool speed)", f"{hash_mbs / bssl_sha:.2f}x"))
emit("SHA-256, 8 KiB blocks", hash_mbs, bssl_sha, "MB/s", baseline_name="bssl-tool speed")
for label, arg, sig_ops, name in (("ECDSA P-256", 1, ecdsa_verify, "ecdsa"), ("Ed25519", 2, ed_verify, "ed25519")):
    total = us(f"BM_VerifyImage/{arg}")
    sig_us = us(f"BM_SignatureVerify/{arg}")
    bssl_sig_us = 1e6 / sig_ops
    rows.append((f"{label} signature verify (us)", f"{sig_us:.1f}", f"{bssl_sig_us:.1f} (bssl-tool speed)", f"{sig_us / bssl_sig_us:.2f}x"))
    emit(f"{label} signature verify", sig_us, bssl_sig_us, "us", baseline_name="bssl-tool speed", better="lower")
    budget = hash_us + sig_us
    rows.append((f"verify 1 MiB image, {label} (us)", f"{total:.0f}", f"{budget:.0f} (hash + one verify, same binary)", f"{total / budget:.2f}x"))
    # Goal of issue 20 item 5: at most 1.1x of one hash pass plus one check.
    emit(f"verify 1 MiB image, {label}", total, budget, "us", baseline_name="hash + one verify, same binary",
         goal=1.1, better="lower")
    base = b["BM_PeakStack/0/0/iterations:1"]["peak_stack_bytes"]
    peak = b[f"BM_PeakStack/{arg}/0/iterations:1"]["peak_stack_bytes"] - base
    bare = b[f"BM_PeakStack/{arg}/1/iterations:1"]["peak_stack_bytes"] - base
    rows.append((f"peak stack, {label} (bytes, beyond thread start-up; read buffer is separate)", f"{peak:.0f}", "4096 (goal)", f"{peak / 4096:.2f}x"))
    rows.append((f"peak stack, {label} signature check alone (bytes, the BoringSSL floor)", f"{bare:.0f}", "4096 (goal)", f"{bare / 4096:.2f}x"))
    emit(f"peak stack, {label}", peak, 4096, "bytes", baseline_name="4 KiB goal", goal=1.0, better="lower")
    emit(f"peak stack, {label} signature check alone", bare, 4096, "bytes", baseline_name="4 KiB goal", goal=1.0, better="lower")
print("| operation | cxsec | baseline | ratio |")
print("| --- | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")
PY
