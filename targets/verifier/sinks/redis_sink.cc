#include "targets/verifier/sinks/redis_sink.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/crypto/primitives.h"
#include "core/encoding/hex.h"

namespace cxsec::verifier {

// The end both append scripts share: the stream entry (its fields from
// ARGV[fields_from] on), the dedup key, and the trimming of the dedup
// window.
constexpr char kAppendTail[] = R"lua(
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, fields_from))
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. id, 'EX', ttl)
else
  redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. id)
end
local listed = redis.call('LPUSH', KEYS[3], id .. ' ' .. KEYS[2])
local function forget(entry)
  local sp = string.find(entry, ' ', 1, true)
  local eid = string.sub(entry, 1, sp - 1)
  local key = string.sub(entry, sp + 1)
  local v = redis.call('GET', key)
  if v and string.sub(v, -(#eid + 1)) == ' ' .. eid then
    redis.call('DEL', key)
  end
end
local excess = listed - tonumber(ARGV[3])
for i = 1, math.min(excess, 8) do forget(redis.call('RPOP', KEYS[3])) end
if ttl > 0 then
  local cutoff = tonumber(string.match(id, '^(%d+)')) - ttl * 1000
  for i = 1, 8 do
    local last = redis.call('LINDEX', KEYS[3], -1)
    if not last or tonumber(string.match(last, '^(%d+)')) >= cutoff then
      break
    end
    forget(redis.call('RPOP', KEYS[3]))
  end
end
return id
)lua";

// JoinScript: `head` followed by `tail`, as one NUL-terminated array at
// compile time (no static initialisation order to worry about).
template <size_t H, size_t T>
constexpr std::array<char, H + T - 1> JoinScript(const char (&head)[H],
                                                 const char (&tail)[T]) {
  std::array<char, H + T - 1> out{};
  for (size_t i = 0; i + 1 < H; ++i) out[i] = head[i];
  for (size_t i = 0; i < T; ++i) out[H - 1 + i] = tail[i];
  return out;
}

// Described in docs/SCALE_OUT.md ("The append script").
constexpr char kAppendHead[] = R"lua(
local seen = redis.call('GET', KEYS[2])
if seen then
  local sp = string.find(seen, ' ', 1, true)
  local sha = sp and string.sub(seen, 1, sp - 1) or ''
  if sha == '' or ARGV[1] == '' or sha == ARGV[1] then return 'duplicate' end
  return 'conflict'
end
local fields_from = 4
)lua";
constexpr auto kAppendScript = JoinScript(kAppendHead, kAppendTail);
const char* const kRedisAppendScript = kAppendScript.data();

// Described in docs/SCALE_OUT.md ("The sealed append script").
// The device's state is one string: struct '<BI4I4I4I4I8' (version 1,
// epoch, highest sequence, window, gap window, gaps), then 32 tags of 8
// bytes (slot = sequence % 32). Its transitions are ApplySealedReading's
// (core/seal/seal_counter_state.h), bit for bit.
constexpr char kSealedAppendHead[] = R"lua(
local epoch = tonumber(ARGV[4])
local seq = tonumber(ARGV[5])
local tag = ARGV[6]
if not epoch or not seq or #tag ~= 8 then return redis.error_reply('ERR bad seal arguments') end
local raw = redis.call('GET', KEYS[4])
local has, e, hi, win, gwin, gaps = false, 0, 0, 0, 0, 0
local tags = string.rep('\0', 256)
if raw then
  local v
  v, e, hi, win, gwin, gaps = struct.unpack('<BI4I4I4I4I8', raw)
  if v ~= 1 or #raw ~= 281 then return redis.error_reply('ERR seal state of unknown version') end
  tags = string.sub(raw, 26)
  has = true
end
local gaps_before = gaps
if epoch < e then return 'stale_epoch' end
local at = (seq % 32) * 8
if not has or epoch > e then
  e, hi, win, gwin = epoch, seq, 1, 0
elseif seq > hi then
  local ahead = seq - hi
  gaps = gaps + ahead - 1
  local skipped
  if ahead >= 32 then
    win, gwin, skipped = 0, 0, 4294967294
  else
    win, gwin = bit.lshift(win, ahead), bit.lshift(gwin, ahead)
    skipped = bit.lshift(1, ahead) - 2
  end
  gwin = bit.bor(gwin, skipped)
  win = bit.bor(win, 1)
  hi = seq
