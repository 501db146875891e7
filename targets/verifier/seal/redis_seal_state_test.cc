// The Redis sink's append script (kRedisAppendScript) for sealed readings
// against // ApplySealedReading (core/seal/seal_counter_state.h), on a real
// redis-server: the same readings go to both, and after each one the
// verdicts agree and the state in Redis (read back by RedisSealState)
// equals the C++ state field by field. A table of named transitions
// (accepted, duplicate, sequence_reused, replayed_sequence, gaps, a late
// reading taking its gap back, shifts of 31/32/33, a new epoch, a stale
// epoch), then a seeded random walk; nothing is stored unless accepted.
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/crypto/primitives.h"
#include "core/seal/seal_counter_state.h"
#include "gtest/gtest.h"
#include "targets/verifier/seal/redis_seal_state.h"
#include "targets/verifier/sinks/redis_sink.h"
#include "tests/fixtures/redis_process.h"

namespace cxsec::verifier {
namespace {

using cxsec::testing::RedisProcess;
using Outcome = TelemetrySink::Outcome;
using seal::SealCounterState;
using seal::SealVerdict;

constexpr char kDevice[] = "D0011223344556677";

std::array<uint8_t, 8> Tag(uint32_t epoch, uint32_t sequence, int variant) {
  std::array<uint8_t, 8> tag{};
  for (int i = 0; i < 8; ++i) {
    tag[i] = static_cast<uint8_t>((epoch * 31 + sequence * 7 + variant * 101 +
                                   i * 13) & 0xff);
  }
  tag[7] = static_cast<uint8_t>(variant);  // variants always differ
  return tag;
}

// The verdict the sink's outcome stands for.
std::string Named(Outcome o) {
  switch (o) {
    case Outcome::kStored:
      return "accepted";
    case Outcome::kDuplicate:
      return "duplicate";
    case Outcome::kConflict:
      return "sequence_reused";
    case Outcome::kReplayedSequence:
      return "replayed_sequence";
    case Outcome::kStaleEpoch:
      return "stale_epoch";
    default:
      return "other";
  }
}

class RedisSealStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    ASSERT_EQ(std::system(absl::StrCat("mkdir -p '", dir_, "'").c_str()), 0);
    auto redis = RedisProcess::Start(dir_);
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    ASSERT_TRUE(redis_->WaitUntilReady(absl::Seconds(15)).ok());
    RedisSinkOptions options;
    options.port = redis_->port();
    auto sink = RedisTelemetrySink::Start(std::move(options));
    ASSERT_TRUE(sink.ok()) << sink.status();
    sink_ = std::move(*sink);
    RedisSealStateOptions reader;
    reader.port = redis_->port();
    reader_ = std::make_unique<RedisSealState>(std::move(reader));
  }

  // One reading through the script and through ApplySealedReading; checks
  // they agree (verdict and whole state) and returns the verdict's name.
  std::string Apply(uint32_t epoch, uint32_t sequence, int variant) {
    std::array<uint8_t, 8> tag = Tag(epoch, sequence, variant);
    std::string payload = absl::StrCat("\"p-", epoch, "-", sequence, "-",
                                       variant, "\"");
    std::string id = absl::StrCat("seal/", epoch, "/", sequence);
    LogRecord record{DedupKey(kDevice, id),
                     absl::StrCat(R"({"deviceId":")", kDevice, R"(","payload":)",
                                  payload, "}"),
                     Sha256(AsBytes(payload)), "acme", kDevice,
                     absl::StrCat("m-", ++messages_)};
    record.seal = SealedFields{epoch, sequence, tag};
    std::vector<LogRecord> records;
    records.push_back(std::move(record));
    auto outcomes = sink_->AppendDurably(std::move(records));
    EXPECT_TRUE(outcomes.ok()) << outcomes.status();
    if (!outcomes.ok() || outcomes->size() != 1) return "error";
    std::string redis_verdict = Named((*outcomes)[0]);

    SealVerdict verdict = seal::ApplySealedReading(
        expected_, epoch, sequence, std::span<const uint8_t, 8>(tag));
    if (verdict == SealVerdict::kAccepted) ++stored_;
    std::string cxx_verdict = seal::SealVerdictName(verdict);
    EXPECT_EQ(redis_verdict, cxx_verdict)
        << "epoch " << epoch << " sequence " << sequence << " variant "
        << variant;
    ExpectSameState(absl::StrCat("after ", epoch, "/", sequence, "/", variant));
    return redis_verdict;
  }

