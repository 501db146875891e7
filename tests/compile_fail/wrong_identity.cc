// Must NOT compile: an Uplink passed where the Identity policy belongs.
#include "core/policy/unconfigured.h"
#include "core/security_core.h"

int main() {
  cxsec::SecurityCore<cxsec::UnconfiguredTransport, cxsec::UnconfiguredUplink,
                      cxsec::UnconfiguredUplink>
      core({}, {}, {});
  return core.Start(nullptr).ok() ? 0 : 1;
}
