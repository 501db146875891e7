// HttpsUplink against a real in-process HTTPS server (Beast + BoringSSL)
// with a real PKI made by the openssl CLI, and a real SQLite spool.
#include "transports/uplink/https_uplink.h"

#include <sys/stat.h>

#include <cstdlib>
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "transports/uplink/testing/https_test_server.h"
#include "transports/uplink/testing/test_pki.h"

namespace cxsec {
namespace {

using ::cxsec::testing::HttpsTestServer;
using ::cxsec::testing::TestCa;
using ::cxsec::testing::TestServerCert;

constexpr char kToken[] = "test-bearer-token";

struct Pki {
  TestCa ca;
  TestCa other_ca;
  TestServerCert good;        // localhost + 127.0.0.1, signed by ca
  TestServerCert wrong_host;  // wrong.example, signed by ca
  TestServerCert foreign;     // localhost, signed by other_ca
  std::string ca_pem;
};

Pki* pki = nullptr;

bool WaitUntil(const std::function<bool()>& done,
               absl::Duration timeout = absl::Seconds(30)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

VerifiedMessage Message(int id, uint8_t first_byte = 0xa1) {
  VerifiedMessage m;
  m.device_id = "D0123456789abcdef";
  m.message_id = absl::StrCat(id);
  m.transport = "dtls";
  m.received_at = absl::FromUnixSeconds(1714564800 + id);
  m.payload = {first_byte, 0x01, static_cast<uint8_t>(id)};
  return m;
}

// Records every backoff wait the uplink asks for and waits only briefly.
struct RecordingSleeper {
  absl::Mutex mutex;
  std::vector<absl::Duration> waits;
  void operator()(absl::Duration d) {
    {
      absl::MutexLock lock(&mutex);
      waits.push_back(d);
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  std::vector<absl::Duration> Get() {
    absl::MutexLock lock(&mutex);
    return waits;
  }
};

class HttpsUplinkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/pki");
    ::mkdir(dir.c_str(), 0700);
    pki = new Pki;
    auto ca = testing::MakeTestCa(dir, "ca");
    ASSERT_TRUE(ca.ok()) << ca.status();
    pki->ca = *ca;
    auto other = testing::MakeTestCa(dir, "other-ca");
    ASSERT_TRUE(other.ok()) << other.status();
    pki->other_ca = *other;
    auto good = testing::IssueServerCert(pki->ca, "good", {"localhost"},
                                         {"127.0.0.1"});
    ASSERT_TRUE(good.ok()) << good.status();
    pki->good = *good;
    auto wrong = testing::IssueServerCert(pki->ca, "wrong-host",
                                          {"wrong.example"}, {});
    ASSERT_TRUE(wrong.ok()) << wrong.status();
    pki->wrong_host = *wrong;
    auto foreign = testing::IssueServerCert(pki->other_ca, "foreign",
                                            {"localhost"}, {"127.0.0.1"});
    ASSERT_TRUE(foreign.ok()) << foreign.status();
    pki->foreign = *foreign;
    auto pem = testing::ReadTextFile(pki->ca.cert_path);
    ASSERT_TRUE(pem.ok());
    pki->ca_pem = *pem;
  }

  void SetUp() override {
    ASSERT_NE(pki, nullptr);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    spool_dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", info->name());
    std::string rm = absl::StrCat("rm -rf '", spool_dir_, "'");
    ASSERT_EQ(std::system(rm.c_str()), 0);
    ASSERT_EQ(::mkdir(spool_dir_.c_str(), 0700), 0);
  }

  void StartServer(const TestServerCert& cert) {
    auto server = HttpsTestServer::Start(
        {cert.cert_path, cert.key_path, kToken, 0});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  HttpsUplinkOptions Options(absl::string_view host = "localhost") {
    HttpsUplinkOptions options;
    options.client.url = absl::StrCat("https://", host, ":", server_->port());
    options.client.ca_bundle_pem = pki->ca_pem;
    options.client.timeout = absl::Seconds(5);
    options.spool.path = spool_dir_ + "/spool.db";
    options.spool.sync = SpoolSync::kNormal;
    options.batch_max_messages = 50;
    options.idle_wait = absl::Milliseconds(20);
    options.backoff.initial = absl::Milliseconds(10);
    options.backoff.max = absl::Milliseconds(160);
    options.jitter_seed = 42;
    options.sleeper = std::ref(sleeper_);
    return options;
  }

  static BearerTokenSource Tokens() {
    return []() -> absl::StatusOr<std::string> { return std::string(kToken); };
  }

  HttpsUplink StartedUplink(HttpsUplinkOptions options) {
    absl::StatusOr<HttpsUplink> uplink = HttpsUplink::Create(std::move(options));
    EXPECT_TRUE(uplink.ok()) << uplink.status();
    EXPECT_TRUE(uplink->Start(Tokens()).ok());
    return *std::move(uplink);
  }

  // ExpectRefusedBeforeAnyRequest: the TLS check failed, the message stays
  // spooled, and the server never saw a request (so never saw the token).
  void ExpectRefusedBeforeAnyRequest(HttpsUplink& uplink,
                                     absl::string_view error_part) {
    ASSERT_TRUE(uplink.Enqueue(Message(1)).ok());
    ASSERT_TRUE(WaitUntil([&] { return uplink.stats().failed_attempts >= 3; }));
    UplinkStats stats = uplink.stats();
    EXPECT_NE(stats.last_error.find(std::string(error_part)), std::string::npos)
        << stats.last_error;
    EXPECT_EQ(stats.spooled_now, 1);
    EXPECT_EQ(stats.accepted, 0);
    EXPECT_EQ(server_->counters().requests, 0);
  }

  std::string spool_dir_;
  std::unique_ptr<HttpsTestServer> server_;
  RecordingSleeper sleeper_;
};

TEST_F(HttpsUplinkTest, DeliversEveryMessageOnceInBatches) {
  StartServer(pki->good);
  HttpsUplink uplink = StartedUplink(Options());
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(uplink.Enqueue(Message(i)).ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().accepted == 500; }))
      << uplink.stats().accepted;
  UplinkStats stats = uplink.stats();
  EXPECT_EQ(stats.spooled_now, 0);
  EXPECT_EQ(stats.enqueued, 500);
  EXPECT_EQ(server_->counters().stored, 500);
  EXPECT_EQ(server_->counters().unauthorized, 0);
  EXPECT_LT(server_->counters().requests, 500) << "messages were not batched";
  EXPECT_EQ(server_->StoredKeys().count("D0123456789abcdef/499"), 1u);
}

TEST_F(HttpsUplinkTest, AddressUrlIsVerifiedAgainstTheIpSan) {
  StartServer(pki->good);
  HttpsUplink uplink = StartedUplink(Options("127.0.0.1"));
  ASSERT_TRUE(uplink.Enqueue(Message(1)).ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().accepted == 1; }))
      << uplink.stats().last_error;
}

