#include "platforms/posix/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace cxsec {

absl::StatusOr<Account> LookUpAccount(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("empty account name");
  struct passwd entry;
  struct passwd* found = nullptr;
  std::vector<char> buffer(16384);
  int error =
      ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (error != 0 || found == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("account '", name,
                     "' does not exist (create it, e.g. "
                     "with targets/gateway/systemd/cxsec.sysusers.conf)"));
  }
  if (found->pw_uid == 0 || found->pw_gid == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("account '", name,
                     "' has uid or gid 0; run as an unprivileged account"));
  }
  return Account{name, found->pw_uid, found->pw_gid};
}

absl::Status VerifyCannotRegainRoot() {
  if (::getuid() == 0 || ::geteuid() == 0 || ::getgid() == 0 ||
      ::getegid() == 0) {
    return absl::InternalError("process still has a root uid or gid");
  }
  // These must fail now; if one succeeds the drop was not real.
  if (::setuid(0) == 0 || ::seteuid(0) == 0 || ::setgid(0) == 0 ||
      ::setegid(0) == 0) {
    return absl::InternalError("process could regain root after dropping");
  }
  // Supplementary groups: none but the primary group may remain, or the
  // process keeps whatever root's groups (disk, adm, tss ...) could open.
  gid_t primary = ::getgid();
  int count = ::getgroups(0, nullptr);
  if (count < 0) {
    return absl::InternalError(
        absl::StrCat("getgroups: ", std::strerror(errno)));
  }
  std::vector<gid_t> groups(static_cast<size_t>(count) + 1);
  count = ::getgroups(static_cast<int>(groups.size()), groups.data());
  if (count < 0) {
    return absl::InternalError(
        absl::StrCat("getgroups: ", std::strerror(errno)));
  }
  for (int i = 0; i < count; ++i) {
    if (groups[static_cast<size_t>(i)] != primary) {
      return absl::InternalError(
          absl::StrCat("process still has supplementary group ",
                       groups[static_cast<size_t>(i)]));
    }
  }
  // Every capability set must be empty: effective and permitted (what the
  // process can do), inheritable and ambient (what an exec could keep) and
  // the bounding set (what could ever be gained again).
  std::ifstream status("/proc/self/status");
  if (!status) {
    return absl::InternalError(
        "cannot read /proc/self/status to check capabilities");
  }
  std::string line;
  int capability_sets_seen = 0;
  bool no_new_privs = false;
  while (std::getline(status, line)) {
    for (const char* field :
         {"CapEff:", "CapPrm:", "CapInh:", "CapAmb:", "CapBnd:"}) {
      if (absl::StartsWith(line, field)) {
        ++capability_sets_seen;
        absl::string_view value =
            absl::StripAsciiWhitespace(absl::StripPrefix(line, field));
        if (value.empty() ||
            value.find_first_not_of('0') != absl::string_view::npos) {
          return absl::InternalError(absl::StrCat(
              "process still holds capabilities: ", line,
              absl::StartsWith(line, "CapBnd:")
                  ? " (the bounding set can only be cleared with "
                    "CAP_SETPCAP; under systemd use CapabilityBoundingSet= "
                    "with User=, or keep CAP_SETPCAP in the unit's set)"
                  : ""));
        }
      }
    }
    if (absl::StartsWith(line, "NoNewPrivs:")) {
      no_new_privs = absl::StripAsciiWhitespace(
                         absl::StripPrefix(line, "NoNewPrivs:")) == "1";
    }
  }
  if (capability_sets_seen != 5) {
    return absl::InternalError(
        "/proc/self/status lacks a capability set; cannot check the drop");
  }
  if (!no_new_privs) {
    return absl::InternalError("PR_SET_NO_NEW_PRIVS is not set");
  }
  return absl::OkStatus();
}

namespace {

// ClearCapabilityLimits empties the ambient set and the bounding set.
// Dropping from the bounding set needs CAP_SETPCAP; without it (an
// unprivileged start, or a unit that leaves CAP_SETPCAP out) nothing is
// dropped here and VerifyCannotRegainRoot says which set is not empty.
void ClearCapabilityLimits() {
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (unsigned long capability = 0;
       ::prctl(PR_CAPBSET_READ, capability, 0, 0, 0) >= 0; ++capability) {
    if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 && errno == EPERM) {
      return;
    }
  }
}

}  // namespace

absl::Status DropPrivileges(const std::string& name) {
  absl::StatusOr<Account> account = LookUpAccount(name);
  if (!account.ok()) return account.status();
  uid_t uid = ::getuid();
  if (uid != 0 && ::geteuid() != 0) {
    if (uid != account->uid) {
      return absl::PermissionDeniedError(absl::StrCat(
          "started as uid ", uid, ", which is neither root nor '", name, "'"));
    }
  } else {
    gid_t gid = account->gid;
    if (::setgroups(0, nullptr) != 0) {
      return absl::InternalError(
          absl::StrCat("setgroups: ", std::strerror(errno)));
    }
    if (::setresgid(gid, gid, gid) != 0) {
      return absl::InternalError(
          absl::StrCat("setresgid: ", std::strerror(errno)));
    }
    // While still root (CAP_SETPCAP): nothing may be regained later.
    ClearCapabilityLimits();
    if (::setresuid(account->uid, account->uid, account->uid) != 0) {
      return absl::InternalError(
          absl::StrCat("setresuid: ", std::strerror(errno)));
    }
  }
  if (uid != 0 && ::geteuid() != 0) ClearCapabilityLimits();
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return absl::InternalError(
        absl::StrCat("PR_SET_NO_NEW_PRIVS: ", std::strerror(errno)));
  }
  // Core dumps of a process that held root could hold secrets.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return VerifyCannotRegainRoot();
}

}  // namespace cxsec
