#!/usr/bin/env bash
# Fails if any given ELF file would load OpenSSL 3 (libcrypto.so.3 or
# libssl.so.3). cxsec links BoringSSL, which exports the same symbol names:
# in one process the dynamic linker would bind OpenSSL 3 users to BoringSSL
# (or the reverse), corrupting memory. See docs/BUILDING.md.
set -euo pipefail
status=0
for bin in "$@"; do
  if [ ! -e "$bin" ]; then
    echo "check_no_openssl3: $bin does not exist" >&2
    exit 2
  fi
  if ! out=$(ldd "$bin" 2>&1); then
    echo "check_no_openssl3: ldd failed on $bin: $out" >&2
    exit 2
  fi
  bad=$(printf '%s\n' "$out" | grep -E 'lib(crypto|ssl)\.so\.3' || true)
  if [ -n "$bad" ]; then
    echo "FAIL: $bin loads OpenSSL 3, which clashes with BoringSSL:" >&2
    printf '%s\n' "$bad" | sed 's/^/    /' >&2
    # Name the library that pulled it in, so the fix is obvious.
    printf '%s\n' "$out" | awk '{print $3}' | grep '^/' | while read -r lib; do
      if ldd "$lib" 2>/dev/null | grep -qE 'lib(crypto|ssl)\.so\.3' && ! echo "$lib" | grep -qE 'lib(crypto|ssl)\.so\.3'; then
        echo "    pulled in by $lib" >&2
      fi
    done
    status=1
  else
    echo "ok: $bin loads no OpenSSL 3"
  fi
done
exit $status
