// Fuzzes the flag parser of the cxsec binaries and CLI: the input is split
// on NUL bytes into argv. It must never crash or read past argv, and a
// successful parse must answer every accessor consistently.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "core/cli/command_line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args =
      absl::StrSplit(text, absl::ByChar('\0'));
  if (size == 0) args.clear();
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  cxsec::CommandLine cl({{"config", true, "config file", "FILE"},
                         {"check-config", false, "validate and exit", ""},
                         {"count", true, "a number", "N"}});
  absl::Status parsed = cl.Parse(static_cast<int>(argv.size()), argv.data());
  if (!parsed.ok()) return 0;
  if (cl.positionals().size() > argv.size()) std::abort();
  if (cl.Has("config") != cl.RequiredValue("config").ok()) std::abort();
  (void)cl.IntValue("count", 0, -5, 5);
  (void)cl.Value("check-config");
  (void)cl.Usage();
  return 0;
}