TEST_F(HttpsUplinkTest, ZeroLossWhileTheVerifierIsDownWithGrowingBackoff) {
  StartServer(pki->good);
  server_->GoDown();
  HttpsUplink uplink = StartedUplink(Options());
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(uplink.Enqueue(Message(i)).ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().failed_attempts >= 8; }));
  EXPECT_NE(uplink.stats().last_error.find("connect"), std::string::npos)
      << uplink.stats().last_error;
  EXPECT_EQ(uplink.stats().spooled_now, 300);
  ASSERT_TRUE(server_->ComeBack().ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().accepted == 300; }))
      << uplink.stats().accepted;
  EXPECT_EQ(server_->counters().stored, 300);
  EXPECT_EQ(uplink.stats().spooled_now, 0);
  EXPECT_TRUE(uplink.stats().last_error.empty());

  // The waits grew exponentially (10, 20, 40, 80, 160 ms ceilings, then
  // capped), each jittered into [ceiling/2, ceiling], and not all equal.
  std::vector<absl::Duration> waits = sleeper_.Get();
  ASSERT_GE(waits.size(), 8u);
  ExponentialBackoff reference(Options().backoff);
  bool jittered = false;
  for (size_t i = 0; i < 8; ++i) {
    absl::Duration ceiling = reference.Ceiling(static_cast<int>(i) + 1);
    EXPECT_GE(waits[i], ceiling / 2) << i;
    EXPECT_LE(waits[i], ceiling) << i;
    jittered |= waits[i] != ceiling;
  }
  EXPECT_EQ(reference.Ceiling(8), absl::Milliseconds(160));
  EXPECT_GT(waits[4], waits[0]);
  EXPECT_TRUE(jittered);
}

