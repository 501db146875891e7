#include "core/cli/command_line.h"

#include <vector>

#include "gtest/gtest.h"

namespace cxsec {
namespace {

absl::Status ParseArgs(CommandLine& cl, std::vector<const char*> args) {
  return cl.Parse(static_cast<int>(args.size()), args.data());
}

TEST(CommandLineTest, ParsesFlagsAndPositionals) {
  CommandLine cl({{"config", true, "", "PATH"}, {"verbose", false, "", ""}});
  ASSERT_TRUE(ParseArgs(cl, {"--config", "a.conf", "pos1", "--verbose",
                             "--", "--not-a-flag"})
                  .ok());
  EXPECT_EQ(cl.Value("config"), "a.conf");
  EXPECT_TRUE(cl.Has("verbose"));
  EXPECT_EQ(cl.positionals(), (std::vector<std::string>{"pos1", "--not-a-flag"}));
}

TEST(CommandLineTest, InlineValues) {
  CommandLine cl({{"counter", true, "", "N"}});
  ASSERT_TRUE(ParseArgs(cl, {"--counter=42"}).ok());
  EXPECT_EQ(*cl.IntValue("counter", 0, 0, 100), 42);
  EXPECT_FALSE(cl.IntValue("counter", 0, 0, 10).ok());
}

TEST(CommandLineTest, ErrorsNameTheFlag) {
  CommandLine a({{"config", true, "", "PATH"}});
  EXPECT_EQ(ParseArgs(a, {"--confg=x"}).message(),
            "unknown flag '--confg' (see --help)");
  CommandLine b({{"config", true, "", "PATH"}});
  EXPECT_EQ(ParseArgs(b, {"--config"}).message(),
            "flag '--config' needs a value");
  CommandLine c({{"config", true, "", "PATH"}});
  EXPECT_EQ(ParseArgs(c, {"--config=a", "--config=b"}).message(),
            "flag '--config' given twice");
  CommandLine d({});
  EXPECT_EQ(ParseArgs(d, {"--help=yes"}).message(),
            "flag '--help' takes no value");
  CommandLine e({});
  EXPECT_EQ(e.RequiredValue("key").status().message(),
            "missing required flag '--key'");
}

TEST(CommandLineTest, UsageListsFlagsIncludingHelp) {
  CommandLine cl({{"config", true, "path of the config file", "PATH"}});
  std::string usage = cl.Usage();
  EXPECT_NE(usage.find("--config=PATH"), std::string::npos);
  EXPECT_NE(usage.find("--help"), std::string::npos);
  EXPECT_NE(usage.find("--version"), std::string::npos);
}

}  // namespace
}  // namespace cxsec
