#include "targets/verifier/sinks/redis_sink.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/crypto/primitives.h"
#include "core/encoding/hex.h"

namespace cxsec::verifier {

// Described in docs/SCALE_OUT.md ("The append script"). One call stores
// a batch of messages, plain and sealed, in order, atomically.
//
// The device's state of a sealed reading is one string: struct
// '<BI4I4I4I4I8' (version 1, epoch, highest sequence, window, gap window,
// gaps), then 32 tags of 8 bytes (slot = sequence % 32). Its transitions
// are ApplySealedReading's (core/seal/seal_counter_state.h), bit for bit.
constexpr char kAppendScript[] = R"lua(
local ttl = tonumber(ARGV[1])
local window_size = tonumber(ARGV[2])
if not ttl or not window_size then return redis.error_reply('ERR bad window arguments') end
local stream, window, stats = KEYS[1], KEYS[2], KEYS[3]
-- Every message is parsed before anything is written, so a malformed
-- call changes nothing.
local msgs = {}
local k, a = 4, 3
while a <= #ARGV do
  local m = {kind = ARGV[a], sha = ARGV[a + 1], nf = tonumber(ARGV[a + 2]), dedup = KEYS[k]}
  a, k = a + 3, k + 1
  if m.kind == 's' then
    m.state = KEYS[k]
    m.epoch, m.seq, m.tag = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2]
    a, k = a + 3, k + 1
    if not m.state or not m.epoch or not m.seq or not m.tag or #m.tag ~= 8 then
      return redis.error_reply('ERR bad seal arguments')
    end
  elseif m.kind ~= 'p' then
    return redis.error_reply('ERR bad message kind')
  end
  if not m.dedup or not m.sha or not m.nf or m.nf < 2 or m.nf % 2 ~= 0 then
    return redis.error_reply('ERR bad message arguments')
  end
  m.from = a
  a = a + m.nf
  msgs[#msgs + 1] = m
end
if a ~= #ARGV + 1 or k ~= #KEYS + 1 then
  return redis.error_reply('ERR arguments do not match the keys')
end

-- Every key a message may read, in one MGET: `known` holds each key's
-- value as this call has left it (false: none), since each redis.call
-- costs Redis far more than a table lookup. Nothing else writes while the
-- script runs.
local known, wanted = {}, {}
for _, m in ipairs(msgs) do
  wanted[#wanted + 1] = m.dedup
  if m.state then wanted[#wanted + 1] = m.state end
end
if #wanted > 0 then
  local values = redis.call('MGET', unpack(wanted))
  for i, key in ipairs(wanted) do known[key] = values[i] end
end

local function seen_verdict(m)
  local seen = known[m.dedup]
  if not seen then return nil end
  local sp = string.find(seen, ' ', 1, true)
  local sha = sp and string.sub(seen, 1, sp - 1) or ''
  if sha == '' or m.sha == '' or sha == m.sha then return 'duplicate' end
  return 'conflict'
end

local function u32(x) if x < 0 then return x + 4294967296 end return x end

-- The device's state moved by one sealed reading: nil (state written, go
-- on and store) or the verdict that stops it (nothing written).
local function advance_seal(m)
  local epoch, seq, tag = m.epoch, m.seq, m.tag
  local raw = known[m.state]
  local has, e, hi, win, gwin, gaps = false, 0, 0, 0, 0, 0
  local tags = string.rep('\0', 256)
  if raw then
    -- The length first: struct.unpack raises on a short string, which
    -- would fail the whole call instead of this message.
    if #raw ~= 281 or string.byte(raw, 1) ~= 1 then return 'error: seal state of unknown version' end
    local v
    v, e, hi, win, gwin, gaps = struct.unpack('<BI4I4I4I4I8', raw)
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
  local seen = seen_verdict(m)
  if seen then return seen end
  local state = struct.pack('<BI4I4I4I4I8', 1, e, hi, u32(win), u32(gwin), gaps) .. tags
  redis.call('SET', m.state, state)
  known[m.state] = state
  if not has then redis.call('HINCRBY', stats, 'devices', 1) end
  if gaps ~= gaps_before then redis.call('HINCRBY', stats, 'gaps', gaps - gaps_before) end
  return nil
end

local results = {}
local pushed, last_id, stored = {}, nil, 0
for i, m in ipairs(msgs) do
  local verdict
  if m.kind == 's' then verdict = advance_seal(m) else verdict = seen_verdict(m) end
  if not verdict then
    local id = redis.call('XADD', stream, '*', unpack(ARGV, m.from, m.from + m.nf - 1))
    local value = m.sha .. ' ' .. id
    if ttl > 0 then
      redis.call('SET', m.dedup, value, 'EX', ttl)
    else
      redis.call('SET', m.dedup, value)
    end
    known[m.dedup] = value
    pushed[#pushed + 1] = id .. ' ' .. m.dedup
    last_id, stored = id, stored + 1
    verdict = id
  end
  results[i] = verdict
end

-- The window: one LPUSH for the call, then a trim that pops at most 8
-- entries per stored message for the count and as many for the age, and
-- deletes each popped entry's key if it still names that entry (a key
-- re-stored after it expired belongs to its newer entry).
if stored > 0 then
  local listed = redis.call('LPUSH', window, unpack(pushed))
  local popped = {}
  local function pop(n)
    local got = redis.call('RPOP', window, n)
    if got then for _, entry in ipairs(got) do popped[#popped + 1] = entry end end
  end
  local excess = math.min(listed - window_size, 8 * stored)
  if excess > 0 then pop(excess) end
  if ttl > 0 then
    local cutoff = tonumber(string.match(last_id, '^(%d+)')) - ttl * 1000
    local function old(entry) return entry and tonumber(string.match(entry, '^(%d+)')) < cutoff end
    if old(redis.call('LINDEX', window, -1)) then
      local tail = redis.call('LRANGE', window, -8 * stored, -1)
      local n = 0
      for i = #tail, 1, -1 do
        if not old(tail[i]) then break end
        n = n + 1
      end
      pop(n)
    end
  end
  if #popped > 0 then
    local ids, keys = {}, {}
    for i, entry in ipairs(popped) do
      local sp = string.find(entry, ' ', 1, true)
      ids[i], keys[i] = string.sub(entry, 1, sp - 1), string.sub(entry, sp + 1)
    end
    local values = redis.call('MGET', unpack(keys))
    local doomed = {}
    for i, key in ipairs(keys) do
      local v = values[i]
      if v and string.sub(v, -(#ids[i] + 1)) == ' ' .. ids[i] then doomed[#doomed + 1] = key end
    end
    if #doomed > 0 then redis.call('DEL', unpack(doomed)) end
  end
end
return results
)lua";
const char* const kRedisAppendScript = kAppendScript;

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
  std::deque<Flight> flights;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (flights.empty()) {
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything answered
    }
    // A new group is sent before the replies of the one in flight are
    // read, so Redis finds it waiting when it has fsynced the previous
    // one instead of idling for a round trip through this thread.
    if (!queue_.empty() && flights.size() < kMaxFlights) {
      Flight flight;
      flight.group.swap(queue_);
      lock.unlock();
      Send(std::move(flight), flights);
      lock.lock();
      continue;
    }
    lock.unlock();
    Receive(flights);
    lock.lock();
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

namespace {

// The arguments of one script call: the command, the script (or its
// SHA-1), numkeys, the keys, then the other arguments. Add* refers to
// bytes that outlive the call; Keep* stores them here (in a deque, whose
// elements never move).
class ScriptCall {
 public:
  void AddKey(absl::string_view s) { keys_.push_back(s); }
  void KeepKey(std::string s) { keys_.push_back(Own(std::move(s))); }
  void AddArg(absl::string_view s) { args_.push_back(s); }
  void KeepArg(std::string s) { args_.push_back(Own(std::move(s))); }

  // Queues the call on `c` (redisAppendCommandArgv copies the bytes).
  bool Append(redisContext* c, absl::string_view command,
              absl::string_view script) {
    std::string numkeys = absl::StrCat(keys_.size());
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    size_t n = 3 + keys_.size() + args_.size();
    argv.reserve(n);
    lens.reserve(n);
    auto add = [&](absl::string_view s) {
      argv.push_back(s.data());
      lens.push_back(s.size());
    };
    add(command);
    add(script);
    add(numkeys);
    for (absl::string_view k : keys_) add(k);
    for (absl::string_view a : args_) add(a);
    return redisAppendCommandArgv(c, static_cast<int>(argv.size()),
                                  argv.data(), lens.data()) == REDIS_OK;
  }

 private:
  absl::string_view Own(std::string s) {
    owned_.push_back(std::move(s));
    return owned_.back();
  }
  std::deque<std::string> owned_;
  std::vector<absl::string_view> keys_;
  std::vector<absl::string_view> args_;
};

}  // namespace

bool RedisTelemetrySink::AppendCall(const Flight& flight, size_t call,
                                    bool by_sha) {
  ScriptCall c;
  c.AddKey(stream_key_);
  c.AddKey(window_key_);
  c.AddKey(stats_key_);
  c.AddArg(ttl_arg_);
  c.AddArg(window_size_arg_);
  size_t end = std::min(flight.records.size(), (call + 1) * kMessagesPerCall);
  for (size_t i = call * kMessagesPerCall; i < end; ++i) {
    const LogRecord& r = *flight.records[i];
    c.KeepKey(DedupRedisKey(r.dedup_key));
    c.AddArg(r.seal.has_value() ? "s" : "p");
    c.KeepArg(r.payload_sha256.has_value()
                  ? HexEncode(ByteView(*r.payload_sha256))
                  : std::string());
    c.AddArg("8");  // the entry's fields: 4 name/value pairs
    if (r.seal.has_value()) {
      c.KeepKey(SealStateKey(r.device_id));
      c.KeepArg(absl::StrCat(r.seal->epoch));
      c.KeepArg(absl::StrCat(r.seal->sequence));
      c.AddArg(absl::string_view(
          reinterpret_cast<const char*>(r.seal->tag.data()),
          r.seal->tag.size()));
    }
    c.AddArg("project");
    c.AddArg(r.project);
    c.AddArg("deviceId");
    c.AddArg(r.device_id);
    c.AddArg("messageId");
    c.AddArg(r.message_id);
    c.AddArg("record");
    c.AddArg(r.line);
  }
  return c.Append(context_, by_sha ? "EVALSHA" : "EVAL",
                  by_sha ? absl::string_view(script_sha_)
                         : absl::string_view(kRedisAppendScript));
}

bool RedisTelemetrySink::AppendWait() {
  // The fence is a write on this connection after every script before
  // it, so WAIT covers the writes the duplicates found (made before it,
  // possibly by another instance) as well as the scripts' own.
  const std::string fence = options_.key_prefix + "wait-fence";
  const std::string replicas = absl::StrCat(options_.wait_replicas);
  const std::string millis =
      absl::StrCat(absl::ToInt64Milliseconds(options_.wait_timeout));
  const char* incr[] = {"INCR", fence.c_str()};
  const char* wait[] = {"WAIT", replicas.c_str(), millis.c_str()};
  return redisAppendCommandArgv(context_, 2, incr, nullptr) == REDIS_OK &&
         redisAppendCommandArgv(context_, 3, wait, nullptr) == REDIS_OK;
}

bool RedisTelemetrySink::Flush() {
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(context_, &done) != REDIS_OK) return false;
  }
  return true;
}

bool RedisTelemetrySink::ReadWait(long long& replicas) {
  for (int i = 0; i < 2; ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      return false;
    }
    Reply reply(static_cast<redisReply*>(raw));
    if (i == 0) continue;  // INCR: an error here shows in WAIT's count
    replicas = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
  }
  return true;
}

void RedisTelemetrySink::Send(Flight flight, std::deque<Flight>& flights) {
  for (const Waiter& w : flight.group) {
    for (const LogRecord& r : w.records) flight.records.push_back(&r);
  }
  flight.outcomes.assign(flight.records.size(), Outcome::kStoreFailed);
  if (absl::Status s = EnsureConnected(); !s.ok()) {
    Answer(flight, s);
    return;
  }
  for (size_t call = 0; call < flight.calls(); ++call) {
    if (!AppendCall(flight, call, /*by_sha=*/true)) {
      return ConnectionLost(flights, &flight);
    }
  }
  if (options_.wait_replicas > 0 && !AppendWait()) {
    return ConnectionLost(flights, &flight);
  }
  if (!Flush()) return ConnectionLost(flights, &flight);
  flights.push_back(std::move(flight));
}

void RedisTelemetrySink::ConnectionLost(std::deque<Flight>& flights,
                                        Flight* unsent) {
  std::string why = context_ != nullptr ? context_->errstr : "not connected";
  Disconnect(why);
  absl::Status status =
      absl::UnavailableError(absl::StrCat("redis sink: ", why));
  if (unsent != nullptr) Answer(*unsent, status);
  for (Flight& f : flights) Answer(f, status);
  flights.clear();
}

void RedisTelemetrySink::ParseCallReply(Flight& flight, size_t call,
                                        const redisReply& reply) {
  auto failed = [&](absl::string_view why) {
    store_errors_.fetch_add(1);
    if (flight.first_error.empty()) flight.first_error = std::string(why);
  };
  size_t from = call * kMessagesPerCall;
  size_t n = std::min(flight.records.size(), from + kMessagesPerCall) - from;
  if (reply.type == REDIS_REPLY_ERROR) {
    absl::string_view text(reply.str, reply.len);
    if (absl::StartsWith(text, "NOSCRIPT")) {
      flight.noscript.push_back(call);
    } else {
      // Redis refused the whole call (OOM, READONLY, NOREPLICAS, ...:
      // checked before a script's first write): its messages stay
      // kStoreFailed and are answered retry.
      failed(text);
    }
    return;
  }
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != n) {
    failed("unexpected reply shape");
    return;
  }
  for (size_t j = 0; j < n; ++j) {
    const redisReply* e = reply.element[j];
    const LogRecord& r = *flight.records[from + j];
    if (e->type != REDIS_REPLY_STRING) {
      failed("unexpected reply type");
      continue;
    }
    absl::string_view text(e->str, e->len);
    Outcome& o = flight.outcomes[from + j];
    if (text == "duplicate") {
      o = Outcome::kDuplicate;
    } else if (text == "conflict") {
      o = Outcome::kConflict;
    } else if (text == "replayed_sequence" && r.seal.has_value()) {
      o = Outcome::kReplayedSequence;
    } else if (text == "stale_epoch" && r.seal.has_value()) {
      o = Outcome::kStaleEpoch;
    } else if (IsStreamId(text)) {
      o = Outcome::kStored;
    } else {
      failed(absl::StartsWith(text, "error:") ? text
                                               : "unexpected script answer");
    }
  }
}

