"""Building Cortex-M3 firmware from a host build, and booting it in QEMU.

    load("//platforms/cortex_m:firmware.bzl", "cortex_m_firmware_image", "cortex_m_qemu_test")

    cortex_m_firmware_image(
        name = "selftest",            # the ELF is bazel-bin/<pkg>/selftest.elf
        srcs = ["selftest_main.cc"],
        deps = ["@mbedtls"],
    )
    cortex_m_qemu_test(
        name = "selftest_qemu_test",
        firmware = ":selftest",
        expect_lines = ["selftest: PASS"],
    )

`cortex_m_firmware_image` makes two targets:
  - `<name>_arm_binary`: the cc_binary, linked with the board library and
    its linker script. It is `target_compatible_with` the Cortex-M3, so a
    host `bazel build //...` skips it; `--config=cortex_m3` builds it
    directly.
  - `<name>`: a `cortex_m_firmware` rule that builds `<name>_arm_binary`
    through a transition to the Cortex-M3 configuration and exposes it as
    `<name>.elf`, a file any host target (a test, a packaging rule) can
    depend on.

The transition resets --copt, --cxxopt, --conlyopt, --linkopt and
--features to nothing, and --platform_suffix to "-cortex_m3": host-only
flags (e.g. --config=asan's -fsanitize=address) never reach the ARM compiler,
and ARM outputs never overwrite host outputs.

`cortex_m_firmware` also collects every label the image is built from
(cortex_m_device_deps_aspect) into `<name>.device_deps.txt` and fails the
build if one of them comes from a host-only library (Abseil, Boost, libcoap,
tpm2-tss, BoringSSL): those need an OS or do not fit a node.
"""

load("//tools/build_defs:cc.bzl", "CXSEC_COPTS")

# Every device-side cc target carries this; see //platforms/cortex_m:BUILD.
CORTEX_M3_COMPATIBLE = [Label("//platforms/cortex_m:cortex_m3")]

# For host-only targets that sit beside device code (e.g. a gtest of a
# portable header): skipped when a wildcard is built with --config=cortex_m3.
def host_only():
    """target_compatible_with for a host-only target beside device code."""
    return select({
        _label_string(Label("//platforms/cortex_m:cortex_m3_build")): ["@platforms//:incompatible"],
        "//conditions:default": [],
    })

# Repositories that must never be part of a device image.
HOST_ONLY_REPOSITORIES = {
    "com_google_absl": "Abseil",
    "boost": "Boost",
    "libcoap": "libcoap",
    "tpm2_tss": "tpm2-tss",
    "boringssl": "BoringSSL",
}

_BOARDS = {
    "mps2_an385": struct(
        library = Label("//platforms/cortex_m/mps2_an385:board"),
        platform = Label("//platforms/cortex_m:mps2_an385"),
    ),
    # An application started by the node bootloader from its primary slot.
    "mps2_an385_primary_slot": struct(
        library = Label("//platforms/cortex_m/mps2_an385:board_in_primary_slot"),
        platform = Label("//platforms/cortex_m:mps2_an385"),
    ),
}

def _label_string(label):
    # "@//pkg:name" in the main repository, "@cxsec//pkg:name" when embedded.
    return "@{}//{}:{}".format(label.workspace_name, label.package, label.name)

_TOOLCHAIN_SUITE = Label("//platforms/cortex_m/toolchain:suite")
_TOOLCHAIN_REGISTRATION = Label("//platforms/cortex_m/toolchain:cortex_m3_cc_toolchain")

def _cortex_m3_transition_impl(settings, attr):
    return {
        "//command_line_option:crosstool_top": _label_string(_TOOLCHAIN_SUITE),
        "//command_line_option:cpu": "armv7m",
        "//command_line_option:compiler": "gcc",
        "//command_line_option:host_crosstool_top": "@bazel_tools//tools/cpp:toolchain",
        "//command_line_option:platforms": _label_string(_BOARDS[attr.board].platform),
        "//command_line_option:extra_toolchains": [_label_string(_TOOLCHAIN_REGISTRATION)],
        "//command_line_option:platform_suffix": "-cortex_m3",
        "//command_line_option:copt": [],
        "//command_line_option:cxxopt": [],
        "//command_line_option:conlyopt": [],
        "//command_line_option:linkopt": [],
        "//command_line_option:features": [],
        "//command_line_option:collect_code_coverage": False,
    }

cortex_m3_transition = transition(
    implementation = _cortex_m3_transition_impl,
    inputs = [],
    outputs = [
        "//command_line_option:crosstool_top",
        "//command_line_option:cpu",
        "//command_line_option:compiler",
        "//command_line_option:host_crosstool_top",
        "//command_line_option:platforms",
        "//command_line_option:extra_toolchains",
        "//command_line_option:platform_suffix",
        "//command_line_option:copt",
        "//command_line_option:cxxopt",
        "//command_line_option:conlyopt",
        "//command_line_option:linkopt",
        "//command_line_option:features",
        "//command_line_option:collect_code_coverage",
    ],
)

CortexMDeviceDepsInfo = provider(
    doc = "Every target label a device image is built from.",
    fields = {"labels": "depset of Label"},
)

def _device_deps_aspect_impl(target, ctx):
    transitive = [
        dep[CortexMDeviceDepsInfo].labels
        for dep in getattr(ctx.rule.attr, "deps", [])
        if CortexMDeviceDepsInfo in dep
    ]
    return [CortexMDeviceDepsInfo(labels = depset([target.label], transitive = transitive))]

