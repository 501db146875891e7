#!/bin/bash
# Tests `cxsec fw sign` on the real binary with imgtool's spellings of the
# image version: `-v VER`, `--version VER` and `--version=VER` all set the
# image version (imgtool users type `--version 1.2.3`), while `cxsec
# --version` still prints the program's version.
set -u
CXSEC="$1"
T="${TEST_TMPDIR:-$(mktemp -d)}"
fail=0
check() {  # check NAME EXPECTED ACTUAL
  if [[ "$2" != "$3" ]]; then
    echo "FAIL $1: expected [$2], got [$3]"; fail=1
  else
    echo "ok   $1"
  fi
}
"$CXSEC" fw keygen -t ecdsa-p256 -k "$T/key.pem" >/dev/null || exit 1
head -c 1000 /dev/zero >"$T/in.bin"

version_of() {  # the version `fw dumpinfo` reads back from a signed image
  "$CXSEC" fw dumpinfo "$1" | sed -n 's/^ *version: *//p'
}

"$CXSEC" fw sign --version 1.2.3 -k "$T/key.pem" -H 0x200 "$T/in.bin" \
  "$T/long.bin" >"$T/out" 2>&1
check "sign --version VER exits 0" 0 $?
check "sign --version VER output names the image version" "version 1.2.3+0)" \
  "$(grep -o 'version [^ ]*)$' "$T/out")"
check "--version VER is the image version" "1.2.3+0" "$(version_of "$T/long.bin")"

"$CXSEC" fw sign --version=2.0.1+7 -k "$T/key.pem" -H 0x200 "$T/in.bin" \
  "$T/eq.bin" >/dev/null 2>&1
check "sign --version=VER exits 0" 0 $?
check "--version=VER is the image version" "2.0.1+7" "$(version_of "$T/eq.bin")"

"$CXSEC" fw sign -v 3.4.5 -k "$T/key.pem" -H 0x200 "$T/in.bin" \
  "$T/short.bin" >/dev/null 2>&1
check "sign -v VER exits 0" 0 $?
check "-v VER is the image version" "3.4.5+0" "$(version_of "$T/short.bin")"

# Given twice under two spellings: refused, not one silently winning.
"$CXSEC" fw sign -v 1.0.0 --version 2.0.0 -k "$T/key.pem" -H 0x200 \
  "$T/in.bin" "$T/twice.bin" >"$T/out" 2>&1
check "-v and --version together exit 2" 2 $?
check "-v and --version together: error" \
  "cxsec fw: flag '--image-version' given twice" "$(cat "$T/out")"

# The program's version is where it was.
check "cxsec --version" "cxsec" "$("$CXSEC" --version | cut -d' ' -f1)"

[[ $fail -eq 0 ]] && echo PASS
exit $fail
