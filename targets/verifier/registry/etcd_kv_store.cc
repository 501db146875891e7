#include "targets/verifier/registry/etcd_kv_store.h"

#include <openssl/base64.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "nlohmann/json.hpp"

namespace cxsec::verifier {

using nlohmann::json;

std::string Base64StdEncode(absl::string_view data) {
  size_t size = 0;
  EVP_EncodedLength(&size, data.size());
  std::string out(size, '\0');
  size_t written = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()),
                                   reinterpret_cast<const uint8_t*>(data.data()),
                                   data.size());
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
    absl::string_view endpoint_url, std::string prefix, absl::Duration timeout) {
  absl::StatusOr<HttpEndpoint> endpoint = HttpEndpoint::ParseHttpUrl(endpoint_url);
  if (!endpoint.ok()) return endpoint.status();
  std::unique_ptr<EtcdKvStore> store(
      new EtcdKvStore(*endpoint, std::move(prefix), timeout));
  // A range on a key nobody uses proves the endpoint speaks etcd v3 JSON.
  absl::StatusOr<std::optional<std::string>> probe = store->Get("probe");
  if (!probe.ok()) return probe.status();
  store->watch_thread_ = std::thread([s = store.get()] { s->WatchLoop(); });
  return store;
}

EtcdKvStore::~EtcdKvStore() {
  stopping_.store(true);
  int fd = watch_fd_.load();
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);  // unblocks the watch read
  if (watch_thread_.joinable()) watch_thread_.join();
}

absl::StatusOr<std::string> EtcdKvStore::Call(absl::string_view path,
                                              const std::string& body) {
  absl::StatusOr<PlainHttpResponse> response = SendHttpRequest(
      endpoint_, "POST", path, {{"Content-Type", "application/json"}}, body,
      timeout_);
  if (!response.ok()) {
    return absl::UnavailableError(
        absl::StrCat("etcd ", path, ": ", response.status().message()));
  }
  if (response->status != 200) {
    return absl::UnavailableError(absl::StrCat(
        "etcd ", path, ": HTTP ", response->status, ": ",
        response->body.substr(0, 200)));
  }
  return std::move(response->body);
}

absl::StatusOr<std::optional<std::string>> EtcdKvStore::Get(absl::string_view key) {
  json request = {{"key", Base64StdEncode(prefix_ + std::string(key))}};
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
  absl::StatusOr<std::string> value = Base64StdDecode(kv["value"].get<std::string>());
  if (!value.ok()) return value.status();
  return std::optional<std::string>(std::move(*value));
}

absl::Status EtcdKvStore::Put(absl::string_view key, absl::string_view value) {
  json request = {{"key", Base64StdEncode(prefix_ + std::string(key))},
                  {"value", Base64StdEncode(value)}};
  absl::StatusOr<std::string> body = Call("/v3/kv/put", request.dump());
  if (!body.ok()) return body.status();
  // Our own writes are also seen by our watch; notifying here as well means
  // this instance never serves its own stale cache even if the watch lags.
  NotifyChange();
  return absl::OkStatus();
}

absl::StatusOr<KvRead> EtcdKvStore::GetForUpdate(absl::string_view key) {
  json request = {{"key", Base64StdEncode(prefix_ + std::string(key))}};
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
  std::string full_key = Base64StdEncode(prefix_ + std::string(key));
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
  json request = {{"key", Base64StdEncode(prefix_ + std::string(key))}};
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
  std::string full = prefix_ + std::string(prefix);
  std::string start = full;
  std::optional<std::string> end = PrefixSuccessor(full);  // nullopt: no bound
  if (!after.empty()) {
    std::string cursor = prefix_ + std::string(after);
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
    absl::StatusOr<std::string> key = Base64StdDecode(kv["key"].get<std::string>());
    if (!key.ok()) return key.status();
    std::string value;
    if (kv.contains("value") && kv["value"].is_string()) {
      absl::StatusOr<std::string> v = Base64StdDecode(kv["value"].get<std::string>());
      if (!v.ok()) return v.status();
      value = std::move(*v);
    }
    if (key->size() < prefix_.size()) continue;
    out.emplace_back(key->substr(prefix_.size()), std::move(value));
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

// WatchLoop holds one streaming POST /v3/watch open. It does not need to
// parse events: any bytes after the request (the "created" answer or an
// event) mean "something may have changed", and the cache drops all.
// On any error the feed is marked unhealthy (the registry then bypasses its
// cache) and the watch reconnects after a short pause.
void EtcdKvStore::WatchLoop() {
  namespace asio = boost::asio;
  std::string full = prefix_;
  json create = {{"create_request",
                  {{"key", Base64StdEncode(full)},
                   {"range_end", Base64StdEncode(PrefixRangeEnd(full))}}}};
  std::string body = create.dump();
  std::string request = absl::StrCat(
      "POST /v3/watch HTTP/1.1\r\nHost: ", endpoint_.host,
      "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
      "\r\n\r\n", body);
  while (!stopping_.load()) {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    boost::system::error_code ec;
    asio::ip::tcp::resolver resolver(io);
    auto results = resolver.resolve(endpoint_.host, std::to_string(endpoint_.port), ec);
    if (!ec) asio::connect(socket, results, ec);
    if (!ec) {
      watch_fd_.store(socket.native_handle());
      if (stopping_.load()) break;
      asio::write(socket, asio::buffer(request), ec);
    }
    char chunk[4096];
    while (!ec && !stopping_.load()) {
      size_t n = socket.read_some(asio::buffer(chunk), ec);
      if (n > 0) {
        watch_healthy_.store(true);
        NotifyChange();
      }
    }
    watch_fd_.store(-1);
    watch_healthy_.store(false);
    NotifyChange();
    for (int i = 0; i < 10 && !stopping_.load(); ++i) {
      usleep(20 * 1000);
    }
  }
}

}  // namespace cxsec::verifier