cortex_m_device_deps_aspect = aspect(
    implementation = _device_deps_aspect_impl,
    attr_aspects = ["deps"],
)

def _cortex_m_firmware_impl(ctx):
    binary = ctx.attr.binary
    if type(binary) == "list":  # attributes with a transition are lists
        binary = binary[0]
    labels = binary[CortexMDeviceDepsInfo].labels.to_list()
    for label in labels:
        if label.workspace_name in HOST_ONLY_REPOSITORIES:
            fail("{}: device firmware may not depend on {} ({}); it needs an OS or does not fit a node".format(
                ctx.label,
                HOST_ONLY_REPOSITORIES[label.workspace_name],
                label,
            ))

    elf = ctx.actions.declare_file(ctx.label.name + ".elf")
    ctx.actions.symlink(output = elf, target_file = binary[DefaultInfo].files_to_run.executable)
    deps_list = ctx.actions.declare_file(ctx.label.name + ".device_deps.txt")
    ctx.actions.write(deps_list, "".join(sorted([_label_string(l) + "\n" for l in labels])))
    return [
        DefaultInfo(files = depset([elf]), runfiles = ctx.runfiles(files = [elf])),
        OutputGroupInfo(device_deps = depset([deps_list])),
    ]

cortex_m_firmware = rule(
    doc = "A Cortex-M3 ELF built from `binary` through the Cortex-M3 transition.",
    implementation = _cortex_m_firmware_impl,
    attrs = {
        "binary": attr.label(
            mandatory = True,
            cfg = cortex_m3_transition,
            aspects = [cortex_m_device_deps_aspect],
            doc = "a cc_binary made by cortex_m_firmware_image",
        ),
        "board": attr.string(default = "mps2_an385", values = _BOARDS.keys()),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)

def cortex_m_cc_library(name, copts = [], target_compatible_with = [], **kwargs):
    """A cc_library of device-only code: cxsec's warnings, M3-only."""
    native.cc_library(
        name = name,
        copts = CXSEC_COPTS + copts,
        target_compatible_with = CORTEX_M3_COMPATIBLE + target_compatible_with,
        **kwargs
    )

def cortex_m_firmware_image(name, srcs, deps = [], board = "mps2_an385", copts = [], tags = [], visibility = None, **kwargs):
    """A firmware ELF `<name>.elf` for `board`; see the file comment.

    The cc_binary is tagged `cxsec_linkage_checked`: the OpenSSL 3 ldd check
    that tag stands for cannot apply to a static bare-metal ELF (there is no
    dynamic loader), and what it protects against is enforced here instead:
    the image links statically and cortex_m_firmware refuses host-only
    libraries in its dependencies.
    """
    native.cc_binary(
        name = name + "_arm_binary",
        srcs = srcs,
        copts = CXSEC_COPTS + copts,
        deps = deps + [_BOARDS[board].library],
        target_compatible_with = CORTEX_M3_COMPATIBLE,
        tags = tags + ["cxsec_linkage_checked", "firmware"],
        visibility = ["//visibility:private"],
        **kwargs
    )
    cortex_m_firmware(
        name = name,
        binary = ":" + name + "_arm_binary",
        board = board,
        tags = tags + ["firmware"],
        visibility = visibility,
    )
    native.filegroup(
        name = name + "_device_deps",
        srcs = [":" + name],
        output_group = "device_deps",
        tags = tags,
        visibility = ["//visibility:private"],
    )

    # The firmware's linkage check (what `cxsec_linkage_checked` stands for
    # on an ELF without a dynamic loader): a static ARM executable, no
    # interpreter, no shared libraries, no host-only library in its deps.
    native.sh_test(
        name = name + "_linkage_test",
        srcs = [Label("//platforms/cortex_m:check_firmware_linkage.sh")],
        args = ["$(rootpath :{})".format(name), "$(rootpath :{}_device_deps)".format(name)],
        data = [":" + name, ":" + name + "_device_deps"],
        size = "small",
        tags = [t for t in tags if t in ("manual",)] + ["linkage", "firmware"],
    )

def cortex_m_qemu_test(name, firmware, expect_lines = [], expect_exit_code = 0, timeout_seconds = 45, size = "small", tags = [], forbid_lines = [], loads = {}, data = [], **kwargs):
    """Boots `firmware` in qemu-system-arm (mps2-an385); passes when it exits
    with `expect_exit_code` via semihosting, printed every line of
    `expect_lines` and none of `forbid_lines`. `loads` maps a file label to
    the address QEMU preloads it at (e.g. a signed image into a flash
    slot). Tagged `qemu`. `timeout_seconds` stays below the test
    size's Bazel timeout (60 s for small), so a hung image is reported by
    the harness, with its output, rather than killed by Bazel."""
    args = ["--timeout", str(timeout_seconds), "--expect-exit", str(expect_exit_code)]
    for line in expect_lines:
        args += ["--expect-line", "'{}'".format(line)]
    for line in forbid_lines:
        args += ["--forbid-line", "'{}'".format(line)]
    for file, address in loads.items():
        args += ["--load", "$(rootpath {})@{}".format(file, address)]
    native.sh_test(
        name = name,
        srcs = [Label("//platforms/cortex_m/qemu:boot_in_qemu.sh")],
        args = args + ["$(rootpath {})".format(firmware)],
        data = [firmware] + list(loads.keys()) + data,
        size = size,
        tags = tags + ["qemu"],
        **kwargs
    )
