#include "targets/verifier/sinks/redis_stream_consumer.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace cxsec::verifier {
namespace {

using Reply = std::unique_ptr<redisReply, void (*)(redisReply*)>;

void FreeReply(redisReply* r) {
  if (r != nullptr) freeReplyObject(r);
}

timeval TimevalAtLeast1ms(absl::Duration d) {
  timeval tv = absl::ToTimeval(d);
  if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1000;
  return tv;
}

bool IsString(const redisReply* r) {
  return r != nullptr &&
         (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

// ParseEntry reads one [id, [field, value, ...] or nil] element.
bool ParseEntry(const redisReply* r, StreamEntry* out) {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      !IsString(r->element[0])) {
    return false;
  }
  out->id.assign(r->element[0]->str, r->element[0]->len);
  const redisReply* fields = r->element[1];
  if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY) return true;
  for (size_t i = 0; i + 1 < fields->elements; i += 2) {
    const redisReply* name = fields->element[i];
    const redisReply* value = fields->element[i + 1];
    if (IsString(name) && IsString(value) &&
        absl::string_view(name->str, name->len) == "record") {
      out->record.assign(value->str, value->len);
      out->has_record = true;
    }
  }
  return true;
}

// ParseEntries reads an array of entries.
absl::Status ParseEntries(const redisReply* r, bool reclaimed,
                          std::vector<StreamEntry>* out) {
  if (r == nullptr || r->type == REDIS_REPLY_NIL) return absl::OkStatus();
  if (r->type != REDIS_REPLY_ARRAY) {
    return absl::FailedPreconditionError("redis: unexpected entry list");
  }
  for (size_t i = 0; i < r->elements; ++i) {
    StreamEntry entry;
    if (!ParseEntry(r->element[i], &entry)) {
      return absl::FailedPreconditionError("redis: unexpected stream entry");
    }
    entry.reclaimed = reclaimed;
    out->push_back(std::move(entry));
  }
  return absl::OkStatus();
}

// ParseReadGroup reads XREADGROUP's [[stream, [entries]]] (or nil).
absl::Status ParseReadGroup(const redisReply* r,
                            std::vector<StreamEntry>* out) {
  if (r == nullptr || r->type == REDIS_REPLY_NIL) return absl::OkStatus();
  if (r->type != REDIS_REPLY_ARRAY) {
    return absl::FailedPreconditionError("redis: unexpected XREADGROUP reply");
  }
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* stream = r->element[i];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) {
      return absl::FailedPreconditionError("redis: unexpected XREADGROUP reply");
    }
    if (absl::Status s = ParseEntries(stream->element[1], false, out); !s.ok())
      return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisStreamConsumer>>
RedisStreamConsumer::Create(StreamConsumerOptions options) {
  if (options.host.empty() || options.port == 0) {
    return absl::InvalidArgumentError("stream: host and port are required");
  }
  if (options.group.empty() || options.consumer.empty()) {
    return absl::InvalidArgumentError("stream: a group and a consumer name are required");
  }
  if (options.block < absl::ZeroDuration() ||
      options.reclaim_idle <= absl::ZeroDuration() ||
      options.io_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("stream: timeouts must be positive");
  }
  std::unique_ptr<RedisStreamConsumer> consumer(
      new RedisStreamConsumer(std::move(options)));
  return consumer;
}

RedisStreamConsumer::~RedisStreamConsumer() { Disconnect(); }

void RedisStreamConsumer::Disconnect() {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

absl::StatusOr<Reply> RedisStreamConsumer::Run(
    const std::vector<std::string>& args) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  Reply reply(static_cast<redisReply*>(redisCommandArgv(
                  context_, static_cast<int>(argv.size()), argv.data(),
                  lens.data())),
              FreeReply);
  if (reply == nullptr) {
    std::string why = context_->errstr;
    Disconnect();
    return absl::UnavailableError(absl::StrCat("redis: ", why));
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    absl::string_view text(reply->str, reply->len);
    // A restarted Redis may still load its AOF, or a failed-over one
    // refuse: worth a reconnect, not an exit.
    if (absl::StartsWith(text, "LOADING") || absl::StartsWith(text, "MASTERDOWN")) {
      Disconnect();
      return absl::UnavailableError(absl::StrCat("redis: ", text));
    }
    if (absl::StartsWith(text, "NOGROUP")) {
      // The group vanished (a Redis that lost its data): create it again
      // on the next call.
      Disconnect();
      return absl::UnavailableError(absl::StrCat("redis: ", text));
    }
    return absl::FailedPreconditionError(absl::StrCat("redis: ", text));
  }
  return reply;
}

absl::Status RedisStreamConsumer::EnsureConnected() {
  if (context_ != nullptr) return absl::OkStatus();
  redisContext* c = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                            TimevalAtLeast1ms(options_.io_timeout));
  if (c == nullptr) return absl::UnavailableError("redis: out of memory");
  if (c->err != 0) {
    std::string why = c->errstr;
    redisFree(c);
    return absl::UnavailableError(absl::StrCat("cannot connect to redis at ",
                                               options_.host, ":",
                                               options_.port, ": ", why));
  }
  redisSetTimeout(c, TimevalAtLeast1ms(options_.io_timeout + options_.block));
  redisEnableKeepAlive(c);
  context_ = c;
  if (options_.password.has_value()) {
    ByteView secret = options_.password->Reveal(SecretAccess::Grant());
    const char* argv[] = {"AUTH", reinterpret_cast<const char*>(secret.data())};
    size_t lens[] = {4, secret.size()};
    Reply reply(static_cast<redisReply*>(redisCommandArgv(c, 2, argv, lens)),
                FreeReply);
    if (reply == nullptr) {
      std::string why = c->errstr;
      Disconnect();
      return absl::UnavailableError(absl::StrCat("redis: ", why));
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      // Only the error code: never risk echoing anything about the secret.
      absl::string_view text(reply->str, reply->len);
      std::string code(text.substr(0, text.find(' ')));
      Disconnect();
      if (code == "LOADING") {
        return absl::UnavailableError("redis: LOADING");
      }
      return absl::PermissionDeniedError(
          absl::StrCat("redis: AUTH refused (", code, ")"));
    }
  }
  // Start at the stream's beginning: a new group reads what is retained.
  absl::StatusOr<Reply> created = Run({"XGROUP", "CREATE", stream_key(),
                                       options_.group, "0", "MKSTREAM"});
  if (!created.ok() &&
      !absl::StrContains(created.status().message(), "BUSYGROUP")) {
    Disconnect();
    return created.status();
  }
  // Entries handed out on an earlier connection (or by an earlier process
  // under this consumer name) and not acknowledged come first.
  own_pending_from_ = "0";
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StreamEntry>> RedisStreamConsumer::Next(size_t max) {
  if (max == 0) return absl::InvalidArgumentError("stream: max must be > 0");
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  const std::string stream = stream_key();
  const std::string count = absl::StrCat(max);
  std::vector<StreamEntry> entries;

  if (!own_pending_from_.empty()) {
    absl::StatusOr<Reply> reply =
        Run({"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT",
             count, "STREAMS", stream, own_pending_from_});
    if (!reply.ok()) return reply.status();
    if (absl::Status s = ParseReadGroup(reply->get(), &entries); !s.ok())
      return s;
    if (!entries.empty()) {
      own_pending_from_ = entries.back().id;
      return entries;
    }
    own_pending_from_.clear();  // read to its end
  }

  if (absl::Now() >= next_reclaim_) {
    if (reclaim_cursor_.empty()) reclaim_cursor_ = "0-0";
    absl::StatusOr<Reply> reply = Run(
        {"XAUTOCLAIM", stream, options_.group, options_.consumer,
         absl::StrCat(absl::ToInt64Milliseconds(options_.reclaim_idle)),
         reclaim_cursor_, "COUNT", count});
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        !IsString(r->element[0])) {
      return absl::FailedPreconditionError("redis: unexpected XAUTOCLAIM reply");
    }
    std::string cursor(r->element[0]->str, r->element[0]->len);
    if (absl::Status s = ParseEntries(r->element[1], true, &entries); !s.ok())
      return s;
    // Redis 7 drops entries deleted from the stream from the pending list
    // itself (element 2); nothing to acknowledge for those.
    if (cursor == "0-0") {
      reclaim_cursor_.clear();
      next_reclaim_ = absl::Now() + std::max(options_.reclaim_idle / 2,
                                             absl::Milliseconds(100));
    } else {
      reclaim_cursor_ = cursor;
    }
    if (!entries.empty()) return entries;
  }

  std::vector<std::string> args = {"XREADGROUP", "GROUP", options_.group,
                                   options_.consumer, "COUNT", count};
  if (options_.block > absl::ZeroDuration()) {
    args.push_back("BLOCK");
    args.push_back(absl::StrCat(absl::ToInt64Milliseconds(options_.block)));
  }
  args.insert(args.end(), {"STREAMS", stream, ">"});
  absl::StatusOr<Reply> reply = Run(args);
  if (!reply.ok()) return reply.status();
  if (absl::Status s = ParseReadGroup(reply->get(), &entries); !s.ok())
    return s;
  return entries;
}

absl::Status RedisStreamConsumer::Ack(const std::vector<StreamEntry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  std::vector<std::string> args = {"XACK", stream_key(), options_.group};
  for (const StreamEntry& e : entries) args.push_back(e.id);
  absl::StatusOr<Reply> reply = Run(args);
  if (!reply.ok()) {
    // Not acknowledged: after the reconnect they are this consumer's own
    // pending entries again, and handed out once more.
    return reply.status();
  }
  return absl::OkStatus();
}

}  // namespace cxsec::verifier
