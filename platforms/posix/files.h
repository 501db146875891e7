// File access for hosts (gateway, verifier, CLI, simulated nodes): bounded
// reads, secret files that must be private, and crash-safe replacement.
//
// Key and config files holding secrets are refused when group or others
// have any access (a key that other accounts could read must be treated as
// leaked), when another account owns them (it could have written them),
// and when they are symbolic links, FIFOs or devices. cxsec fails closed
// and says which file and what is wrong.
//
//   CXSEC_ASSIGN_OR_RETURN(std::string pem, ReadPrivateFile(path, 64 << 10));
//   CXSEC_RETURN_IF_ERROR(WriteFileAtomically(path, data, 0600));
#ifndef CXSEC_PLATFORMS_POSIX_FILES_H_
#define CXSEC_PLATFORMS_POSIX_FILES_H_

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cxsec {

// ReadFileBounded reads a whole regular file of at most `max_bytes`; a
// FIFO, device or directory is refused without blocking.
[[nodiscard]] absl::StatusOr<std::string> ReadFileBounded(
    const std::string& path, size_t max_bytes);

// CheckPrivateMode fails unless `path` is a private file: a regular file
// (not a symbolic link, FIFO, device or directory) whose mode grants nothing
// beyond 0600 (e.g. 0600 or 0400) and whose owner is the running account or
// root. The last component is never followed if it is a symbolic link, and
// a FIFO is refused without waiting for a writer. The error names the file
// and what is wrong with it, and says how to fix it.
[[nodiscard]] absl::Status CheckPrivateMode(const std::string& path);

// ReadPrivateFile is CheckPrivateMode followed by ReadFileBounded. The
// checks are made on the opened descriptor (O_NOFOLLOW | O_NONBLOCK, then
// fstat), so the file cannot be swapped between the check and the read.
[[nodiscard]] absl::StatusOr<std::string> ReadPrivateFile(
    const std::string& path, size_t max_bytes);

// ReadPrivateFile with one more account allowed to own the file: the
// service account a root process is about to drop to. A gateway reads its
// key files as root at start and again as that account on SIGHUP, so the
// files must be that account's; it holds their contents in memory after
// the drop anyway, so trusting its files adds nothing it did not have.
[[nodiscard]] absl::StatusOr<std::string> ReadPrivateFile(
    const std::string& path, size_t max_bytes,
    std::optional<uid_t> service_account);

// WriteFileAtomically replaces `path` with `data`: it writes a temporary
// file in the same directory with `mode`, fsyncs it, renames it over
// `path` and fsyncs the directory. Readers see the old or the new file,
// never a mix, even after a crash or power loss. The temporary file is an
// unnamed O_TMPFILE linked in under a random name once complete, or, where
// the file system lacks O_TMPFILE, a random name created with
// O_CREAT | O_EXCL | O_NOFOLLOW: a symbolic link planted in the directory
// is never written through, even by root. A symbolic link at `path`
// itself is replaced, not followed.
[[nodiscard]] absl::Status WriteFileAtomically(const std::string& path,
                                               absl::string_view data,
                                               mode_t mode);

// CreateFileExclusively writes a new file with `mode`, failing if it
// exists, so generating a key never overwrites an existing one.
[[nodiscard]] absl::Status CreateFileExclusively(const std::string& path,
                                                 absl::string_view data,
                                                 mode_t mode);

// MakeDirectories creates `path` and missing parents with `mode`.
[[nodiscard]] absl::Status MakeDirectories(const std::string& path,
                                           mode_t mode);

namespace files_internal {

// WriteFileAtomicallyWithNamedTemp is WriteFileAtomically on the path it
// takes where O_TMPFILE is missing (an exclusively created random name), so
// tests cover that path on file systems that have O_TMPFILE.
[[nodiscard]] absl::Status WriteFileAtomicallyWithNamedTemp(
    const std::string& path, absl::string_view data, mode_t mode);

}  // namespace files_internal

}  // namespace cxsec

#endif  // CXSEC_PLATFORMS_POSIX_FILES_H_
