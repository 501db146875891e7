#!/usr/bin/env bash
# Runs tools/demo/demo.sh against the built binaries in this test's
# runfiles, with the scenario flags given as arguments. demo.sh itself
# asserts that every acknowledged message is in the verifier's NDJSON log
# exactly once (and that the tampered firmware is refused) and exits
# non-zero otherwise.
set -euo pipefail
work="${TEST_TMPDIR:-$(mktemp -d)}/demo"
exec tools/demo/demo.sh "$PWD" --work "$work" "$@"
