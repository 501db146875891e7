"""Analysis tests of cortex_m_firmware (//platforms/cortex_m:firmware.bzl).

cortex_m_firmware_failure_test: passes when `target_under_test` (a
cortex_m_firmware target) fails analysis with a message containing
`expected_message`. Used to show that an image depending on a host-only
library (Abseil, ...) cannot be built: the negative half of the
device-dependency check; the positive half is every image's
<name>_linkage_test.

Written on Bazel's own analysis-test support rather than skylib's
analysistest, which would need skylib's toolchains registered in WORKSPACE.
"""

_allow_failures = analysis_test_transition(
    settings = {"//command_line_option:allow_analysis_failures": "True"},
)

def _cortex_m_firmware_failure_test_impl(ctx):
    target = ctx.attr.target_under_test[0]
    if AnalysisFailureInfo not in target:
        return [AnalysisTestResultInfo(
            success = False,
            message = "{} built, but it should have failed with: {}".format(target.label, ctx.attr.expected_message),
        )]
    messages = [cause.message for cause in target[AnalysisFailureInfo].causes.to_list()]
    found = [m for m in messages if ctx.attr.expected_message in m]
    return [AnalysisTestResultInfo(
        success = len(found) > 0,
        message = "\n".join(found) if found else "expected '{}' among:\n{}".format(
            ctx.attr.expected_message,
            "\n".join(messages),
        ),
    )]

cortex_m_firmware_failure_test = rule(
    implementation = _cortex_m_firmware_failure_test_impl,
    analysis_test = True,
    test = True,
    attrs = {
        "target_under_test": attr.label(mandatory = True, cfg = _allow_failures),
        "expected_message": attr.string(mandatory = True),
    },
)