bool RedisTelemetrySink::ReadCallReply(Flight& flight, size_t call) {
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
    return false;
  }
  Reply reply(static_cast<redisReply*>(raw));
  ParseCallReply(flight, call, *reply);
  return true;
}

bool RedisTelemetrySink::ReadFlight(Flight& flight) {
  for (size_t call = 0; call < flight.calls(); ++call) {
    if (!ReadCallReply(flight, call)) return false;
  }
  return options_.wait_replicas == 0 || ReadWait(flight.replicas);
}

void RedisTelemetrySink::Receive(std::deque<Flight>& flights) {
  if (!ReadFlight(flights.front())) return ConnectionLost(flights, nullptr);
  if (flights.front().noscript.empty()) {
    Answer(flights.front(), absl::OkStatus());
    flights.pop_front();
    return;
  }
  // A Redis that restarted or failed over since SCRIPT LOAD: the calls
  // answered NOSCRIPT go again with EVAL, which loads the script. The
  // replies of the later flight come first, so it is read and finished
  // here too.
  for (size_t i = 1; i < flights.size(); ++i) {
    if (!ReadFlight(flights[i])) return ConnectionLost(flights, nullptr);
  }
  for (Flight& f : flights) {
    for (size_t call : f.noscript) {
      if (!AppendCall(f, call, /*by_sha=*/false)) {
        return ConnectionLost(flights, nullptr);
      }
    }
  }
  if (options_.wait_replicas > 0 && !AppendWait()) {
    return ConnectionLost(flights, nullptr);
  }
  for (Flight& f : flights) {
    std::vector<size_t> again;
    again.swap(f.noscript);
    for (size_t call : again) {
      if (!ReadCallReply(f, call)) return ConnectionLost(flights, nullptr);
    }
    // EVAL cannot answer NOSCRIPT; if it did, those messages stay
    // kStoreFailed.
    if (!f.noscript.empty() && f.first_error.empty()) {
      f.first_error = "NOSCRIPT after EVAL";
    }
    f.noscript.clear();
  }
  if (options_.wait_replicas > 0) {
    long long replicas = 0;
    if (!ReadWait(replicas)) return ConnectionLost(flights, nullptr);
    for (Flight& f : flights) f.replicas = std::min(f.replicas, replicas);
  }
  for (Flight& f : flights) Answer(f, absl::OkStatus());
  flights.clear();
}

void RedisTelemetrySink::Answer(Flight& flight, const absl::Status& status) {
  if (status.ok() && options_.wait_replicas > 0 &&
      flight.replicas < options_.wait_replicas) {
    // Not confirmed: nothing of this group is acknowledged. Stored
    // entries stay in the stream (a resend is then a duplicate, answered
    // once WAIT confirms it); duplicates and conflicts wait too, since
    // the write they refer to is not confirmed either.
    wait_short_.fetch_add(1);
    for (Outcome& o : flight.outcomes) {
      if (o != Outcome::kStoreFailed) o = Outcome::kNotReplicated;
    }
  }
  if (!flight.first_error.empty()) {
    Log(absl::StrCat("append refused: ", flight.first_error.substr(0, 200)));
  }
  size_t at = 0;
  for (Waiter& w : flight.group) {
    if (!status.ok()) {
      w.done(status);
      continue;
    }
    std::vector<Outcome> mine(flight.outcomes.begin() + at,
                              flight.outcomes.begin() + at + w.records.size());
    at += w.records.size();
    w.done(std::move(mine));
  }
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
