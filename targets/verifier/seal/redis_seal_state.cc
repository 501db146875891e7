#include "targets/verifier/seal/redis_seal_state.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cxsec::verifier {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

uint64_t LittleEndian(const unsigned char* p, int size) {
  uint64_t v = 0;
  for (int i = size - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
void PutLittleEndian(std::string& out, uint64_t v, int size) {
  for (int i = 0; i < size; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

}  // namespace

absl::StatusOr<seal::SealCounterState> DecodeRedisSealState(
    absl::string_view raw) {
  if (raw.size() != kRedisSealStateSize || raw[0] != 1) {
    return absl::DataLossError(absl::StrCat(
        "sealed-readings state in Redis: ", raw.size(),
        " bytes of an unknown version (expected ", kRedisSealStateSize,
        " bytes, version 1)"));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  seal::SealCounterState s;
  s.has_accepted = true;
  s.epoch = static_cast<uint32_t>(LittleEndian(p + 1, 4));
  s.highest_sequence = static_cast<uint32_t>(LittleEndian(p + 5, 4));
  s.window = static_cast<uint32_t>(LittleEndian(p + 9, 4));
  s.gap_window = static_cast<uint32_t>(LittleEndian(p + 13, 4));
  s.gaps = LittleEndian(p + 17, 8);
  for (size_t i = 0; i < seal::kReplayWindowSize; ++i) {
    std::memcpy(s.tags[i].data(), p + 25 + i * seal::kTagSize, seal::kTagSize);
  }
  return s;
}

std::string EncodeRedisSealState(const seal::SealCounterState& s) {
  std::string out;
  out.reserve(kRedisSealStateSize);
  out.push_back(1);
  PutLittleEndian(out, s.epoch, 4);
  PutLittleEndian(out, s.highest_sequence, 4);
  PutLittleEndian(out, s.window, 4);
  PutLittleEndian(out, s.gap_window, 4);
  PutLittleEndian(out, s.gaps, 8);
  for (const auto& tag : s.tags) out.append(tag.begin(), tag.end());
  return out;
}

RedisSealState::~RedisSealState() {
  if (context_ != nullptr) redisFree(context_);
}

void RedisSealState::Disconnect() {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

absl::Status RedisSealState::EnsureConnected() {
  if (context_ != nullptr) return absl::OkStatus();
  timeval tv = absl::ToTimeval(options_.io_timeout);
  redisContext* c =
      redisConnectWithTimeout(options_.host.c_str(), options_.port, tv);
  auto fail = [&](absl::string_view what) {
    std::string message = absl::StrCat("sealed-readings state: redis at ",
                                       options_.host, ":", options_.port,
                                       ": ", what);
    if (c != nullptr) redisFree(c);
    return absl::UnavailableError(message);
  };
  if (c == nullptr) return fail("out of memory");
  if (c->err != 0) return fail(c->errstr);
  if (redisSetTimeout(c, tv) != REDIS_OK) return fail("cannot set timeout");
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
    if (reply->type == REDIS_REPLY_ERROR) return fail("AUTH refused");
  }
  context_ = c;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<seal::SealCounterState>> RedisSealState::Load(
    absl::string_view device_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  std::string key = absl::StrCat(options_.key_prefix, "seal:", device_id);
  const char* argv[] = {"GET", key.c_str()};
  size_t lens[] = {3, key.size()};
  Reply reply(static_cast<redisReply*>(
      redisCommandArgv(context_, 2, argv, lens)));
  if (reply == nullptr) {
    std::string why = context_->errstr;
    Disconnect();
    return absl::UnavailableError(
        absl::StrCat("sealed-readings state: redis: ", why));
  }
  if (reply->type == REDIS_REPLY_NIL) return std::nullopt;
  if (reply->type != REDIS_REPLY_STRING) {
    return absl::UnavailableError(absl::StrCat(
        "sealed-readings state: redis answered ",
        reply->type == REDIS_REPLY_ERROR ? absl::string_view(reply->str, reply->len)
                                         : "an unexpected type"));
  }
  absl::StatusOr<seal::SealCounterState> state =
      DecodeRedisSealState(absl::string_view(reply->str, reply->len));
  if (!state.ok()) return state.status();
  return std::optional<seal::SealCounterState>(*state);
}

absl::StatusOr<SharedSealState::Totals> RedisSealState::LoadTotals() {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  std::string key = options_.key_prefix + "seal-stats";
  const char* argv[] = {"HMGET", key.c_str(), "devices", "gaps"};
  Reply reply(static_cast<redisReply*>(
      redisCommandArgv(context_, 4, argv, nullptr)));
  if (reply == nullptr) {
    std::string why = context_->errstr;
    Disconnect();
    return absl::UnavailableError(
        absl::StrCat("sealed-readings state: redis: ", why));
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
    return absl::UnavailableError("sealed-readings state: bad HMGET answer");
  }
  Totals totals;
  auto number = [](const redisReply* r, int64_t* out) {
    if (r->type == REDIS_REPLY_STRING) {
      (void)absl::SimpleAtoi(absl::string_view(r->str, r->len), out);
    }
  };
  int64_t devices = 0;
  number(reply->element[0], &devices);
  number(reply->element[1], &totals.gaps);
  totals.devices = devices < 0 ? 0 : static_cast<uint64_t>(devices);
  return totals;
}

}  // namespace cxsec::verifier