TEST_F(HttpsUplinkTest, RetriesServerErrorsThenDelivers) {
  StartServer(pki->good);
  server_->SetFailureStatus(503);
  HttpsUplink uplink = StartedUplink(Options());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(uplink.Enqueue(Message(i)).ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().failed_attempts >= 3; }));
  EXPECT_NE(uplink.stats().last_error.find("HTTP 503"), std::string::npos);
  EXPECT_EQ(uplink.stats().spooled_now, 20);
  server_->SetFailureStatus(0);
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().accepted == 20; }));
  EXPECT_EQ(server_->counters().stored, 20);
}

TEST_F(HttpsUplinkTest, SlowVerifierTimesOutAndRetriesWithoutDuplicates) {
  StartServer(pki->good);
  server_->SetDelay(absl::Milliseconds(600));
  HttpsUplinkOptions options = Options();
  options.client.timeout = absl::Milliseconds(200);
  HttpsUplink uplink = StartedUplink(std::move(options));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(uplink.Enqueue(Message(i)).ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().failed_attempts >= 2; }));
  server_->SetDelay(absl::ZeroDuration());
  ASSERT_TRUE(WaitUntil([&] {
    UplinkStats s = uplink.stats();
    return s.spooled_now == 0 && s.accepted + s.duplicates == 10;
  }));
  // The timed-out batches did reach the server: it stored each message
  // once and answered the re-sends "duplicate".
  EXPECT_EQ(server_->counters().stored, 10);
  EXPECT_EQ(server_->StoredKeys().size(), 10u);
}

TEST_F(HttpsUplinkTest, WrongTokenIsRefusedAndRetriedWithAFreshOne) {
  StartServer(pki->good);
  HttpsUplinkOptions options = Options();
  absl::StatusOr<HttpsUplink> uplink = HttpsUplink::Create(options);
  ASSERT_TRUE(uplink.ok());
  std::atomic<int> calls{0};
  ASSERT_TRUE(uplink
                  ->Start([&calls]() -> absl::StatusOr<std::string> {
                    return ++calls <= 2 ? std::string("stale") : kToken;
                  })
                  .ok());
  ASSERT_TRUE(uplink->Enqueue(Message(1)).ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink->stats().accepted == 1; }));
  EXPECT_EQ(server_->counters().unauthorized, 2);
}

TEST_F(HttpsUplinkTest, RejectedVerdictIsFinalAndCountedByReason) {
  StartServer(pki->good);
  server_->SetRejectMarker(0xee);
  HttpsUplink uplink = StartedUplink(Options());
  ASSERT_TRUE(uplink.Enqueue(Message(1)).ok());
  ASSERT_TRUE(uplink.Enqueue(Message(2, 0xee)).ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().spooled_now == 0; }));
  UplinkStats stats = uplink.stats();
  EXPECT_EQ(stats.accepted, 1);
  EXPECT_EQ(stats.rejected, 1);
  EXPECT_EQ(stats.rejected_by_reason["test rejection"], 1);
}

// Issue 18 item 8: a message the verifier rejects for good (for example a
// device registered under another id) is named in the gateway's log, at
// most 10 lines a minute, the rest counted.
TEST_F(HttpsUplinkTest, RejectionsAreLoggedByMessageRateLimited) {
  StartServer(pki->good);
  server_->SetRejectMarker(0xee, "unknown_device");
  HttpsUplink uplink = StartedUplink(Options());
  ::testing::internal::CaptureStderr();
  for (int i = 1; i <= 15; ++i) {
    ASSERT_TRUE(uplink.Enqueue(Message(i, 0xee)).ok());
  }
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().spooled_now == 0; }));
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(uplink.stats().rejected, 15);
  size_t lines = 0;
  for (size_t at = log.find("the verifier rejected message");
       at != std::string::npos;
       at = log.find("the verifier rejected message", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 10u) << log;
  EXPECT_NE(log.find("for good: unknown_device"), std::string::npos) << log;
}

