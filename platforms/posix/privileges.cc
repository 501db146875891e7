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
  int error = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(),
                           &found);
  if (error != 0 || found == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("account '", name, "' does not exist (create it, e.g. "
                     "with targets/gateway/systemd/cxsec.sysusers.conf)"));
  }
  if (found->pw_uid == 0 || found->pw_gid == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "account '", name, "' has uid or gid 0; run as an unprivileged account"));
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
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    for (const char* field : {"CapEff:", "CapPrm:"}) {
      if (absl::StartsWith(line, field)) {
        absl::string_view value =
            absl::StripAsciiWhitespace(absl::StripPrefix(line, field));
        if (value.find_first_not_of('0') != absl::string_view::npos) {
          return absl::InternalError(
              absl::StrCat("process still holds capabilities: ", line));
        }
      }
    }
    if (absl::StartsWith(line, "NoNewPrivs:") &&
        absl::StripAsciiWhitespace(absl::StripPrefix(line, "NoNewPrivs:")) !=
            "1") {
      return absl::InternalError("PR_SET_NO_NEW_PRIVS is not set");
    }
  }
  return absl::OkStatus();
}

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
    if (::setgroups(1, &gid) != 0) {
      return absl::InternalError(
          absl::StrCat("setgroups: ", std::strerror(errno)));
    }
    if (::setresgid(gid, gid, gid) != 0) {
      return absl::InternalError(
          absl::StrCat("setresgid: ", std::strerror(errno)));
    }
    if (::setresuid(account->uid, account->uid, account->uid) != 0) {
      return absl::InternalError(
          absl::StrCat("setresuid: ", std::strerror(errno)));
    }
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return absl::InternalError(
        absl::StrCat("PR_SET_NO_NEW_PRIVS: ", std::strerror(errno)));
  }
  // Core dumps of a process that held root could hold secrets.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return VerifyCannotRegainRoot();
}

}  // namespace cxsec
