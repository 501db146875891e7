#include "platforms/posix/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
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
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is ", info.st_size, " bytes; the limit is ", max_bytes));
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

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// CheckPrivateDescriptor checks what was actually opened: a regular file,
// nothing granted to group or others, owned by the running account or
// root. Another account's file is refused even at 0600: whoever owns it
// can rewrite it (a key or config we did not write), and root reading a
// user's file would let that user steer a root process.
absl::Status CheckPrivateDescriptor(
    int fd, const std::string& path,
    std::optional<uid_t> service_account = std::nullopt) {
  struct stat info;
  if (fstat(fd, &info) != 0) return ErrnoError("cannot stat", path, errno);
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", FileTypeName(info.st_mode),
                     ", not a regular file; secret files must be regular "
                     "files"));
  }
  mode_t permissions = info.st_mode & 07777;
  // Nothing beyond 0600: no group or other access, and no execute,
  // setuid, setgid or sticky bit, none of which a secret has a use for.
  if ((permissions & ~static_cast<mode_t>(0600)) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s has mode %04o: secret files must not be accessible by group or "
        "others nor carry any mode bit beyond 0600 (run: chmod 600 %s)",
        path, permissions, path));
  }
  uid_t running = geteuid();
  if (info.st_uid != running && info.st_uid != 0 &&
      !(service_account.has_value() && info.st_uid == *service_account)) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s is owned by uid %d, but secret files must belong to the running "
        "account (uid %d) or root (run: chown %d %s)",
        path, static_cast<int>(info.st_uid), static_cast<int>(running),
        static_cast<int>(running), path));
  }
  return absl::OkStatus();
}

// OpenPrivate opens a secret without following a symbolic link in its last
// component and without blocking: a FIFO planted in place of a key would
// otherwise hang start-up forever in open(2). O_NONBLOCK is cleared again
// once the descriptor is known to be a regular file.
absl::StatusOr<int> OpenPrivate(
    const std::string& path,
    std::optional<uid_t> service_account = std::nullopt) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    int error = errno;
    if (error == ELOOP) {
      return absl::PermissionDeniedError(
          absl::StrCat(path,
                       " is a symbolic link; secret files are not read through "
                       "links (point the config at the file itself)"));
    }
    return ErrnoError("cannot open", path, error);
  }
  absl::Status checked = CheckPrivateDescriptor(fd, path, service_account);
  if (!checked.ok()) {
    close(fd);
    return checked;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    int error = errno;
    close(fd);
    return ErrnoError("cannot clear O_NONBLOCK on", path, error);
  }
  return fd;
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

