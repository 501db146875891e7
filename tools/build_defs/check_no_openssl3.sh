#!/usr/bin/env bash
# Fails if any given ELF file would load a second crypto library with
# BoringSSL's symbol names: OpenSSL 3 (libcrypto.so.3 / libssl.so.3) or
# Debian's packaged BoringSSL (libcrypto.so.0 / libssl.so.0 from
# android-libboringssl). Every cxsec binary links its own BoringSSL, built
# from source (third_party/boringssl.BUILD); in one process the dynamic
# linker would bind one library's users to the other's functions and
# structures, corrupting memory. See docs/BUILDING.md.
set -euo pipefail
status=0
banned='lib(crypto|ssl)\.so\.[03]'
for bin in "$@"; do
  if [ ! -e "$bin" ]; then
    echo "check_no_openssl3: $bin does not exist" >&2
    exit 2
  fi
  if ! out=$(ldd "$bin" 2>&1); then
    echo "check_no_openssl3: ldd failed on $bin: $out" >&2
    exit 2
  fi
  bad=$(printf '%s\n' "$out" | grep -E "$banned" || true)
  if [ -n "$bad" ]; then
    echo "FAIL: $bin loads a second copy of the crypto library (OpenSSL 3 or Debian's packaged BoringSSL), which clashes with cxsec's BoringSSL:" >&2
    printf '%s\n' "$bad" | sed 's/^/    /' >&2
    # Name the library that pulled it in, so the fix is obvious.
    printf '%s\n' "$out" | awk '{print $3}' | grep '^/' | while read -r lib; do
      if ldd "$lib" 2>/dev/null | grep -qE "$banned" && ! echo "$lib" | grep -qE "$banned"; then
        echo "    pulled in by $lib" >&2
      fi
    done
    status=1
  else
    echo "ok: $bin loads no OpenSSL 3 and no packaged BoringSSL"
  fi
done
exit $status
