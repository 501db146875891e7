// Webhook delivery against a real HTTP receiver on loopback that checks
// every signature: deliveries are signed over timestamp + body, a receiver
// outage is retried from the durable log, a restart resumes from the
// cursor without re-sending, and stale or tampered deliveries fail the
// receiver-side check.
#include "targets/verifier/sinks/webhook_forwarder.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "gtest/gtest.h"

namespace cxsec::verifier {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

const char kSecret[] = "0123456789abcdef-webhook-secret";

ByteView SecretView() { return AsBytes(absl::string_view(kSecret)); }

// Receiver: answers 503 to the first `fail_first` deliveries, then checks
// the signature and records the body.
class Receiver {
 public:
  explicit Receiver(int fail_first) : fail_first_(fail_first), acceptor_(io_) {
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
    return absl::StrCat("http://127.0.0.1:", acceptor_.local_endpoint().port(), "/hook");
  }
  std::string received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  int bad_signatures() const { return bad_signatures_.load(); }
  int attempts() const { return attempts_.load(); }

 private:
  void Serve() {
    while (!stopping_) {
      asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) break;
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> request;
      http::read(socket, buffer, request, ec);
      if (ec) continue;
      int attempt = attempts_.fetch_add(1);
      http::response<http::string_body> response{http::status::ok, 11};
      if (attempt < fail_first_) {
        response.result(http::status::service_unavailable);
      } else {
        absl::Status ok = VerifyWebhookSignature(
            SecretView(), std::string(request["X-Cxsec-Timestamp"]),
            std::string(request["X-Cxsec-Signature"]), request.body(), absl::Now());
        if (!ok.ok() || request.target() != "/hook") {
          bad_signatures_.fetch_add(1);
          response.result(http::status::unauthorized);
        } else {
          std::lock_guard<std::mutex> lock(mu_);
          received_ += request.body();
        }
      }
      response.keep_alive(false);
      response.prepare_payload();
      http::write(socket, response, ec);
    }
  }
  int fail_first_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::string received_;
  std::atomic<int> bad_signatures_{0};
  std::atomic<int> attempts_{0};
};

WebhookOptions Options(const std::string& url, const std::string& dir) {
  WebhookOptions o;
  o.url = url;
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
    std::string line = absl::StrCat("{\"deviceId\":\"d\",\"messageId\":\"m", i,
                                    "\",\"payload\":\"", std::string(30, 'x'), "\"}");
    expected += line + "\n";
    records.push_back(LogRecord{DedupKey("d", absl::StrCat("m", i)), line});
  }
  ASSERT_TRUE((*log)->AppendDurably(records).ok());
  uint64_t total = (*log)->durable_bytes();
  {
    Receiver receiver(/*fail_first=*/3);
    auto forwarder = WebhookForwarder::Start(log->get(), Options(receiver.url(), dir),
                                             &SystemClock::Default());
    ASSERT_TRUE(forwarder.ok()) << forwarder.status();
    ASSERT_TRUE(WaitFor([&] { return (*forwarder)->delivered_offset() == total; }));
    EXPECT_EQ(receiver.received(), expected);
    EXPECT_GE((*forwarder)->failed_attempts(), 3u);
    EXPECT_EQ(receiver.bad_signatures(), 0);
  }
  // New data after a restart: only the new lines are sent.
  ASSERT_TRUE((*log)->AppendDurably({LogRecord{DedupKey("d", "late"), "{\"late\":1}"}}).ok());
  Receiver second(/*fail_first=*/0);
  auto forwarder = WebhookForwarder::Start(log->get(), Options(second.url(), dir),
                                           &SystemClock::Default());
  ASSERT_TRUE(forwarder.ok());
  ASSERT_TRUE(WaitFor([&] {
    return (*forwarder)->delivered_offset() == (*log)->durable_bytes();
  }));
  EXPECT_EQ(second.received(), "{\"late\":1}\n");
}

TEST(WebhookSignatureTest, ReplayedOrTamperedDeliveriesFailVerification) {
  absl::Time now = absl::FromUnixSeconds(1700000000);
  std::string ts = "1700000000";
  std::string body = "{\"a\":1}\n";
  std::string sig = WebhookSignature(SecretView(), ts, body);
  EXPECT_TRUE(VerifyWebhookSignature(SecretView(), ts, sig, body, now).ok());
  // Captured and replayed an hour later: refused though the MAC is valid.
  EXPECT_FALSE(VerifyWebhookSignature(SecretView(), ts, sig, body, now + absl::Hours(1)).ok());
  // A fresh timestamp on the old signature: the MAC covers the timestamp.
  EXPECT_FALSE(VerifyWebhookSignature(SecretView(), "1700003600", sig, body,
                                      now + absl::Hours(1)).ok());
  EXPECT_FALSE(VerifyWebhookSignature(SecretView(), ts, sig, "{\"a\":2}\n", now).ok());
  EXPECT_FALSE(VerifyWebhookSignature(AsBytes(absl::string_view("another-secret-16b")), ts,
                                      sig, body, now).ok());
  EXPECT_FALSE(VerifyWebhookSignature(SecretView(), "soon", sig, body, now).ok());
}

}  // namespace
}  // namespace cxsec::verifier
