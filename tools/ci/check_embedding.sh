#!/usr/bin/env bash
# Builds and runs a tiny Bazel project that embeds cxsec the documented way
# (docs/EMBEDDING.md): local_repository + cxsec_dependencies().
#   tools/ci/check_embedding.sh CXSEC_ROOT [BAZEL BUILD FLAGS...]
set -euo pipefail
cxsec_root="$1"
shift
project=$(mktemp -d)
trap 'bazel --output_user_root="$project/.bazel" shutdown >/dev/null 2>&1 || true; rm -rf "$project"' EXIT
cp "$cxsec_root/tests/embedding/hello_cxsec.cc" "$project/"
cp "$cxsec_root/tests/embedding/BUILD.example" "$project/BUILD"
sed "s|@CXSEC_ROOT@|$cxsec_root|" "$cxsec_root/tests/embedding/WORKSPACE.example" >"$project/WORKSPACE"
cp "$cxsec_root/.bazelrc" "$project/.bazelrc"
cd "$project"
bazel --output_user_root="$project/.bazel" run "$@" //:hello_cxsec
