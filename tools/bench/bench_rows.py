"""Machine-readable rows of docs/PERFORMANCE.json, next to the Markdown.

Each section script (tools/bench/*.sh) prints its Markdown table as before
and, for every ratio in it, calls emit() once. emit() appends one JSON
object per line to the file named by $BENCH_ROWS (set by report.sh, with
$BENCH_SECTION naming the section); without $BENCH_ROWS it does nothing,
so a section run by hand prints only its table. report.sh then runs
`python3 tools/bench/bench_rows.py assemble ROWS OUT.json ...` to write the
JSON document that tools/bench/compare.sh reads, and
`python3 tools/bench/bench_rows.py goals ROWS` for the Markdown table of
every row that has a goal, met or missed, which ends the report.

    import sys; sys.path.insert(0, "tools/bench")
    from bench_rows import emit
    emit("Sha256(), 8 KiB", 1678, 1741, "MB/s", baseline_name="bssl-tool speed")

A row's name must not contain measured numbers: compare.sh matches rows of
two runs by (section, name).
"""
import json
import os
import sys


def emit(name, value, baseline, unit, *, baseline_name="", goal=None,
         better="higher", ratio=None):
    """Appends one row to $BENCH_ROWS. ratio defaults to value / baseline;
    goal is the bound on the ratio (ratio >= goal when better == "higher",
    ratio <= goal when better == "lower") or None when there is none."""
    path = os.environ.get("BENCH_ROWS")
    if not path:
        return
    if better not in ("higher", "lower"):
        raise ValueError("better must be 'higher' or 'lower'")
    def number(x):
        return None if x is None else round(float(x), 4)
    if ratio is None and value is not None and baseline:
        ratio = float(value) / float(baseline)
    met = None
    if goal is not None and ratio is not None:
        met = ratio >= goal if better == "higher" else ratio <= goal
    row = {
        "section": os.environ.get("BENCH_SECTION", ""),
        "name": name,
        "value": number(value),
        "unit": unit,
        "baseline": number(baseline),
        "baseline_name": baseline_name,
        "ratio": number(ratio),
        "goal": goal,
        "better": better,
        "met": met,
    }
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def assemble(rows_path, out_path, generated, machine, load):
    """Writes the JSON document: run metadata and the rows, one per line."""
    rows = []
    if os.path.exists(rows_path):
        with open(rows_path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    with open(out_path, "w") as f:
        f.write("{\n")
        f.write(f'  "generated": {json.dumps(generated)},\n')
        f.write(f'  "machine": {json.dumps(machine)},\n')
        f.write(f'  "load_at_start": {json.dumps(load)},\n')
        f.write('  "rows": [\n')
        f.write(",\n".join("    " + json.dumps(r) for r in rows))
        f.write("\n  ]\n}\n")


def goals(rows_path):
    """Prints one Markdown table of the rows with a goal, in section order."""
    rows = []
    if os.path.exists(rows_path):
        with open(rows_path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if r.get("goal") is not None]
    missed = sum(1 for r in rows if r.get("met") is False)
    print(f"Every row of this run that has a goal: {len(rows)}, of which "
          f"{missed} missed. The ratio is the row's figure over its same-run "
          "baseline, as in the section above.")
    print()
    print("| section | row | ratio | goal | met |")
    print("| --- | --- | ---: | ---: | --- |")
    for r in rows:
        bound = (">= " if r["better"] == "higher" else "<= ") + f"{r['goal']:g}"
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
        if r.get("met") is None:
            met = "not measured"
        else:
            met = "met" if r["met"] else "**MISSED**"
        print(f"| {r['section']} | {r['name']} | {ratio} | {bound} | {met} |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "goals":
        goals(sys.argv[2])
    elif len(sys.argv) == 7 and sys.argv[1] == "assemble":
        assemble(*sys.argv[2:])
    else:
        sys.exit("usage: bench_rows.py assemble ROWS OUT.json DATE MACHINE LOAD\n"
                 "       bench_rows.py goals ROWS")
