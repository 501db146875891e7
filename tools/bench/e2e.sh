#!/usr/bin/env bash
# End-to-end benchmark: DTLS nodes -> cxsec-gateway (TPM identity, durable
# SQLite spool, sync=FULL) -> HTTPS -> cxsec-verifier's NDJSON log, all on
# this host, run through tools/demo/demo.sh (which also checks zero loss
# and zero duplicates). Same-run baseline: wrk posting the same kind of
# messages straight to the verifier as the same gateway (no gateway, no
# DTLS, no spool), one message per POST.
#   tools/bench/e2e.sh [NODES] [SECONDS]      # default 32 nodes, 15 s
#   BENCH_COPT=fastbuild tools/bench/e2e.sh
# "gateway latency" is what a node observes: CoAP POST -> 2.04, i.e. DTLS,
# verification and the fsync'd spool commit; the baseline column is a
# client's POST -> 200 at the verifier.
set -euo pipefail
cd "$(dirname "$0")/../.."
nodes="${1:-32}" seconds="${2:-15}"
mode="${BENCH_COPT:-opt}"
bazel build --jobs=2 -c "$mode" //tools:cxsec //targets/gateway:cxsec-gateway \
  //targets/node:cxsec-node //targets/verifier:cxsec-verifier //tools/bench:dtls_load >/dev/null 2>&1
bin="$(bazel info -c "$mode" bazel-bin 2>/dev/null)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
tools/demo/demo.sh "$bin" --dtls-nodes "$nodes" --mioty-nodes 0 --posts 0 --no-firmware \
  --dtls-load "$bin/tools/bench/dtls_load" --load-seconds "$seconds" --dtls-rate 100000 \
  --baseline-seconds "$seconds" >"$out" 2>&1 || { cat "$out"; exit 1; }
python3 - "$out" "$nodes" <<'PY'
import re, sys
sys.path.insert(0, "tools/bench")
from bench_rows import emit
text = open(sys.argv[1]).read()
def num(pattern):
    m = re.search(pattern, text, re.M)
    if not m: raise SystemExit("missing " + pattern + "\n" + text)
    return float(m.group(1))
def ms(pattern):
    m = re.search(pattern, text, re.M)
    if not m: raise SystemExit("missing " + pattern)
    v, unit = float(m.group(1)), m.group(2)
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
e2e = num(r"end-to-end: (\d+) messages/s")
lost = int(num(r"^lost: (-?\d+)"))
dups = int(num(r"^duplicates at the cloud: (\d+)"))
p50 = num(r"p50_ms=([\d.]+)"); p99 = num(r"p99_ms=([\d.]+)")
base = num(r"Requests/sec:\s+([\d.]+)")
b50 = ms(r"^\s+50%\s+([\d.]+)(us|ms|s)"); b99 = ms(r"^\s+99%\s+([\d.]+)(us|ms|s)")
print(f"{sys.argv[2]} DTLS nodes (closed loop), spool sync=FULL, TPM (swtpm) JWT; lost={lost} duplicates={dups}")
print("baseline: wrk straight to cxsec-verifier, 1 message per POST, same run")
print()
print("| operation | cxsec | baseline | ratio |")
print("| --- | ---: | ---: | ---: |")
print(f"| messages/s into the verifier's log | {e2e:,.0f} | {base:,.0f} | {e2e / base:.2f} |")
print(f"| latency p50 (ms): node ack vs direct POST | {p50:.2f} | {b50:.2f} | {p50 / b50:.2f} |")
print(f"| latency p99 (ms): node ack vs direct POST | {p99:.2f} | {b99:.2f} | {p99 / b99:.2f} |")
st = dict(kv.split("=") for kv in re.search(r"^stages: (.*)$", text, re.M).group(1).split())
acked = num(r"^load: acked=(\d+)")
hz = int(st["clk_tck"])
def per(us_key, count):
    return int(st[us_key]) / count if count else 0.0
uplink_n = int(st.get("uplink_messages", 0)) or 1
print()
print(f"Where a reading's time goes ({acked:,.0f} readings; wall-clock stages from the gateway, CPU per process over load and drain):")
print()
print("| stage | us per reading |")
print("| --- | ---: |")
print(f"| DTLS thread -> spool commit (fsync shared by the readings committed together), wall | {per('dtls_spool_commit_us', int(st['dtls_spool_commits'])):.0f} |")
print(f"| uplink: read the batch from the spool and encode it, wall | {per('uplink_build_us', uplink_n):.1f} |")
print(f"| uplink: HTTPS round trip incl. the verifier's work, wall | {per('uplink_round_trip_us', uplink_n):.1f} |")
print(f"| uplink: decode the answer, remove from the spool, wall | {per('uplink_acknowledge_us', uplink_n):.1f} |")
print(f"| cxsec-gateway CPU (DTLS, spool, uplink) | {int(st['gateway_cpu_ticks']) / hz / acked * 1e6:.1f} |")
print(f"| cxsec-verifier CPU | {int(st['verifier_cpu_ticks']) / hz / acked * 1e6:.1f} |")
direct = "wrk POST straight to cxsec-verifier"
# Goals of issue 20 item 1: at least half of direct ingest, p50 at most 3x.
emit("messages/s into the verifier's log", e2e, base, "messages/s", baseline_name=direct, goal=0.5)
emit("latency p50: node ack vs direct POST", p50, b50, "ms", baseline_name=direct, goal=3.0, better="lower")
emit("latency p99: node ack vs direct POST", p99, b99, "ms", baseline_name=direct, better="lower")
PY
