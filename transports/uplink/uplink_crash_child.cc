// A stand-in gateway process for uplink_kill9_test: runs HttpsUplink on a
// spool directory and, for ids [first, first + count), enqueues one
// message and prints "spooled <id>" once Enqueue has returned OK (so the
// parent knows exactly what was promised to a node before it kills us).
// With count 0 it only drains the spool, prints "drained" and exits.
//
//   uplink_crash_child <spool_dir> <url> <ca.pem> <token> <first> <count>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "transports/uplink/https_uplink.h"
#include "transports/uplink/testing/test_pki.h"

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s spool_dir url ca token first count\n",
                 argv[0]);
    return 2;
  }
  int first = 0;
  int count = 0;
  if (!absl::SimpleAtoi(argv[5], &first) || !absl::SimpleAtoi(argv[6], &count)) {
    return 2;
  }
  absl::StatusOr<std::string> ca = cxsec::testing::ReadTextFile(argv[3]);
  if (!ca.ok()) return 3;
  cxsec::HttpsUplinkOptions options;
  options.client.url = argv[2];
  options.client.ca_bundle_pem = *ca;
  options.spool.path = absl::StrCat(argv[1], "/spool.db");
  options.batch_max_messages = 50;
  options.idle_wait = absl::Milliseconds(20);
  options.backoff.initial = absl::Milliseconds(10);
  options.backoff.max = absl::Milliseconds(100);
  absl::StatusOr<cxsec::HttpsUplink> uplink =
      cxsec::HttpsUplink::Create(options);
  if (!uplink.ok()) {
    std::fprintf(stderr, "%s\n", std::string(uplink.status().message()).c_str());
    return 4;
  }
  std::string token = argv[4];
  absl::Status started = uplink->Start(
      [token]() -> absl::StatusOr<std::string> { return token; });
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", std::string(started.message()).c_str());
    return 5;
  }
  for (int id = first; id < first + count; ++id) {
    cxsec::VerifiedMessage m;
    m.device_id = "D0123456789abcdef";
    m.message_id = absl::StrCat(id);
    m.transport = "dtls";
    m.received_at = absl::Now();
    m.payload = {0xa1, 0x01, static_cast<uint8_t>(id)};
    absl::Status status = uplink->Enqueue(std::move(m));
    if (!status.ok()) {
      std::printf("refused %d\n", id);
    } else {
      std::printf("spooled %d\n", id);
    }
    std::fflush(stdout);
  }
  // Keep sending until the spool is empty (or until the parent kills us).
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (uplink->stats().spooled_now > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  bool drained = uplink->stats().spooled_now == 0;
  uplink->Stop();
  if (drained) std::printf("drained\n");
  std::fflush(stdout);
  return drained ? 0 : 6;
}