std::string BaseNameOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// RandomSuffix: 16 hex digits from the kernel's CSPRNG, so a temp name
// cannot be guessed and prepared in advance by another account.
absl::StatusOr<std::string> RandomSuffix() {
  uint64_t value = 0;
  size_t got = 0;
  while (got < sizeof(value)) {
    ssize_t n = getrandom(reinterpret_cast<char*>(&value) + got,
                          sizeof(value) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(
          absl::StrCat("getrandom: ", std::strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return absl::StrFormat("%016x", value);
}

// TempFile: a complete, fsynced temporary file with a name in the target's
// directory, ready to be renamed over the target.
struct TempFile {
  std::string name;  // relative to the directory
};

absl::Status FillAndSync(int fd, absl::string_view data, mode_t mode,
                         const std::string& label) {
  // open() applies the umask; the file must end up with exactly `mode`.
  if (fchmod(fd, mode) != 0) return ErrnoError("cannot chmod", label, errno);
  absl::Status status = WriteAll(fd, data, label);
  if (!status.ok()) return status;
  if (fsync(fd) != 0) return ErrnoError("cannot fsync", label, errno);
  return absl::OkStatus();
}

// Tries a few random names; EEXIST on all of them means someone is
// squatting on the directory, which is worth an error of its own.
constexpr int kTempNameAttempts = 8;

absl::StatusOr<TempFile> WriteUnnamedTemp(int dir_fd,
                                          const std::string& directory,
                                          const std::string& base,
                                          absl::string_view data, mode_t mode) {
  int fd = openat(dir_fd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
      return absl::UnimplementedError("no O_TMPFILE here");
    }
    return ErrnoError("cannot create a temporary file in", directory, errno);
  }
  absl::Cleanup closer = [fd] { close(fd); };
  std::string label = absl::StrCat(directory, "/(unnamed temporary file)");
  absl::Status filled = FillAndSync(fd, data, mode, label);
  if (!filled.ok()) return filled;
  // linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc link works
  // for any account. linkat never follows or replaces the new name.
  std::string proc_path = absl::StrCat("/proc/self/fd/", fd);
  for (int attempt = 0; attempt < kTempNameAttempts; ++attempt) {
    absl::StatusOr<std::string> suffix = RandomSuffix();
    if (!suffix.ok()) return suffix.status();
    std::string name = absl::StrCat(".", base, ".tmp-", *suffix);
    if (linkat(AT_FDCWD, proc_path.c_str(), dir_fd, name.c_str(),
               AT_SYMLINK_FOLLOW) == 0) {
      return TempFile{name};
    }
    if (errno == EEXIST) continue;
    if (errno == ENOENT) return absl::UnimplementedError("no /proc");
    return ErrnoError("cannot link a temporary file into", directory, errno);
  }
  return absl::AlreadyExistsError(
      absl::StrCat("cannot create a temporary file in ", directory,
                   ": every random name was taken"));
}

absl::StatusOr<TempFile> WriteNamedTemp(int dir_fd,
                                        const std::string& directory,
                                        const std::string& base,
                                        absl::string_view data, mode_t mode) {
  for (int attempt = 0; attempt < kTempNameAttempts; ++attempt) {
    absl::StatusOr<std::string> suffix = RandomSuffix();
    if (!suffix.ok()) return suffix.status();
    std::string name = absl::StrCat(".", base, ".tmp-", *suffix);
    // O_EXCL with O_CREAT also refuses a symbolic link at the name, and
    // O_NOFOLLOW says so explicitly.
    int fd = openat(dir_fd, name.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return ErrnoError("cannot create a temporary file in", directory, errno);
    }
    absl::Status filled;
    {
      absl::Cleanup closer = [fd] { close(fd); };
      filled = FillAndSync(fd, data, mode, absl::StrCat(directory, "/", name));
    }
    if (!filled.ok()) {
      unlinkat(dir_fd, name.c_str(), 0);
      return filled;
    }
    return TempFile{name};
  }
  return absl::AlreadyExistsError(
      absl::StrCat("cannot create a temporary file in ", directory,
                   ": every random name was taken"));
}

}  // namespace

absl::StatusOr<std::string> ReadFileBounded(const std::string& path,
                                            size_t max_bytes) {
  // O_NONBLOCK so that a FIFO is reported, not waited on.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  absl::Cleanup closer = [fd] { close(fd); };
  struct stat info;
  if (fstat(fd, &info) != 0) return ErrnoError("cannot stat", path, errno);
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is ", FileTypeName(info.st_mode), ", not a regular file"));
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return ErrnoError("cannot clear O_NONBLOCK on", path, errno);
  }
  return ReadFromDescriptor(fd, path, max_bytes);
}

absl::Status CheckPrivateMode(const std::string& path) {
  absl::StatusOr<int> fd = OpenPrivate(path);
  if (!fd.ok()) return fd.status();
  close(*fd);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPrivateFile(const std::string& path,
                                            size_t max_bytes) {
  return ReadPrivateFile(path, max_bytes, std::nullopt);
}

absl::StatusOr<std::string> ReadPrivateFile(
    const std::string& path, size_t max_bytes,
    std::optional<uid_t> service_account) {
  absl::StatusOr<int> fd = OpenPrivate(path, service_account);
  if (!fd.ok()) return fd.status();
  absl::Cleanup closer = [fd = *fd] { close(fd); };
  return ReadFromDescriptor(*fd, path, max_bytes);
}

namespace {

absl::Status WriteFileAtomicallyVia(const std::string& path,
                                    absl::string_view data, mode_t mode,
                                    bool try_unnamed_temp) {
  std::string directory = DirectoryOf(path);
  int dir_fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoError("cannot open directory", directory, errno);
  absl::Cleanup dir_closer = [dir_fd] { close(dir_fd); };
  std::string base = BaseNameOf(path);

  // Preferred: an unnamed file (O_TMPFILE), so a crash mid-write leaves
  // nothing behind; it gets a name only once complete. Not every file
  // system has O_TMPFILE, and linking it needs /proc: then a named temp
  // file is created exclusively instead.
  absl::StatusOr<TempFile> temp =
      try_unnamed_temp ? WriteUnnamedTemp(dir_fd, directory, base, data, mode)
                       : absl::UnimplementedError("named temp file requested");
  if (!temp.ok() && temp.status().code() == absl::StatusCode::kUnimplemented) {
    temp = WriteNamedTemp(dir_fd, directory, base, data, mode);
  }
  if (!temp.ok()) return temp.status();
  // renameat replaces `path` itself; a symbolic link there is replaced, not
  // followed.
  if (renameat(dir_fd, temp->name.c_str(), dir_fd, base.c_str()) != 0) {
    int error = errno;
    unlinkat(dir_fd, temp->name.c_str(), 0);
    return ErrnoError("cannot rename over", path, error);
  }
  if (fsync(dir_fd) != 0) return ErrnoError("cannot fsync", directory, errno);
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view data, mode_t mode) {
  return WriteFileAtomicallyVia(path, data, mode, /*try_unnamed_temp=*/true);
}

namespace files_internal {

absl::Status WriteFileAtomicallyWithNamedTemp(const std::string& path,
                                              absl::string_view data,
                                              mode_t mode) {
  return WriteFileAtomicallyVia(path, data, mode, /*try_unnamed_temp=*/false);
}

}  // namespace files_internal

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
