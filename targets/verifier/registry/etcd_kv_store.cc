#include "targets/verifier/registry/etcd_kv_store.h"

#include <openssl/base64.h>
#include <openssl/mem.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace cxsec::verifier {

using nlohmann::json;

std::string Base64StdEncode(absl::string_view data) {
  size_t size = 0;
  EVP_EncodedLength(&size, data.size());
  std::string out(size, '\0');
  size_t written = EVP_EncodeBlock(
      reinterpret_cast<uint8_t*>(out.data()),
      reinterpret_cast<const uint8_t*>(data.data()), data.size());
  out.resize(written);
  return out;
}

absl::StatusOr<std::string> Base64StdDecode(absl::string_view text) {
  size_t size = 0;
  if (!EVP_DecodedLength(&size, text.size())) {
    return absl::InvalidArgumentError("etcd: base64 field has a bad length");
  }
  std::string out(size, '\0');
  size_t written = 0;
  if (!EVP_DecodeBase64(reinterpret_cast<uint8_t*>(out.data()), &written, size,
                        reinterpret_cast<const uint8_t*>(text.data()),
                        text.size())) {
    return absl::InvalidArgumentError("etcd: base64 field does not decode");
  }
  out.resize(written);
  return out;
}

namespace {
// etcd's range_end for every key starting with `prefix`; "\0" means "to
// the end of the keyspace".
std::string PrefixRangeEnd(absl::string_view prefix) {
  return PrefixSuccessor(prefix).value_or(std::string(1, '\0'));
}
}  // namespace

absl::StatusOr<std::unique_ptr<EtcdKvStore>> EtcdKvStore::Connect(
    absl::string_view endpoint_url, std::string prefix,
    absl::Duration timeout) {
  EtcdKvStoreOptions options;
  options.endpoint_url = std::string(endpoint_url);
  options.prefix = std::move(prefix);
  options.timeout = timeout;
  return Connect(std::move(options));
}

