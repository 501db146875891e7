#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing and running cxsec
# need. Idempotent: apt-get update runs at most once, and only packages that
# are missing are installed. Must run as root (or via sudo) on Debian 12.
set -euo pipefail

PACKAGES=(
  # Build
  bazel-bootstrap bazel-rules-java bazel-platforms bazel-skylib
  g++ clang libclang-rt-14-dev libfuzzer-14-dev
  # imgtool interop vectors (core/firmware/testdata/regenerate.sh)
  python3-click python3-cryptography python3-intelhex python3-cbor2
  # Libraries (see third_party/)
  android-libboringssl-dev libabsl-dev libcoap3-dev libtss2-dev
  libgnutls28-dev  # transports/dtls reads the negotiated DTLS suite
  libboost1.81-dev nlohmann-json3-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # Real peers used by tests, the demo and benchmarks
  android-boringssl libcoap3-bin swtpm swtpm-tools tpm2-tools
  etcd-server etcd-client wrk
  # Plumbing used by scripts
  python3 procps iproute2 ca-certificates openssl bc
  # The linkage test's canary links libcurl-gnutls to prove the ban bites
  libcurl3-gnutls libssl3
)

# The persistent Bazel disk cache of the README commands and CI
# (--config=cached in .bazelrc). Owned by root and not writable by others:
# whoever can write a build cache can put code into every later build.
cache_dir=/var/cache/cxsec/bazel
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ! -d "$cache_dir" ]; then
  $SUDO mkdir -p -m 0755 "$cache_dir"
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
