#!/usr/bin/env bash
# The whole cxsec test suite, from a fresh Debian 12 machine:
#   tools/ci/test.sh
# Installs the Debian packages it needs, then runs, in this order:
#   1. bazel test //...                       (default configuration)
#   2. repository checks that are not Bazel tests
#   3. bazel test --config=sanitize //...     (ASan + LSan + UBSan, one build)
#   4. the fuzzers: corpus replay plus a bounded, seeded number of new runs
# It prints the time each stage took and ends with the line
# "N passed, N failed"; exits non-zero if anything failed.
#
# Every Bazel build uses the disk cache /var/cache/cxsec/bazel (--config=
# cached; CXSEC_BAZEL_DISK_CACHE names another directory, e.g. an empty one
# to time a cold run). A test whose inputs are all unchanged since it last
# passed is reported from the cache; CXSEC_RERUN_TESTS=1 runs every test
# again. CXSEC_QUICK=1 stops after stage 2 (local iteration; CI always runs
# everything). CXSEC_BAZEL_TEST_FLAGS adds flags to both bazel test runs,
# e.g. --test_tag_filters=-slow.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
run_started=$(date +%s)

stage_names=()
stage_seconds=()
stage_started=0
stage_begin() { stage_started=$(date +%s); echo "== $1 =="; }
stage_end() {  # stage_end NAME
  stage_names+=("$1")
  stage_seconds+=($(($(date +%s) - stage_started)))
}
print_stage_times() {
  echo "== stage times =="
  local i
  for i in "${!stage_names[@]}"; do
    printf '  %-26s %4dm %02ds\n' "${stage_names[$i]}" \
      $((stage_seconds[i] / 60)) $((stage_seconds[i] % 60))
  done
  local total=$(($(date +%s) - run_started))
  printf '  %-26s %4dm %02ds\n' "total" $((total / 60)) $((total % 60))
}

stage_begin "install (tools/setup/install-deps.sh)"
tools/setup/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
stage_end install

cache_flags=(--config=cached)
if [ -n "${CXSEC_BAZEL_DISK_CACHE:-}" ]; then
  cache_flags+=("--disk_cache=$CXSEC_BAZEL_DISK_CACHE")
fi
test_flags=()
if [ "${CXSEC_RERUN_TESTS:-0}" = 1 ]; then test_flags+=(--nocache_test_results); fi
# shellcheck disable=SC2206  # a list of flags, split on purpose
test_flags+=(${CXSEC_BAZEL_TEST_FLAGS:-})

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
check() {  # check NAME COMMAND...: one extra test outside Bazel
  local name="$1"
  shift
  if "$@" >"$work/$name.log" 2>&1; then
    passed=$((passed + 1))
    echo "PASS: $name"
  else
    failed=$((failed + 1))
    echo "FAIL: $name"
    if [ "${check_full_log:-0}" = 1 ]; then
      sed 's/^/    /' "$work/$name.log"
    else
      sed 's/^/    /' "$work/$name.log" | tail -40
    fi
  fi
}

bazel query 'tests(//...) except attr(tags, "manual", //...)' \
  --output=label 2>/dev/null | sort >"$work/expected_tests"

run_suite() {  # run_suite NAME [BAZEL FLAGS...]: bazel test //..., counted
  local name="$1"
  shift
  echo "bazel test ${*:-(default configuration)} //..."
  # Bazel's progress lines, one a minute, pass straight through so a long
  # stage shows it is alive; the per-test summary stays short (terse).
  bazel test "${cache_flags[@]}" "$@" "${test_flags[@]}" //... \
    --build_event_json_file="$work/bep-$name.json" \
    --curses=no --show_progress_rate_limit=60 --test_verbose_timeout_warnings 2>&1 |
    grep --line-buffered -vE '^(INFO: (From|Analyzed|Found|Build option)|Loading|Analyzing|DEBUG)' 
  local suite_passed suite_failed
  read -r suite_passed suite_failed < <(
    python3 tools/ci/count_results.py "$work/bep-$name.json" "$work/expected_tests" |
      tee "$work/counts-$name" | tail -n 1)
  grep -v '^[0-9]' "$work/counts-$name" | sed "s/^/  [$name]/" || true
  echo "  $name: $suite_passed passed, $suite_failed failed"
  passed=$((passed + suite_passed))
  failed=$((failed + suite_failed))
}

stage_begin "bazel test //... (default)"
run_suite default
stage_end "default suite"

# The repository checks build //... in the default configuration, so they run
# right after the default suite and reuse its outputs.
stage_begin "repository checks"
# Every cc_binary/cc_test must come from the cxsec macros, which attach the
# OpenSSL 3 linkage test; only the deliberate canaries are exempt.
linkage_coverage() {
  local unchecked
  unchecked=$(bazel query 'kind("cc_binary|cc_test", //...)
      except attr(tags, "cxsec_linkage_checked", //...)
      except attr(tags, "linkage_canary", //...)' 2>/dev/null)
  if [ -n "$unchecked" ]; then
    echo "binaries without the OpenSSL 3 linkage test (use cxsec_cc_binary/cxsec_cc_test):"
    echo "$unchecked"
    return 1
  fi
}
check linkage_test_covers_every_binary linkage_coverage

# `bazel build //...` must not need the network: the repository rules only
# read Debian's files. Checked by a build that forbids fetching.
check offline_build bazel build "${cache_flags[@]}" --nofetch //...

# A project that embeds cxsec through cxsec_dependencies() builds.
check embedding_workspace tools/ci/check_embedding.sh "$root" "${cache_flags[@]}"
stage_end "repository checks"

if [ "${CXSEC_QUICK:-0}" != 1 ]; then
  stage_begin "bazel test --config=sanitize //... (ASan+LSan+UBSan)"
  # --build_tests_only: the sanitizers are for what tests run; benchmarks and
  # tools no test uses are built once, in the default configuration.
  run_suite sanitize --config=sanitize --build_tests_only
  # The sanitizer build has an output directory of its own: the default
  # build must still be there, whole. Only Bazel-internal steps may run.
  default_build_kept() {
    bazel build "${cache_flags[@]}" //... 2>&1 | tee "$work/rebuild.log" | tail -n 3
    grep -qE '^INFO: [0-9]+ process(es)?(: [0-9]+ internal)?\.$' "$work/rebuild.log"
  }
  check default_build_kept_after_sanitize default_build_kept
  # Show the action count: only Bazel-internal steps ran.
  grep -E '^INFO: [0-9]+ process' "$work/rebuild.log" | sed 's/^/    default build after sanitize: /' || true
  stage_end "sanitize suite"

  stage_begin "fuzzers: corpus + ${CXSEC_FUZZ_RUNS:-100000} seeded runs each"
  export CXSEC_FUZZ_BAZEL_FLAGS="${cache_flags[*]}"
  # A finding must be reproducible from this output: print all of it.
  check_full_log=1 check fuzzers_run_clean tools/fuzz/run_all.sh "${CXSEC_FUZZ_RUNS:-100000}"
  grep -q '^ok ' "$work/fuzzers_run_clean.log" && grep '^ok ' "$work/fuzzers_run_clean.log" | sed 's/^/    /'
  stage_end fuzzers
fi

print_stage_times
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
