// Parser for cxsec's line-oriented configuration files (binary configs,
// security.txt). The format, documented in docs/CONFIG.md:
//
//   # comment
//   key = value          # keys: [a-z0-9_.-]+, values: the rest, trimmed
//
// Every error names the line. The input is bounded (size, line length,
// number of entries) because these files can come from an operator's copy
// of another machine. Values may be secrets, so errors never echo them.
//
//   absl::StatusOr<KeyValueFile> file = KeyValueFile::Parse(text, "gw.conf");
//   CXSEC_RETURN_IF_ERROR(file->CheckKeys(schema));
#ifndef CXSEC_CORE_CONFIG_KEY_VALUE_FILE_H_
#define CXSEC_CORE_CONFIG_KEY_VALUE_FILE_H_

#include <cstddef>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cxsec {

// KeyValueLimits: bounds on what Parse accepts.
struct KeyValueLimits {
  size_t max_bytes = 1 << 20;
  size_t max_line_length = 4096;
  size_t max_entries = 10000;
};

// ConfigKey: one key a config file may hold.
struct ConfigKey {
  absl::string_view name;
  bool required = false;
  absl::string_view help;  // one line, shown by --help
};

// KeyValueFile: a parsed file; entries keep their line numbers for errors.
// QuoteKey: a key name for an error message. Key files (.seal,
// security.txt) hold secrets as hex values; a line where a value ended up
// left of the '=' must not have it quoted into a log, so a name with a run
// of 16 or more hex digits, or one longer than 64 bytes, is described by
// its length only.
inline std::string QuoteKey(absl::string_view key) {
  size_t run = 0;
  for (char c : key) {
    run = absl::ascii_isxdigit(static_cast<unsigned char>(c)) ? run + 1 : 0;
    if (run >= 16) {
      return absl::StrCat("of ", key.size(), " characters (not quoted: it "
                          "looks like key material)");
    }
  }
  if (key.size() > 64) return absl::StrCat("of ", key.size(), " characters");
  return absl::StrCat("'", key, "'");
}

class KeyValueFile {
 public:
  struct Entry {
    std::string key;
    std::string value;
    int line = 0;
  };

  // Parse parses `text`; `source` names the file in errors.
  [[nodiscard]] static absl::StatusOr<KeyValueFile> Parse(
      absl::string_view text, absl::string_view source,
      const KeyValueLimits& limits = KeyValueLimits()) {
    KeyValueFile file;
    file.source_ = std::string(source);
    if (text.size() > limits.max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": file of ", text.size(),
                       " bytes exceeds the limit of ", limits.max_bytes));
    }
    int line_number = 0;
    size_t position = 0;
    while (position < text.size()) {
      size_t end = text.find('\n', position);
      if (end == absl::string_view::npos) end = text.size();
      absl::string_view line = text.substr(position, end - position);
      position = end + 1;
      ++line_number;
      if (line.size() > limits.max_line_length) {
        return file.LineError(line_number,
                              absl::StrCat("line longer than ",
                                           limits.max_line_length, " bytes"));
      }
      for (char c : line) {
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r') ||
            c == 0x7f) {
          return file.LineError(line_number, "control character in line");
        }
      }
      absl::string_view content = StripComment(line);
      content = absl::StripAsciiWhitespace(content);
      if (content.empty()) continue;
      size_t equals = content.find('=');
      if (equals == absl::string_view::npos) {
        return file.LineError(line_number, "expected 'key = value'");
      }
      absl::string_view key =
          absl::StripAsciiWhitespace(content.substr(0, equals));
      absl::string_view value =
          absl::StripAsciiWhitespace(content.substr(equals + 1));
      if (key.empty()) return file.LineError(line_number, "empty key");
      for (char c : key) {
        if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' ||
              c == '.' || c == '-')) {
          return file.LineError(
              line_number,
              absl::StrCat("key ", QuoteKey(key),
                           " may only hold a-z, 0-9, '_', '.' and '-'"));
        }
      }
      auto [it, inserted] =
          file.index_.try_emplace(std::string(key), file.entries_.size());
      if (!inserted) {
        return file.LineError(
            line_number,
            absl::StrCat("duplicate key ", QuoteKey(key), " (first set on line ",
                         file.entries_[it->second].line, ")"));
      }
      if (file.entries_.size() >= limits.max_entries) {
        return file.LineError(line_number,
                              absl::StrCat("more than ", limits.max_entries,
                                           " entries"));
      }
      file.entries_.push_back(
          Entry{std::string(key), std::string(value), line_number});
    }
    return file;
  }

  const std::string& source() const { return source_; }
  const std::vector<Entry>& entries() const { return entries_; }

  // Find returns the entry for `key`, if present.
  const Entry* Find(absl::string_view key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }

  // CheckKeys fails on the first unknown key (naming its line) or the first
  // missing required key.
  [[nodiscard]] absl::Status CheckKeys(
      const std::vector<ConfigKey>& schema) const {
    for (const Entry& entry : entries_) {
      bool known = false;
      for (const ConfigKey& k : schema) known |= (k.name == entry.key);
      if (!known) {
        std::vector<absl::string_view> names;
        for (const ConfigKey& k : schema) names.push_back(k.name);
        return LineError(entry.line,
                         absl::StrCat("unknown key ", QuoteKey(entry.key),
                                      " (known keys: ",
                                      absl::StrJoin(names, ", "), ")"));
      }
    }
    for (const ConfigKey& k : schema) {
      if (k.required && Find(k.name) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            source_, ": missing required key '", k.name, "'"));
      }
    }
    return absl::OkStatus();
  }

  // GetString returns the value of `key`, or `fallback` when absent.
  std::string GetString(absl::string_view key,
                        absl::string_view fallback = "") const {
    const Entry* entry = Find(key);
    return entry ? entry->value : std::string(fallback);
  }

  // GetInt parses `key` as an integer in [min, max]; absent keys give
  // `fallback`.
  [[nodiscard]] absl::StatusOr<long long> GetInt(absl::string_view key,
                                                 long long fallback,
                                                 long long min,
                                                 long long max) const {
    const Entry* entry = Find(key);
    if (entry == nullptr) return fallback;
    long long value = 0;
    if (!absl::SimpleAtoi(entry->value, &value)) {
      return LineError(entry->line,
                       absl::StrCat("'", key, "' must be an integer"));
    }
    if (value < min || value > max) {
      return LineError(entry->line,
                       absl::StrCat("'", key, "' must be between ", min,
                                    " and ", max));
    }
    return value;
  }

  // GetBool parses `key` as true/false; absent keys give `fallback`.
  [[nodiscard]] absl::StatusOr<bool> GetBool(absl::string_view key,
                                             bool fallback) const {
    const Entry* entry = Find(key);
    if (entry == nullptr) return fallback;
    if (entry->value == "true") return true;
    if (entry->value == "false") return false;
    return LineError(entry->line,
                     absl::StrCat("'", key, "' must be true or false"));
  }

  // LineError builds an error that names this file and `line`.
  absl::Status LineError(int line, absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ":", line, ": ", message));
  }

 private:
  // A '#' starts a comment anywhere; values therefore cannot hold '#'
  // (keys, hex, paths and URLs used by cxsec never need one).
  static absl::string_view StripComment(absl::string_view line) {
    size_t hash = line.find('#');
    return hash == absl::string_view::npos ? line : line.substr(0, hash);
  }

  std::string source_;
  std::vector<Entry> entries_;
  absl::flat_hash_map<std::string, size_t> index_;
};

}  // namespace cxsec

#endif  // CXSEC_CORE_CONFIG_KEY_VALUE_FILE_H_
