// Webhook delivery against real receivers on loopback that check every
// signature: over HTTPS (a throwaway PKI made by the openssl CLI) the
// receiver gets deliveries whose v2 signature covers the delivery id; a
// receiver whose certificate comes from another CA or names another host
// gets nothing and the failure is counted and logged; plain http:// is
// refused unless explicitly allowed. A receiver outage is retried from the
// durable log, a restart resumes from the cursor without re-sending, and
// stale, tampered or re-numbered deliveries fail the receiver-side check.
#include "targets/verifier/sinks/webhook_forwarder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "core/crypto/primitives.h"
#include "core/encoding/hex.h"
#include "gtest/gtest.h"
#include "transports/uplink/testing/test_pki.h"

namespace cxsec::verifier {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

const char kSecret[] = "0123456789abcdef-webhook-secret";

ByteView SecretView() { return AsBytes(absl::string_view(kSecret)); }

// What a receiver saw of one accepted delivery.
struct Delivery {
  std::string id;
  std::string timestamp;
  std::string signature;
  std::string body;
};

// Receiver: over plain HTTP, or over TLS with `cert` when given. Answers
// 503 to the first `fail_first` deliveries, then checks the signature and
// records the delivery.
class Receiver {
 public:
  explicit Receiver(int fail_first,
                    const cxsec::testing::TestServerCert* cert = nullptr)
      : fail_first_(fail_first), acceptor_(io_) {
    if (cert != nullptr) {
      tls_.emplace(asio::ssl::context::tls_server);
      tls_->use_certificate_chain_file(cert->cert_path);
      tls_->use_private_key_file(cert->key_path, asio::ssl::context::pem);
    }
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    thread_ = std::thread([this] { Serve(); });
  }
  ~Receiver() {
    stopping_ = true;
    boost::system::error_code ec;
    asio::ip::tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);  // wakes accept()
    thread_.join();
  }
  std::string url() const {
    return absl::StrCat(tls_ ? "https" : "http",
                        "://127.0.0.1:", acceptor_.local_endpoint().port(),
                        "/hook");
  }
  std::string received() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string all;
    for (const Delivery& d : deliveries_) all += d.body;
    return all;
  }
  std::vector<Delivery> deliveries() {
    std::lock_guard<std::mutex> lock(mu_);
    return deliveries_;
  }
  int bad_signatures() const { return bad_signatures_.load(); }
  int attempts() const { return attempts_.load(); }
  int failed_handshakes() const { return failed_handshakes_.load(); }

 private:
  void Serve() {
    while (!stopping_) {
      asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) break;
      if (!tls_) {
        Answer(socket);
        continue;
      }
      asio::ssl::stream<asio::ip::tcp::socket> stream(std::move(socket), *tls_);
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (ec) {
        failed_handshakes_.fetch_add(1);
        continue;
      }
      Answer(stream);
    }
  }
  template <typename Stream>
  void Answer(Stream& stream) {
    boost::system::error_code ec;
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(stream, buffer, request, ec);
    if (ec) return;
    int attempt = attempts_.fetch_add(1);
    http::response<http::string_body> response{http::status::ok, 11};
    if (attempt < fail_first_) {
      response.result(http::status::service_unavailable);
    } else {
      Delivery d{std::string(request["X-Cxsec-Delivery"]),
                 std::string(request["X-Cxsec-Timestamp"]),
                 std::string(request["X-Cxsec-Signature"]), request.body()};
      absl::Status ok = VerifyWebhookSignature(
          SecretView(), d.id, d.timestamp, d.signature, d.body, absl::Now());
      if (!ok.ok() || request.target() != "/hook" ||
          request[http::field::content_type] != "application/x-ndjson") {
        bad_signatures_.fetch_add(1);
        response.result(http::status::unauthorized);
      } else {
        std::lock_guard<std::mutex> lock(mu_);
        deliveries_.push_back(std::move(d));
      }
    }
    response.keep_alive(false);
    response.prepare_payload();
    http::write(stream, response, ec);
  }
  int fail_first_;
  asio::io_context io_;
  std::optional<asio::ssl::context> tls_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<Delivery> deliveries_;
  std::atomic<int> bad_signatures_{0};
  std::atomic<int> attempts_{0};
  std::atomic<int> failed_handshakes_{0};
};

WebhookOptions Options(const std::string& url, const std::string& dir) {
  WebhookOptions o;
  o.url = url;
  o.allow_plain_http = absl::StartsWith(url, "http://");
  o.secret = SecretBytes::CopyFrom(SecretView());
  o.cursor_path = dir + "/webhook.cursor";
  o.initial_backoff = absl::Milliseconds(10);
  o.max_batch_bytes = 200;  // several deliveries for the test's records
  return o;
}

bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 1000; ++i) {  // bounded: 10 s
    if (done()) return true;
    usleep(10 * 1000);
  }
  return done();
}

TEST(WebhookForwarderTest, DeliversSignedRetriesAndResumesFromCursor) {
  std::string dir = std::getenv("TEST_TMPDIR");
  auto log = TelemetryLog::Open(dir + "/t.ndjson");
  ASSERT_TRUE(log.ok());
  std::string expected;
  std::vector<LogRecord> records;
  for (int i = 0; i < 10; ++i) {
    std::string line =
        absl::StrCat("{\"deviceId\":\"d\",\"messageId\":\"m", i,
                     "\",\"payload\":\"", std::string(30, 'x'), "\"}");
    expected += line + "\n";
    records.push_back(LogRecord{DedupKey("d", absl::StrCat("m", i)), line});
  }
  ASSERT_TRUE((*log)->AppendDurably(records).ok());
  uint64_t total = (*log)->durable_bytes();
  {
    Receiver receiver(/*fail_first=*/3);
    auto forwarder = WebhookForwarder::Start(
        log->get(), Options(receiver.url(), dir), &SystemClock::Default());
    ASSERT_TRUE(forwarder.ok()) << forwarder.status();
    ASSERT_TRUE(
        WaitFor([&] { return (*forwarder)->delivered_offset() == total; }));
    EXPECT_EQ(receiver.received(), expected);
    EXPECT_GE((*forwarder)->failed_attempts(), 3u);
    EXPECT_EQ(receiver.bad_signatures(), 0);
  }
  // New data after a restart: only the new lines are sent.
  ASSERT_TRUE(
      (*log)
          ->AppendDurably({LogRecord{DedupKey("d", "late"), "{\"late\":1}"}})
          .ok());
  Receiver second(/*fail_first=*/0);
  auto forwarder = WebhookForwarder::Start(
      log->get(), Options(second.url(), dir), &SystemClock::Default());
  ASSERT_TRUE(forwarder.ok());
  ASSERT_TRUE(WaitFor([&] {
    return (*forwarder)->delivered_offset() == (*log)->durable_bytes();
  }));
  EXPECT_EQ(second.received(), "{\"late\":1}\n");
}

// A throwaway PKI: `good` (localhost + 127.0.0.1) and `wrong_host`
// (wrong.example) signed by `ca`, `foreign` (localhost + 127.0.0.1) signed
// by another CA.
struct Pki {
  cxsec::testing::TestServerCert good;
  cxsec::testing::TestServerCert wrong_host;
  cxsec::testing::TestServerCert foreign;
  std::string ca_pem;
};

const Pki& TestPki() {
  static const Pki* pki = [] {
    std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/pki");
    ::mkdir(dir.c_str(), 0700);
    auto ca = cxsec::testing::MakeTestCa(dir, "ca");
    auto other = cxsec::testing::MakeTestCa(dir, "other-ca");
    if (!ca.ok() || !other.ok()) std::abort();
    auto good = cxsec::testing::IssueServerCert(*ca, "good", {"localhost"},
                                                {"127.0.0.1"});
    auto wrong = cxsec::testing::IssueServerCert(*ca, "wrong-host",
                                                 {"wrong.example"}, {});
    auto foreign = cxsec::testing::IssueServerCert(
        *other, "foreign", {"localhost"}, {"127.0.0.1"});
    auto pem = cxsec::testing::ReadTextFile(ca->cert_path);
    if (!good.ok() || !wrong.ok() || !foreign.ok() || !pem.ok()) std::abort();
    return new Pki{*good, *wrong, *foreign, *pem};
  }();
  return *pki;
}

std::unique_ptr<TelemetryLog> LogWithRecords(const std::string& path,
                                             int count) {
  auto log = TelemetryLog::Open(path);
  if (!log.ok()) return nullptr;
  std::vector<LogRecord> records;
  for (int i = 0; i < count; ++i) {
    records.push_back(LogRecord{
        DedupKey("d", absl::StrCat("m", i)),
        absl::StrCat("{\"deviceId\":\"d\",\"messageId\":\"m", i,
                     "\",\"payload\":\"", std::string(30, 'x'), "\"}")});
  }
  if (!(*log)->AppendDurably(records).ok()) return nullptr;
  return *std::move(log);
}

std::string TestDir(absl::string_view name) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  ::mkdir(dir.c_str(), 0700);
  return dir;
}

