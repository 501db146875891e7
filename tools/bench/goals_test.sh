#!/usr/bin/env bash
# bench_rows.py goals: the Goals section that ends docs/PERFORMANCE.md lists
# every row with a goal, marks a missed one **MISSED** (a fall below a
# "higher" goal, a rise above a "lower" one), and leaves out rows without a
# goal. Fixture rows only; no benchmark runs.
set -euo pipefail
bench_rows="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export BENCH_ROWS="$work/rows.jsonl" BENCH_SECTION=fixture
python3 - "$bench_rows" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("bench_rows", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
m.emit("fast enough", 95, 100, "ops/s", goal=0.9)
m.emit("too slow", 80, 100, "ops/s", goal=0.9)
m.emit("too big", 110, 100, "bytes", goal=1.0, better="lower")
m.emit("no goal", 50, 100, "ops/s")
PY
out="$(python3 "$bench_rows" goals "$BENCH_ROWS")"
echo "$out"
fail() { echo "FAIL: $1"; exit 1; }
grep -q 'goal: 3, of which 2 missed' <<<"$out" || fail "count of goal rows and misses"
grep -q '^| fixture | fast enough | 0.95 | >= 0.9 | met |$' <<<"$out" || fail "met row"
grep -q '^| fixture | too slow | 0.80 | >= 0.9 | \*\*MISSED\*\* |$' <<<"$out" || fail "missed higher-is-better row"
grep -q '^| fixture | too big | 1.10 | <= 1 | \*\*MISSED\*\* |$' <<<"$out" || fail "missed lower-is-better row"
if grep -q 'no goal' <<<"$out"; then fail "a row without a goal was listed"; fi
echo PASS
