// Dropping root for good. The gateway starts as root only to open what
// needs root (the TPM device, a privileged port); then DropPrivileges
// switches every uid and gid to a dedicated unprivileged account, clears
// supplementary groups, the ambient and the bounding capability sets, sets
// PR_SET_NO_NEW_PRIVS (no setuid binary or file capability can give
// anything back) and proves the drop: regaining uid 0 or gid 0 must fail,
// no supplementary group may remain and every capability set (effective,
// permitted, inheritable, ambient, bounding) must be empty.
//
//   // ... open /dev/tpmrm0, bind sockets ...
//   CXSEC_RETURN_IF_ERROR(DropPrivileges("cxsec"));
#ifndef CXSEC_PLATFORMS_POSIX_PRIVILEGES_H_
#define CXSEC_PLATFORMS_POSIX_PRIVILEGES_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cxsec {

// Account: the ids of a local account.
struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// LookUpAccount finds `name` in the account database; refuses root (an
// account with uid 0 or gid 0 is never a place to drop to).
[[nodiscard]] absl::StatusOr<Account> LookUpAccount(const std::string& name);

// DropPrivileges switches the whole process to `name` irreversibly.
// Started as root: setgroups({}), setresgid, clears the ambient and
// bounding sets, setresuid, then checks. Started as `name` already (e.g.
// systemd's User=): sets PR_SET_NO_NEW_PRIVS and checks, so the bounding
// set must already be empty (CapabilityBoundingSet= in the unit). Started
// as anyone else: an error.
// Call it before creating threads: set*id applies to the calling thread in
// the kernel; glibc broadcasts it to others, but a process that drops
// before it has threads never depends on that.
[[nodiscard]] absl::Status DropPrivileges(const std::string& name);

// VerifyCannotRegainRoot fails if the process could become root again,
// has a supplementary group other than its primary group, has any
// capability in its effective, permitted, inheritable, ambient or
// bounding set (reads /proc/self/status), or lacks PR_SET_NO_NEW_PRIVS.
[[nodiscard]] absl::Status VerifyCannotRegainRoot();

}  // namespace cxsec

#endif  // CXSEC_PLATFORMS_POSIX_PRIVILEGES_H_
