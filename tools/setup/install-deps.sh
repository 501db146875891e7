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
  libhiredis-dev  # the verifier's Redis sink; this build loads no OpenSSL
  libgtest-dev libgmock-dev libbenchmark-dev
  # Real peers used by tests, the demo and benchmarks
  android-boringssl libcoap3-bin swtpm swtpm-tools tpm2-tools
  etcd-server etcd-client wrk
  # Redis telemetry sink (docs/SCALE_OUT.md): redis-server runs as a
  # separate process in tests and deployments (hiredis is under Libraries)
  redis-server redis-tools
  # Load balancer in front of the verifier instances in the scale-out test
  # (targets/verifier/scale_out_test.cc) and the documented deployment
  haproxy
  # Plumbing used by scripts
  python3 procps iproute2 ca-certificates openssl bc
  # The linkage test's canary links libcurl-gnutls to prove the ban bites
  libcurl3-gnutls libssl3
  # Cortex-M node firmware (platforms/cortex_m/, docs/NODE_FIRMWARE.md):
  # the bare-metal GCC, newlib-nano, libstdc++ for it, the QEMU that boots
  # the images, and dpkg-dev for `apt-get source mbedtls` below.
  gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi
  libstdc++-arm-none-eabi-newlib libstdc++-arm-none-eabi-dev
  qemu-system-arm dpkg-dev
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

export DEBIAN_FRONTEND=noninteractive
# deb-src entries for `apt-get source` (below): a copy of the deb
# stanzas of debian.sources (bookworm, bookworm-updates, bookworm-security)
# with Types: deb-src, in a file of its own. Added before the one apt-get
# update that the package install and the source download share.
MBEDTLS_DIR=/opt/cxsec/src/mbedtls
BORINGSSL_DIR=/opt/cxsec/src/boringssl
LIBCOAP_DIR=/opt/cxsec/src/libcoap
DEB_SRC_FILE=/etc/apt/sources.list.d/cxsec-deb-src.sources
apt_updated=0
if [ ! -f "$DEB_SRC_FILE" ]; then
  sed -n 's/^Types:[[:space:]]*deb$/Types: deb-src/; p' /etc/apt/sources.list.d/debian.sources |
    $SUDO tee "$DEB_SRC_FILE" >/dev/null
  grep -q '^Types: deb-src' "$DEB_SRC_FILE" || { echo "install-deps: no deb stanza to copy into $DEB_SRC_FILE" >&2; exit 1; }
  echo "install-deps: added $DEB_SRC_FILE"
  $SUDO apt-get update -qq
  apt_updated=1
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  [ "$apt_updated" = 1 ] || $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: done"
fi

# Sources that cxsec compiles itself, from Debian's source packages,
# unpacked with Debian's patches applied, so nothing is downloaded from
# anywhere but Debian:
#   - Mbed TLS for the Cortex-M node firmware (third_party/mbedtls.BUILD);
#   - BoringSSL for every host binary (third_party/boringssl.BUILD): the
#     same source as Debian's android-libboringssl, built with its x86-64
#     assembly, which Debian's -DOPENSSL_SMALL build leaves out (P-256 two
#     to three times slower; docs/PERFORMANCE.md);
#   - libcoap for the gateway's DTLS server and the nodes' DTLS clients
#     (third_party/libcoap.BUILD), with cxsec's patch applied at build
#     time (third_party/libcoap/): Debian's binary walks every session on
#     each new peer's datagram.
# apt-get source needs deb-src entries: a copy of the deb stanzas of
# debian.sources (bookworm, bookworm-updates, bookworm-security) with
# Types: deb-src, in a file of its own; apt-get update runs only when that
# file is new. Idempotent: skipped when the tree is there and its stamp names
# the version apt would fetch.
unpack_debian_source() {  # PACKAGE DIR FILE_THAT_MUST_EXIST
  local package="$1" dir="$2" check="$3" version unpack tree
  version=$(apt-cache showsrc --only-source "$package" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    echo "install-deps: apt knows no source package $package (check $DEB_SRC_FILE)" >&2
    exit 1
  fi
  if [ "$(cat "$dir/.cxsec-debian-version" 2>/dev/null)" = "$version" ]; then
    echo "install-deps: $package $version source present in $dir"
    return
  fi
  echo "install-deps: apt-get source $package=$version into $dir"
  unpack=$(mktemp -d)
  (cd "$unpack" && $SUDO apt-get source -qq "$package=$version" >/dev/null 2>&1)
  tree=$(find "$unpack" -mindepth 1 -maxdepth 1 -type d | head -n 1)
  [ -n "$tree" ] && [ -f "$tree/$check" ] || { echo "install-deps: apt-get source gave no $package tree" >&2; exit 1; }
  echo "$version" | $SUDO tee "$tree/.cxsec-debian-version" >/dev/null
  $SUDO mkdir -p "$(dirname "$dir")"
  $SUDO rm -rf "$dir"
  $SUDO mv "$tree" "$dir"
  $SUDO chmod -R a+rX "$dir"
  $SUDO rm -rf "$unpack"
}
unpack_debian_source mbedtls "$MBEDTLS_DIR" include/mbedtls/version.h
unpack_debian_source android-platform-external-boringssl "$BORINGSSL_DIR" BUILD.generated.bzl
unpack_debian_source libcoap3 "$LIBCOAP_DIR" src/coap_session.c
