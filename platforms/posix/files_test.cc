#include "platforms/posix/files.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "gtest/gtest.h"

namespace cxsec {
namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

mode_t ModeOf(const std::string& path) {
  struct stat info;
  EXPECT_EQ(stat(path.c_str(), &info), 0);
  return info.st_mode & 07777;
}

TEST(FilesTest, AtomicWriteSetsExactModeAndReplaces) {
  std::string path = TempDir() + "/atomic.key";
  ASSERT_TRUE(WriteFileAtomically(path, "first", 0600).ok());
  EXPECT_EQ(ModeOf(path), 0600u);
  ASSERT_TRUE(WriteFileAtomically(path, "second", 0600).ok());
  EXPECT_EQ(*ReadFileBounded(path, 100), "second");
  EXPECT_NE(access((path + ".tmp." + std::to_string(getpid())).c_str(), F_OK),
            0);
}

TEST(FilesTest, PrivateFileRefusedWhenGroupOrOthersHaveAccess) {
  std::string path = TempDir() + "/broad.key";
  ASSERT_TRUE(WriteFileAtomically(path, "secret", 0644).ok());
  absl::StatusOr<std::string> read = ReadPrivateFile(path, 100);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied);
  std::string message(read.status().message());
  EXPECT_NE(message.find(path), std::string::npos);
  EXPECT_NE(message.find("mode 0644"), std::string::npos);
  EXPECT_EQ(message.find("secret"), message.find("secret files"));

  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  EXPECT_FALSE(ReadPrivateFile(path, 100).ok());
  ASSERT_EQ(chmod(path.c_str(), 0604), 0);
  EXPECT_FALSE(ReadPrivateFile(path, 100).ok());
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  EXPECT_EQ(*ReadPrivateFile(path, 100), "secret");
  ASSERT_EQ(chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(ReadPrivateFile(path, 100).ok());
}

std::string MessageOf(const absl::Status& status) {
  return std::string(status.message());
}

// InChild runs `body` in a forked child and returns its exit code, or 128
// plus the signal that ended it. The child arms alarm(2) only as a hang
// guard: a call that blocks forever would otherwise hang the whole test
// until Bazel's timeout; no result depends on how long anything takes.
int InChild(const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(120);
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

// The temp name used to be `<path>.tmp.<pid>`: a symbolic link planted
// there made WriteFileAtomically (run as root) write through it into any
// file. Planting one at that name and at every name the directory could
// hold must leave the link's target alone.
TEST(FilesTest, AtomicWriteNeverWritesThroughAPlantedLink) {
  std::string dir = TempDir() + "/planted";
  ASSERT_TRUE(MakeDirectories(dir, 0700).ok());
  std::string victim = dir + "/victim";
  ASSERT_TRUE(WriteFileAtomically(victim, "victim's content", 0600).ok());
  std::string path = dir + "/state";
  std::string predictable = path + ".tmp." + std::to_string(getpid());
  ASSERT_EQ(symlink(victim.c_str(), predictable.c_str()), 0);

  ASSERT_TRUE(WriteFileAtomically(path, "new state", 0600).ok());
  EXPECT_EQ(*ReadFileBounded(victim, 100), "victim's content");
  EXPECT_EQ(*ReadFileBounded(path, 100), "new state");
  struct stat info;
  ASSERT_EQ(lstat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode)) << "path must be the new file itself";
  unlink(predictable.c_str());

  // A link at the target itself is replaced by the new file, not followed.
  ASSERT_EQ(unlink(path.c_str()), 0);
  ASSERT_EQ(symlink(victim.c_str(), path.c_str()), 0);
  ASSERT_TRUE(WriteFileAtomically(path, "replaced the link", 0600).ok());
  EXPECT_EQ(*ReadFileBounded(victim, 100), "victim's content");
  ASSERT_EQ(lstat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));
  EXPECT_EQ(*ReadFileBounded(path, 100), "replaced the link");
}

TEST(FilesTest, AtomicWriteLeavesNoTemporaryFiles) {
  std::string dir = TempDir() + "/no-leftovers";
  ASSERT_TRUE(MakeDirectories(dir, 0700).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WriteFileAtomically(dir + "/f", std::to_string(i), 0600).ok());
  }
  std::FILE* listing = popen(("ls -A " + dir).c_str(), "r");
  ASSERT_NE(listing, nullptr);
  char line[256];
  std::string names;
  while (std::fgets(line, sizeof(line), listing) != nullptr) names += line;
  pclose(listing);
  EXPECT_EQ(names, "f\n");
}