else
  local behind = hi - seq
  if behind >= 32 then return 'replayed_sequence' end
  local b = bit.lshift(1, behind)
  if bit.band(win, b) ~= 0 then
    if string.sub(tags, at + 1, at + 8) == tag then return 'duplicate' end
    return 'conflict'
  end
  win = bit.bor(win, b)
  if bit.band(gwin, b) ~= 0 then
    gwin = bit.band(gwin, bit.bnot(b))
    gaps = gaps - 1
  end
end
tags = string.sub(tags, 1, at) .. tag .. string.sub(tags, at + 9)
local seen = redis.call('GET', KEYS[2])
if seen then
  local sp = string.find(seen, ' ', 1, true)
  local sha = sp and string.sub(seen, 1, sp - 1) or ''
  if sha == '' or ARGV[1] == '' or sha == ARGV[1] then return 'duplicate' end
  return 'conflict'
end
local function u32(x) if x < 0 then return x + 4294967296 end return x end
redis.call('SET', KEYS[4], struct.pack('<BI4I4I4I4I8', 1, e, hi, u32(win), u32(gwin), gaps) .. tags)
if not has then redis.call('HINCRBY', KEYS[5], 'devices', 1) end
if gaps ~= gaps_before then redis.call('HINCRBY', KEYS[5], 'gaps', gaps - gaps_before) end
local fields_from = 7
)lua";
constexpr auto kSealedAppendScript = JoinScript(kSealedAppendHead, kAppendTail);
const char* const kRedisSealedAppendScript = kSealedAppendScript.data();

namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

timeval TimevalAtLeast1ms(absl::Duration d) {
  timeval tv = absl::ToTimeval(d);
  if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1000;
  return tv;
}

// A stream entry id: digits '-' digits.
bool IsStreamId(absl::string_view s) {
  size_t dash = s.find('-');
  if (dash == absl::string_view::npos || dash == 0 || dash + 1 == s.size())
    return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i != dash && !absl::ascii_isdigit(static_cast<unsigned char>(s[i])))
      return false;
  }
  return true;
}

void Log(absl::string_view message) {
  std::fprintf(stderr, "cxsec-verifier: redis sink: %.*s\n",
               static_cast<int>(message.size()), message.data());
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisTelemetrySink>> RedisTelemetrySink::Start(
    RedisSinkOptions options) {
  if (options.host.empty() || options.port == 0) {
    return absl::InvalidArgumentError("redis sink: host and port are required");
  }
  if (options.key_prefix.find_first_of(" \r\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        "redis sink: the key prefix may not contain spaces or line breaks");
  }
  if (options.wait_replicas < 0 ||
      options.wait_timeout <= absl::ZeroDuration() ||
      options.io_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "redis sink: replicas must be >= 0 and timeouts positive");
  }
  if (!options.username.empty() && !options.password.has_value()) {
    return absl::InvalidArgumentError(
        "redis sink: a username needs a password");
  }
  options.reconnect_min = std::max(options.reconnect_min, absl::Milliseconds(1));
  options.reconnect_max = std::max(options.reconnect_max, options.reconnect_min);
  std::unique_ptr<RedisTelemetrySink> sink(
      new RedisTelemetrySink(std::move(options)));
  sink->worker_ = std::thread([s = sink.get()] { s->WorkLoop(); });
  return sink;
}

RedisTelemetrySink::~RedisTelemetrySink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  if (context_ != nullptr) redisFree(context_);
}

std::string RedisTelemetrySink::DedupRedisKey(
    absl::string_view dedup_key) const {
  Sha256Digest digest = Sha256(AsBytes(dedup_key));
  return absl::StrCat(options_.key_prefix, "seen:",
                      HexEncode(ByteView(digest.data(), 16)));
}

void RedisTelemetrySink::AppendAsync(std::vector<LogRecord> records,
                                     AppendCallback done) {
  if (records.empty()) {
    done(std::vector<Outcome>{});
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Waiter{std::move(records), std::move(done)});
  }
  work_cv_.notify_one();
}

void RedisTelemetrySink::WorkLoop() {
  {
    // Connect early, so the log says at start whether Redis is reachable.
    absl::Status connected = EnsureConnected();
    (void)connected;  // logged by Connect; calls retry it
  }
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) return;
    std::vector<Waiter> group;
    group.swap(queue_);
    lock.unlock();
    Store(group);
    lock.lock();
  }
}

