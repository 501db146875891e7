#!/usr/bin/env bash
# Checks that SecurityCore rejects a wrong policy with one clear error: the
# static_assert naming the parameter and the concept, not pages of template
# noise. Compiles with the system g++ against the repository's headers.
set -euo pipefail
source_file="$1"
expected="$2"
root="${TEST_SRCDIR}/${TEST_WORKSPACE}"
if out=$(g++ -std=c++20 -fsyntax-only -I"$root" -isystem /usr/include/android \
    "$root/$source_file" 2>&1); then
  echo "FAIL: $source_file compiled, but must not" >&2
  exit 1
fi
errors=$(printf '%s\n' "$out" | grep -c 'error:' || true)
first=$(printf '%s\n' "$out" | grep -m1 'error:' || true)
if ! printf '%s' "$first" | grep -qF "$expected"; then
  echo "FAIL: first error is not the policy check:" >&2
  printf '%s\n' "$out" | head -20 >&2
  exit 1
fi
if [ "$errors" -gt 3 ]; then
  echo "FAIL: $errors errors; a wrong policy should give one clear error" >&2
  printf '%s\n' "$out" | grep 'error:' >&2
  exit 1
fi
echo "ok: $errors error(s); first: $first"