TEST(WebhookHttpsTest, ReceiverGetsDeliveriesSignedOverTheirDeliveryId) {
  std::string dir = TestDir("https_ok");
  std::unique_ptr<TelemetryLog> log = LogWithRecords(dir + "/t.ndjson", 10);
  ASSERT_NE(log, nullptr);
  Receiver receiver(/*fail_first=*/2, &TestPki().good);
  ASSERT_TRUE(absl::StartsWith(receiver.url(), "https://"));
  WebhookOptions options = Options(receiver.url(), dir);
  options.ca_bundle_pem = TestPki().ca_pem;
  auto forwarder = WebhookForwarder::Start(log.get(), std::move(options),
                                           &SystemClock::Default());
  ASSERT_TRUE(forwarder.ok()) << forwarder.status();
  ASSERT_TRUE(WaitFor([&] {
    return (*forwarder)->delivered_offset() == log->durable_bytes();
  }));
  // Retried through the 503s as over plain HTTP, and every byte arrived.
  EXPECT_GE((*forwarder)->failed_attempts(), 2u);
  EXPECT_EQ((*forwarder)->certificate_rejections(), 0u);
  EXPECT_EQ(receiver.bad_signatures(), 0);
  std::vector<Delivery> deliveries = receiver.deliveries();
  ASSERT_GE(deliveries.size(), 2u);  // 200-byte batches
  uint64_t offset = 0;
  for (const Delivery& d : deliveries) {
    EXPECT_EQ(d.id, absl::StrCat(offset));
    offset += d.body.size();
    EXPECT_TRUE(absl::StartsWith(d.signature, "v2=")) << d.signature;
    EXPECT_FALSE(absl::StrContains(d.signature, "v1=")) << d.signature;
  }
  EXPECT_EQ(offset, log->durable_bytes());
  // The id is covered: the same delivery under another id (a replay the
  // receiver would take for new, or a new one it would drop as seen) fails.
  const Delivery& second = deliveries[1];
  absl::Time now = absl::Now();
  EXPECT_TRUE(VerifyWebhookSignature(SecretView(), second.id, second.timestamp,
                                     second.signature, second.body, now)
                  .ok());
  EXPECT_FALSE(VerifyWebhookSignature(SecretView(), "0", second.timestamp,
                                      second.signature, second.body, now)
                   .ok());
  EXPECT_FALSE(VerifyWebhookSignature(SecretView(), second.id + "1",
                                      second.timestamp, second.signature,
                                      second.body, now)
                   .ok());
}

// The receiver's certificate is refused: nothing is sent (not one HTTP
// request reaches it), the cursor stays put, the failure is counted as a
// certificate rejection and logged without the secret.
void ExpectRefusedReceiver(const cxsec::testing::TestServerCert& cert,
                           const std::string& name,
                           const std::string& ca_pem = TestPki().ca_pem) {
  std::string dir = TestDir(name);
  std::unique_ptr<TelemetryLog> log = LogWithRecords(dir + "/t.ndjson", 3);
  ASSERT_NE(log, nullptr);
  Receiver receiver(/*fail_first=*/0, &cert);
  WebhookOptions options = Options(receiver.url(), dir);
  options.ca_bundle_pem = ca_pem;
  ::testing::internal::CaptureStderr();
  {
    auto forwarder = WebhookForwarder::Start(log.get(), std::move(options),
                                             &SystemClock::Default());
    ASSERT_TRUE(forwarder.ok()) << forwarder.status();
    EXPECT_TRUE(
        WaitFor([&] { return (*forwarder)->certificate_rejections() >= 3; }));
    EXPECT_EQ((*forwarder)->delivered_offset(), 0u);
    EXPECT_GE((*forwarder)->failed_attempts(),
              (*forwarder)->certificate_rejections());
    std::string metrics = (*forwarder)->RenderMetrics();
    EXPECT_FALSE(absl::StrContains(
        metrics, "cxsec_webhook_certificate_rejections_total 0\n"))
        << metrics;
    EXPECT_TRUE(
        absl::StrContains(metrics, absl::StrCat("cxsec_webhook_backlog_bytes ",
                                                log->durable_bytes(), "\n")))
        << metrics;
  }
  std::string logged = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(receiver.attempts(), 0);
  EXPECT_TRUE(receiver.deliveries().empty());
  EXPECT_GE(receiver.failed_handshakes(), 1);
  EXPECT_TRUE(absl::StrContains(logged, "delivery failed")) << logged;
  EXPECT_TRUE(absl::StrContains(logged, "certificate")) << logged;
  EXPECT_FALSE(absl::StrContains(logged, kSecret)) << logged;
  EXPECT_FALSE(absl::StrContains(logged, "/hook")) << logged;
}

