// cxsec: the operator CLI. Subcommands register themselves
// (command_registry.h); this file only dispatches.
#include <cstdio>
#include <cstring>
#include <string>

#include "core/version.h"
#include "tools/cli/command_registry.h"

namespace {

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "Usage: cxsec COMMAND [ARGS...]\n\n"
               "The cxsec operator CLI: keys, tokens, firmware, deployments.\n"
               "Run 'cxsec COMMAND --help' for a command's flags.\n\n"
               "Commands:\n");
  for (const auto& [name, command] : cxsec::cli::CommandTable()) {
    std::fprintf(out, "  %-12s %s\n", name.c_str(), command.summary.c_str());
  }
  std::fprintf(out, "  %-12s %s\n", "version", "print the version");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 ||
      std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "help") == 0) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0 ||
      std::strcmp(argv[1], "version") == 0) {
    std::printf("cxsec %s\n", cxsec::kVersion);
    return 0;
  }
  auto& table = cxsec::cli::CommandTable();
  auto it = table.find(argv[1]);
  if (it == table.end()) {
    std::fprintf(stderr, "cxsec: unknown command '%s' (see cxsec --help)\n",
                 argv[1]);
    return 2;
  }
  return it->second.run(argc - 2, argv + 2);
}
