"""cxsec's C++ rules: the native ones plus the project's habits.

- cxsec's own code compiles with warnings as errors (external code does not).
- Every binary and test gets a companion `<name>_no_openssl3_test` that runs
  ldd on it and fails if it would load OpenSSL 3's libcrypto.so.3 or
  libssl.so.3, which clash symbol by symbol with BoringSSL
  (see docs/BUILDING.md). tools/ci/test.sh checks that no cc_binary or cc_test
  in the repository bypasses these macros.
"""

CXSEC_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]

_LINKAGE_TAG = "cxsec_linkage_checked"

def _linkage_test(name, binary, tags):
    native.sh_test(
        name = name + "_no_openssl3_test",
        srcs = ["//tools/build_defs:check_no_openssl3.sh"],
        args = ["$(rootpath :{})".format(binary)],
        data = [":" + binary],
        tags = [t for t in tags if t in ("manual", "exclusive")] + ["linkage"],
        size = "small",
    )

def cxsec_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = CXSEC_COPTS + copts, **kwargs)

def cxsec_cc_binary(name, copts = [], tags = [], **kwargs):
    native.cc_binary(name = name, copts = CXSEC_COPTS + copts, tags = tags + [_LINKAGE_TAG], **kwargs)
    _linkage_test(name, name, tags)

def cxsec_cc_test(name, copts = [], tags = [], deps = [], **kwargs):
    native.cc_test(
        name = name,
        copts = CXSEC_COPTS + copts,
        tags = tags + [_LINKAGE_TAG],
        deps = deps + ["@com_google_googletest//:gtest_main"],
        **kwargs
    )
    _linkage_test(name, name, tags)

def cxsec_fuzzer(name, srcs, corpus, deps = [], **kwargs):
    """A libFuzzer target plus a regression test over its seed corpus.

    `name`: e.g. "base64url_fuzzer". `srcs` define LLVMFuzzerTestOneInput.
    `corpus`: a directory (with a BUILD-visible glob) of seed inputs.

    With --config=fuzz (clang, libFuzzer, ASan, UBSan) `name` is a real
    fuzzer: `bazel-bin/.../name -max_total_time=20 <corpus dir>`.
    In every build `<name>_corpus_test` replays each seed file through the
    same entry point, so a crash found once stays fixed.
    """
    corpus_files = native.glob([corpus + "/**"])
    native.cc_binary(
        name = name,
        srcs = srcs,
        copts = CXSEC_COPTS,
        linkopts = select({
            "//tools/build_defs:fuzz_build": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        deps = deps + select({
            "//tools/build_defs:fuzz_build": [],
            "//conditions:default": ["//tests/fuzz:replay_main"],
        }),
        tags = [_LINKAGE_TAG, "fuzzer"],
        **kwargs
    )
    native.cc_test(
        name = name + "_corpus_test",
        srcs = srcs,
        copts = CXSEC_COPTS,
        deps = deps + ["//tests/fuzz:replay_main"],
        args = ["$(rootpath {})".format(f) for f in corpus_files],
        data = corpus_files,
        tags = [_LINKAGE_TAG, "fuzz_corpus"],
        size = "small",
        target_compatible_with = select({
            "//tools/build_defs:fuzz_build": ["@platforms//:incompatible"],
            "//conditions:default": [],
        }),
    )