absl::StatusOr<std::unique_ptr<EtcdKvStore>> EtcdKvStore::Connect(
    EtcdKvStoreOptions options) {
  if (options.watch_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("etcd: the watch deadline must be > 0");
  }
  bool tls = absl::StartsWith(options.endpoint_url, "https://");
  if (!tls && (!options.ca_bundle_pem.empty() ||
               !options.client_certificate_pem.empty() ||
               !options.client_private_key_pem.empty())) {
    return absl::InvalidArgumentError(
        "etcd: CA and client certificate need an https:// endpoint");
  }
  std::unique_ptr<EtcdKvStore> store(new EtcdKvStore(std::move(options)));
  EtcdKvStoreOptions& o = store->options_;
  store->tls_ = tls;
  if (tls) {
    if (o.ca_bundle_pem.empty()) {
      return absl::InvalidArgumentError(
          "etcd: an https:// endpoint needs the CA bundle of its certificate");
    }
    HttpsClientOptions& h = store->https_options_;
    h.url = o.endpoint_url;
    h.ca_bundle_pem = o.ca_bundle_pem;
    h.timeout = o.timeout;
    h.max_response_bytes = 8 << 20;
    h.user_agent = "cxsec-verifier";
    h.peer_name = "etcd";
    h.client_certificate_pem = o.client_certificate_pem;
    // Kept (only here) to open more connections; wiped by the destructor.
    h.client_private_key_pem = std::move(o.client_private_key_pem);
    OPENSSL_cleanse(o.client_private_key_pem.data(),
                    o.client_private_key_pem.size());
    o.client_private_key_pem.clear();
    absl::StatusOr<std::unique_ptr<HttpsClient>> watch_client =
        HttpsClient::Create(h);
    if (!watch_client.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd TLS settings: ", watch_client.status().message()));
    }
    store->watch_client_ = std::move(*watch_client);
  } else {
    absl::StatusOr<HttpEndpoint> endpoint =
        HttpEndpoint::ParseHttpUrl(o.endpoint_url);
    if (!endpoint.ok()) return endpoint.status();
    store->endpoint_ = *endpoint;
  }
  // A range on a key nobody uses proves the endpoint speaks etcd v3 JSON.
  absl::StatusOr<std::optional<std::string>> probe = store->Get("probe");
  if (!probe.ok()) return probe.status();
  store->watch_thread_ = std::thread([s = store.get()] { s->WatchLoop(); });
  // Callers start serving right away; a watch still being set up would
  // make them answer 503 for no reason. A watch that is not up within the
  // timeout is not fatal: the instance stays unhealthy until it is.
  absl::Time deadline = absl::Now() + o.timeout;
  while (!store->watch_healthy_.load() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  return store;
}

EtcdKvStore::~EtcdKvStore() {
  stopping_.store(true);
  // Ends the watch's read at once instead of at its deadline.
  if (watch_client_ != nullptr) watch_client_->Cancel();
  plain_watch_.Cancel();
  if (watch_thread_.joinable()) watch_thread_.join();
  OPENSSL_cleanse(https_options_.client_private_key_pem.data(),
                  https_options_.client_private_key_pem.size());
}

absl::StatusOr<std::string> EtcdKvStore::Call(absl::string_view path,
                                              const std::string& body) {
  unsigned status = 0;
  std::string answer;
  if (tls_) {
    std::unique_ptr<HttpsClient> client;
    {
      std::lock_guard<std::mutex> lock(clients_mu_);
      if (!idle_clients_.empty()) {
        client = std::move(idle_clients_.back());
        idle_clients_.pop_back();
      }
    }
    if (client == nullptr) {
      absl::StatusOr<std::unique_ptr<HttpsClient>> created =
          HttpsClient::Create(https_options_);
      if (!created.ok()) return created.status();
      client = std::move(*created);
    }
    absl::StatusOr<HttpsResponse> response =
        client->PostWithHeaders(path, "application/json", {}, body);
    if (!response.ok()) {
      // A refused certificate stays UNAUTHENTICATED: it is a setup error,
      // not an outage to wait out.
      return absl::Status(
          absl::IsUnauthenticated(response.status())
              ? absl::StatusCode::kUnauthenticated
              : absl::StatusCode::kUnavailable,
          absl::StrCat("etcd ", path, ": ", response.status().message()));
    }
    status = static_cast<unsigned>(response->status);
    answer = std::move(response->body);
    // Kept-alive connections are reused: a TLS handshake per registry
    // read would cost more than the read.
    std::lock_guard<std::mutex> lock(clients_mu_);
    if (idle_clients_.size() < 16) idle_clients_.push_back(std::move(client));
  } else {
    absl::StatusOr<PlainHttpResponse> response = SendHttpRequest(
        endpoint_, "POST", path, {{"Content-Type", "application/json"}}, body,
        options_.timeout);
    if (!response.ok()) {
      return absl::UnavailableError(
          absl::StrCat("etcd ", path, ": ", response.status().message()));
    }
    status = response->status;
    answer = std::move(response->body);
  }
  if (status != 200) {
    return absl::UnavailableError(absl::StrCat("etcd ", path, ": HTTP ", status,
                                               ": ", answer.substr(0, 200)));
  }
  return answer;
}

absl::StatusOr<std::optional<std::string>> EtcdKvStore::Get(
    absl::string_view key) {
  json request = {{"key", Base64StdEncode(options_.prefix + std::string(key))}};
  absl::StatusOr<std::string> body = Call("/v3/kv/range", request.dump());
  if (!body.ok()) return body.status();
  json answer = json::parse(*body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    return absl::UnavailableError("etcd /v3/kv/range: answer is not JSON");
  }
  auto kvs = answer.find("kvs");
  if (kvs == answer.end() || !kvs->is_array() || kvs->empty()) {
    return std::optional<std::string>();
  }
  const json& kv = (*kvs)[0];
  if (!kv.contains("value")) return std::optional<std::string>(std::string());
  if (!kv["value"].is_string()) {
    return absl::UnavailableError("etcd /v3/kv/range: value is not a string");
  }
  absl::StatusOr<std::string> value =
      Base64StdDecode(kv["value"].get<std::string>());
  if (!value.ok()) return value.status();
  return std::optional<std::string>(std::move(*value));
}

absl::Status EtcdKvStore::Put(absl::string_view key, absl::string_view value) {
  json request = {{"key", Base64StdEncode(options_.prefix + std::string(key))},
                  {"value", Base64StdEncode(value)}};
  absl::StatusOr<std::string> body = Call("/v3/kv/put", request.dump());
  if (!body.ok()) return body.status();
  // Our own writes are also seen by our watch; notifying here as well means
  // this instance never serves its own stale cache even if the watch lags.
  NotifyChange();
  return absl::OkStatus();
}

absl::StatusOr<KvRead> EtcdKvStore::GetForUpdate(absl::string_view key) {
  json request = {{"key", Base64StdEncode(options_.prefix + std::string(key))}};
  absl::StatusOr<std::string> body = Call("/v3/kv/range", request.dump());
  if (!body.ok()) return body.status();
  json answer = json::parse(*body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    return absl::UnavailableError("etcd /v3/kv/range: answer is not JSON");
  }
  KvRead read;
  read.version = "0";  // etcd compares a missing key's mod_revision as 0
  auto kvs = answer.find("kvs");
  if (kvs == answer.end() || !kvs->is_array() || kvs->empty()) return read;
  const json& kv = (*kvs)[0];
  // int64 fields come as decimal strings in etcd's JSON.
  auto revision = kv.find("mod_revision");
  int64_t parsed = 0;
  if (revision == kv.end() || !revision->is_string() ||
      !absl::SimpleAtoi(revision->get<std::string>(), &parsed) || parsed <= 0) {
    return absl::UnavailableError("etcd /v3/kv/range: no usable mod_revision");
  }
  read.version = absl::StrCat(parsed);
  std::string value;
  if (kv.contains("value")) {
    if (!kv["value"].is_string()) {
      return absl::UnavailableError("etcd /v3/kv/range: value is not a string");
    }
    absl::StatusOr<std::string> decoded =
        Base64StdDecode(kv["value"].get<std::string>());
    if (!decoded.ok()) return decoded.status();
    value = std::move(*decoded);
  }
  read.value = std::move(value);
  return read;
}

absl::StatusOr<bool> EtcdKvStore::PutIfUnchanged(absl::string_view key,
                                                 absl::string_view value,
                                                 const KvRead& read) {
  int64_t revision = 0;
  if (!absl::SimpleAtoi(read.version, &revision) || revision < 0) {
    return absl::InvalidArgumentError(
        "etcd: PutIfUnchanged needs a read from GetForUpdate");
  }
  std::string full_key = Base64StdEncode(options_.prefix + std::string(key));
  json request = {
      {"compare",
       {{{"key", full_key},
         {"target", "MOD"},
         {"result", "EQUAL"},
         {"mod_revision", absl::StrCat(revision)}}}},
      {"success",
       {{{"request_put",
          {{"key", full_key}, {"value", Base64StdEncode(value)}}}}}}};
  absl::StatusOr<std::string> body = Call("/v3/kv/txn", request.dump());
  if (!body.ok()) return body.status();
  json answer = json::parse(*body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    return absl::UnavailableError("etcd /v3/kv/txn: answer is not JSON");
  }
  // proto3 JSON leaves false out: a missing "succeeded" is a failed compare.
  auto succeeded = answer.find("succeeded");
  bool written = succeeded != answer.end() && succeeded->is_boolean() &&
                 succeeded->get<bool>();
  if (written) NotifyChange();
  return written;
}

absl::StatusOr<bool> EtcdKvStore::Delete(absl::string_view key) {
  json request = {{"key", Base64StdEncode(options_.prefix + std::string(key))}};
  absl::StatusOr<std::string> body = Call("/v3/kv/deleterange", request.dump());
  if (!body.ok()) return body.status();
  NotifyChange();
  json answer = json::parse(*body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) return false;
  auto deleted = answer.find("deleted");
  int64_t count = 0;
  if (deleted != answer.end() && deleted->is_string()) {
    (void)absl::SimpleAtoi(deleted->get<std::string>(), &count);
  }
  return count > 0;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
EtcdKvStore::ListPage(absl::string_view prefix, absl::string_view after,
                      KvOrder order, size_t limit) {
  if (limit == 0) return std::vector<std::pair<std::string, std::string>>();
  // etcd ranges are [key, range_end); a cursor narrows one side, and is
  // clamped to the prefix's range so no cursor can reach other keys.
  std::string full = options_.prefix + std::string(prefix);
  std::string start = full;
  std::optional<std::string> end = PrefixSuccessor(full);  // nullopt: no bound
  if (!after.empty()) {
    std::string cursor = options_.prefix + std::string(after);
    if (order == KvOrder::kAscending) {
      cursor.push_back('\0');  // the smallest key after the cursor
      start = std::max(start, cursor);
    } else if (!end.has_value() || cursor < *end) {
      end = cursor;
    }
  }
  if (end.has_value() && start >= *end) {
    return std::vector<std::pair<std::string, std::string>>();
  }
  json request = {
      {"key", Base64StdEncode(start)},
      {"range_end", Base64StdEncode(end.value_or(std::string(1, '\0')))},
      {"limit", limit}};
  // etcd returns a range in ascending key order and then stops at the
  // limit. Any sort order makes it read the whole range, sort and then
  // cut: unavoidable for descending pages (etcd 3.4 has no reverse scan),
  // so only those ask for one.
  if (order == KvOrder::kDescending) {
    request["sort_order"] = "DESCEND";
    request["sort_target"] = "KEY";
  }
  absl::StatusOr<std::string> body = Call("/v3/kv/range", request.dump());
  if (!body.ok()) return body.status();
  json answer = json::parse(*body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    return absl::UnavailableError("etcd /v3/kv/range: answer is not JSON");
  }
  std::vector<std::pair<std::string, std::string>> out;
  auto kvs = answer.find("kvs");
  if (kvs == answer.end() || !kvs->is_array()) return out;
  for (const json& kv : *kvs) {
    if (!kv.contains("key") || !kv["key"].is_string()) continue;
    absl::StatusOr<std::string> key =
        Base64StdDecode(kv["key"].get<std::string>());
    if (!key.ok()) return key.status();
    std::string value;
    if (kv.contains("value") && kv["value"].is_string()) {
      absl::StatusOr<std::string> v =
          Base64StdDecode(kv["value"].get<std::string>());
      if (!v.ok()) return v.status();
      value = std::move(*v);
    }
    if (key->size() < options_.prefix.size()) continue;
    out.emplace_back(key->substr(options_.prefix.size()), std::move(value));
  }
  return out;
}

void EtcdKvStore::SetChangeListener(std::function<void()> on_change) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  on_change_ = std::move(on_change);
}

void EtcdKvStore::NotifyChange() {
  std::lock_guard<std::mutex> lock(listener_mu_);
  if (on_change_) on_change_();
}

absl::Status EtcdKvStore::Watch(
    const std::string& request,
    const std::function<bool(absl::string_view)>& on_body) {
  if (tls_) {
    return watch_client_->PostStream("/v3/watch", "application/json", {},
                                     request, options_.watch_deadline, on_body);
  }
  return plain_watch_.Post(endpoint_, "/v3/watch",
                           {{"Content-Type", "application/json"}}, request,
                           options_.timeout, options_.watch_deadline, on_body);
}

namespace {
// An int64 field of etcd's JSON (a decimal string); 0 when absent.
int64_t Int64Field(const json& object, const char* name) {
  auto it = object.find(name);
  int64_t value = 0;
  if (it != object.end() && it->is_string()) {
    (void)absl::SimpleAtoi(it->get<std::string>(), &value);
  } else if (it != object.end() && it->is_number_integer()) {
    value = it->get<int64_t>();
  }
  return value;
}

bool BoolField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

// etcd's watch messages are small (one batch of events); a line longer
// than this is not one, and ends the stream.
constexpr size_t kMaxWatchLine = 16 << 20;
}  // namespace

// OnWatchMessage reads one line of the watch stream (etcd's gateway writes
// one JSON WatchResponse per line). Revisions: etcd numbers every change;
// `last_revision` is the highest one up to which this instance has seen
// every change under the prefix, so a new watch starts right after it.
bool EtcdKvStore::OnWatchMessage(absl::string_view line, bool resuming,
                                 int64_t* last_revision, bool* compacted) {
  json message = json::parse(line, nullptr, false);
  if (message.is_discarded() || !message.is_object()) return false;
  auto result = message.find("result");
  if (result == message.end() || !result->is_object()) return false;
  int64_t header_revision = 0;
  if (auto header = result->find("header");
      header != result->end() && header->is_object()) {
    header_revision = Int64Field(*header, "revision");
  }
  if (BoolField(*result, "canceled")) {
    // The revision to resume from was compacted away: changes since are
    // gone for good, so everything cached must go (NotifyChange below, in
    // WatchLoop); the next watch starts from now.
    if (Int64Field(*result, "compact_revision") > 0) *compacted = true;
    return false;
  }
  if (BoolField(*result, "created")) {
    // Whatever changed while no watch ran may have been missed: drop all
    // cached state, then trust the cache again. Reads from here on see
    // etcd at header_revision or later, and every later change arrives
    // on this watch (a resumed watch also replays the older ones).
    if (!resuming) *last_revision = std::max(*last_revision, header_revision);
    NotifyChange();
    watch_healthy_.store(true);
    return true;
  }
  auto events = result->find("events");
  if (events != result->end() && events->is_array() && !events->empty()) {
    for (const json& event : *events) {
      auto kv = event.find("kv");
      if (kv != event.end() && kv->is_object()) {
        *last_revision =
            std::max(*last_revision, Int64Field(*kv, "mod_revision"));
      }
    }
    NotifyChange();
    return true;
  }
  // A progress notification: etcd sends it only to a watch that has been
  // sent every change up to header_revision.
  *last_revision = std::max(*last_revision, header_revision);
  return true;
}

// WatchLoop holds one streaming POST /v3/watch open at a time and drops
// the registry's cache on every change. A stream that ends, fails or
// stays silent past the deadline marks the feed unhealthy (the registry
// then bypasses its cache, the service answers 503) and is replaced.
void EtcdKvStore::WatchLoop() {
  const std::string& prefix = options_.prefix;
  int64_t last_revision = 0;
  bool logged_failure = false;
  while (!stopping_.load()) {
    json create = {{"key", Base64StdEncode(prefix)},
                   {"range_end", Base64StdEncode(PrefixRangeEnd(prefix))},
                   {"progress_notify", true}};
    bool resuming = last_revision > 0;
    if (resuming) create["start_revision"] = absl::StrCat(last_revision + 1);
    std::string request = json{{"create_request", create}}.dump();
    std::string pending;
    bool compacted = false;
    absl::Status ended = Watch(request, [&](absl::string_view bytes) {
      pending.append(bytes.data(), bytes.size());
      size_t newline;
      while ((newline = pending.find('\n')) != std::string::npos) {
        std::string line = pending.substr(0, newline);
        pending.erase(0, newline + 1);
        if (!OnWatchMessage(line, resuming, &last_revision, &compacted)) {
          return false;
        }
      }
      return pending.size() <= kMaxWatchLine;
    });
    bool was_healthy = watch_healthy_.exchange(false);
    // Changes may have been missed from here until the next watch is in
    // place: nothing cached may be served on trust meanwhile.
    NotifyChange();
    if (compacted) last_revision = 0;
    if (stopping_.load()) break;
    // One line per failure streak: the journal learns that the feed broke
    // (and why), not a line per retry. Messages never hold secrets.
    if (was_healthy || !logged_failure) {
      std::string why =
          compacted    ? "etcd compacted the history since the last revision "
                         "seen; all cached registry data dropped"
          : ended.ok() ? "ended by etcd"
                       : std::string(ended.message());
      std::fprintf(
          stderr,
          "cxsec-verifier: etcd watch ended (%s); registry unhealthy until a "
          "new watch is in place%s\n",
          why.c_str(),
          absl::IsDeadlineExceeded(ended)
              ? " (if etcd is reachable, its "
                "--experimental-watch-progress-notify-interval must be below "
                "etcd_watch_deadline_seconds)"
              : "");
    }
    logged_failure = true;
    for (int i = 0; i < 10 && !stopping_.load(); ++i) {
      usleep(20 * 1000);
    }
  }
}

}  // namespace cxsec::verifier