// Issue 17, item 1: a verdict this build does not know is never final.
// The message stays spooled; the other verdicts of the same answer count.
TEST_F(HttpsUplinkTest,
       UnknownVerdictKeepsTheMessageAndTheRestOfTheAnswerCounts) {
  StartServer(pki->good);
  server_->SetStatusMarker(0x66, "quarantined");
  HttpsUplink uplink = StartedUplink(Options());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(uplink.Enqueue(Message(i, i == 4 ? 0x66 : 0xa1)).ok());
  }
  ASSERT_TRUE(WaitUntil([&] {
    UplinkStats s = uplink.stats();
    return s.accepted == 9 && s.unknown_verdicts >= 2;
  })) << uplink.stats().last_error;
  UplinkStats stats = uplink.stats();
  EXPECT_EQ(stats.spooled_now, 1);
  EXPECT_EQ(stats.rejected, 0);
  // The verifier learns to take it: delivered, once.
  server_->SetStatusMarker(-1, "");
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().spooled_now == 0; }));
  EXPECT_EQ(server_->counters().stored, 10);
}

// Issue 19: a verifier with the Redis sink answers "retry" while Redis
// cannot confirm a message (replication_unconfirmed, storage_unavailable).
// The message stays in the spool, is sent again, and is delivered once the
// verifier takes it; the rest of the answer counts meanwhile.
TEST_F(HttpsUplinkTest, RetryVerdictKeepsTheMessageUntilAccepted) {
  StartServer(pki->good);
  server_->SetStatusMarker(0x44, "retry");
  HttpsUplink uplink = StartedUplink(Options());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(uplink.Enqueue(Message(i, i == 2 ? 0x44 : 0xa1)).ok());
  }
  ASSERT_TRUE(WaitUntil([&] {
    return uplink.stats().accepted == 4 && server_->counters().receipts >= 8;
  })) << uplink.stats().last_error;
  UplinkStats stats = uplink.stats();
  EXPECT_EQ(stats.spooled_now, 1);
  EXPECT_EQ(stats.rejected, 0);
  EXPECT_EQ(stats.unknown_verdicts, 0);
  server_->SetStatusMarker(-1, "");
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().spooled_now == 0; }));
  EXPECT_EQ(uplink.stats().accepted, 5);
  EXPECT_EQ(server_->counters().stored, 5);
  EXPECT_EQ(server_->StoredKeys().count("D0123456789abcdef/2"), 1u);
}

// Verifiers before issue 17 answered a registry outage "rejected" with
// error "registry_unavailable": that message must not be deleted.
TEST_F(HttpsUplinkTest, RegistryUnavailableRejectionIsRetried) {
  StartServer(pki->good);
  server_->SetRejectMarker(0x77, "registry_unavailable");
  HttpsUplink uplink = StartedUplink(Options());
  ASSERT_TRUE(uplink.Enqueue(Message(1, 0x77)).ok());
  ASSERT_TRUE(WaitUntil([&] { return server_->counters().rejected >= 3; }));
  EXPECT_EQ(uplink.stats().rejected, 0);
  EXPECT_EQ(uplink.stats().spooled_now, 1);
  server_->SetRejectMarker(-1);
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().accepted == 1; }));
  EXPECT_EQ(uplink.stats().spooled_now, 0);
}

// Issue 17, item 8: a batch refused whole (400) is halved until the one
// message the verifier refuses is alone; that message is set aside in the
// dead-letter table, counted, and every other message is delivered.
TEST_F(HttpsUplinkTest, RefusedBatchIsSplitAndTheBadMessageSetAside) {
  StartServer(pki->good);
  server_->SetPoisonMarker(0x55);
  HttpsUplinkOptions options = Options();
  options.batch_max_messages = 16;
  HttpsUplink uplink = StartedUplink(options);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(uplink.Enqueue(Message(i, i == 11 ? 0x55 : 0xa1)).ok());
  }
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().spooled_now == 0; }))
      << "spooled: " << uplink.stats().spooled_now
      << ", last error: " << uplink.stats().last_error;
  UplinkStats stats = uplink.stats();
  EXPECT_EQ(stats.accepted, 39);
  EXPECT_EQ(stats.set_aside, 1);
  EXPECT_GE(stats.refused_batches, 2);
  EXPECT_EQ(server_->counters().stored, 39);
  EXPECT_EQ(server_->StoredKeys().count("D0123456789abcdef/11"), 0u);
  uplink.Stop();
  // An operator finds it, with the verifier's error code, in the spool.
  auto spool = SqliteSpool::Open(options.spool);
  ASSERT_TRUE(spool.ok()) << spool.status();
  auto letters = (*spool)->DeadLetters(10);
  ASSERT_TRUE(letters.ok()) << letters.status();
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].spooled.message.message_id, "11");
  EXPECT_EQ((*letters)[0].spooled.message.payload, Message(11, 0x55).payload);
  EXPECT_EQ((*letters)[0].reason, "http_400:malformed_batch");
  EXPECT_EQ((*spool)->Count(), 0);
}

