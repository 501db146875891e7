// Unit tests (host) for the gateway's receipt box: its bounds and order.
#include "targets/gateway/receipt_box.h"

#include "gtest/gtest.h"

namespace cxsec::gateway {
namespace {

Bytes Receipt(uint8_t n) { return Bytes(17, n); }

Bytes Concat(std::initializer_list<uint8_t> ns) {
  Bytes out;
  for (uint8_t n : ns) {
    Bytes r = Receipt(n);
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

TEST(ReceiptBoxTest, TakeReturnsOldestFirstOnceAndPerDevice) {
  ReceiptBox box;
  box.Put("D1", Receipt(1));
  box.Put("D2", Receipt(9));
  box.Put("D1", Receipt(2));
  EXPECT_EQ(box.Take("D1", 512), Concat({1, 2}));
  EXPECT_TRUE(box.Take("D1", 512).empty());
  EXPECT_EQ(box.Take("D2", 512), Concat({9}));
  EXPECT_TRUE(box.Take("D3", 512).empty());
  ReceiptBoxCounters c = box.Counters();
  EXPECT_EQ(c.put, 3u);
  EXPECT_EQ(c.taken, 3u);
  EXPECT_EQ(c.pending, 0u);
  EXPECT_EQ(c.devices, 0u);
}

TEST(ReceiptBoxTest, KeepsTheNewestPerDevice) {
  ReceiptBox box({.per_device = 3, .max_devices = 10});
  for (uint8_t n = 1; n <= 5; ++n) box.Put("D1", Receipt(n));
  EXPECT_EQ(box.Counters().dropped, 2u);
  EXPECT_EQ(box.Take("D1", 512), Concat({3, 4, 5}));
}

TEST(ReceiptBoxTest, TakesOnlyWholeReceiptsThatFit) {
  ReceiptBox box;
  for (uint8_t n = 1; n <= 4; ++n) box.Put("D1", Receipt(n));
  EXPECT_EQ(box.Take("D1", 40), Concat({1, 2}));  // 34 bytes, not 40
  EXPECT_TRUE(box.Take("D1", 16).empty());
  EXPECT_EQ(box.Take("D1", 512), Concat({3, 4}));
}

TEST(ReceiptBoxTest, ATooManyDevicesDropsTheOneWaitingLongest) {
  ReceiptBox box({.per_device = 8, .max_devices = 2});
  box.Put("D1", Receipt(1));
  box.Put("D2", Receipt(2));
  box.Put("D1", Receipt(3));
  box.Put("D3", Receipt(4));  // D1 has waited longest
  ReceiptBoxCounters c = box.Counters();
  EXPECT_EQ(c.devices, 2u);
  EXPECT_EQ(c.dropped, 2u);
  EXPECT_EQ(c.pending, 2u);
  EXPECT_TRUE(box.Take("D1", 512).empty());
  EXPECT_EQ(box.Take("D2", 512), Concat({2}));
  EXPECT_EQ(box.Take("D3", 512), Concat({4}));
}

TEST(ReceiptBoxTest, RefusesWhatIsNotAReceipt) {
  ReceiptBox box;
  box.Put("D1", Bytes(16, 0));
  box.Put("D1", Bytes(18, 0));
  EXPECT_EQ(box.Counters().malformed, 2u);
  EXPECT_TRUE(box.Take("D1", 512).empty());
}

}  // namespace
}  // namespace cxsec::gateway
