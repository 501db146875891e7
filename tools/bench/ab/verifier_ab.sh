#!/bin/bash
# A/B benchmark of cxsec-verifier between two commits, for "did this change
# slow the verifier down": builds both with -c opt in throwaway worktrees,
# then alternates runs (A, B, A, B, ...) so that background load falls on
# both alike, and prints the median of each and the median of the per-pair
# B/A ratios. Absolute req/s are only comparable within one run.
# Usage: tools/bench/ab/verifier_ab.sh COMMIT_A COMMIT_B [PAIRS=7] [SECS=10]
set -euo pipefail
a="$1"; b="$2"; pairs="${3:-7}"; secs="${4:-10}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
work="$(mktemp -d)"
cleanup() {
  for side in a b; do
    if [ -d "$work/$side" ]; then
      (cd "$work/$side" && bazel shutdown >/dev/null 2>&1) || true
      git -C "$root" worktree remove --force "$work/$side" >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
for side in a b; do
  commit="$a"; [ "$side" = b ] && commit="$b"
  git -C "$root" worktree add --detach "$work/$side" "$commit" >/dev/null 2>&1
  (cd "$work/$side" && bazel build --config=cached -c opt \
      //targets/verifier:cxsec-verifier //targets/verifier:bench_token >/dev/null 2>&1)
  mkdir -p "$work/$side-bin"
  cp "$work/$side/bazel-bin/targets/verifier/cxsec-verifier" \
     "$work/$side/bazel-bin/targets/verifier/bench_token" "$work/$side-bin/"
done
echo "A=$(git -C "$root" rev-parse --short "$a") B=$(git -C "$root" rev-parse --short "$b")" \
     "pairs=$pairs secs=$secs load=$(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq 1 "$pairs"); do
  for side in a b; do
    "$root/tools/bench/ab/verifier_run_one.sh" "$work/$side-bin" "$secs" |
      sed -n "s/^RESULT bin=[^ ]* /$side /p" >> "$work/results"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/results" <<'PY'
import re, statistics as st, sys
runs = {"a": [], "b": []}
for line in open(sys.argv[1]):
    side, rest = line.split(" ", 1)
    runs[side].append(dict(re.findall(r"(\w+)=([\d.]+)", rest)))
n = min(len(runs["a"]), len(runs["b"]))
print("| figure | A median | B median | B/A, median of pairs [min-max] |")
print("| --- | --- | --- | --- |")
for key in ("telemetry", "healthz", "tele_cpu_us_per_req"):
    a = [float(r[key]) for r in runs["a"][:n]]
    b = [float(r[key]) for r in runs["b"][:n]]
    pr = [y / x for x, y in zip(a, b)]
    print(f"| {key} | {st.median(a):.1f} | {st.median(b):.1f} | "
          f"{st.median(pr):.3f} [{min(pr):.2f}-{max(pr):.2f}] |")
bad = sum(int(r.get("non2xx", 0)) for s in runs.values() for r in s)
print(f"non-2xx answers: {bad} (must be 0)")
PY