// Issue 17, item 6: "conflict" (same ids, another payload already stored)
// is final for the verifier, but the gateway keeps the message aside for
// an operator instead of deleting it.
TEST_F(HttpsUplinkTest, ConflictVerdictSetsTheMessageAside) {
  StartServer(pki->good);
  server_->SetStatusMarker(0x66, "conflict");
  HttpsUplinkOptions options = Options();
  HttpsUplink uplink = StartedUplink(options);
  ASSERT_TRUE(uplink.Enqueue(Message(1)).ok());
  ASSERT_TRUE(uplink.Enqueue(Message(2, 0x66)).ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().spooled_now == 0; }));
  UplinkStats stats = uplink.stats();
  EXPECT_EQ(stats.accepted, 1);
  EXPECT_EQ(stats.conflicts, 1);
  EXPECT_EQ(stats.set_aside, 1);
  uplink.Stop();
  auto spool = SqliteSpool::Open(options.spool);
  ASSERT_TRUE(spool.ok()) << spool.status();
  auto letters = (*spool)->DeadLetters(10);
  ASSERT_TRUE(letters.ok()) << letters.status();
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].spooled.message.message_id, "2");
  EXPECT_EQ((*letters)[0].reason, "conflict");
}

// Seal receipts in final answers reach on_receipt, decoded, once the
// message left the spool; answers without one (or a rejection) give none.
TEST_F(HttpsUplinkTest, ReceiptsInTheAnswersReachOnReceipt) {
  StartServer(pki->good);
  server_->SetReceiptMarker(0x21);
  HttpsUplinkOptions options = Options();
  absl::Mutex mutex;
  std::vector<std::pair<std::string, Bytes>> receipts;
  options.on_receipt = [&](absl::string_view device, Bytes receipt) {
    absl::MutexLock lock(&mutex);
    receipts.emplace_back(std::string(device), std::move(receipt));
  };
  HttpsUplink uplink = StartedUplink(options);
  ASSERT_TRUE(uplink.Enqueue(Message(1)).ok());
  ASSERT_TRUE(uplink.Enqueue(Message(2, 0x21)).ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().spooled_now == 0; }));
  UplinkStats stats = uplink.stats();
  EXPECT_EQ(stats.accepted, 2);
  EXPECT_EQ(stats.receipts, 1);
  absl::MutexLock lock(&mutex);
  ASSERT_EQ(receipts.size(), 1u);
  EXPECT_EQ(receipts[0].first, "D0123456789abcdef");
  EXPECT_EQ(receipts[0].second, Message(2, 0x21).payload);
}

TEST_F(HttpsUplinkTest, CertificateFromAnotherCaIsRejected) {
  StartServer(pki->foreign);
  HttpsUplink uplink = StartedUplink(Options());
  ExpectRefusedBeforeAnyRequest(uplink, "unable to get local issuer");
}

TEST_F(HttpsUplinkTest, CertificateForAnotherHostIsRejected) {
  StartServer(pki->wrong_host);
  HttpsUplink uplink = StartedUplink(Options());
  ExpectRefusedBeforeAnyRequest(uplink, "Hostname mismatch");
}

TEST_F(HttpsUplinkTest, WrongSpkiPinIsRejected) {
  StartServer(pki->good);
  auto other_pin = testing::SpkiPinOfCertificate(pki->wrong_host.cert_path);
  ASSERT_TRUE(other_pin.ok());
  HttpsUplinkOptions options = Options();
  options.client.spki_pins = {*other_pin};
  HttpsUplink uplink = StartedUplink(std::move(options));
  ExpectRefusedBeforeAnyRequest(uplink, "SPKI pin");
}

