#include "core/encoding/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace cxsec {
namespace {

TEST(Utf8Test, ValidityFollowsRfc3629) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsValidUtf8("\xc3"));                                 // cut
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));                             // cut
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

TEST(Utf8Test, PrefixNeverEndsInsideACharacter) {
  std::string text =
      "ab\xc3\xa9"
      "cd\xe2\x82\xac"
      "e\xf0\x9f\x98\x80";
  for (size_t max = 0; max <= text.size() + 1; ++max) {
    absl::string_view prefix = Utf8Prefix(text, max);
    EXPECT_LE(prefix.size(), max);
    EXPECT_TRUE(IsValidUtf8(prefix)) << "max " << max;
    EXPECT_EQ(absl::string_view(text).substr(0, prefix.size()), prefix);
    // Longest: one more character would not fit.
    if (prefix.size() < text.size()) {
      size_t next = prefix.size() + 1;
      while (next < text.size() &&
             (static_cast<uint8_t>(text[next]) & 0xc0) == 0x80)
        ++next;
      EXPECT_GT(next, max) << "max " << max;
    }
  }
  EXPECT_EQ(Utf8Prefix("ab\xc3\xa9", 3), "ab");
  EXPECT_EQ(Utf8Prefix("ab\xc3\xa9", 4), "ab\xc3\xa9");
}

TEST(Utf8Test, ExcerptIsAlwaysValidAndBounded) {
  EXPECT_EQ(Utf8Excerpt("ES256", 32), "ES256");
  EXPECT_EQ(Utf8Excerpt("ab\xc3\xa9", 3), "ab");
  EXPECT_EQ(Utf8Excerpt("a\xff"
                        "b\xc3",
                        32),
            "a?b?");
  EXPECT_EQ(Utf8Excerpt("\xed\xa0\x80", 32), "???");
  EXPECT_EQ(Utf8Excerpt(std::string(100, 'x'), 10), std::string(10, 'x'));
  // Every byte string of up to two bytes (and a sample of three) gives a
  // valid, bounded excerpt.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      std::string text = {static_cast<char>(a), static_cast<char>(b), '\xa9'};
      for (size_t max : {0, 1, 2, 3}) {
        std::string excerpt = Utf8Excerpt(text, max);
        ASSERT_LE(excerpt.size(), max);
        ASSERT_TRUE(IsValidUtf8(excerpt)) << a << " " << b;
      }
    }
  }
}

}  // namespace
}  // namespace cxsec
