// The subcommands of the `cxsec` operator CLI. Each subcommand lives in
// its own library and registers itself at static-initialisation time, so
// adding one never touches main.cc:
//
//   CXSEC_REGISTER_COMMAND(fw, "signed firmware images (MCUboot format)",
//                          RunFirmwareCommand);
//
// A command receives its arguments after the subcommand name and returns
// a process exit code (0 ok, 1 failure, 2 usage error).
#ifndef CXSEC_TOOLS_CLI_COMMAND_REGISTRY_H_
#define CXSEC_TOOLS_CLI_COMMAND_REGISTRY_H_

#include <functional>
#include <map>
#include <string>

namespace cxsec::cli {

using CommandFunction = std::function<int(int argc, const char* const* argv)>;

struct Command {
  std::string summary;
  CommandFunction run;
};

inline std::map<std::string, Command>& CommandTable() {
  static auto* table = new std::map<std::string, Command>();
  return *table;
}

struct CommandRegistration {
  CommandRegistration(const char* name, const char* summary,
                      CommandFunction run) {
    CommandTable()[name] = Command{summary, std::move(run)};
  }
};

}  // namespace cxsec::cli

#define CXSEC_REGISTER_COMMAND(name, summary, function)       \
  static ::cxsec::cli::CommandRegistration                    \
      cxsec_command_registration_##name(#name, summary, function)

#endif  // CXSEC_TOOLS_CLI_COMMAND_REGISTRY_H_
