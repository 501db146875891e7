#!/usr/bin/env bash
# The whole cxsec test suite, from a fresh Debian 12 machine:
#   tools/ci/test.sh
# Installs the Debian packages it needs, runs `bazel test //...`, then the
# repository-wide checks that are not Bazel tests, and ends with the line
# "N passed, N failed". Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

tools/setup/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

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
    sed 's/^/    /' "$work/$name.log" | tail -40
  fi
}

bazel query 'tests(//...) except attr(tags, "manual", //...)' \
  --output=label 2>/dev/null | sort >"$work/expected_tests"

run_suite() {  # run_suite NAME [BAZEL FLAGS...]: bazel test //..., counted
  local name="$1"
  shift
  echo "== bazel test $* //... ($name) =="
  bazel test "$@" //... --build_event_json_file="$work/bep-$name.json" \
    ${CXSEC_BAZEL_TEST_FLAGS:-} 2>&1 | grep -vE '^(INFO|Loading|Analyzing|\[[0-9,]+ / )' | tail -n 40
  local suite_passed suite_failed
  read -r suite_passed suite_failed < <(
    python3 tools/ci/count_results.py "$work/bep-$name.json" "$work/expected_tests" |
      tee "$work/counts-$name" | tail -n 1)
  grep -v '^[0-9]' "$work/counts-$name" | sed "s/^/  [$name]/" || true
  echo "  $name: $suite_passed passed, $suite_failed failed"
  passed=$((passed + suite_passed))
  failed=$((failed + suite_failed))
}

run_suite default

# The repository checks build //... in the default configuration, so they run
# right after the default suite and reuse its outputs. Run after the
# sanitizer/fuzz builds (other flags, another C++ toolchain for fuzzing) they
# would rebuild everything once more.
echo "== repository checks =="
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
check offline_build bazel build --nofetch //...

# A project that embeds cxsec through cxsec_dependencies() builds.
check embedding_workspace tools/ci/check_embedding.sh "$root"

# CXSEC_QUICK=1 skips the sanitizer suites and fuzzing (local iteration only;
# CI always runs everything).
if [ "${CXSEC_QUICK:-0}" != 1 ]; then
  run_suite asan --config=asan
  run_suite ubsan --config=ubsan
  echo "== fuzzers, ${CXSEC_FUZZ_SECONDS:-20}s each =="
  check fuzzers_run_clean tools/fuzz/run_all.sh "${CXSEC_FUZZ_SECONDS:-20}"
  cat "$work/fuzzers_run_clean.log" | sed 's/^/    /'
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