TEST(WebhookHttpsTest, ReceiverWithCertificateFromAnotherCaGetsNothing) {
  ExpectRefusedReceiver(TestPki().foreign, "https_foreign_ca");
}

TEST(WebhookHttpsTest, ReceiverWithCertificateForAnotherHostGetsNothing) {
  ExpectRefusedReceiver(TestPki().wrong_host, "https_wrong_host");
}

// Without webhook_ca_file the verifier passes the system store
// (main.cc): it loads, and trusts public CAs only, not the test's own CA.
TEST(WebhookHttpsTest, SystemTrustStoreLoadsAndDoesNotTrustAPrivateCa) {
  auto system_pem = cxsec::testing::ReadTextFile(kSystemCaBundlePath);
  if (!system_pem.ok()) GTEST_SKIP() << "no " << kSystemCaBundlePath;
  ExpectRefusedReceiver(TestPki().good, "https_system_store", *system_pem);
}

TEST(WebhookHttpsTest, HttpsNeedsACaBundle) {
  std::string dir = TestDir("https_no_ca");
  std::unique_ptr<TelemetryLog> log = LogWithRecords(dir + "/t.ndjson", 1);
  ASSERT_NE(log, nullptr);
  WebhookOptions options = Options("https://127.0.0.1:1/hook", dir);
  auto forwarder = WebhookForwarder::Start(log.get(), std::move(options),
                                           &SystemClock::Default());
  EXPECT_FALSE(forwarder.ok());
}

TEST(WebhookPlainHttpTest, RefusedUnlessExplicitlyAllowed) {
  absl::Status refused = CheckWebhookUrl("http://127.0.0.1:8080/hook", false);
  EXPECT_TRUE(absl::IsInvalidArgument(refused));
  EXPECT_TRUE(absl::StrContains(refused.message(), "webhook_allow_plain_http"))
      << refused;
  EXPECT_TRUE(CheckWebhookUrl("http://127.0.0.1:8080/hook", true).ok());
  EXPECT_TRUE(CheckWebhookUrl("https://hooks.example:8443/in", false).ok());
  EXPECT_TRUE(CheckWebhookUrl("https://hooks.example", false).ok());
  EXPECT_FALSE(CheckWebhookUrl("ftp://hooks.example/in", true).ok());
  EXPECT_FALSE(CheckWebhookUrl("https://user@hooks.example/in", true).ok());
  EXPECT_FALSE(CheckWebhookUrl("http://user:pw@127.0.0.1:8080/in", true).ok());
  EXPECT_FALSE(CheckWebhookUrl("http://127.0.0.1:8080/in?token=x", true).ok());

  // The forwarder itself refuses too, whoever configures it.
  std::string dir = TestDir("plain_refused");
  std::unique_ptr<TelemetryLog> log = LogWithRecords(dir + "/t.ndjson", 1);
  ASSERT_NE(log, nullptr);
  Receiver receiver(/*fail_first=*/0);
  WebhookOptions options = Options(receiver.url(), dir);
  options.allow_plain_http = false;
  auto forwarder = WebhookForwarder::Start(log.get(), std::move(options),
                                           &SystemClock::Default());
  ASSERT_FALSE(forwarder.ok());
  EXPECT_TRUE(absl::StrContains(forwarder.status().message(),
                                "webhook_allow_plain_http"));
  // With the opt-in it delivers (see DeliversSignedRetriesAndResumes...).
  options = Options(receiver.url(), dir);
  ASSERT_TRUE(options.allow_plain_http);
  forwarder = WebhookForwarder::Start(log.get(), std::move(options),
                                      &SystemClock::Default());
  ASSERT_TRUE(forwarder.ok()) << forwarder.status();
  ASSERT_TRUE(WaitFor([&] {
    return (*forwarder)->delivered_offset() == log->durable_bytes();
  }));
  EXPECT_EQ(receiver.deliveries().size(), 1u);
}

// The worked example of docs/VERIFIER_API.md ("Webhooks"), computed there
// with Python's hmac module.
TEST(WebhookSignatureTest, MatchesTheDocumentedExample) {
  ByteView secret =
      AsBytes(absl::string_view("0123456789abcdef0123456789abcdef"));
  std::string body = "{\"deviceId\":\"dev-1\",\"messageId\":\"m-1\"}\n";
  EXPECT_EQ(
      WebhookSignature(secret, "4096", "1700000000", body),
      "v2=74ffb7ac9772a50ae25e96db1b955b45fc58089913ed1a62282982799124b721");
  EXPECT_EQ(
      WebhookSignature(secret, "4097", "1700000000", body),
      "v2=db89a16152869f1291c38ece4ee533fa869067fd0f2782468050afeea3db92f9");
}

