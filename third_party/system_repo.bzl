"""Repository rules that wrap Debian packages as Bazel repositories.

cxsec never downloads anything: every external library is a Debian -dev
package. `system_library_repository` links the package's header directories
into a repository (so Bazel tracks them as declared inputs) and writes the
BUILD files that describe its targets. The targets keep the label names of
the upstream projects (`@com_google_absl//absl/status:statusor`, ...), so a
project that embeds cxsec can swap in its own copy of any of them.
"""

def _system_library_repository_impl(ctx):
    for system_path, repo_path in ctx.attr.symlinks.items():
        if not ctx.path(system_path).exists:
            fail("cxsec: {} is missing; run tools/setup/install-deps.sh (Debian package: {})".format(
                system_path,
                ctx.attr.debian_package,
            ))
        ctx.symlink(system_path, repo_path)
    for label, repo_path in ctx.attr.build_files.items():
        ctx.symlink(label, repo_path)
    ctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(ctx.name))

system_library_repository = repository_rule(
    implementation = _system_library_repository_impl,
    local = True,
    attrs = {
        "symlinks": attr.string_dict(doc = "absolute system path -> path inside the repository"),
        "build_files": attr.label_keyed_string_dict(doc = "BUILD file template in cxsec -> its path inside the repository"),
        "debian_package": attr.string(doc = "the package that provides the files, named in errors"),
    },
)

def _generated_files_repository_impl(ctx):
    for path, content in ctx.attr.files.items():
        ctx.file(path, content)
    ctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(ctx.name))

generated_files_repository = repository_rule(
    implementation = _generated_files_repository_impl,
    attrs = {"files": attr.string_dict()},
)

def _mirror_tree(ctx, system_dir, repo_dir):
    # Links file by file (not the directory itself) so that BUILD files can
    # be written into the mirrored packages without touching /usr/include.
    result = ctx.execute(["find", system_dir, "-type", "f"])
    if result.return_code != 0:
        fail("cxsec: cannot list {}: {}".format(system_dir, result.stderr))
    for path in result.stdout.splitlines():
        ctx.symlink(path, repo_dir + path[len(system_dir):])

def _system_absl_repository_impl(ctx):
    include = ctx.path("/usr/include/absl")
    if not include.exists:
        fail("cxsec: /usr/include/absl is missing; run tools/setup/install-deps.sh (Debian package: libabsl-dev)")
    _mirror_tree(ctx, "/usr/include/absl", "absl")
    libs = sorted([
        e.basename[len("lib"):-len(".so")]
        for e in ctx.path("/usr/lib/x86_64-linux-gnu").readdir()
        if e.basename.startswith("libabsl_") and e.basename.endswith(".so")
    ])
    ctx.file("BUILD.bazel", "\n".join([
        "# Abseil from Debian's libabsl-dev (20220623), as one library.",
        "package(default_visibility = [\"//visibility:public\"])",
        "cc_library(",
        "    name = \"absl\",",
        "    hdrs = glob([\"absl/**/*.h\", \"absl/**/*.inc\"]),",
        "    includes = [\".\"],",
        "    linkopts = [{}],".format(", ".join(["\"-l{}\"".format(l) for l in libs])),
        ")",
        "",
    ]))
    for package, names in ctx.attr.targets.items():
        ctx.file("absl/{}/BUILD.bazel".format(package), "\n".join(
            ["package(default_visibility = [\"//visibility:public\"])"] +
            ["alias(name = \"{}\", actual = \"//:absl\")".format(n) for n in names],
        ) + "\n")
    ctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(ctx.name))

system_absl_repository = repository_rule(
    implementation = _system_absl_repository_impl,
    local = True,
    attrs = {"targets": attr.string_list_dict()},
)

def _debian_source_repository_impl(ctx):
    source = ctx.path(ctx.attr.source_dir)
    stamp = ctx.path(ctx.attr.source_dir + "/.cxsec-debian-version")
    if not stamp.exists:
        fail("cxsec: {} is missing; run tools/setup/install-deps.sh (it unpacks Debian's source package {} there)".format(
            ctx.attr.source_dir,
            ctx.attr.debian_source_package,
        ))

    # Reading the stamp makes Bazel refetch when install-deps.sh unpacks a
    # new version.
    version = ctx.read(stamp).strip()
    if not version.startswith(ctx.attr.version_prefix):
        fail("cxsec: {} holds {} {}, but cxsec is written for {}*; re-run tools/setup/install-deps.sh".format(
            ctx.attr.source_dir,
            ctx.attr.debian_source_package,
            version,
            ctx.attr.version_prefix,
        ))
    for entry in ctx.attr.directories:
        if entry in ctx.attr.copy_directories:
            # Copied, not linked: a patch must not change the shared tree.
            result = ctx.execute(["cp", "-R", str(source.get_child(entry)), entry])
            if result.return_code != 0:
                fail("cxsec: cannot copy {}: {}".format(entry, result.stderr))
        else:
            ctx.symlink(source.get_child(entry), entry)
    for patch in ctx.attr.patches:
        ctx.patch(patch, strip = 1)
    ctx.template("BUILD.bazel", ctx.attr.build_file_template, substitutions = {
        "{debian_version}": version,
        "{config_target}": ctx.attr.config_target,
    })
    ctx.file("WORKSPACE", "workspace(name = \"{}\")\n".format(ctx.name))

debian_source_repository = repository_rule(
    doc = """A source tree unpacked from a Debian source package (apt-get source),
    as a repository that Bazel compiles with cxsec's own BUILD file.""",
    implementation = _debian_source_repository_impl,
    local = True,
    attrs = {
        "source_dir": attr.string(mandatory = True, doc = "where install-deps.sh unpacked the source"),
        "debian_source_package": attr.string(mandatory = True, doc = "named in errors"),
        "version_prefix": attr.string(mandatory = True, doc = "the Debian version must start with this"),
        "directories": attr.string_list(doc = "top-level folders of the tree to link in"),
        "copy_directories": attr.string_list(doc = "those of `directories` to copy instead (the patches change them)"),
        "patches": attr.label_list(doc = "patches applied to the copied folders, -p1, in order"),
        "build_file_template": attr.label(mandatory = True, doc = "BUILD file; {debian_version} and {config_target} are replaced"),
        "config_target": attr.string(doc = "the cc_library carrying the configuration header, a label string"),
    },
)
