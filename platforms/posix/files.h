// File access for hosts (gateway, verifier, CLI, simulated nodes): bounded
// reads, secret files that must be private, and crash-safe replacement.
//
// Key and config files holding secrets are refused when group or others
// have any access: a key that other accounts could read must be treated as
// leaked, so cxsec fails closed and says which file and mode.
//
//   CXSEC_ASSIGN_OR_RETURN(std::string pem, ReadPrivateFile(path, 64 << 10));
//   CXSEC_RETURN_IF_ERROR(WriteFileAtomically(path, data, 0600));
#ifndef CXSEC_PLATFORMS_POSIX_FILES_H_
#define CXSEC_PLATFORMS_POSIX_FILES_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cxsec {

// ReadFileBounded reads a whole regular file of at most `max_bytes`.
[[nodiscard]] absl::StatusOr<std::string> ReadFileBounded(
    const std::string& path, size_t max_bytes);

// CheckPrivateMode fails unless `path` is a regular file whose mode grants
// nothing to group or others (e.g. 0600 or 0400). The error names the file
// and its mode and says how to fix it.
[[nodiscard]] absl::Status CheckPrivateMode(const std::string& path);

// ReadPrivateFile is CheckPrivateMode followed by ReadFileBounded. The mode
// is checked on the opened descriptor, so the file cannot be swapped
// between the check and the read.
[[nodiscard]] absl::StatusOr<std::string> ReadPrivateFile(
    const std::string& path, size_t max_bytes);

// WriteFileAtomically replaces `path` with `data`: it writes a temporary
// file in the same directory with `mode`, fsyncs it, renames it over
// `path` and fsyncs the directory. Readers see the old or the new file,
// never a mix, even after a crash or power loss.
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

}  // namespace cxsec

#endif  // CXSEC_PLATFORMS_POSIX_FILES_H_
