#include "core/secret_bytes.h"

#include <sstream>
#include <type_traits>

#include "gtest/gtest.h"

namespace cxsec {
namespace {

// Records, at the moment each block is returned, whether it was all zero.
// This observes the real cleanse path: CleansingAllocator wipes, then calls
// this allocator's deallocate, which checks the bytes before freeing them.
struct DeallocationLog {
  int blocks = 0;
  int blocks_not_zeroed = 0;
  size_t bytes = 0;
};

class ObservingAllocator : public std::allocator<uint8_t> {
 public:
  explicit ObservingAllocator(DeallocationLog* log = nullptr) : log_(log) {}
  void deallocate(uint8_t* block, size_t size) {
    if (log_ != nullptr) {
      ++log_->blocks;
      log_->bytes += size;
      for (size_t i = 0; i < size; ++i) {
        if (block[i] != 0) {
          ++log_->blocks_not_zeroed;
          break;
        }
      }
    }
    std::allocator<uint8_t>::deallocate(block, size);
  }

 private:
  DeallocationLog* log_;
};

using ObservedSecret = BasicSecretBytes<ObservingAllocator>;

TEST(SecretBytesTest, DestructionZeroizesMemory) {
  DeallocationLog log;
  {
    ObservedSecret secret = ObservedSecret::CopyFrom(
        Bytes{0xde, 0xad, 0xbe, 0xef, 0x01}, ObservingAllocator(&log));
    EXPECT_EQ(secret.size(), 5u);
  }
  EXPECT_EQ(log.blocks, 1);
  EXPECT_EQ(log.bytes, 5u);
  EXPECT_EQ(log.blocks_not_zeroed, 0);
}

TEST(SecretBytesTest, WipeZeroizesAndEmpties) {
  DeallocationLog log;
  ObservedSecret secret =
      ObservedSecret::CopyFrom(Bytes(32, 0xa5), ObservingAllocator(&log));
  secret.Wipe();
  EXPECT_TRUE(secret.empty());
  EXPECT_EQ(log.blocks, 1);
  EXPECT_EQ(log.blocks_not_zeroed, 0);
}

TEST(SecretBytesTest, MoveAssignmentWipesTheOverwrittenSecret) {
  DeallocationLog log;
  ObservedSecret first =
      ObservedSecret::CopyFrom(Bytes(16, 0x11), ObservingAllocator(&log));
  ObservedSecret second =
      ObservedSecret::CopyFrom(Bytes(16, 0x22), ObservingAllocator(&log));
  first = std::move(second);
  EXPECT_EQ(log.blocks, 1);
  EXPECT_EQ(log.blocks_not_zeroed, 0);
  EXPECT_EQ(first.Reveal(SecretAccess::Grant())[0], 0x22);
  EXPECT_TRUE(second.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBytesTest, RevealRequiresTokenAndReturnsBytes) {
  SecretBytes secret = SecretBytes::CopyFrom(Bytes{1, 2, 3});
  ByteView view = secret.Reveal(SecretAccess::Grant());
  EXPECT_EQ(Bytes(view.begin(), view.end()), (Bytes{1, 2, 3}));
}

TEST(SecretBytesTest, RandomHasRequestedSizeAndDiffers) {
  absl::StatusOr<SecretBytes> a = SecretBytes::Random(32);
  absl::StatusOr<SecretBytes> b = SecretBytes::Random(32);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_FALSE(a->Equals(*b));
  EXPECT_TRUE(a->Equals(a->Clone()));
}

TEST(SecretBytesTest, GoogleTestPrintsRedacted) {
  SecretBytes secret = SecretBytes::CopyFrom(AsBytes("hunter2"));
  std::string printed = testing::PrintToString(secret);
  EXPECT_EQ(printed, "SecretBytes(<redacted>, 7 bytes)");
  EXPECT_EQ(printed.find("hunter2"), std::string::npos);
}

// Streaming a secret must not compile; these traits check it without a
// compile-failure test.
template <class T, class = void>
struct IsStreamable : std::false_type {};
template <class T>
struct IsStreamable<T, std::void_t<decltype(std::declval<std::ostream&>()
                                            << std::declval<const T&>())>>
    : std::true_type {};

TEST(SecretBytesTest, CannotBeStreamedOrCopied) {
  static_assert(!IsStreamable<SecretBytes>::value);
  static_assert(!std::is_copy_constructible_v<SecretBytes>);
  static_assert(!std::is_copy_assignable_v<SecretBytes>);
  static_assert(!std::is_convertible_v<SecretBytes, ByteView>);
  static_assert(IsStreamable<int>::value);  // the trait itself works
}

}  // namespace
}  // namespace cxsec
