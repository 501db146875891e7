// The drop is process-wide and irreversible, so each case runs in a forked
// child and reports through its exit code. Tests here run as root; cases
// that need root skip otherwise.
#include "platforms/posix/privileges.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "platforms/posix/files.h"

namespace cxsec {
namespace {

// InChild runs `body` in a forked child; returns its exit code.
int InChild(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

// CapabilitySet returns the hex value of `name` (CapBnd, ...) from
// /proc/self/status, or "" if absent.
std::string CapabilitySet(const std::string& name) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      size_t start = line.find_first_not_of(" \t", name.size() + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "";
}

// DropByHand drops to `nobody` the way a careless program would: ids only,
// keeping `groups` and the bounding set, then asks VerifyCannotRegainRoot.
// Returns 0 if the verification refused with `expected` in its message.
int DropByHandAndExpectRefusal(const std::vector<gid_t>& groups,
                               const std::string& expected) {
  Account nobody = *LookUpAccount("nobody");
  if (::setgroups(groups.size(), groups.data()) != 0) return 20;
  if (::setresgid(nobody.gid, nobody.gid, nobody.gid) != 0) return 21;
  if (::setresuid(nobody.uid, nobody.uid, nobody.uid) != 0) return 22;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 23;
  absl::Status verified = VerifyCannotRegainRoot();
  std::fprintf(stderr, "%s\n", verified.ToString().c_str());
  if (verified.ok()) return 24;
  if (verified.message().find(expected) == absl::string_view::npos) return 25;
  return 0;
}

class PrivilegesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!LookUpAccount("nobody").ok()) GTEST_SKIP() << "no 'nobody' account";
  }
};

TEST_F(PrivilegesTest, DropsToTheAccountAndCannotRegainRoot) {
  std::string secret = absl::StrCat(std::getenv("TEST_TMPDIR"), "/root-only");
  ASSERT_TRUE(WriteFileAtomically(secret, "key material", 0600).ok());
  // Opened before the drop: still usable after it (the TPM device case).
  int early_fd = ::open(secret.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(early_fd, 0);
  Account nobody = *LookUpAccount("nobody");
  int code = InChild([&] {
    absl::Status dropped = DropPrivileges("nobody");
    if (!dropped.ok()) {
      std::fprintf(stderr, "%s\n", std::string(dropped.message()).c_str());
      return 1;
    }
    if (::getuid() != nobody.uid || ::geteuid() != nobody.uid) return 2;
    if (::getgid() != nobody.gid || ::getegid() != nobody.gid) return 3;
    gid_t groups[8];
    int n = ::getgroups(8, groups);
    if (n > 1 || (n == 1 && groups[0] != nobody.gid)) return 4;
    if (::setuid(0) == 0 || ::seteuid(0) == 0) return 5;  // cannot regain
    if (::setgid(0) == 0 || ::setgroups(0, nullptr) == 0) return 6;
    if (::open(secret.c_str(), O_RDONLY) >= 0) return 7;  // root's 0600 file
    char byte;
    if (::pread(early_fd, &byte, 1, 0) != 1) return 8;
    if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return 9;
    if (::getgroups(0, nullptr) != 0) return 10;  // no supplementary group
    if (CapabilitySet("CapBnd") != "0000000000000000") return 11;
    if (CapabilitySet("CapAmb") != "0000000000000000") return 12;
    if (CapabilitySet("CapEff") != "0000000000000000") return 13;
    return 0;
  });
  ::close(early_fd);
  EXPECT_EQ(code, 0) << "see the child's exit code in the test body";
}

TEST_F(PrivilegesTest, RefusesRootAndUnknownAccounts) {
  EXPECT_EQ(DropPrivileges("root").code(), absl::StatusCode::kInvalidArgument);
  absl::Status unknown = DropPrivileges("cxsec-no-such-account");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.message().find("cxsec-no-such-account"), std::string::npos);
  EXPECT_EQ(::geteuid(), 0u) << "a refused drop must not change anything";
}

TEST_F(PrivilegesTest, StartedAsAnotherUnprivilegedUserIsAnError) {
  Account nobody = *LookUpAccount("nobody");
  int code = InChild([&] {
    gid_t gid = nobody.gid;
    if (::setgroups(1, &gid) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(nobody.uid, nobody.uid, nobody.uid) != 0) {
      return 10;
    }
    // Already 'nobody' but with the full bounding set (systemd's User=
    // without CapabilityBoundingSet=): refused, naming the set.
    absl::Status bounded = DropPrivileges("nobody");
    if (bounded.ok() ||
        bounded.message().find("CapBnd") == absl::string_view::npos) {
      return 13;
    }
    return 0;
  });
  EXPECT_EQ(code, 0);
  code = InChild([&] {
    gid_t gid = nobody.gid;
    // As systemd's CapabilityBoundingSet= does before exec.
    for (unsigned long cap = 0; ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0;
         ++cap) {
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return 14;
    }
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(nobody.uid, nobody.uid, nobody.uid) != 0) {
      return 10;
    }
    // Already 'nobody' with nothing left to drop: fine, and
    // NO_NEW_PRIVS gets set.
    absl::Status dropped = DropPrivileges("nobody");
    if (!dropped.ok()) {
      std::fprintf(stderr, "%s\n", dropped.ToString().c_str());
      return 11;
    }
    // A third account cannot be reached from here.
    absl::Status other = DropPrivileges("daemon");
    return other.code() == absl::StatusCode::kPermissionDenied ? 0 : 12;
  });
  EXPECT_EQ(code, 0);
}

// A drop that kept a supplementary group (here root's group 0 would be
// refused by the gid check, so use the disk-ish group 6) or the bounding
// set is not a drop: VerifyCannotRegainRoot must say so.
TEST_F(PrivilegesTest, VerifyRefusesLeftoverGroupsAndCapabilitySets) {
  EXPECT_EQ(InChild([] {
              Account nobody = *LookUpAccount("nobody");
              return DropByHandAndExpectRefusal({nobody.gid, 6},
                                                "supplementary group 6");
            }),
            0);
  EXPECT_EQ(InChild([] { return DropByHandAndExpectRefusal({}, "CapBnd"); }),
            0);
}

TEST_F(PrivilegesTest, VerifyFailsWhileStillRoot) {
  EXPECT_FALSE(VerifyCannotRegainRoot().ok());
}

}  // namespace
}  // namespace cxsec
