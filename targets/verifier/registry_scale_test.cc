// A registry that has grown past the old 10,000-item listing limit, on
// both stores (SQLite, and a real etcd): registry lists return every item,
// deleting a project is refused while a device that sorts past the old
// limit still belongs to it, and GET /v1/audit shows the newest change
// first and pages back through the whole history. The old rows are
// written in bulk (one SQLite transaction, etcd transactions) as a
// long-lived deployment would have accumulated them; everything after
// that goes through the verifier's HTTPS API.
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "targets/verifier/http/plain_http_client.h"
#include "targets/verifier/registry/etcd_kv_store.h"
#include "targets/verifier/registry/registry.h"
#include "targets/verifier/registry/sqlite_kv_store.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/etcd_process.h"

namespace cxsec::verifier {
namespace {

using nlohmann::json;

constexpr size_t kOldListLimit = 10000;
constexpr size_t kBulkPerKind = kOldListLimit + 50;
constexpr int64_t kYear2020Nanos = 1577836800LL * 1000000000LL;

// Projects p00000.., gateways and devices d00000.. of project "bulk", and
// audit entries from 2020, each kind past the old limit.
std::vector<std::pair<std::string, std::string>> GrownRegistryRows() {
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("projects/bulk", ToJson(Project{"bulk", "grown"}).dump());
  for (size_t i = 0; i < kBulkPerKind; ++i) {
    std::string project = absl::StrFormat("p%05d", i);
    rows.emplace_back("projects/" + project,
                      ToJson(Project{project, ""}).dump());
    std::string gateway = absl::StrFormat("G%018x", i);
    rows.emplace_back("gateways/" + gateway,
                      ToJson(Gateway{gateway, "bulk", true, {}}).dump());
    std::string device = absl::StrFormat("d%05d", i);
    rows.emplace_back("devices/" + device,
                      ToJson(Device{device, "bulk", {}}).dump());
    rows.emplace_back(
        absl::StrFormat("audit/%020d-%08x",
                        kYear2020Nanos + static_cast<int64_t>(i) * 1000, i),
        json{{"time", "2020-01-01T00:00:00Z"},
             {"principal", "bulk"},
             {"action", "bulk.old"},
             {"target", absl::StrCat(i)}}
            .dump());
  }
  return rows;
}

absl::Status SqliteBulkPut(
    const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& rows) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return absl::InternalError("cannot open " + path);
  }
  absl::Status status;
  sqlite3_stmt* stmt = nullptr;
  sqlite3_busy_timeout(db, 5000);
  if (sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "INSERT INTO kv (k, v) VALUES (?1, ?2)", -1, &stmt,
                         nullptr) != SQLITE_OK) {
    status = absl::InternalError(sqlite3_errmsg(db));
  }
  for (size_t i = 0; status.ok() && i < rows.size(); ++i) {
    sqlite3_bind_text(stmt, 1, rows[i].first.data(),
                      static_cast<int>(rows[i].first.size()), SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, rows[i].second.data(),
                      static_cast<int>(rows[i].second.size()), SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_DONE)
      status = absl::InternalError(sqlite3_errmsg(db));
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  if (status.ok() &&
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    status = absl::InternalError(sqlite3_errmsg(db));
  }
  sqlite3_close(db);
  return status;
}

// Writes `rows` under `prefix` in etcd transactions of 128 puts: the quick
// way to give a test a registry that grew over years.
absl::Status EtcdBulkPut(
    const std::string& etcd_url, const std::string& prefix,
    const std::vector<std::pair<std::string, std::string>>& rows) {
  constexpr size_t kPutsPerTxn = 128;
  absl::StatusOr<HttpEndpoint> endpoint = HttpEndpoint::ParseHttpUrl(etcd_url);
  if (!endpoint.ok()) return endpoint.status();
  for (size_t begin = 0; begin < rows.size(); begin += kPutsPerTxn) {
    json puts = json::array();
    for (size_t i = begin; i < rows.size() && i < begin + kPutsPerTxn; ++i) {
      puts.push_back({{"requestPut",
                       {{"key", Base64StdEncode(prefix + rows[i].first)},
                        {"value", Base64StdEncode(rows[i].second)}}}});
    }
    json txn = {{"success", puts}};
    absl::StatusOr<PlainHttpResponse> response = SendHttpRequest(
        *endpoint, "POST", "/v3/kv/txn", {{"Content-Type", "application/json"}},
        txn.dump(), absl::Seconds(10));
    if (!response.ok()) return response.status();
    if (response->status != 200) {
      return absl::InternalError(absl::StrCat("etcd txn: HTTP ",
                                              response->status, ": ",
                                              response->body.substr(0, 200)));
    }
  }
  return absl::OkStatus();
}

class RegistryScaleTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    // The test's name is "Name/param": one directory per test and store.
    std::string name =
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '-');
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
    ASSERT_EQ(std::system(("mkdir -p '" + dir_ + "'").c_str()), 0);
    auto cert = testing::MakeTestCert(dir_);
    ASSERT_TRUE(cert.ok()) << cert.status();
    cert_ = *cert;
    std::unique_ptr<KvStore> store;
    std::vector<std::pair<std::string, std::string>> rows = GrownRegistryRows();
    if (GetParam() == "sqlite") {
      auto sqlite = SqliteKvStore::Open(dir_ + "/registry.db");
      ASSERT_TRUE(sqlite.ok()) << sqlite.status();
      store = std::move(*sqlite);
      ASSERT_TRUE(SqliteBulkPut(dir_ + "/registry.db", rows).ok());
    } else {
      auto etcd = cxsec::testing::EtcdProcess::Start(dir_);
      ASSERT_TRUE(etcd.ok()) << etcd.status();
      etcd_ = std::move(*etcd);
      ASSERT_TRUE(etcd_->WaitUntilHealthy(absl::Seconds(15)).ok());
      // Generous: the build machine may be busy, and a descending audit
      // page makes etcd read the whole audit range.
      auto etcd_store = EtcdKvStore::Connect(etcd_->client_url(), "cxsec-test/",
                                             absl::Seconds(20));
      ASSERT_TRUE(etcd_store.ok()) << etcd_store.status();
      store = std::move(*etcd_store);
      absl::Status put = EtcdBulkPut(etcd_->client_url(), "cxsec-test/", rows);
      ASSERT_TRUE(put.ok()) << put;
    }
    auto v = testing::StartVerifier(std::move(store),
                                    dir_ + "/telemetry.ndjson", cert_);
    ASSERT_TRUE(v.ok()) << v.status();
    v_ = std::move(*v);
    admin_ = v_->admin_key;
    ASSERT_FALSE(admin_.empty());
  }

  json Call(const std::string& method, const std::string& target,
            const json& body, unsigned expected_status) {
    auto r = testing::HttpsRequest(v_->port(), cert_.cert_file, method, target,
                                   admin_, body.is_null() ? "" : body.dump());
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return json();
    EXPECT_EQ(r->status, expected_status)
        << method << " " << target << ": " << r->body.substr(0, 300);
    return json::parse(r->body, nullptr, false);
  }

  std::string dir_;
  testing::TestCert cert_;
  std::unique_ptr<cxsec::testing::EtcdProcess>
      etcd_;  // declared before v_: outlives it
  std::unique_ptr<testing::VerifierInstance> v_;
  std::string admin_;
};

TEST_P(RegistryScaleTest, ListsReturnEveryItemPastTheOldLimit) {
  json projects = Call("GET", "/v1/projects", json(), 200);
  EXPECT_EQ(projects["projects"].size(), kBulkPerKind + 1);  // and "bulk"
  json gateways = Call("GET", "/v1/gateways?project=bulk", json(), 200);
  EXPECT_EQ(gateways["gateways"].size(), kBulkPerKind);
  json devices = Call("GET", "/v1/devices?project=bulk", json(), 200);
  ASSERT_EQ(devices["devices"].size(), kBulkPerKind);
  EXPECT_EQ(devices["devices"].back()["id"],
            absl::StrFormat("d%05d", kBulkPerKind - 1));
}

TEST_P(RegistryScaleTest, ProjectWithADevicePastTheOldLimitIsNotDeleted) {
  Call("POST", "/v1/projects", json{{"id", "zz"}}, 201);
  // "devices/zz-dev" sorts after the 10,050 "devices/d....." keys.
  Call("POST", "/v1/devices", json{{"id", "zz-dev"}, {"project", "zz"}}, 201);
  json refused = Call("DELETE", "/v1/projects/zz", json(), 409);
  EXPECT_NE(refused.value("message", "").find("zz-dev"), std::string::npos)
      << refused;
  Call("GET", "/v1/projects/zz", json(), 200);
  Call("DELETE", "/v1/devices/zz-dev", json(), 200);
  Call("DELETE", "/v1/projects/zz", json(), 200);
}

TEST_P(RegistryScaleTest, AuditShowsTheNewestFirstAndPagesThroughEverything) {
  Call("POST", "/v1/projects", json{{"id", "fresh"}}, 201);
  json first = Call("GET", "/v1/audit?limit=5", json(), 200);
  ASSERT_EQ(first["entries"].size(), 5u);
  EXPECT_EQ(first["entries"][0]["action"], "project.create");
  EXPECT_EQ(first["entries"][0]["target"], "fresh");
  // Walk back to the beginning; the bulk entries come newest first, each once.
  std::string cursor;
  size_t pages = 0;
  size_t total = 0;
  std::vector<std::string> old_targets;
  do {
    json page = Call(
        "GET",
        "/v1/audit?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor),
        json(), 200);
    ASSERT_TRUE(page.contains("entries")) << page;
    for (const json& e : page["entries"]) {
      ++total;
      if (e["action"] == "bulk.old") old_targets.push_back(e["target"]);
    }
    cursor = page.value("nextCursor", "");
    ASSERT_LT(++pages, 100u) << "paging does not end";
  } while (!cursor.empty());
  // The bootstrap admin's principal.create and project.create "fresh".
  EXPECT_EQ(total, kBulkPerKind + 2);
  ASSERT_EQ(old_targets.size(), kBulkPerKind);
  for (size_t i = 0; i < old_targets.size(); ++i) {
    ASSERT_EQ(old_targets[i], absl::StrCat(kBulkPerKind - 1 - i)) << "at " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, RegistryScaleTest,
                         ::testing::Values("sqlite", "etcd"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cxsec::verifier