void RedisTelemetrySink::Store(std::vector<Waiter>& group) {
  absl::StatusOr<std::vector<Outcome>> outcomes = RunScripts(group);
  if (outcomes.ok() && options_.wait_replicas > 0) {
    absl::StatusOr<long long> replicas = WaitForReplicas();
    if (!replicas.ok()) {
      outcomes = replicas.status();
    } else if (*replicas < options_.wait_replicas) {
      // Not confirmed: nothing of this group is acknowledged. Stored
      // entries stay in the stream (a resend is then a duplicate, answered
      // once WAIT confirms it); duplicates and conflicts wait too, since
      // the write they refer to is not confirmed either.
      wait_short_.fetch_add(1);
      for (Outcome& o : *outcomes) {
        if (o != Outcome::kStoreFailed) o = Outcome::kNotReplicated;
      }
    }
  }
  size_t at = 0;
  for (Waiter& w : group) {
    if (!outcomes.ok()) {
      w.done(outcomes.status());
      continue;
    }
    std::vector<Outcome> mine(outcomes->begin() + at,
                              outcomes->begin() + at + w.records.size());
    at += w.records.size();
    w.done(std::move(mine));
  }
}

absl::Status RedisTelemetrySink::EnsureConnected() {
  if (context_ != nullptr) return absl::OkStatus();
  absl::Time now = absl::Now();
  if (now < next_attempt_) {
    return absl::UnavailableError(absl::StrCat(
        "redis sink: not connected; next attempt in ",
        absl::FormatDuration(absl::Trunc(next_attempt_ - now,
                                         absl::Milliseconds(1)))));
  }
  absl::Status status = Connect();
  if (status.ok()) {
    if (backoff_ > absl::ZeroDuration()) reconnects_.fetch_add(1);
    backoff_ = absl::ZeroDuration();
    next_attempt_ = absl::InfinitePast();
    connected_.store(true);
    Log(absl::StrCat("connected to ", options_.host, ":", options_.port));
    return status;
  }
  connect_failures_.fetch_add(1);
  backoff_ = backoff_ == absl::ZeroDuration()
                 ? options_.reconnect_min
                 : std::min(backoff_ * 2, options_.reconnect_max);
  next_attempt_ = absl::Now() + backoff_;
  Log(absl::StrCat(status.message(), "; retrying in ",
                   absl::FormatDuration(backoff_)));
  return status;
}

