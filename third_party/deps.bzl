"""cxsec_dependencies(): every external repository cxsec needs, offline.

In a WORKSPACE that embeds cxsec:

    local_repository(name = "cxsec", path = "third_party/cxsec")
    load("@cxsec//third_party:deps.bzl", "cxsec_dependencies")
    cxsec_dependencies()

A repository that already exists under the same name (declared before the
call) is left alone, so an embedding project can bring its own Abseil,
GoogleTest, BoringSSL, ... by declaring it first.
"""

load("//third_party:system_repo.bzl", "debian_source_repository", "generated_files_repository", "system_absl_repository", "system_library_repository")

_LIB = "/usr/lib/x86_64-linux-gnu"

# Upstream Abseil label names that cxsec code may depend on, per package.
# Every one resolves to the same Debian-built Abseil; keeping upstream's names
# lets an embedding project substitute its own Abseil source tree.
_ABSL_TARGETS = {
    "algorithm": ["algorithm", "container"],
    "base": ["base", "core_headers", "endian", "config"],
    "cleanup": ["cleanup"],
    "container": ["btree", "fixed_array", "flat_hash_map", "flat_hash_set", "inlined_vector", "node_hash_map"],
    "flags": ["flag", "parse", "usage"],
    "functional": ["any_invocable", "bind_front", "function_ref"],
    "hash": ["hash"],
    "memory": ["memory"],
    "meta": ["type_traits"],
    "numeric": ["bits", "int128"],
    "random": ["random", "distributions"],
    "status": ["status", "statusor"],
    "strings": ["strings", "str_format", "cord"],
    "synchronization": ["synchronization"],
    "time": ["time"],
    "types": ["optional", "span", "variant"],
    "utility": ["utility"],
}

# Debian's rules_cc is too new for Bazel 4.2.3 (it needs use_cpp_toolchain),
# so cxsec carries this shim: @bazel_tools loads exactly these symbols.
_RULES_CC_SHIM = {
    "BUILD": "",
    "cc/BUILD": "",
    "cc/defs.bzl": "\n".join([
        "\"\"\"Re-exports Bazel's native C++ rules (shim for Bazel 4.2.3).\"\"\"",
        "cc_library = native.cc_library",
        "cc_binary = native.cc_binary",
        "cc_test = native.cc_test",
        "cc_import = native.cc_import",
        "cc_toolchain = native.cc_toolchain",
        "cc_toolchain_suite = native.cc_toolchain_suite",
        "cc_proto_library = native.cc_proto_library",
        "objc_library = native.objc_library",
        "objc_import = native.objc_import",
        "",
    ]),
}

# Bazel 4.2.3 references these targets even when coverage is off.
_COVERAGE_STUB = {
    "BUILD": "\n".join([
        "package(default_visibility = [\"//visibility:public\"])",
        "filegroup(name = \"coverage_report_generator\", srcs = [])",
        "filegroup(name = \"lcov_merger\", srcs = [])",
        "",
    ]),
}

