#!/usr/bin/env bash
# Builds every fuzz target (cxsec_fuzzer) with clang, libFuzzer, ASan and
# UBSan, replays its checked-in corpus, then runs a bounded number of new
# inputs from a fixed seed:
#   tools/fuzz/run_all.sh [RUNS] [EXTRA LIBFUZZER FLAGS...]
# RUNS (default 100000) new inputs per fuzzer after the corpus; -seed=1 so
# the same tree explores the same inputs on every machine, and a finding in
# CI is a finding on a developer's machine too. Each fuzzer is also stopped
# after CXSEC_FUZZ_MAX_SECONDS (default 120) as a guard against a hang.
#
# The fuzz build switches the C++ toolchain to clang, which would invalidate
# every output of the default build in a shared output base, so it builds in
# an output base of its own: CXSEC_FUZZ_OUTPUT_BASE, default
# "$(bazel info output_base)-fuzz", the same one that CI's fuzz stage
# (tools/ci/test.sh) and the commands in docs/FUZZING.md use; it refuses the
# default output base itself. Bazel flags for it come from
# CXSEC_FUZZ_BAZEL_FLAGS; CI passes its disk cache flags, and by hand the
# default is --config=cached when the shared disk cache is writable, as for
# the README's commands.
#
# On a crash it prints the input (base64, when small), where a copy is kept
# ($CXSEC_FUZZ_ARTIFACTS, default /tmp/cxsec-fuzz-artifacts) and the commands
# that replay it. Exits non-zero if any fuzzer crashed or a sanitizer
# reported.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
runs="${1:-100000}"
shift || true
max_seconds="${CXSEC_FUZZ_MAX_SECONDS:-120}"
artifacts="${CXSEC_FUZZ_ARTIFACTS:-/tmp/cxsec-fuzz-artifacts}"
mkdir -p "$artifacts"

default_output_base=$(bazel info output_base 2>/dev/null)
if [ -z "$default_output_base" ]; then
  # Without it the fuzz output base would be a relative "-fuzz".
  echo "run_all: 'bazel info output_base' failed; is Bazel working here?" >&2
  exit 1
fi
output_base="${CXSEC_FUZZ_OUTPUT_BASE:-${default_output_base}-fuzz}"
if [ "$(realpath -m "$output_base")" = "$(realpath -m "$default_output_base")" ]; then
  echo "run_all: CXSEC_FUZZ_OUTPUT_BASE is the default output base; the clang" \
    "build would evict the default build there" >&2
  exit 1
fi
if [ -z "${CXSEC_FUZZ_BAZEL_FLAGS+set}" ] && [ -w /var/cache/cxsec/bazel ]; then
  CXSEC_FUZZ_BAZEL_FLAGS=--config=cached
fi
echo "fuzz build: output base $output_base, flags: ${CXSEC_FUZZ_BAZEL_FLAGS:-none}"
fuzz_bazel() { bazel --output_base="$output_base" "$@"; }

mapfile -t fuzzers < <(bazel query 'attr(tags, "fuzzer", kind(cc_binary, //...))' 2>/dev/null | sort)
if [ ${#fuzzers[@]} -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi
build_log="$artifacts/fuzz-build.log"
# shellcheck disable=SC2086  # CXSEC_FUZZ_BAZEL_FLAGS is a list of flags
if ! fuzz_bazel build --config=fuzz ${CXSEC_FUZZ_BAZEL_FLAGS:-} "${fuzzers[@]}" >"$build_log" 2>&1; then
  tail -n 40 "$build_log"
  echo "fuzz build failed" >&2
  exit 1
fi
# shellcheck disable=SC2086
bin=$(fuzz_bazel info --config=fuzz ${CXSEC_FUZZ_BAZEL_FLAGS:-} bazel-bin 2>/dev/null)

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
  "$bin/$package/$name" -seed=1 -runs="$runs" -max_total_time="$max_seconds" \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$@" "$scratch" >"$log" 2>&1
  code=$?
  end=$(date +%s.%N)
  executed=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
  executed="${executed:-0}"
  elapsed=$(echo "$end - $start" | bc)
  rate=$(echo "$executed / $elapsed" | bc)
  if [ $code -ne 0 ]; then
    failed=$((failed + 1))
    echo "CRASH $label after $executed runs (${elapsed}s):"
    grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -n 10 | sed 's/^/    /'
    input=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -n 1 | sed 's/^Test unit written to //')
    if [ -n "$input" ] && [ -f "$input" ]; then
      echo "  input: $input ($(wc -c <"$input") bytes)"
      if [ "$(wc -c <"$input")" -le 4096 ]; then
        echo "  input, base64 (to recreate it on another machine):"
        base64 -w 76 "$input" | sed 's/^/    /'
      fi
      echo "  replay without clang: copy the input into the fuzzer's corpus, then"
      echo "    bazel test ${label}_corpus_test"
      echo "  replay with the fuzz build:"
      echo "    bazel --output_base=$output_base build --config=fuzz $label"
      echo "    $bin/$package/$name $input"
    else
      echo "  no input was written (a timeout or a crash in start-up); full log:"
      tail -n 30 "$log" | sed 's/^/    /'
    fi
  else
    printf 'ok    %-50s %8s runs in %6.1fs (%s/s)\n' "$label" "$executed" "$elapsed" "$rate"
  fi
  rm -rf "$scratch" "$log"
done
[ $failed -eq 0 ]
