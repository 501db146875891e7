#!/usr/bin/env bash
# The crypto-library ban must not be a test that cannot fail: run the
# checker on binaries that do load libcrypto.so.3 (OpenSSL 3) or
# libcrypto.so.0 (Debian's packaged BoringSSL) and require it to fail and
# say why.
set -uo pipefail
checker="$1"
shift
for canary in "$@"; do
  out=$("$checker" "$canary" 2>&1)
  code=$?
  if [ $code -ne 1 ]; then
    echo "FAIL: checker exited $code on $canary; expected 1" >&2
    echo "$out" >&2
    exit 1
  fi
  if ! grep -qE 'libcrypto\.so\.[03]' <<<"$out"; then
    echo "FAIL: checker did not name libcrypto.so.3 or .so.0 for $canary:" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "detected, as required: $canary"
  echo "$out" | sed 's/^/    /'
done
