#!/usr/bin/env bash
# The main job: from a fresh Debian 12 machine, install what is needed,
# build every target with Bazel, run a short self-check of each binary,
# then the demo (tools/demo/demo.sh): swtpm, the verifier, a provisioned
# deployment, the TPM-enrolled gateway, 50 DTLS + 50 Mioty nodes, one
# Mioty and one DTLS node that are the real firmware in QEMU (signed into
# the primary slot and started by bootloader.elf), one
# signed and one tampered firmware update, 5 DTLS and 5 Mioty nodes whose
# readings are sealed end to end (the verifier requires it of them), and a
# report. Exits non-zero
# if any message was lost.
#   tools/run.sh                      # demo: about a minute
#   CXSEC_DEMO_POSTS=60 tools/run.sh  # posts per node (one a second)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup/install-deps.sh
echo "== building every target (bazel build //...) =="
# Bazel's own progress, a line every 5 seconds ("[done / total] action"),
# so a first build on a fresh machine (about 15 minutes on 2 cores) shows
# that it is moving; the disk cache makes later builds fast.
bazel build --config=cached --curses=no --show_progress_rate_limit=5 //... 2>&1 |
  grep -vE '^(Loading|Analyzing):'

bin=$(bazel info --config=cached bazel-bin 2>/dev/null)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== self-check =="
"$bin/tools/cxsec" --version
for target in gateway node verifier; do
  binary="$bin/targets/$target/cxsec-$target"
  "$binary" --version
  install -m 0600 "targets/$target/example.conf" "$work/$target.conf"
  if [ "$target" = gateway ]; then
    # The example names /etc/cxsec/tpm-key.auth; check-config reads it.
    (umask 077 && head -c 32 /dev/urandom >"$work/tpm-key.auth")
    sed -i "s#/etc/cxsec/tpm-key.auth#$work/tpm-key.auth#" "$work/$target.conf"
  fi
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

echo "== demo =="
tools/demo/demo.sh "$bin" --dtls-nodes "${CXSEC_DEMO_DTLS_NODES:-50}" \
  --mioty-nodes "${CXSEC_DEMO_MIOTY_NODES:-50}" --posts "${CXSEC_DEMO_POSTS:-45}" \
  --qemu-mioty-nodes "${CXSEC_DEMO_QEMU_MIOTY_NODES:-1}" \
  --qemu-dtls-nodes "${CXSEC_DEMO_QEMU_DTLS_NODES:-1}" --qemu-via-bootloader \
  --sealed-nodes "${CXSEC_DEMO_SEALED_NODES:-5}"