TEST(WebhookSignatureTest, ReplayedOrTamperedDeliveriesFailVerification) {
  absl::Time now = absl::FromUnixSeconds(1700000000);
  std::string id = "4096";
  std::string ts = "1700000000";
  std::string body = "{\"a\":1}\n";
  std::string sig = WebhookSignature(SecretView(), id, ts, body);
  EXPECT_TRUE(
      VerifyWebhookSignature(SecretView(), id, ts, sig, body, now).ok());
  // Later signature versions may be listed beside v2.
  EXPECT_TRUE(
      VerifyWebhookSignature(SecretView(), id, ts, "v3=abcd, " + sig, body, now)
          .ok());
  // Captured and replayed an hour later: refused though the MAC is valid.
  EXPECT_FALSE(VerifyWebhookSignature(SecretView(), id, ts, sig, body,
                                      now + absl::Hours(1))
                   .ok());
  // A fresh timestamp on the old signature: the MAC covers the timestamp.
  EXPECT_FALSE(VerifyWebhookSignature(SecretView(), id, "1700003600", sig, body,
                                      now + absl::Hours(1))
                   .ok());
  // Another delivery id on the old signature: the MAC covers the id.
  EXPECT_FALSE(
      VerifyWebhookSignature(SecretView(), "4097", ts, sig, body, now).ok());
  EXPECT_FALSE(
      VerifyWebhookSignature(SecretView(), "", ts, sig, body, now).ok());
  EXPECT_FALSE(
      VerifyWebhookSignature(SecretView(), "4096.1", ts, sig, body, now).ok());
  EXPECT_FALSE(
      VerifyWebhookSignature(SecretView(), id, ts, sig, "{\"a\":2}\n", now)
          .ok());
  EXPECT_FALSE(
      VerifyWebhookSignature(AsBytes(absl::string_view("another-secret-16b")),
                             id, ts, sig, body, now)
          .ok());
  EXPECT_FALSE(
      VerifyWebhookSignature(SecretView(), id, "soon", sig, body, now).ok());
  EXPECT_FALSE(
      VerifyWebhookSignature(SecretView(), id, "+1700000000", sig, body, now)
          .ok());
  // A v1 signature (timestamp + body only, as sent before) is refused.
  Sha256Digest v1 = HmacSha256(SecretView(), AsBytes(ts + "." + body));
  std::string v1_header =
      absl::StrCat("v1=", HexEncode(ByteView(v1.data(), v1.size())));
  absl::Status old =
      VerifyWebhookSignature(SecretView(), id, ts, v1_header, body, now);
  EXPECT_FALSE(old.ok());
  EXPECT_TRUE(absl::StrContains(old.message(), "v2")) << old;
}

// With the Redis sink each stream entry is one delivery: its id is the
// entry id made decimal, distinct for distinct ids, and accepted by the
// receivers' check (decimal digits only).
TEST(StreamDeliveryIdTest, DecimalAndDistinct) {
  EXPECT_EQ(*StreamDeliveryId("1700000000123-0"), "1700000000123000000");
  EXPECT_EQ(*StreamDeliveryId("1700000000123-7"), "1700000000123000007");
  EXPECT_EQ(*StreamDeliveryId("1700000000124-0"), "1700000000124000000");
  EXPECT_EQ(*StreamDeliveryId("0-1"), "1");
  EXPECT_FALSE(StreamDeliveryId("1700000000123-1000000").ok());
  EXPECT_FALSE(StreamDeliveryId("1700000000123").ok());
  EXPECT_FALSE(StreamDeliveryId("-5").ok());
  EXPECT_FALSE(StreamDeliveryId("99999999999999-0").ok());
  const std::string secret = "0123456789abcdef0123456789abcdef";
  std::string id = *StreamDeliveryId("1700000000123-7");
  std::string signature =
      WebhookSignature(AsBytes(secret), id, "1700000000", "x\n");
  EXPECT_TRUE(VerifyWebhookSignature(AsBytes(secret), id, "1700000000",
                                     signature, "x\n",
                                     absl::FromUnixSeconds(1700000000))
                  .ok());
}

}  // namespace
}  // namespace cxsec::verifier