  void ExpectSameState(const std::string& when) {
    auto loaded = reader_->Load(kDevice);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    if (!expected_.has_accepted) {
      EXPECT_FALSE(loaded->has_value()) << when;
      return;
    }
    ASSERT_TRUE(loaded->has_value()) << when;
    const SealCounterState& got = **loaded;
    EXPECT_EQ(got.epoch, expected_.epoch) << when;
    EXPECT_EQ(got.highest_sequence, expected_.highest_sequence) << when;
    EXPECT_EQ(got.window, expected_.window) << when;
    EXPECT_EQ(got.gap_window, expected_.gap_window) << when;
    EXPECT_EQ(got.gaps, expected_.gaps) << when;
    EXPECT_EQ(got.tags, expected_.tags) << when;
    auto totals = reader_->LoadTotals();
    ASSERT_TRUE(totals.ok());
    EXPECT_EQ(totals->gaps, static_cast<int64_t>(expected_.gaps)) << when;
    EXPECT_EQ(totals->devices, 1u) << when;
    auto xlen = redis_->Command({"XLEN", "cxsec:telemetry"});
    ASSERT_TRUE(xlen.ok());
    EXPECT_EQ(*xlen, absl::StrCat(stored_)) << when;
  }

  std::string dir_;
  std::unique_ptr<RedisProcess> redis_;
  std::unique_ptr<RedisTelemetrySink> sink_;
  std::unique_ptr<RedisSealState> reader_;
  SealCounterState expected_;
  int messages_ = 0;
  int stored_ = 0;
};

TEST_F(RedisSealStateTest, NamedTransitionsAgreeWithTheCxxCounterState) {
  EXPECT_EQ(Apply(3, 10, 0), "accepted");          // first of an epoch
  EXPECT_EQ(Apply(3, 10, 0), "duplicate");         // the same bytes again
  EXPECT_EQ(Apply(3, 10, 1), "sequence_reused");   // other bytes
  EXPECT_EQ(Apply(3, 11, 0), "accepted");
  EXPECT_EQ(Apply(3, 15, 0), "accepted");          // 12, 13, 14 skipped
  EXPECT_EQ(expected_.gaps, 3u);
  EXPECT_EQ(Apply(3, 13, 0), "accepted");          // late: its gap back
  EXPECT_EQ(expected_.gaps, 2u);
  EXPECT_EQ(Apply(3, 13, 0), "duplicate");
  EXPECT_EQ(Apply(3, 13, 2), "sequence_reused");
  EXPECT_EQ(Apply(3, 9, 0), "accepted");           // below the first: no gap
  EXPECT_EQ(expected_.gaps, 2u);
  EXPECT_EQ(Apply(3, 46, 0), "accepted");          // shift by 31
  EXPECT_EQ(Apply(3, 15, 0), "duplicate");         // still in the window
  EXPECT_EQ(Apply(3, 16, 0), "accepted");          // late, a counted gap
  EXPECT_EQ(Apply(3, 14, 0), "replayed_sequence"); // behind by 32
  EXPECT_EQ(Apply(3, 78, 0), "accepted");          // shift by 32
  EXPECT_EQ(Apply(3, 111, 0), "accepted");         // shift by 33
  EXPECT_EQ(Apply(3, 80, 0), "accepted");          // a counted gap taken back
  EXPECT_EQ(Apply(3, 46, 0), "replayed_sequence");
  EXPECT_EQ(Apply(3, 4294967295u, 0), "accepted"); // the largest sequence
  EXPECT_EQ(Apply(3, 4294967264u, 0), "accepted"); // behind by 31
  EXPECT_EQ(Apply(2, 4294967295u, 0), "stale_epoch");
  EXPECT_EQ(Apply(17, 0, 0), "accepted");          // a new epoch: fresh
  EXPECT_EQ(Apply(17, 5, 0), "accepted");
  EXPECT_GT(expected_.gaps, 4294967000u);  // never reset by an epoch
}

TEST_F(RedisSealStateTest, RandomWalkAgreesWithTheCxxCounterState) {
  std::mt19937 random(19);
  uint32_t epoch = 1;
  uint32_t base = 1000;
  std::map<std::string, int> verdicts;
  for (int i = 0; i < 400; ++i) {
    uint32_t r = random() % 100;
    if (r < 3) ++epoch;
    if (r < 50) base += random() % 4;
    else if (r < 55) base += 30 + random() % 5;
    uint32_t sequence = base - std::min<uint32_t>(base, random() % 40);
    uint32_t e = (r >= 97) ? (epoch > 1 ? epoch - 1 : epoch) : epoch;
    ++verdicts[Apply(e, sequence, random() % 8 == 0 ? 1 : 0)];
    if (HasFailure()) break;
  }
  EXPECT_GT(stored_, 100);
  // The walk reaches every verdict, not only the common ones.
  for (const char* v : {"accepted", "duplicate", "sequence_reused",
                        "replayed_sequence", "stale_epoch"}) {
    EXPECT_GT(verdicts[v], 0) << v;
  }
}

}  // namespace
}  // namespace cxsec::verifier