absl::Status RedisTelemetrySink::Connect() {
  redisContext* c = redisConnectWithTimeout(options_.host.c_str(),
                                            options_.port,
                                            TimevalAtLeast1ms(options_.io_timeout));
  auto fail = [&](absl::string_view what) {
    std::string message =
        absl::StrCat("cannot use redis at ", options_.host, ":", options_.port,
                     ": ", what);
    if (c != nullptr) redisFree(c);
    return absl::UnavailableError(message);
  };
  if (c == nullptr) return fail("out of memory");
  if (c->err != 0) return fail(c->errstr);
  // A WAIT may block for wait_timeout before it answers.
  if (redisSetTimeout(c, TimevalAtLeast1ms(options_.io_timeout +
                                   (options_.wait_replicas > 0
                                        ? options_.wait_timeout
                                        : absl::ZeroDuration()))) !=
      REDIS_OK) {
    return fail("cannot set the socket timeout");
  }
  redisEnableKeepAlive(c);
  if (options_.password.has_value()) {
    ByteView secret = options_.password->Reveal(SecretAccess::Grant());
    std::vector<const char*> argv = {"AUTH"};
    std::vector<size_t> lens = {4};
    if (!options_.username.empty()) {
      argv.push_back(options_.username.data());
      lens.push_back(options_.username.size());
    }
    argv.push_back(reinterpret_cast<const char*>(secret.data()));
    lens.push_back(secret.size());
    Reply reply(static_cast<redisReply*>(redisCommandArgv(
        c, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (reply == nullptr) return fail(c->errstr);
    if (reply->type == REDIS_REPLY_ERROR) {
      // Only the error's code (WRONGPASS, ERR, ...): the rest of the text
      // is the server's, and an AUTH error is no place to risk an echo.
      absl::string_view text(reply->str, reply->len);
      return fail(absl::StrCat("AUTH refused (",
                               text.substr(0, text.find(' ')), ")"));
    }
  }
  Reply loaded(static_cast<redisReply*>(
      redisCommand(c, "SCRIPT LOAD %s", kRedisAppendScript)));
  if (loaded == nullptr) return fail(c->errstr);
  if (loaded->type != REDIS_REPLY_STRING) {
    return fail(absl::StrCat(
        "SCRIPT LOAD failed: ",
        loaded->type == REDIS_REPLY_ERROR
            ? absl::string_view(loaded->str, loaded->len)
            : absl::string_view("unexpected reply")));
  }
  script_sha_.assign(loaded->str, loaded->len);
  Reply sealed(static_cast<redisReply*>(
      redisCommand(c, "SCRIPT LOAD %s", kRedisSealedAppendScript)));
  if (sealed == nullptr) return fail(c->errstr);
  if (sealed->type != REDIS_REPLY_STRING) {
    return fail(absl::StrCat(
        "SCRIPT LOAD (sealed) failed: ",
        sealed->type == REDIS_REPLY_ERROR
            ? absl::string_view(sealed->str, sealed->len)
            : absl::string_view("unexpected reply")));
  }
  sealed_script_sha_.assign(sealed->str, sealed->len);
  context_ = c;
  return absl::OkStatus();
}

void RedisTelemetrySink::Disconnect(absl::string_view why) {
  if (context_ == nullptr) return;
  Log(absl::StrCat("connection lost (", why, "); reconnecting"));
  redisFree(context_);
  context_ = nullptr;
  connected_.store(false);
  // The first reconnect is immediate; further failures back off.
  backoff_ = options_.reconnect_min / 2;
  next_attempt_ = absl::InfinitePast();
}

absl::StatusOr<std::vector<TelemetrySink::Outcome>>
RedisTelemetrySink::RunScripts(const std::vector<Waiter>& group) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  const std::string stream = stream_key();
  const std::string window = options_.key_prefix + "seen-order";
  const std::string ttl = absl::StrCat(
      absl::ToInt64Seconds(options_.dedup_window.max_age));
  const std::string count = absl::StrCat(options_.dedup_window.max_messages);
  const std::string stats = seal_stats_key();

  std::vector<const LogRecord*> records;
  for (const Waiter& w : group) {
    for (const LogRecord& r : w.records) records.push_back(&r);
  }
  // The arguments of one record's call, after the command and the script.
  auto append = [&](const LogRecord& r, bool by_sha) {
    std::string dedup = DedupRedisKey(r.dedup_key);
    std::string sha = r.payload_sha256.has_value()
                          ? HexEncode(ByteView(*r.payload_sha256))
                          : std::string();
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    auto add = [&](absl::string_view s) {
      argv.push_back(s.data());
      lens.push_back(s.size());
    };
    add(by_sha ? "EVALSHA" : "EVAL");
    std::string state_key, epoch, sequence;
    if (!r.seal.has_value()) {
      add(by_sha ? absl::string_view(script_sha_)
                 : absl::string_view(kRedisAppendScript));
      add("3");
      const std::string* parts[] = {&stream, &dedup, &window,
                                    &sha,    &ttl,   &count};
      for (const std::string* p : parts) add(*p);
    } else {
      add(by_sha ? absl::string_view(sealed_script_sha_)
                 : absl::string_view(kRedisSealedAppendScript));
      add("5");
      state_key = SealStateKey(r.device_id);
      epoch = absl::StrCat(r.seal->epoch);
      sequence = absl::StrCat(r.seal->sequence);
      const std::string* parts[] = {&stream, &dedup, &window, &state_key,
                                    &stats,  &sha,   &ttl,    &count,
                                    &epoch,  &sequence};
      for (const std::string* p : parts) add(*p);
      add(absl::string_view(reinterpret_cast<const char*>(r.seal->tag.data()),
                            r.seal->tag.size()));
    }
    add("project");
    add(r.project);
    add("deviceId");
    add(r.device_id);
    add("messageId");
    add(r.message_id);
    add("record");
    add(r.line);
    return redisAppendCommandArgv(context_, static_cast<int>(argv.size()),
                                  argv.data(), lens.data()) == REDIS_OK;
  };

  std::vector<Outcome> outcomes(records.size(), Outcome::kStoreFailed);
  std::vector<size_t> pending(records.size());
  for (size_t i = 0; i < records.size(); ++i) pending[i] = i;
  // The second round (EVAL) only for calls answered NOSCRIPT: a Redis that
  // restarted or failed over between SCRIPT LOAD and now.
  for (int round = 0; round < 2 && !pending.empty(); ++round) {
    for (size_t i : pending) {
      if (!append(*records[i], round == 0)) {
        std::string why = context_->errstr;
        Disconnect(why);
        return absl::UnavailableError(absl::StrCat("redis sink: ", why));
      }
    }
    std::vector<size_t> noscript;
    std::string first_error;
    for (size_t i : pending) {
      void* raw = nullptr;
      if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
        std::string why = context_->errstr;
        Disconnect(why);
        return absl::UnavailableError(absl::StrCat("redis sink: ", why));
      }
      Reply reply(static_cast<redisReply*>(raw));
      if (reply->type == REDIS_REPLY_ERROR) {
        absl::string_view text(reply->str, reply->len);
        if (absl::StartsWith(text, "NOSCRIPT")) {
          noscript.push_back(i);
        } else {
          store_errors_.fetch_add(1);
          if (first_error.empty()) first_error = std::string(text);
          outcomes[i] = Outcome::kStoreFailed;
        }
        continue;
      }
      if (reply->type != REDIS_REPLY_STRING) {
        store_errors_.fetch_add(1);
        if (first_error.empty()) first_error = "unexpected reply type";
        continue;
      }
      absl::string_view text(reply->str, reply->len);
      if (text == "duplicate") {
        outcomes[i] = Outcome::kDuplicate;
      } else if (text == "conflict") {
        outcomes[i] = Outcome::kConflict;
      } else if (text == "replayed_sequence" && records[i]->seal.has_value()) {
        outcomes[i] = Outcome::kReplayedSequence;
      } else if (text == "stale_epoch" && records[i]->seal.has_value()) {
        outcomes[i] = Outcome::kStaleEpoch;
      } else if (IsStreamId(text)) {
        outcomes[i] = Outcome::kStored;
      } else {
        store_errors_.fetch_add(1);
        if (first_error.empty()) first_error = "unexpected script answer";
      }
    }
    if (!first_error.empty()) {
      Log(absl::StrCat("append refused: ", first_error.substr(0, 200)));
    }
    pending.swap(noscript);
  }
  return outcomes;
}

absl::StatusOr<long long> RedisTelemetrySink::WaitForReplicas() {
  // The fence is a write on this connection after every script of the
  // group, so WAIT covers the writes the duplicates found (made before it,
  // possibly by another instance) as well as this group's own.
  const std::string fence = options_.key_prefix + "wait-fence";
  const std::string replicas = absl::StrCat(options_.wait_replicas);
  const std::string millis =
      absl::StrCat(absl::ToInt64Milliseconds(options_.wait_timeout));
  const char* incr[] = {"INCR", fence.c_str()};
  const char* wait[] = {"WAIT", replicas.c_str(), millis.c_str()};
  if (redisAppendCommandArgv(context_, 2, incr, nullptr) != REDIS_OK ||
      redisAppendCommandArgv(context_, 3, wait, nullptr) != REDIS_OK) {
    std::string why = context_->errstr;
    Disconnect(why);
    return absl::UnavailableError(absl::StrCat("redis sink: ", why));
  }
  long long confirmed = -1;
  for (int i = 0; i < 2; ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      std::string why = context_->errstr;
      Disconnect(why);
      return absl::UnavailableError(absl::StrCat("redis sink: ", why));
    }
    Reply reply(static_cast<redisReply*>(raw));
    if (i == 0) continue;  // INCR: an error here shows in WAIT's count
    if (reply->type == REDIS_REPLY_INTEGER) confirmed = reply->integer;
  }
  return confirmed < 0 ? 0 : confirmed;
}

std::string RedisTelemetrySink::RenderMetrics() const {
  return absl::StrCat(
      "# HELP cxsec_redis_sink_connected 1 while the Redis telemetry sink "
      "holds a working connection.\n"
      "# TYPE cxsec_redis_sink_connected gauge\n"
      "cxsec_redis_sink_connected ", connected_.load() ? 1 : 0, "\n",
      "# TYPE cxsec_redis_sink_reconnects_total counter\n"
      "cxsec_redis_sink_reconnects_total ", reconnects_.load(), "\n",
      "# TYPE cxsec_redis_sink_connect_failures_total counter\n"
      "cxsec_redis_sink_connect_failures_total ", connect_failures_.load(),
      "\n",
      "# HELP cxsec_redis_sink_wait_short_total Batches answered retry "
      "because WAIT confirmed fewer replicas than required.\n"
      "# TYPE cxsec_redis_sink_wait_short_total counter\n"
      "cxsec_redis_sink_wait_short_total ", wait_short_.load(), "\n",
      "# TYPE cxsec_redis_sink_store_errors_total counter\n"
      "cxsec_redis_sink_store_errors_total ", store_errors_.load(), "\n");
}

}  // namespace cxsec::verifier
