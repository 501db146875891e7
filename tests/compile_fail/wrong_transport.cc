// Must NOT compile: a class without Start(MessageSink)/Stop() used as the
// Transport policy. compile_fail_test.sh checks that the compiler's first
// error is SecurityCore's static_assert naming the concept.
#include "core/policy/unconfigured.h"
#include "core/security_core.h"

struct NotATransport {
  static constexpr absl::string_view kName = "oops";
  void Start() {}
};

int main() {
  cxsec::SecurityCore<NotATransport, cxsec::UnconfiguredIdentity,
                      cxsec::UnconfiguredUplink>
      core({}, {}, {});
  return core.Start(nullptr).ok() ? 0 : 1;
}
