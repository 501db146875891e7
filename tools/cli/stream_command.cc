// `cxsec stream tail`: an example consumer of the verifier's telemetry
// stream in Redis (docs/SCALE_OUT.md, "Consumers"). It joins a consumer
// group, prints each entry's record (the NDJSON line) to stdout, and
// acknowledges an entry only after its line was written and flushed; at
// start and periodically it takes over entries a dead member of the group
// left pending. Several processes with one --group and distinct
// --consumer names share the stream's entries between them.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/cli/command_line.h"
#include "core/secret_bytes.h"
#include "platforms/posix/endpoint.h"
#include "platforms/posix/files.h"
#include "tools/cli/command_registry.h"
#include "targets/verifier/sinks/redis_stream_consumer.h"

namespace cxsec::cli {
namespace {

using ::cxsec::verifier::RedisStreamConsumer;
using ::cxsec::verifier::StreamConsumerOptions;
using ::cxsec::verifier::StreamEntry;

constexpr char kTailUsage[] =
    "Usage: cxsec stream tail --redis HOST:PORT --group G --consumer C\n"
    "                         [--prefix cxsec:] [--count N] [--block-ms MS]\n"
    "                         [--reclaim-idle-ms MS] [--password-file F]\n";

void Error(absl::string_view message) {
  std::fprintf(stderr, "cxsec stream tail: %.*s\n",
               static_cast<int>(message.size()), message.data());
}

int RunTail(int argc, const char* const* argv) {
  CommandLine cl({
      {"redis", true, "the Redis primary the verifiers write to", "HOST:PORT"},
      {"prefix", true, "redis_key_prefix of the verifiers (default cxsec:)",
       "PREFIX"},
      {"group", true, "consumer group (created at the stream's start if absent)",
       "G"},
      {"consumer", true, "this consumer's name, unique within the group", "C"},
      {"count", true, "exit after printing N entries (default: run on)", "N"},
      {"block-ms", true, "wait for new entries this long per read (default 2000)",
       "MS"},
      {"reclaim-idle-ms", true,
       "take over entries pending longer than this at another consumer "
       "(default 60000)",
       "MS"},
      {"password-file", true, "file (mode 0600) holding the Redis password",
       "F"},
  });
  if (absl::Status status = cl.Parse(argc, argv); !status.ok()) {
    Error(status.message());
    return 2;
  }
  if (cl.Has("help")) {
    std::printf("%s\n%s", kTailUsage, cl.Usage().c_str());
    return 0;
  }
  absl::StatusOr<std::string> address = cl.RequiredValue("redis");
  absl::StatusOr<std::string> group = cl.RequiredValue("group");
  absl::StatusOr<std::string> consumer_name = cl.RequiredValue("consumer");
  absl::StatusOr<long long> count = cl.IntValue("count", 0, 1, 1LL << 40);
  absl::StatusOr<long long> block_ms = cl.IntValue("block-ms", 2000, 1, 600000);
  absl::StatusOr<long long> idle_ms =
      cl.IntValue("reclaim-idle-ms", 60000, 1, 86400000);
  for (const absl::Status& s :
       {address.status(), group.status(), consumer_name.status(),
        count.status(), block_ms.status(), idle_ms.status()}) {
    if (!s.ok()) {
      Error(s.message());
      std::fputs(kTailUsage, stderr);
      return 2;
    }
  }
  if (!cl.positionals().empty()) {
    std::fputs(kTailUsage, stderr);
    return 2;
  }
  absl::StatusOr<HostPort> endpoint = ParseHostPort(*address);
  if (!endpoint.ok()) {
    Error(endpoint.status().message());
    return 2;
  }
  StreamConsumerOptions options;
  options.host = endpoint->host;
  options.port = endpoint->port;
  options.key_prefix = cl.Value("prefix", "cxsec:");
  options.group = *group;
  options.consumer = *consumer_name;
  options.block = absl::Milliseconds(*block_ms);
  options.reclaim_idle = absl::Milliseconds(*idle_ms);
  if (cl.Has("password-file")) {
    absl::StatusOr<std::string> password =
        ReadPrivateFile(cl.Value("password-file"), 4096);
    if (!password.ok()) {
      Error(password.status().message());
      return 1;
    }
    while (!password->empty() &&
           (password->back() == '\n' || password->back() == '\r')) {
      password->pop_back();
    }
    options.password = SecretBytes::CopyFrom(AsBytes(*password));
    SecureZero(password->data(), password->size());
  }

  // Connection trouble (Redis restarting, failing over) is waited out with
  // backoff; anything else (AUTH refused, a wrong key type) ends the run.
  absl::Duration backoff = absl::ZeroDuration();
  auto wait_or_fail = [&](const absl::Status& s) {
    if (!absl::IsUnavailable(s)) {
      Error(s.message());
      return false;
    }
    backoff = std::clamp(backoff * 2, absl::Milliseconds(100), absl::Seconds(5));
    Error(absl::StrCat(s.message(), "; retrying in ",
                       absl::FormatDuration(backoff)));
    absl::SleepFor(backoff);
    return true;
  };
  absl::StatusOr<std::unique_ptr<RedisStreamConsumer>> created =
      RedisStreamConsumer::Create(std::move(options));
  if (!created.ok()) {
    Error(created.status().message());
    return 2;
  }
  std::unique_ptr<RedisStreamConsumer> consumer = std::move(*created);
  for (absl::Status s = consumer->Connect(); !s.ok(); s = consumer->Connect()) {
    if (!wait_or_fail(s)) return 1;
  }
  backoff = absl::ZeroDuration();

  long long printed = 0;
  const long long limit = cl.Has("count") ? *count : 0;
  for (;;) {
    size_t max = 100;
    if (limit > 0) max = static_cast<size_t>(std::min<long long>(100, limit - printed));
    absl::StatusOr<std::vector<StreamEntry>> batch = consumer->Next(max);
    if (!batch.ok()) {
      if (!wait_or_fail(batch.status())) return 1;
      continue;
    }
    backoff = absl::ZeroDuration();
    for (const StreamEntry& entry : *batch) {
      if (!entry.has_record) {
        // Trimmed while pending, or not written by a verifier: nothing to
        // print; acknowledged so that it does not come back.
        Error(absl::StrCat("entry ", entry.id, " has no record; skipped"));
        continue;
      }
      std::fwrite(entry.record.data(), 1, entry.record.size(), stdout);
      std::fputc('\n', stdout);
      ++printed;
    }
    // Written and flushed first, acknowledged after: a crash in between
    // leaves the entries pending (delivered again), never lost.
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      Error("cannot write to stdout; entries left unacknowledged");
      return 1;
    }
    if (absl::Status acked = consumer->Ack(*batch); !acked.ok()) {
      // After the reconnect Next hands these out again from this
      // consumer's own pending list: printed twice then, never lost.
      if (!wait_or_fail(acked)) return 1;
    }
    if (limit > 0 && printed >= limit) return 0;
  }
}

int RunStream(int argc, const char* const* argv) {
  if (argc >= 1 && std::string(argv[0]) == "tail") {
    return RunTail(argc - 1, argv + 1);
  }
  if (argc >= 1 && (std::string(argv[0]) == "--help" ||
                    std::string(argv[0]) == "-h")) {
    std::printf("%s", kTailUsage);
    return 0;
  }
  std::fputs(kTailUsage, stderr);
  return 2;
}

}  // namespace
}  // namespace cxsec::cli

CXSEC_REGISTER_COMMAND(stream, "read the verifiers' Redis telemetry stream "
                               "with a consumer group",
                       cxsec::cli::RunStream);
