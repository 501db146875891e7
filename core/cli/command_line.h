// A small command-line parser for cxsec's binaries and the `cxsec` CLI:
// `--name=value`, `--name value`, boolean `--name`, `--` and positionals.
// Unlike absl flags it has no global registry, so each subcommand of
// `cxsec` declares its own flags, and an unknown flag is an error that
// names it.
//
//   CommandLine cl({{"config", true, "path of the config file"},
//                   {"check-config", false, "validate and exit"}});
//   CXSEC_RETURN_IF_ERROR(cl.Parse(argc - 1, argv + 1));
//   std::string path = cl.Value("config");
#ifndef CXSEC_CORE_CLI_COMMAND_LINE_H_
#define CXSEC_CORE_CLI_COMMAND_LINE_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cxsec {

// FlagSpec: one flag a command accepts.
struct FlagSpec {
  std::string name;        // without the leading "--"
  bool takes_value = true;
  std::string help;
  std::string value_name = "VALUE";
};

// CommandLine: parsed flags and positionals of one command.
class CommandLine {
 public:
  explicit CommandLine(std::vector<FlagSpec> specs) : specs_(std::move(specs)) {
    specs_.push_back({"help", false, "show this help and exit", ""});
    specs_.push_back({"version", false, "print the version and exit", ""});
  }

  // Parse reads `argc` arguments from `argv` (the program or subcommand
  // name already removed). A flag given twice is an error.
  [[nodiscard]] absl::Status Parse(int argc, const char* const* argv) {
    bool only_positionals = false;
    for (int i = 0; i < argc; ++i) {
      absl::string_view arg = argv[i];
      if (only_positionals || arg.size() < 2 || arg.substr(0, 2) != "--") {
        positionals_.emplace_back(arg);
        continue;
      }
      if (arg == "--") {
        only_positionals = true;
        continue;
      }
      absl::string_view body = arg.substr(2);
      std::optional<absl::string_view> inline_value;
      if (size_t eq = body.find('='); eq != absl::string_view::npos) {
        inline_value = body.substr(eq + 1);
        body = body.substr(0, eq);
      }
      const FlagSpec* spec = FindSpec(body);
      if (spec == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown flag '--", body, "' (see --help)"));
      }
      std::string value;
      if (spec->takes_value) {
        if (inline_value) {
          value = std::string(*inline_value);
        } else if (i + 1 < argc) {
          value = argv[++i];
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat("flag '--", body, "' needs a value"));
        }
      } else if (inline_value) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag '--", body, "' takes no value"));
      }
      if (!values_.try_emplace(std::string(body), std::move(value)).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag '--", body, "' given twice"));
      }
    }
    return absl::OkStatus();
  }

  bool Has(absl::string_view name) const { return values_.contains(name); }

  std::string Value(absl::string_view name, absl::string_view fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? std::string(fallback) : it->second;
  }

  // RequiredValue returns the flag's value or an error naming the flag.
  [[nodiscard]] absl::StatusOr<std::string> RequiredValue(
      absl::string_view name) const {
    auto it = values_.find(name);
    if (it == values_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing required flag '--", name, "'"));
    }
    return it->second;
  }

  // IntValue parses the flag as an integer in [min, max].
  [[nodiscard]] absl::StatusOr<long long> IntValue(absl::string_view name,
                                                   long long fallback,
                                                   long long min,
                                                   long long max) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    long long value = 0;
    if (!absl::SimpleAtoi(it->second, &value) || value < min || value > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag '--", name, "' must be an integer between ", min,
                       " and ", max));
    }
    return value;
  }

  const std::vector<std::string>& positionals() const { return positionals_; }

  // Usage renders the flag list for --help.
  std::string Usage() const {
    std::string out;
    for (const FlagSpec& spec : specs_) {
      std::string left = absl::StrCat("  --", spec.name);
      if (spec.takes_value) absl::StrAppend(&left, "=", spec.value_name);
      if (left.size() < 28) left.resize(28, ' ');
      else left += "  ";
      absl::StrAppend(&out, left, spec.help, "\n");
    }
    return out;
  }

 private:
  const FlagSpec* FindSpec(absl::string_view name) const {
    for (const FlagSpec& spec : specs_) {
      if (spec.name == name) return &spec;
    }
    return nullptr;
  }

  std::vector<FlagSpec> specs_;
  absl::flat_hash_map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

}  // namespace cxsec

#endif  // CXSEC_CORE_CLI_COMMAND_LINE_H_
