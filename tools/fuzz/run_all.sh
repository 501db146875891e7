#!/usr/bin/env bash
# Builds every fuzz target (cxsec_fuzzer) with clang, libFuzzer, ASan and
# UBSan, and runs each for SECONDS seconds (default 20) on a scratch copy of
# its checked-in seed corpus:
#   tools/fuzz/run_all.sh [SECONDS] [EXTRA LIBFUZZER FLAGS...]
# Prints one line per fuzzer (executions, rate) and exits non-zero if any
# fuzzer crashed or a sanitizer reported. Crash inputs are copied to
# $CXSEC_FUZZ_ARTIFACTS (default /tmp/cxsec-fuzz-artifacts).
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-20}"
shift || true
artifacts="${CXSEC_FUZZ_ARTIFACTS:-/tmp/cxsec-fuzz-artifacts}"
mkdir -p "$artifacts"

mapfile -t fuzzers < <(bazel query 'attr(tags, "fuzzer", kind(cc_binary, //...))' 2>/dev/null | sort)
if [ ${#fuzzers[@]} -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi
if ! bazel build --config=fuzz "${fuzzers[@]}" >/tmp/cxsec-fuzz-build.log 2>&1; then
  tail -n 40 /tmp/cxsec-fuzz-build.log
  echo "fuzz build failed" >&2
  exit 1
fi
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)

failed=0
for label in "${fuzzers[@]}"; do
  package="${label#//}"
  package="${package%%:*}"
  name="${label##*:}"
  corpus_src=$(bazel query "labels(data, ${label}_corpus_test)" --output=location 2>/dev/null |
    head -n 1 | sed 's/:[0-9]*:[0-9]*: .*//' | xargs -r dirname)
  scratch=$(mktemp -d)
  [ -n "$corpus_src" ] && cp -r "$corpus_src/." "$scratch/" 2>/dev/null
  log="$scratch.log"
  start=$(date +%s.%N)
  "$bin/$package/$name" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts/$name-" "$@" "$scratch" >"$log" 2>&1
  code=$?
  end=$(date +%s.%N)
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
  runs="${runs:-0}"
  elapsed=$(echo "$end - $start" | bc)
  rate=$(echo "$runs / $elapsed" | bc)
  if [ $code -ne 0 ]; then
    failed=$((failed + 1))
    echo "CRASH $label after $runs runs (${elapsed}s); log:"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 10 | sed 's/^/    /'
  else
    printf 'ok    %-50s %10s runs in %6.1fs (%s/s)\n' "$label" "$runs" "$elapsed" "$rate"
  fi
  rm -rf "$scratch" "$log"
done
[ $failed -eq 0 ]
