// SqliteSpool::Open as the service account: a spool directory that
// account does not own is reported with the errno and the fix. Each case
// drops to 'nobody' in a forked child, which Bazel's sandbox denies, so
// this test runs outside it (tags = ["no-sandbox"]).
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "transports/uplink/sqlite_spool.h"

namespace cxsec {
namespace {

// The gateway opens its spool after dropping to run_as_user; a spool
// directory left to root must say so and give the fix, not just "cannot
// open". Runs as `nobody` in a forked child (the drop is irreversible).
TEST(SqliteSpoolOwnerTest,
     DirectoryOwnedByAnotherAccountNamesTheCauseAndTheFix) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become 'nobody'";
  struct passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no 'nobody' account";
  uid_t uid = nobody->pw_uid;
  gid_t gid = nobody->pw_gid;
  // Under /tmp, not TEST_TMPDIR: 'nobody' must be able to reach the
  // directory, as the service account reaches /var/lib.
  char dir_template[] = "/tmp/cxsec-spool-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  ASSERT_EQ(::chmod(dir.c_str(), 0700), 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      ::_exit(3);
    }
    auto spool =
        SqliteSpool::Open(SqliteSpoolOptions{.path = dir + "/spool.db"});
    std::string message(spool.ok() ? "opened" : spool.status().message());
    ssize_t written = ::write(pipe_fds[1], message.data(), message.size());
    ::_exit(written == static_cast<ssize_t>(message.size()) ? 0 : 4);
  }
  ::close(pipe_fds[1]);
  std::string message;
  char buffer[512];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buffer, sizeof(buffer))) > 0) {
    message.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::rmdir(dir.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(message.find(absl::StrCat("spool: cannot open ", dir,
                                      "/spool.db: Permission denied")),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(absl::StrCat("the directory ", dir,
                                      " is owned by 'root' (uid 0) but the "
                                      "gateway runs as 'nobody' (uid ",
                                      uid, ")")),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(absl::StrCat("chown -R nobody: ", dir)),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace cxsec
