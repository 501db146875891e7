// The shared start-up of cxsec's per-target binaries (cxsec-gateway,
// cxsec-node, cxsec-verifier): --help, --version, --config=PATH and
// --check-config, then the target's own Run function. The config file is
// parsed and checked against the target's key list before anything starts,
// so a typo is reported with its line instead of being ignored.
#ifndef CXSEC_TARGETS_COMMON_BINARY_MAIN_H_
#define CXSEC_TARGETS_COMMON_BINARY_MAIN_H_

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/cli/command_line.h"
#include "core/config/key_value_file.h"
#include "core/status.h"
#include "core/version.h"
#include "platforms/posix/files.h"

namespace cxsec {

// TargetBinary: what one per-target binary declares.
struct TargetBinary {
  std::string name;         // "cxsec-gateway"
  std::string summary;      // one line for --help
  std::string composition;  // the SecurityCore alias, for --version
  std::vector<ConfigKey> config_keys;
  // Validates values beyond key names (formats, ranges); names the line.
  std::function<absl::Status(const KeyValueFile&)> validate;
  // Runs the binary with a validated config.
  std::function<absl::Status(const KeyValueFile&)> run;
};

inline constexpr size_t kMaxConfigBytes = 256 * 1024;

// LoadTargetConfig reads, parses and validates a target's config file.
// Config files may hold key paths and tokens, so they must be private.
[[nodiscard]] inline absl::StatusOr<KeyValueFile> LoadTargetConfig(
    const TargetBinary& binary, const std::string& path) {
  absl::StatusOr<std::string> text = ReadPrivateFile(path, kMaxConfigBytes);
  if (!text.ok()) return text.status();
  absl::StatusOr<KeyValueFile> file = KeyValueFile::Parse(*text, path);
  if (!file.ok()) return file.status();
  absl::Status keys = file->CheckKeys(binary.config_keys);
  if (!keys.ok()) return keys;
  if (binary.validate) {
    absl::Status valid = binary.validate(*file);
    if (!valid.ok()) return valid;
  }
  return file;
}

// RunTargetBinary is the whole main() of a target binary.
inline int RunTargetBinary(const TargetBinary& binary, int argc,
                           const char* const* argv) {
  CommandLine cl({
      {"config", true, "the config file (required; mode 0600)", "PATH"},
      {"check-config", false, "validate the config file and exit", ""},
  });
  absl::Status parsed = cl.Parse(argc - 1, argv + 1);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s: %s\n", binary.name.c_str(),
                 std::string(parsed.message()).c_str());
    return 2;
  }
  if (cl.Has("help")) {
    std::string help = absl::StrCat(
        "Usage: ", binary.name, " --config=PATH [--check-config]\n\n",
        binary.summary, "\n\nFlags:\n", cl.Usage(), "\nConfig keys:\n");
    for (const ConfigKey& key : binary.config_keys) {
      std::string left = absl::StrCat("  ", key.name);
      // A key as long as the column still gets a space, so the name can
      // be read (and docs/config_doc_test can take it) from the help.
      if (left.size() < 24) {
        left.resize(24, ' ');
      } else {
        left += "  ";
      }
      absl::StrAppend(&help, left, key.required ? "(required) " : "", key.help,
                      "\n");
    }
    std::fputs(help.c_str(), stdout);
    return 0;
  }
  if (cl.Has("version")) {
    std::printf("%s %s (%s)\n", binary.name.c_str(), kVersion,
                binary.composition.c_str());
    return 0;
  }
  if (!cl.positionals().empty()) {
    std::fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n",
                 binary.name.c_str(), cl.positionals()[0].c_str());
    return 2;
  }
  if (!cl.Has("config")) {
    std::fprintf(stderr, "%s: missing required flag '--config' (see --help)\n",
                 binary.name.c_str());
    return 2;
  }
  absl::StatusOr<KeyValueFile> config =
      LoadTargetConfig(binary, cl.Value("config"));
  if (!config.ok()) {
    std::fprintf(stderr, "%s: %s\n", binary.name.c_str(),
                 std::string(config.status().message()).c_str());
    return 1;
  }
  if (cl.Has("check-config")) {
    std::printf("%s: %s is valid (%zu keys)\n", binary.name.c_str(),
                config->source().c_str(), config->entries().size());
    return 0;
  }
  absl::Status status = binary.run(*config);
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", binary.name.c_str(),
                 std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

// CheckIdFormat checks ids such as "G" + 18 hex digits or "D" + 16.
[[nodiscard]] inline absl::Status CheckIdFormat(const KeyValueFile& file,
                                                absl::string_view key,
                                                char prefix, size_t hex_digits) {
  const KeyValueFile::Entry* entry = file.Find(key);
  if (entry == nullptr) return absl::OkStatus();
  const std::string& value = entry->value;
  bool ok = value.size() == hex_digits + 1 && value[0] == prefix;
  for (size_t i = 1; ok && i < value.size(); ++i) {
    ok = absl::ascii_isxdigit(static_cast<unsigned char>(value[i]));
  }
  if (!ok) {
    return file.LineError(
        entry->line, absl::StrCat("'", key, "' must be '", std::string(1, prefix),
                                  "' followed by ", hex_digits, " hex digits"));
  }
  return absl::OkStatus();
}

// CheckOneOf checks that `key`, if present, holds one of `allowed`.
[[nodiscard]] inline absl::Status CheckOneOf(
    const KeyValueFile& file, absl::string_view key,
    const std::vector<std::string>& allowed) {
  const KeyValueFile::Entry* entry = file.Find(key);
  if (entry == nullptr) return absl::OkStatus();
  for (const std::string& a : allowed) {
    if (entry->value == a) return absl::OkStatus();
  }
  return file.LineError(entry->line,
                        absl::StrCat("'", key, "' must be one of: ",
                                     absl::StrJoin(allowed, ", ")));
}

}  // namespace cxsec

#endif  // CXSEC_TARGETS_COMMON_BINARY_MAIN_H_