TEST_F(HttpsUplinkTest, MatchingSpkiPinFromTheOpensslCliIsAccepted) {
  StartServer(pki->good);
  auto pin = testing::SpkiPinOfCertificate(pki->good.cert_path);
  ASSERT_TRUE(pin.ok()) << pin.status();
  auto other_pin = testing::SpkiPinOfCertificate(pki->wrong_host.cert_path);
  ASSERT_TRUE(other_pin.ok());
  HttpsUplinkOptions options = Options();
  options.client.spki_pins = {*other_pin, *pin};  // rotation: either one
  HttpsUplink uplink = StartedUplink(std::move(options));
  ASSERT_TRUE(uplink.Enqueue(Message(1)).ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().accepted == 1; }))
      << uplink.stats().last_error;
}

TEST_F(HttpsUplinkTest, FullSpoolRefusesWithResourceExhausted) {
  StartServer(pki->good);
  server_->GoDown();
  HttpsUplinkOptions options = Options();
  options.spool.max_messages = 5;
  HttpsUplink uplink = StartedUplink(std::move(options));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(uplink.Enqueue(Message(i)).ok());
  absl::Status full = uplink.Enqueue(Message(5));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_EQ(uplink.stats().refused_full, 1);
  ASSERT_TRUE(server_->ComeBack().ok());
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().spooled_now == 0; }));
  EXPECT_TRUE(uplink.Enqueue(Message(5)).ok()) << "room again after delivery";
}

TEST_F(HttpsUplinkTest, RestartSendsWhatAnEarlierRunSpooled) {
  StartServer(pki->good);
  server_->GoDown();
  {
    HttpsUplink uplink = StartedUplink(Options());
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(uplink.Enqueue(Message(i)).ok());
    uplink.Stop();
  }
  ASSERT_TRUE(server_->ComeBack().ok());
  HttpsUplink uplink = StartedUplink(Options());
  ASSERT_TRUE(WaitUntil([&] { return server_->counters().stored == 40; }));
  ASSERT_TRUE(WaitUntil([&] { return uplink.stats().spooled_now == 0; }));
}

TEST_F(HttpsUplinkTest, EnqueueBeforeStartFails) {
  StartServer(pki->good);
  absl::StatusOr<HttpsUplink> uplink = HttpsUplink::Create(Options());
  ASSERT_TRUE(uplink.ok());
  EXPECT_EQ(uplink->Enqueue(Message(1)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(uplink->Start(nullptr).code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpsUplinkCreateTest, BadOptionsFailAtCreate) {
  HttpsUplinkOptions options;
  options.spool.path = "/tmp/x.db";
  options.client.url = "http://plain.example";
  options.client.ca_bundle_pem = "x";
  EXPECT_FALSE(HttpsUplink::Create(options).ok());
  options.client.url = "https://verifier.example";
  absl::StatusOr<HttpsUplink> uplink = HttpsUplink::Create(options);
  ASSERT_FALSE(uplink.ok());
  EXPECT_NE(uplink.status().message().find("CA bundle"), std::string::npos)
      << uplink.status();
}

TEST(ExponentialBackoffTest, GrowsThenCapsAndResets) {
  ExponentialBackoff backoff(
      {absl::Milliseconds(100), absl::Seconds(1), 2.0}, 7);
  EXPECT_EQ(backoff.Ceiling(1), absl::Milliseconds(100));
  EXPECT_EQ(backoff.Ceiling(2), absl::Milliseconds(200));
  EXPECT_EQ(backoff.Ceiling(4), absl::Milliseconds(800));
  EXPECT_EQ(backoff.Ceiling(5), absl::Seconds(1));
  EXPECT_EQ(backoff.Ceiling(50), absl::Seconds(1));
  for (int i = 1; i <= 6; ++i) {
    absl::Duration d = backoff.NextDelay();
    EXPECT_GE(d, backoff.Ceiling(i) / 2);
    EXPECT_LE(d, backoff.Ceiling(i));
  }
  backoff.Reset();
  EXPECT_LE(backoff.NextDelay(), absl::Milliseconds(100));
}

}  // namespace
}  // namespace cxsec