// Where the file system has no O_TMPFILE the temp file gets a random name
// at once: same result, same mode, no leftovers, a planted link untouched.
TEST(FilesTest, AtomicWriteWithNamedTempFile) {
  std::string dir = TempDir() + "/named-temp";
  ASSERT_TRUE(MakeDirectories(dir, 0700).ok());
  std::string victim = dir + "/victim";
  ASSERT_TRUE(WriteFileAtomically(victim, "victim's content", 0600).ok());
  std::string path = dir + "/state";
  ASSERT_EQ(symlink(victim.c_str(), path.c_str()), 0);
  ASSERT_TRUE(
      files_internal::WriteFileAtomicallyWithNamedTemp(path, "one", 0640).ok());
  ASSERT_TRUE(
      files_internal::WriteFileAtomicallyWithNamedTemp(path, "two", 0600).ok());
  EXPECT_EQ(*ReadFileBounded(path, 100), "two");
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(*ReadFileBounded(victim, 100), "victim's content");
  std::FILE* listing = popen(("ls -A " + dir).c_str(), "r");
  ASSERT_NE(listing, nullptr);
  char line[256];
  std::string names;
  while (std::fgets(line, sizeof(line), listing) != nullptr) names += line;
  pclose(listing);
  EXPECT_EQ(names, "state\nvictim\n");
}

TEST(FilesTest, PrivateFileIsNotReadThroughASymbolicLink) {
  std::string target = TempDir() + "/real.key";
  ASSERT_TRUE(WriteFileAtomically(target, "secret", 0600).ok());
  std::string link = TempDir() + "/link.key";
  unlink(link.c_str());
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  absl::StatusOr<std::string> read = ReadPrivateFile(link, 100);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(MessageOf(read.status()).find(link), std::string::npos);
  EXPECT_NE(MessageOf(read.status()).find("symbolic link"), std::string::npos);
  EXPECT_FALSE(CheckPrivateMode(link).ok());
  EXPECT_EQ(*ReadPrivateFile(target, 100), "secret");
}

// With no writer, open(2) of a FIFO blocks forever: a FIFO planted where a
// key belongs used to hang the gateway's start-up.
TEST(FilesTest, PrivateFifoIsRefusedWithoutBlocking) {
  std::string fifo = TempDir() + "/fifo.key";
  unlink(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  int code = InChild([&] {
    absl::StatusOr<std::string> read = ReadPrivateFile(fifo, 100);
    if (read.ok()) return 1;
    std::string message = MessageOf(read.status());
    std::fprintf(stderr, "%s\n", message.c_str());
    if (message.find(fifo) == std::string::npos) return 2;
    if (message.find("FIFO") == std::string::npos) return 3;
    if (CheckPrivateMode(fifo).ok()) return 4;
    if (ReadFileBounded(fifo, 100).ok()) return 5;
    return 0;
  });
  EXPECT_EQ(code, 0) << "128 + 14 means the read blocked (SIGALRM)";
}

// Even at 0600, another account's file is refused: its owner could have
// written whatever it holds.
TEST(FilesTest, PrivateFileOwnedByAnotherAccountIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  std::string path = TempDir() + "/foreign.key";
  ASSERT_TRUE(WriteFileAtomically(path, "secret", 0600).ok());
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  absl::StatusOr<std::string> read = ReadPrivateFile(path, 100);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(MessageOf(read.status()).find(path), std::string::npos);
  EXPECT_NE(MessageOf(read.status()).find("owned by uid 65534"),
            std::string::npos);
  EXPECT_FALSE(CheckPrivateMode(path).ok());
  // Root's own file and the running account's file are fine.
  ASSERT_EQ(chown(path.c_str(), 0, 0), 0);
  EXPECT_EQ(*ReadPrivateFile(path, 100), "secret");
}

TEST(FilesTest, PrivateFileRefusedWithAnyBitBeyond0600) {
  std::string path = TempDir() + "/bits.key";
  ASSERT_TRUE(WriteFileAtomically(path, "secret", 0600).ok());
  for (mode_t mode : {0700, 0610, 0601, 04600, 02600, 01600}) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    absl::StatusOr<std::string> read = ReadPrivateFile(path, 100);
    EXPECT_FALSE(read.ok()) << std::oct << mode;
    EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_NE(MessageOf(read.status()).find("chmod 600"), std::string::npos);
  }
}

TEST(FilesTest, BoundedReadRejectsLargeFiles) {
  std::string path = TempDir() + "/large";
  ASSERT_TRUE(WriteFileAtomically(path, std::string(101, 'x'), 0600).ok());
  absl::StatusOr<std::string> read = ReadFileBounded(path, 100);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(std::string(read.status().message()).find("limit is 100"),
            std::string::npos);
}

TEST(FilesTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadFileBounded(TempDir() + "/nope", 10).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FilesTest, DirectoryIsNotARegularFile) {
  EXPECT_FALSE(ReadFileBounded(TempDir(), 10).ok());
}

TEST(FilesTest, ExclusiveCreateNeverOverwrites) {
  std::string path = TempDir() + "/exclusive.key";
  ASSERT_TRUE(CreateFileExclusively(path, "one", 0600).ok());
  absl::Status again = CreateFileExclusively(path, "two", 0600);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*ReadFileBounded(path, 10), "one");
  EXPECT_EQ(ModeOf(path), 0600u);
}

TEST(FilesTest, MakeDirectoriesCreatesParents) {
  std::string path = TempDir() + "/a/b/c";
  ASSERT_TRUE(MakeDirectories(path, 0700).ok());
  ASSERT_TRUE(MakeDirectories(path, 0700).ok());
  EXPECT_EQ(ModeOf(path), 0700u);
}

}  // namespace
}  // namespace cxsec
