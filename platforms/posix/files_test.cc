#include "platforms/posix/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
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
  EXPECT_NE(access((path + ".tmp." + std::to_string(getpid())).c_str(), F_OK), 0);
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
