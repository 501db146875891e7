#!/bin/bash
# `cxsec tpm enroll` against a swtpm started without `--flags
# not-need-init` (a first-run mistake): the error names the TPM response
# code (TPM_RC_FAILURE 0x101, swtpm's answer before its init) and the two
# fixes, and the second fix it gives (swtpm_ioctl -i) works.
set -u
CXSEC="$1"
T="${TEST_TMPDIR:-$(mktemp -d)}"
fail=0
check_contains() {  # check_contains NAME NEEDLE HAYSTACK
  if [[ "$3" != *"$2"* ]]; then
    echo "FAIL $1: [$2] not in [$3]"; fail=1
  else
    echo "ok   $1"
  fi
}
mkdir -p "$T/state"
pid=""
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 20000))
  swtpm socket --tpm2 --tpmstate dir="$T/state" \
    --server type=tcp,port=$port,bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
    --log file="$T/swtpm.log" &
  pid=$!
  for _ in $(seq 50); do
    (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  kill -0 $pid 2>/dev/null && break
  pid=""
done
[[ -n "$pid" ]] || { echo "swtpm did not start: $(cat "$T/swtpm.log")"; exit 1; }
trap 'kill $pid 2>/dev/null' EXIT
tcti="swtpm:host=127.0.0.1,port=$port"

err=$("$CXSEC" tpm enroll --tcti "$tcti" --auth-file "$T/tpm-key.auth" 2>&1 >/dev/null)
rc=$?
[[ $rc -ne 0 ]] || { echo "FAIL enroll succeeded on an uninitialised TPM"; fail=1; }
check_contains "names the response code" "0x101 (TPM_RC_FAILURE: not initialised" "$err"
check_contains "says it is not initialised" "is not initialised" "$err"
check_contains "gives the swtpm flag" "--flags not-need-init,startup-clear" "$err"
check_contains "gives the init command" "swtpm_ioctl --tcp 127.0.0.1:<ctrl port> -i" "$err"

# The advice works: init through the control port, then enroll.
swtpm_ioctl --tcp "127.0.0.1:$((port + 1))" -i || { echo "FAIL swtpm_ioctl -i"; fail=1; }
out=$("$CXSEC" tpm enroll --tcti "$tcti" --auth-file "$T/tpm-key.auth" 2>&1)
rc=$?
[[ $rc -eq 0 ]] || { echo "FAIL enroll after init: rc $rc: $out"; fail=1; }
check_contains "enroll after init" "BEGIN PUBLIC KEY" "$out"

[[ $fail -eq 0 ]] && echo PASS
exit $fail
