// Never compiled: the firmware rule must refuse this image at analysis
// time because it depends on Abseil (see firmware_rule_test.bzl).
#include "absl/status/status.h"

int main() { return absl::OkStatus().ok() ? 0 : 1; }
