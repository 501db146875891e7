#include "core/deployment/node_key_file.h"

#include "gtest/gtest.h"

namespace cxsec {
namespace {

TEST(NodeKeyFileTest, RoundTripsAndNamesBadLines) {
  NodeKey key{"D00112233445566AA", 0x1a2b, 4,
              SecretBytes::CopyFrom(Bytes(kDevicePskBytes, 7))};
  std::string text = FormatNodeKeyFile(key);
  absl::StatusOr<NodeKey> parsed = ParseNodeKeyFile(text, "n.key");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->device_id, key.device_id);
  EXPECT_EQ(parsed->pan_id, 0x1a2b);
  EXPECT_EQ(parsed->epoch, 4u);
  EXPECT_TRUE(parsed->psk.Equals(key.psk));

  std::string bad = text;
  bad.replace(bad.find("psk = ") + 6, 2, "");
  absl::StatusOr<NodeKey> short_psk = ParseNodeKeyFile(bad, "n.key");
  ASSERT_FALSE(short_psk.ok());
  EXPECT_NE(short_psk.status().message().find("n.key:7:"), std::string::npos)
      << short_psk.status();
  std::string bad_id = text;
  bad_id.replace(bad_id.find("D00112233445566AA"), 2, "X0");
  EXPECT_FALSE(ParseNodeKeyFile(bad_id, "n.key").ok());
  EXPECT_FALSE(ParseNodeKeyFile(text + "extra = 1\n", "n.key").ok());
}

}  // namespace
}  // namespace cxsec
