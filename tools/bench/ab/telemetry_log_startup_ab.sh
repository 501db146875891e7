#!/bin/bash
# A/B of the verifier's telemetry log at start-up, between two commits: the
# same N-record telemetry.ndjson (the verifier's own line format, written
# once) is opened by cxsec-verifier built at COMMIT_A and at COMMIT_B.
# Reported per side (median of RUNS starts, alternating A, B, A, B, ...):
#   start_ms   process start until "listening" (the log is loaded before)
#   rss_mb     VmRSS once listening, minus the same binary on an empty log
#   hwm_mb     VmHWM (peak RSS) once listening, minus the empty-log peak
#   B_per_rec  rss_mb * 2^20 / N: resident bytes per remembered record
# A third row runs B with EXTRA_B_CONF (e.g. "dedup_window_messages = 100000")
# when set. Builds with -c opt in throwaway worktrees, as verifier_ab.sh.
# Usage: tools/bench/ab/telemetry_log_startup_ab.sh COMMIT_A COMMIT_B [N=1000000] [RUNS=3]
set -euo pipefail
a="$1"; b="$2"; records="${3:-1000000}"; runs="${4:-3}"
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
      //targets/verifier:cxsec-verifier >/dev/null 2>&1)
  mkdir -p "$work/$side-bin"
  cp "$work/$side/bazel-bin/targets/verifier/cxsec-verifier" "$work/$side-bin/"
  (cd "$work/$side" && bazel shutdown >/dev/null 2>&1) || true
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1
chmod 600 "$work/key.pem"
# One log, in the format VerifierService writes (sorted fields, payload last).
python3 - "$work/log.ndjson" "$records" <<'PY'
import hashlib, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as out:
    for i in range(n):
        payload = '{"n":%d,"t":21.5}' % i
        digest = hashlib.sha256(payload.encode()).hexdigest()
        out.write('{"deviceId":"D%016x","gatewayId":"G0123456789abcdef01",'
                  '"messageId":"%d","payloadSha256":"%s","project":"bench",'
                  '"receivedAt":%d,"timestamp":%d,"payload":%s}\n'
                  % (i % 5000, i, digest, 1764000000000 + i, 1764000000000 + i, payload))
PY
echo "A=$(git -C "$root" rev-parse --short "$a") B=$(git -C "$root" rev-parse --short "$b")" \
     "records=$records log_bytes=$(stat -c %s "$work/log.ndjson") runs=$runs" \
     "load=$(cut -d' ' -f1-3 /proc/loadavg)"
# run_one SIDE LOG(empty|full) EXTRA_CONF -> "start_ms rss_kb hwm_kb"
run_one() {
  local side="$1" log="$2" extra="$3" dir port
  dir="$(mktemp -d "$work/run.XXXXXX")"
  port=$((20000 + RANDOM % 20000))
  mkdir -m 700 "$dir/data"
  if [ "$log" = full ]; then ln "$work/log.ndjson" "$dir/data/telemetry.ndjson"; fi
  printf 'data_dir = %s/data\nlisten = 127.0.0.1:%s\ntls_cert = %s\ntls_key = %s\n%s\n' \
    "$dir" "$port" "$work/cert.pem" "$work/key.pem" "$extra" > "$dir/v.conf"
  chmod 600 "$dir/v.conf"
  local t0 t1 pid
  t0=$(date +%s%N)
  "$work/$side-bin/cxsec-verifier" --config="$dir/v.conf" > "$dir/out" 2> "$dir/err" &
  pid=$!
  for _ in $(seq 1 12000); do grep -q listening "$dir/err" 2>/dev/null && break; sleep 0.01; done
  t1=$(date +%s%N)
  local rss hwm
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -f "$dir/data/telemetry.ndjson"
  rm -rf "$dir"
  echo "$(( (t1 - t0) / 1000000 )) $rss $hwm"
}
sides="a b"
[ -n "${EXTRA_B_CONF:-}" ] && sides="a b c"
for _ in $(seq 1 "$runs"); do
  for side in $sides; do
    bin="$side" extra=""
    [ "$side" = c ] && bin=b && extra="$EXTRA_B_CONF"
    echo "$side empty $(run_one "$bin" empty "$extra")" >> "$work/results"
    echo "$side full $(run_one "$bin" full "$extra")" >> "$work/results"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/results" "$records" "${EXTRA_B_CONF:-}" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
n = int(sys.argv[2])
print("| side | start, empty log (ms) | start, %d records (ms) | RSS for the log (MiB) | peak RSS for the log (MiB) | resident bytes per record |" % n)
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for side, name in (("a", "A"), ("b", "B"), ("c", "B, " + sys.argv[3])):
    def med(kind, col):
        v = [float(r[col]) for r in rows if r[0] == side and r[1] == kind]
        return st.median(v) if v else None
    if med("full", 2) is None:
        continue
    rss = (med("full", 3) - med("empty", 3)) / 1024
    hwm = (med("full", 4) - med("empty", 4)) / 1024
    print(f"| {name} | {med('empty', 2):.0f} | {med('full', 2):.0f} | {rss:.1f} | "
          f"{hwm:.1f} | {rss * 1048576 / n:.0f} |")
PY
