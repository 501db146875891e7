// Fuzzes the `key = value` config parser (binary configs, security.txt):
// it must never crash, whatever it accepts must obey the grammar (keys in
// [a-z0-9_.-], no '#' or control characters in values, unique keys, line
// numbers increasing), and accepted entries must re-serialise and parse to
// the same entries. The accessors run on every entry too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "core/config/key_value_file.h"

namespace {

bool KeyCharOk(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  cxsec::KeyValueLimits limits;
  limits.max_bytes = 64 << 10;
  limits.max_line_length = 512;
  limits.max_entries = 64;
  absl::StatusOr<cxsec::KeyValueFile> file =
      cxsec::KeyValueFile::Parse(text, "fuzz.conf", limits);
  if (!file.ok()) {
    // Every error names the file.
    if (!absl::StartsWith(file.status().message(), "fuzz.conf")) std::abort();
    return 0;
  }
  if (file->entries().size() > limits.max_entries) std::abort();
  std::string again;
  int previous_line = 0;
  for (const cxsec::KeyValueFile::Entry& entry : file->entries()) {
    if (entry.key.empty() || entry.line <= previous_line) std::abort();
    previous_line = entry.line;
    for (char c : entry.key) {
      if (!KeyCharOk(c)) std::abort();
    }
    for (char c : entry.value) {
      if (c == '#' || c == '\n' || c == 0x7f ||
          (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r')) {
        std::abort();
      }
    }
    if (file->Find(entry.key) != &entry) std::abort();
    (void)file->GetInt(entry.key, 0, -1000, 1000);
    (void)file->GetBool(entry.key, false);
    again += entry.key + " = " + entry.value + "\n";
  }
  (void)file->CheckKeys({{"a", true, ""}, {"b", false, ""}});
  // Re-serialising writes "key = value": a line accepted at the length
  // limit without spaces around '=' grows by two characters.
  cxsec::KeyValueLimits reparse_limits = limits;
  reparse_limits.max_line_length += 2;
  reparse_limits.max_bytes += 2 * limits.max_entries;
  absl::StatusOr<cxsec::KeyValueFile> reparsed =
      cxsec::KeyValueFile::Parse(again, "again", reparse_limits);
  if (!reparsed.ok() ||
      reparsed->entries().size() != file->entries().size()) {
    std::abort();
  }
  for (size_t i = 0; i < file->entries().size(); ++i) {
    if (reparsed->entries()[i].key != file->entries()[i].key ||
        reparsed->entries()[i].value != file->entries()[i].value) {
      std::abort();
    }
  }
  return 0;
}
