// The real cxsec-verifier binary on its first start: the bootstrap admin
// API key goes to a new file of mode 0600, created exclusively, and never
// to stdout or stderr (systemd copies both into the journal). An existing
// file at that path, or a symbolic link there, is neither overwritten nor
// followed: the verifier refuses to start and creates no admin whose key
// nobody received.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/child_process.h"

namespace cxsec::verifier {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class BootstrapKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(std::system(("mkdir -p " + dir_).c_str()), 0);
    auto cert = testing::MakeTestCert(dir_);
    ASSERT_TRUE(cert.ok()) << cert.status();
    cert_ = *cert;
    port_ = testing::FreeLoopbackPort();
    key_file_ = dir_ + "/admin.key";
    config_ = dir_ + "/verifier.conf";
    std::ofstream(config_) << "data_dir = " << dir_
                           << "/data\nlisten = 127.0.0.1:" << port_
                           << "\ntls_cert = " << cert_.cert_file
                           << "\ntls_key = " << cert_.key_file
                           << "\nbootstrap_key_file = " << key_file_ << "\n";
    chmod(config_.c_str(), 0600);
  }

  // Runs the binary with its output in `name`.stdout/.stderr; returns once
  // it listens (bounded) or has exited (then `exit_status` is set).
  absl::StatusOr<cxsec::testing::ChildProcess> Start(const std::string& name,
                                                     int* exit_status) {
    out_ = dir_ + "/" + name;
    absl::StatusOr<cxsec::testing::ChildProcess> child =
        cxsec::testing::ChildProcess::Start(
            {"targets/verifier/cxsec-verifier", "--config=" + config_},
            {.stdout_path = out_ + ".stdout", .stderr_path = out_ + ".stderr"});
    if (!child.ok()) return child.status();
    for (int i = 0; i < 300; ++i) {
      if (absl::StrContains(ReadAll(out_ + ".stderr"), "listening"))
        return child;
      // Peek without reaping; Wait() reaps, so the child's pid is not
      // killed again later.
      siginfo_t info{};
      if (waitid(P_PID, child->pid(), &info, WEXITED | WNOHANG | WNOWAIT) ==
              0 &&
          info.si_pid == child->pid()) {
        absl::StatusOr<int> status = child->Wait(absl::Seconds(5));
        if (status.ok()) *exit_status = *status;
        return absl::FailedPreconditionError("exited: " +
                                             ReadAll(out_ + ".stderr"));
      }
      usleep(100 * 1000);
    }
    return absl::DeadlineExceededError("did not start: " +
                                       ReadAll(out_ + ".stderr"));
  }

  std::string Output() {
    return ReadAll(out_ + ".stdout") + ReadAll(out_ + ".stderr");
  }

  unsigned ListProjects(const std::string& key) {
    auto r = testing::HttpsRequest(port_, cert_.cert_file, "GET",
                                   "/v1/projects", key, "");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->status : 0;
  }

  std::string dir_;
  testing::TestCert cert_;
  uint16_t port_ = 0;
  std::string key_file_;
  std::string config_;
  std::string out_;
};

TEST_F(BootstrapKeyTest, FirstStartWritesTheKeyOnlyToANewPrivateFile) {
  int exit_status = -1;
  auto first = Start("first", &exit_status);
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat info;
  ASSERT_EQ(lstat(key_file_.c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  std::string key(absl::StripSuffix(ReadAll(key_file_), "\n"));
  ASSERT_TRUE(absl::StartsWith(key, "cxk_admin_")) << key;
  // The secret is base64url, which may itself contain '_'.
  std::string secret = key.substr(std::string("cxk_admin_").size());
  ASSERT_GE(secret.size(), 40u);
  std::string output = Output();
  EXPECT_FALSE(absl::StrContains(output, "cxk_")) << output;
  EXPECT_FALSE(absl::StrContains(output, secret.substr(0, 12))) << output;
  EXPECT_TRUE(absl::StrContains(output, key_file_))
      << "the log says where the key is";
  EXPECT_EQ(ListProjects(key), 200u);
  ASSERT_TRUE(first->SignalAndWait(SIGTERM).ok());

  // Later starts find principals and leave the file alone.
  auto second = Start("second", &exit_status);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(ReadAll(key_file_), key + "\n");
  EXPECT_FALSE(absl::StrContains(Output(), "cxk_"));
  EXPECT_EQ(ListProjects(key), 200u);
  ASSERT_TRUE(second->SignalAndWait(SIGTERM).ok());
}

TEST_F(BootstrapKeyTest, ExistingFileOrLinkIsNeverOverwrittenOrFollowed) {
  std::ofstream(key_file_) << "someone else's file\n";
  int exit_status = -1;
  auto refused = Start("refused", &exit_status);
  ASSERT_FALSE(refused.ok());
  ASSERT_TRUE(WIFEXITED(exit_status)) << refused.status();
  EXPECT_NE(WEXITSTATUS(exit_status), 0);
  EXPECT_TRUE(absl::StrContains(Output(), key_file_)) << Output();
  EXPECT_FALSE(absl::StrContains(Output(), "cxk_")) << Output();
  EXPECT_EQ(ReadAll(key_file_), "someone else's file\n");

  // A link to a file the attacker wants overwritten is not followed.
  std::string target = dir_ + "/victim";
  std::ofstream(target) << "victim\n";
  ASSERT_EQ(unlink(key_file_.c_str()), 0);
  ASSERT_EQ(symlink(target.c_str(), key_file_.c_str()), 0);
  exit_status = -1;
  auto linked = Start("linked", &exit_status);
  ASSERT_FALSE(linked.ok());
  EXPECT_EQ(ReadAll(target), "victim\n");
  EXPECT_FALSE(absl::StrContains(Output(), "cxk_")) << Output();

  // The refused starts left no admin behind: with the path free, the
  // next start bootstraps one and its key works.
  ASSERT_EQ(unlink(key_file_.c_str()), 0);
  auto started = Start("started", &exit_status);
  ASSERT_TRUE(started.ok()) << started.status();
  std::string key(absl::StripSuffix(ReadAll(key_file_), "\n"));
  EXPECT_EQ(ListProjects(key), 200u);
  ASSERT_TRUE(started->SignalAndWait(SIGTERM).ok());
}

}  // namespace
}  // namespace cxsec::verifier
