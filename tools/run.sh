#!/usr/bin/env bash
# The main job: from a fresh Debian 12 machine, install what is needed,
# build every target with Bazel, and run a short self-check of each binary.
#   tools/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup/install-deps.sh
echo "== building every target (bazel build //...) =="
bazel build //... 2>&1 | tail -n 3

bin=$(bazel info bazel-bin 2>/dev/null)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== self-check =="
"$bin/tools/cxsec" --version
for target in gateway node verifier; do
  binary="$bin/targets/$target/cxsec-$target"
  "$binary" --version
  install -m 0600 "targets/$target/example.conf" "$work/$target.conf"
  "$binary" --config="$work/$target.conf" --check-config
  # A config that other accounts can read must be refused.
  chmod 0644 "$work/$target.conf"
  if "$binary" --config="$work/$target.conf" --check-config 2>"$work/err"; then
    echo "self-check FAILED: cxsec-$target accepted a world-readable config" >&2
    exit 1
  fi
  echo "  refused as expected: $(cat "$work/err")"
done
echo "self-check passed"
