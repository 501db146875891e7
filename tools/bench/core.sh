#!/usr/bin/env bash
# Core primitives next to BoringSSL doing the same work in the same run:
# strict base64url vs EVP_DecodeBase64, Sha256() vs `bssl-tool speed`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel build -c opt //core:core_benchmark >/dev/null 2>&1
bin=$(bazel info -c opt bazel-bin 2>/dev/null)
json=$(mktemp)
"$bin/core/core_benchmark" --benchmark_format=json --benchmark_min_time=0.5 >"$json" 2>/dev/null
sha_line=$(bssl-tool speed -filter 'SHA-256' 2>/dev/null | grep -E '8192 bytes' | head -n 1)
# "Did N SHA-256 (8192 bytes) operations in T us (R ops/sec): X MB/s"
sha_mbs=$(echo "$sha_line" | grep -oE '[0-9.]+ MB/s' | grep -oE '[0-9.]+')
python3 - "$json" "${sha_mbs:-0}" <<'PY'
import json, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
data = json.load(open(sys.argv[1]))
sha = float(sys.argv[2])
rows = {b["name"]: b for b in data["benchmarks"]}
print("| operation | cxsec | baseline (same run) | ratio |")
print("| --- | --- | --- | --- |")
def mbs(name):
    b = rows.get(name)
    return b["bytes_per_second"] / 1e6 if b else 0.0
for size in (64, 8192):
    v, base = mbs(f"BM_Base64UrlDecode/{size}"), mbs(f"BM_BoringSslBase64Decode/{size}")
    ratio = v / base if base else 0
    print(f"| strict base64url decode, {size} B | {v:,.0f} MB/s | BoringSSL EVP_DecodeBase64 (same binary): {base:,.0f} MB/s | {ratio:.2f}x |")
    emit(f"strict base64url decode, {size} B", v, base, "MB/s", baseline_name="BoringSSL EVP_DecodeBase64 (same binary)")
v = mbs("BM_Sha256/8192")
ratio = v / sha if sha else 0
print(f"| Sha256(), 8 KiB | {v:,.0f} MB/s | bssl-tool speed SHA-256 8 KiB: {sha:,.0f} MB/s | {ratio:.2f}x |")
emit("Sha256(), 8 KiB", v, sha, "MB/s", baseline_name="bssl-tool speed SHA-256 8 KiB")
PY
rm -f "$json"
