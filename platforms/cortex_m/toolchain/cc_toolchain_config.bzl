"""cortex_m_cc_toolchain_config: arm-none-eabi GCC (Debian) for Bazel 4.2.3.

A hand-written cc_toolchain_config rule, because Bazel's auto-configuration
only knows the host compiler. Every tool is Debian's gcc-arm-none-eabi in
/usr/bin; nothing is downloaded.

What every compile and link gets (the node firmware's fixed contract):
  -mcpu=cortex-m3 -mthumb          the M3's Thumb-2 instruction set, no FPU
  -Os -ffunction-sections -fdata-sections, -Wl,--gc-sections
                                   small images: unused functions and data
                                   are dropped at link time
  C++: -std=c++20 -fno-exceptions -fno-rtti -fno-threadsafe-statics
                                   no unwinder, no type info, no guard locks
                                   (a node has one thread)
  --specs=nano.specs               newlib-nano (small libc)
  -nostartfiles                    the board layer brings its own reset
                                   handler and vector table
Warnings as errors are not set here: cxsec code gets them through its
copts (CXSEC_COPTS), third-party code (Mbed TLS) keeps its own warnings.
Compilation mode dbg adds -g3; opt adds -DNDEBUG.
"""

load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "feature",
    "flag_group",
    "flag_set",
    "tool_path",
)
load("@bazel_tools//tools/build_defs/cc:action_names.bzl", "ACTION_NAMES")

_C_COMPILE = [
    ACTION_NAMES.c_compile,
    ACTION_NAMES.assemble,
    ACTION_NAMES.preprocess_assemble,
]

_CXX_COMPILE = [
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.cpp_module_codegen,
    ACTION_NAMES.linkstamp_compile,
]

_LINK = [
    ACTION_NAMES.cpp_link_executable,
]

def _impl(ctx):
    prefix = ctx.attr.tool_prefix
    tool_paths = [
        tool_path(name = "gcc", path = prefix + "gcc"),
        tool_path(name = "ld", path = prefix + "ld"),
        tool_path(name = "ar", path = prefix + "ar"),
        tool_path(name = "cpp", path = prefix + "cpp"),
        tool_path(name = "gcov", path = prefix + "gcov"),
        tool_path(name = "nm", path = prefix + "nm"),
        tool_path(name = "objcopy", path = prefix + "objcopy"),
        tool_path(name = "objdump", path = prefix + "objdump"),
        tool_path(name = "strip", path = prefix + "strip"),
    ]

    cpu_flags = ["-mcpu=" + ctx.attr.mcpu, "-mthumb"]

    compile_flags = feature(
        name = "cortex_m_compile_flags",
        enabled = True,
        flag_sets = [
            flag_set(
                actions = _C_COMPILE + _CXX_COMPILE,
                flag_groups = [flag_group(flags = cpu_flags + [
                    "-Os",
                    "-ffunction-sections",
                    "-fdata-sections",
                    "-fno-common",
                    # Reproducible outputs: no build paths or times.
                    "-no-canonical-prefixes",
                    "-fno-canonical-system-headers",
                    "-Wno-builtin-macro-redefined",
                    "-D__DATE__=\"redacted\"",
                    "-D__TIMESTAMP__=\"redacted\"",
                    "-D__TIME__=\"redacted\"",
                ])],
            ),
            flag_set(
                actions = _CXX_COMPILE,
                flag_groups = [flag_group(flags = [
                    "-std=c++20",
                    "-fno-exceptions",
                    "-fno-rtti",
                    "-fno-threadsafe-statics",
                ])],
            ),
        ],
    )

    link_flags = feature(
        name = "cortex_m_link_flags",
        enabled = True,
        flag_sets = [flag_set(
            actions = _LINK,
            flag_groups = [flag_group(flags = cpu_flags + [
                "--specs=nano.specs",
                "-nostartfiles",
                "-Wl,--gc-sections",
                "-no-canonical-prefixes",
            ])],
        )],
    )

    # Bazel enables the feature named after --compilation_mode.
    dbg = feature(
        name = "dbg",
        flag_sets = [flag_set(
            actions = _C_COMPILE + _CXX_COMPILE,
            flag_groups = [flag_group(flags = ["-g3"])],
        )],
    )
    opt = feature(
        name = "opt",
        flag_sets = [flag_set(
            actions = _C_COMPILE + _CXX_COMPILE,
            flag_groups = [flag_group(flags = ["-DNDEBUG"])],
        )],
    )

    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = "arm-none-eabi-" + ctx.attr.mcpu,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = "arm-none-eabi",
        target_cpu = ctx.attr.cpu,
        target_libc = "newlib",
        compiler = "gcc",
        abi_version = "eabi",
        abi_libc_version = "newlib",
        tool_paths = tool_paths,
        features = [compile_flags, link_flags, dbg, opt],
        cxx_builtin_include_directories = ctx.attr.builtin_include_directories,
    )

cortex_m_cc_toolchain_config = rule(
    implementation = _impl,
    provides = [CcToolchainConfigInfo],
    attrs = {
        "cpu": attr.string(mandatory = True, doc = "the --cpu value this toolchain answers to"),
        "mcpu": attr.string(mandatory = True, doc = "GCC's -mcpu, e.g. cortex-m3"),
        "tool_prefix": attr.string(default = "/usr/bin/arm-none-eabi-"),
        "builtin_include_directories": attr.string_list(
            doc = "where arm-none-eabi-gcc finds its own and newlib's headers",
        ),
    },
)
