#!/usr/bin/env bash
# Regression guard over two runs of tools/bench/report.sh: compares the
# ratios (each figure over its same-run baseline) of two PERFORMANCE.json
# files and prints those that got worse by more than 10%: a ratio that
# fell, or, for a row whose "better" is "lower" (latency, CPU, stack, flash),
# one that rose. Rows present on one side only are named too.
#   tools/bench/compare.sh OLD.json NEW.json
#   git show HEAD~5:docs/PERFORMANCE.json > /tmp/old.json &&
#     tools/bench/compare.sh /tmp/old.json docs/PERFORMANCE.json
# Exit status: 0 when no ratio got worse by more than 10%, 1 when one did,
# 2 on a usage error or an unreadable file. Missing rows alone do not fail
# (report.sh already fails when a section does).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 OLD.json NEW.json" >&2
  exit 2
fi
exec python3 - "$1" "$2" <<'PY'
import json, sys

THRESHOLD = 0.10

def load(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"compare.sh: cannot read {path}: {e}", file=sys.stderr)
        sys.exit(2)
    rows = doc["rows"] if isinstance(doc, dict) else doc
    return doc if isinstance(doc, dict) else {}, {(r["section"], r["name"]): r for r in rows}

old_path, new_path = sys.argv[1], sys.argv[2]
old_doc, old = load(old_path)
new_doc, new = load(new_path)
print(f"OLD: {old_path} ({old_doc.get('generated', 'date unknown')}, {len(old)} rows)")
print(f"NEW: {new_path} ({new_doc.get('generated', 'date unknown')}, {len(new)} rows)")
print()

worse, no_ratio = [], []
for key in sorted(old.keys() & new.keys()):
    o, n = old[key], new[key]
    a, b = o.get("ratio"), n.get("ratio")
    if a is None or b is None or a <= 0:
        no_ratio.append(key)
        continue
    better = n.get("better", o.get("better", "higher"))
    change = b / a - 1
    if (change < -THRESHOLD) if better == "higher" else (change > THRESHOLD):
        worse.append((key, a, b, change, better))

print(f"== Ratios worse by more than {THRESHOLD:.0%} (OLD -> NEW): {len(worse)}")
if worse:
    print("| section | row | OLD ratio | NEW ratio | change | better |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for (section, name), a, b, change, better in worse:
        print(f"| {section} | {name} | {a:.2f} | {b:.2f} | {change:+.0%} | {better} |")
else:
    print("none")

only_old = sorted(old.keys() - new.keys())
only_new = sorted(new.keys() - old.keys())
print()
print(f"== Rows in OLD missing from NEW (not measured, or renamed): {len(only_old)}")
for section, name in only_old:
    print(f"- {section}: {name}")
print()
print(f"== Rows in NEW missing from OLD (new rows): {len(only_new)}")
for section, name in only_new:
    print(f"- {section}: {name}")
if no_ratio:
    print()
    print(f"== Rows without a ratio on one side (baseline missing): {len(no_ratio)}")
    for section, name in no_ratio:
        print(f"- {section}: {name}")
sys.exit(1 if worse else 0)
PY