# The label of cxsec's Mbed TLS configuration, written so that it resolves
# from inside @mbedtls both when cxsec is the main repository ("@//...") and
# when a project embeds it ("@cxsec//...").
_MBEDTLS_CONFIG = Label("//platforms/cortex_m/mbedtls:config")
_LIBCOAP_CONFIG = Label("//third_party/libcoap:config")

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def cxsec_dependencies():
    """Declares every repository cxsec builds against; downloads nothing."""
    _maybe(
        native.local_repository,
        name = "rules_java",
        path = "/usr/share/bazel/rules/java",
    )
    _maybe(
        native.local_repository,
        name = "platforms",
        path = "/usr/share/bazel/tools/platforms",
    )
    _maybe(
        native.local_repository,
        name = "bazel_skylib",
        path = "/usr/share/bazel/tools/skylib",
    )
    _maybe(generated_files_repository, name = "rules_cc", files = _RULES_CC_SHIM)
    _maybe(generated_files_repository, name = "remote_coverage_tools", files = _COVERAGE_STUB)

    # BoringSSL for every host binary: compiled from Debian's source package
    # (tools/setup/install-deps.sh unpacks it) with its x86-64 assembly,
    # which Debian's binary package leaves out (third_party/boringssl.BUILD).
    _maybe(
        debian_source_repository,
        name = "boringssl",
        source_dir = "/opt/cxsec/src/boringssl",
        debian_source_package = "android-platform-external-boringssl",
        version_prefix = "13.0.0+r24",
        directories = ["src", "linux-x86_64", "err_data.c", "BUILD.generated.bzl"],
        build_file_template = Label("//third_party:boringssl.BUILD"),
    )

    _maybe(system_absl_repository, name = "com_google_absl", targets = _ABSL_TARGETS)

    # libcoap from Debian's source package with cxsec's patch
    # (third_party/libcoap.BUILD says why not the binary package).
    _maybe(
        debian_source_repository,
        name = "libcoap",
        source_dir = "/opt/cxsec/src/libcoap",
        debian_source_package = "libcoap3",
        version_prefix = "4.3.1-",
        directories = ["src", "include", "LICENSE", "COPYING"],
        copy_directories = ["src", "include"],
        patches = [
            Label("//third_party/libcoap:0001-walk-sessions-at-most-once-a-second.patch"),
            Label("//third_party/libcoap:0002-prepare-io-hook.patch"),
        ],
        build_file_template = Label("//third_party:libcoap.BUILD"),
        config_target = "@{}//{}:{}".format(_LIBCOAP_CONFIG.workspace_name, _LIBCOAP_CONFIG.package, _LIBCOAP_CONFIG.name),
    )
    _maybe(
        system_library_repository,
        name = "tpm2_tss",
        debian_package = "libtss2-dev",
        symlinks = {"/usr/include/tss2": "include/tss2"},
        build_files = {Label("//third_party:tpm2_tss.BUILD"): "BUILD.bazel"},
    )
    _maybe(
        system_library_repository,
        name = "boost",
        debian_package = "libboost1.81-dev",
        symlinks = {"/usr/include/boost": "include/boost"},
        build_files = {Label("//third_party:boost.BUILD"): "BUILD.bazel"},
    )
    _maybe(
        system_library_repository,
        name = "nlohmann_json",
        debian_package = "nlohmann-json3-dev",
        symlinks = {"/usr/include/nlohmann": "include/nlohmann"},
        build_files = {Label("//third_party:nlohmann_json.BUILD"): "BUILD.bazel"},
    )
    _maybe(
        system_library_repository,
        name = "sqlite3",
        debian_package = "libsqlite3-dev",
        symlinks = {
            "/usr/include/sqlite3.h": "include/sqlite3.h",
            "/usr/include/sqlite3ext.h": "include/sqlite3ext.h",
        },
        build_files = {Label("//third_party:sqlite3.BUILD"): "BUILD.bazel"},
    )
    _maybe(
        system_library_repository,
        name = "hiredis",
        debian_package = "libhiredis-dev",
        symlinks = {"/usr/include/hiredis": "include/hiredis"},
        build_files = {Label("//third_party:hiredis.BUILD"): "BUILD.bazel"},
    )
    _maybe(
        system_library_repository,
        name = "com_google_googletest",
        debian_package = "libgtest-dev, libgmock-dev",
        symlinks = {
            "/usr/include/gtest": "include/gtest",
            "/usr/include/gmock": "include/gmock",
        },
        build_files = {Label("//third_party:googletest.BUILD"): "BUILD.bazel"},
    )
    _maybe(
        system_library_repository,
        name = "com_github_google_benchmark",
        debian_package = "libbenchmark-dev",
        symlinks = {"/usr/include/benchmark": "include/benchmark"},
        build_files = {Label("//third_party:benchmark.BUILD"): "BUILD.bazel"},
    )

    # Mbed TLS 2.28 for node firmware: compiled from Debian's source package,
    # which tools/setup/install-deps.sh unpacks with `apt-get source`.
    _maybe(
        debian_source_repository,
        name = "mbedtls",
        source_dir = "/opt/cxsec/src/mbedtls",
        debian_source_package = "mbedtls",
        version_prefix = "2.28.",
        directories = ["include", "library"],
        build_file_template = Label("//third_party:mbedtls.BUILD"),
        config_target = "@{}//{}:{}".format(_MBEDTLS_CONFIG.workspace_name, _MBEDTLS_CONFIG.package, _MBEDTLS_CONFIG.name),
    )
