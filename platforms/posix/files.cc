#include "platforms/posix/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cxsec {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path,
                        int error) {
  std::string message =
      absl::StrCat(what, " ", path, ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::string> ReadFromDescriptor(int fd, const std::string& path,
                                               size_t max_bytes) {
  struct stat info;
  if (fstat(fd, &info) != 0) return ErrnoError("cannot stat", path, errno);
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a regular file"));
  }
  if (static_cast<size_t>(info.st_size) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", info.st_size, " bytes; the limit is ",
                     max_bytes));
  }
  std::string data;
  char buffer[8192];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read", path, errno);
    }
    if (n == 0) break;
    if (data.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " grew beyond the limit of ", max_bytes,
                       " bytes while being read"));
    }
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

absl::Status CheckDescriptorMode(int fd, const std::string& path) {
  struct stat info;
  if (fstat(fd, &info) != 0) return ErrnoError("cannot stat", path, errno);
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a regular file"));
  }
  mode_t permissions = info.st_mode & 07777;
  if ((permissions & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s has mode %04o: secret files must not be accessible by group or "
        "others (run: chmod 600 %s)",
        path, permissions, path));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path, errno);
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<std::string> ReadFileBounded(const std::string& path,
                                            size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  absl::Cleanup closer = [fd] { close(fd); };
  return ReadFromDescriptor(fd, path, max_bytes);
}

absl::Status CheckPrivateMode(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  absl::Cleanup closer = [fd] { close(fd); };
  return CheckDescriptorMode(fd, path);
}

absl::StatusOr<std::string> ReadPrivateFile(const std::string& path,
                                            size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  absl::Cleanup closer = [fd] { close(fd); };
  absl::Status mode = CheckDescriptorMode(fd, path);
  if (!mode.ok()) return mode;
  return ReadFromDescriptor(fd, path, max_bytes);
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view data, mode_t mode) {
  std::string temp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError("cannot create", temp, errno);
  bool keep_temp = false;
  absl::Cleanup remove_temp = [&] {
    if (!keep_temp) unlink(temp.c_str());
  };
  {
    absl::Cleanup closer = [fd] { close(fd); };
    // open() applies the umask; the file must end up with exactly `mode`.
    if (fchmod(fd, mode) != 0) return ErrnoError("cannot chmod", temp, errno);
    absl::Status status = WriteAll(fd, data, temp);
    if (!status.ok()) return status;
    if (fsync(fd) != 0) return ErrnoError("cannot fsync", temp, errno);
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return ErrnoError("cannot rename over", path, errno);
  }
  keep_temp = true;
  std::string directory = DirectoryOf(path);
  int dir_fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoError("cannot open directory", directory, errno);
  absl::Cleanup dir_closer = [dir_fd] { close(dir_fd); };
  if (fsync(dir_fd) != 0) return ErrnoError("cannot fsync", directory, errno);
  return absl::OkStatus();
}

absl::Status CreateFileExclusively(const std::string& path,
                                   absl::string_view data, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError("cannot create", path, errno);
  bool complete = false;
  absl::Cleanup remove_partial = [&] {
    if (!complete) unlink(path.c_str());
  };
  absl::Cleanup closer = [fd] { close(fd); };
  if (fchmod(fd, mode) != 0) return ErrnoError("cannot chmod", path, errno);
  absl::Status status = WriteAll(fd, data, path);
  if (!status.ok()) return status;
  if (fsync(fd) != 0) return ErrnoError("cannot fsync", path, errno);
  complete = true;
  return absl::OkStatus();
}

absl::Status MakeDirectories(const std::string& path, mode_t mode) {
  if (path.empty()) return absl::InvalidArgumentError("empty directory path");
  std::string partial;
  size_t position = 0;
  while (position != std::string::npos) {
    size_t next = path.find('/', position + 1);
    partial = path.substr(0, next);
    if (!partial.empty() && mkdir(partial.c_str(), mode) != 0 &&
        errno != EEXIST) {
      return ErrnoError("cannot create directory", partial, errno);
    }
    position = next;
  }
  struct stat info;
  if (stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace cxsec
