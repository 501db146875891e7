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

#include <cstdlib>
#include <functional>
#include <string>

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
    // Already 'nobody': fine, and NO_NEW_PRIVS gets set.
    if (!DropPrivileges("nobody").ok()) return 11;
    // A third account cannot be reached from here.
    absl::Status other = DropPrivileges("daemon");
    return other.code() == absl::StatusCode::kPermissionDenied ? 0 : 12;
  });
  EXPECT_EQ(code, 0);
}

TEST_F(PrivilegesTest, VerifyFailsWhileStillRoot) {
  EXPECT_FALSE(VerifyCannotRegainRoot().ok());
}

}  // namespace
}  // namespace cxsec
