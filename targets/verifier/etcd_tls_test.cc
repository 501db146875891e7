// Issue 17 item 4: etcd over TLS with client certificates. The test makes
// its own CA, a server certificate for 127.0.0.1 and a client certificate
// (openssl CLI, a separate process), starts a real etcd that requires
// client certificates from that CA, and checks that the registry works
// over it (requests and the watch), in-process and through the real
// cxsec-verifier binary; and that an etcd whose certificate comes from
// another CA, or a client without a certificate, gets nowhere.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "targets/verifier/registry/etcd_kv_store.h"
#include "targets/verifier/testing/verifier_testing.h"
#include "tests/fixtures/black_hole_proxy.h"
#include "tests/fixtures/child_process.h"
#include "tests/fixtures/etcd_process.h"

namespace cxsec::verifier {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Run(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// A CA in `dir`/`name`-ca.{pem,key} and, signed by it, `dir`/`name`-
// server.{pem,key} (IP SAN 127.0.0.1) and `dir`/`name`-client.{pem,key}.
// The server certificate is also good for clientAuth: etcd 3.4's JSON
// gateway dials etcd's own gRPC port with it, and --client-cert-auth
// refuses that otherwise ("connection closed" on every request).
bool MakePki(const std::string& dir, const std::string& name) {
  std::string p = absl::StrCat(dir, "/", name);
  std::string ext = p + "-ext.cnf";
  std::ofstream(ext) << "[server]\nsubjectAltName=IP:127.0.0.1\n"
                        "extendedKeyUsage=serverAuth,clientAuth\n"
                        "[client]\nextendedKeyUsage=clientAuth\n";
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
  bool ok =
      Run(absl::StrCat("openssl req -x509 ", ec, " -keyout ", p, "-ca.key",
                       " -out ", p, "-ca.pem -days 2 -subj /CN=", name,
                       "-test-ca -addext basicConstraints=critical,CA:TRUE"
                       " -addext keyUsage=critical,keyCertSign"));
  for (const char* role : {"server", "client"}) {
    ok = ok &&
         Run(absl::StrCat("openssl req ", ec, " -keyout ", p, "-", role,
                          ".key -out ", p, "-", role, ".csr -subj /CN=", name,
                          "-", role)) &&
         Run(absl::StrCat("openssl x509 -req -in ", p, "-", role, ".csr -CA ",
                          p, "-ca.pem -CAkey ", p, "-ca.key -CAcreateserial",
                          " -days 2 -extfile ", ext, " -extensions ", role,
                          " -out ", p, "-", role, ".pem"));
    chmod(absl::StrCat(p, "-", role, ".key").c_str(), 0600);
  }
  return ok;
}

class EtcdTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(std::system(("mkdir -p " + dir_).c_str()), 0);
    ASSERT_TRUE(MakePki(dir_, "good"));
    ASSERT_TRUE(MakePki(dir_, "rogue"));
    auto etcd = cxsec::testing::EtcdProcess::Start(
        dir_, {.extra_args = {"--cert-file=" + Pki("good-server.pem"),
                              "--key-file=" + Pki("good-server.key"),
                              "--client-cert-auth",
                              "--trusted-ca-file=" + Pki("good-ca.pem"),
                              "--experimental-watch-progress-notify-interval="
                              "500ms"},
               .client_tls = true});
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = std::move(*etcd);
    ASSERT_TRUE(etcd_->WaitUntilHealthy(absl::Seconds(20)).ok());
  }

  std::string Pki(const std::string& file) const {
    return absl::StrCat(dir_, "/", file);
  }

  EtcdKvStoreOptions Options(const std::string& ca, bool client_cert) const {
    EtcdKvStoreOptions o;
    o.endpoint_url = etcd_->client_url();
    o.prefix = "cxsec-tls/";
    o.timeout = absl::Seconds(3);
    o.ca_bundle_pem = ReadAll(Pki(ca));
    if (client_cert) {
      o.client_certificate_pem = ReadAll(Pki("good-client.pem"));
      o.client_private_key_pem = ReadAll(Pki("good-client.key"));
    }
    return o;
  }

  std::string dir_;
  std::unique_ptr<cxsec::testing::EtcdProcess> etcd_;
};

TEST_F(EtcdTlsTest, RegistryWorksOverTlsWithAClientCertificate) {
  ASSERT_TRUE(absl::StartsWith(etcd_->client_url(), "https://127.0.0.1:"));
  auto a = EtcdKvStore::Connect(Options("good-ca.pem", true));
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = EtcdKvStore::Connect(Options("good-ca.pem", true));
  ASSERT_TRUE(b.ok()) << b.status();
  // The watch over TLS is in place and carries B's change to A.
  EXPECT_TRUE((*a)->ChangeFeedHealthy());
  std::atomic<int> changes{0};
  (*a)->SetChangeListener([&changes] { changes.fetch_add(1); });
  ASSERT_TRUE((*b)->Put("k", "v").ok());
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (changes.load() == 0 && absl::Now() < deadline) usleep(10 * 1000);
  EXPECT_GT(changes.load(), 0) << "A's watch over TLS saw nothing";
  (*a)->SetChangeListener(nullptr);
  auto got = (*a)->Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value_or(""), "v");
  // Conditional writes go through the same client.
  auto read = (*a)->GetForUpdate("k");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE((*b)->Put("k", "w").ok());
  auto stale = (*a)->PutIfUnchanged("k", "x", *read);
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_FALSE(*stale);

  // A whole verifier on it.
  auto cert = testing::MakeTestCert(dir_);
  ASSERT_TRUE(cert.ok());
  auto verifier =
      testing::StartVerifier(std::move(*a), dir_ + "/t.ndjson", *cert);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto r = testing::HttpsRequest((*verifier)->port(), cert->cert_file, "POST",
                                 "/v1/projects", (*verifier)->admin_key,
                                 R"({"id":"acme"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201u) << r->body;
  auto health = testing::HttpsRequest((*verifier)->port(), cert->cert_file,
                                      "GET", "/healthz", "", "");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200u) << health->body;
}

// The watch deadline holds over TLS too: a black-holed TLS watch (the
// certificate still names 127.0.0.1, where the proxy listens) is given up
// within the deadline and replaced once the connection works again.
TEST_F(EtcdTlsTest, SilentTlsWatchIsNoticedAndReplaced) {
  const std::string url = etcd_->client_url();
  uint32_t etcd_port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(url.substr(url.rfind(':') + 1), &etcd_port));
  auto proxy =
      cxsec::testing::BlackHoleProxy::Start(static_cast<uint16_t>(etcd_port));
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EtcdKvStoreOptions o = Options("good-ca.pem", true);
  o.endpoint_url = absl::StrCat("https://127.0.0.1:", (*proxy)->port());
  o.watch_deadline = absl::Seconds(2);
  auto store = EtcdKvStore::Connect(std::move(o));
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->ChangeFeedHealthy());
  (*proxy)->SetForwarding(false);
  absl::Time start = absl::Now();
  while ((*store)->ChangeFeedHealthy() &&
         absl::Now() - start < absl::Seconds(6)) {
    usleep(20 * 1000);
  }
  EXPECT_FALSE((*store)->ChangeFeedHealthy())
      << "a black-holed TLS watch still counts as healthy";
  (*proxy)->SetForwarding(true);
  start = absl::Now();
  while (!(*store)->ChangeFeedHealthy() &&
         absl::Now() - start < absl::Seconds(20)) {
    usleep(20 * 1000);
  }
  EXPECT_TRUE((*store)->ChangeFeedHealthy()) << "the TLS watch did not recover";
}

TEST_F(EtcdTlsTest, EtcdWithACertificateFromAnotherCaIsRefused) {
  auto store = EtcdKvStore::Connect(Options("rogue-ca.pem", true));
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(store.status())) << store.status();
  EXPECT_TRUE(absl::StrContains(store.status().message(), "certificate"))
      << store.status();
}

TEST_F(EtcdTlsTest, ClientWithoutCertificateGetsNowhere) {
  auto store = EtcdKvStore::Connect(Options("good-ca.pem", false));
  EXPECT_FALSE(store.ok());
}

TEST_F(EtcdTlsTest, PlainHttpEndpointWithTlsFilesIsRefused) {
  EtcdKvStoreOptions o = Options("good-ca.pem", true);
  o.endpoint_url = "http://127.0.0.1:1";
  auto store = EtcdKvStore::Connect(std::move(o));
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(store.status())) << store.status();
}

// The real binary: etcd_ca_file / etcd_cert_file / etcd_key_file, the key
// checked like every secret file.
class EtcdTlsBinaryTest : public EtcdTlsTest {
 protected:
  absl::StatusOr<cxsec::testing::ChildProcess> StartVerifier(
      const std::string& name, const std::string& extra) {
    std::string data = dir_ + "/" + name;
    ::mkdir(data.c_str(), 0700);
    auto cert = testing::MakeTestCert(data);
    if (!cert.ok()) return cert.status();
    cert_ = *cert;
    port_ = testing::FreeLoopbackPort();
    std::string config = data + ".conf";
    std::ofstream(config) << "data_dir = " << data << "\n"
                          << "listen = 127.0.0.1:" << port_ << "\n"
                          << "tls_cert = " << cert_.cert_file << "\n"
                          << "tls_key = " << cert_.key_file << "\n"
                          << "registry = etcd\n"
                          << "etcd_endpoints = " << etcd_->client_url() << "\n"
                          << "etcd_prefix = " << name << "/\n"
                          << "etcd_ca_file = " << Pki("good-ca.pem") << "\n"
                          << "etcd_cert_file = " << Pki("good-client.pem")
                          << "\n"
                          << extra;
    chmod(config.c_str(), 0600);
    stderr_ = data + ".stderr";
    return cxsec::testing::ChildProcess::Start(
        {"targets/verifier/cxsec-verifier", "--config=" + config},
        {.stdout_path = data + ".stdout", .stderr_path = stderr_});
  }

  std::string stderr_;
  testing::TestCert cert_;
  uint16_t port_ = 0;
};

TEST_F(EtcdTlsBinaryTest, VerifierServesWithItsRegistryOnEtcdOverTls) {
  auto verifier = StartVerifier(
      "served", "etcd_key_file = " + Pki("good-client.key") + "\n");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  bool listening = false;
  for (int i = 0; i < 300 && !listening; ++i) {
    listening = absl::StrContains(ReadAll(stderr_), "listening");
    if (!listening) usleep(100 * 1000);
  }
  ASSERT_TRUE(listening) << ReadAll(stderr_);
  auto health =
      testing::HttpsRequest(port_, cert_.cert_file, "GET", "/healthz", "", "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200u) << health->body;
  std::string admin = ReadAll(dir_ + "/served/bootstrap-admin.key");
  while (!admin.empty() && admin.back() == '\n') admin.pop_back();
  auto created = testing::HttpsRequest(port_, cert_.cert_file, "POST",
                                       "/v1/projects", admin, R"({"id":"p1"})");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->status, 201u) << created->body;
  ASSERT_TRUE(verifier->SignalAndWait(SIGTERM).ok());
  EXPECT_FALSE(absl::StrContains(ReadAll(stderr_), "PRIVATE KEY"));
}

TEST_F(EtcdTlsBinaryTest, TlsFilesWithAPlainHttpEndpointAreRefusedAtLoad) {
  std::string config = dir_ + "/plain.conf";
  std::ofstream(config) << "data_dir = " << dir_ << "/plain\n"
                        << "tls_cert = " << dir_ << "/cert.pem\n"
                        << "tls_key = " << dir_ << "/key.pem\n"
                        << "registry = etcd\n"
                        << "etcd_endpoints = http://127.0.0.1:2379\n"
                        << "etcd_ca_file = " << Pki("good-ca.pem") << "\n";
  chmod(config.c_str(), 0600);
  std::string err = dir_ + "/plain.stderr";
  auto child = cxsec::testing::ChildProcess::Start(
      {"targets/verifier/cxsec-verifier", "--config=" + config,
       "--check-config"},
      {.stdout_path = dir_ + "/plain.stdout", .stderr_path = err});
  ASSERT_TRUE(child.ok()) << child.status();
  absl::StatusOr<int> status = child->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_TRUE(absl::StrContains(ReadAll(err), "etcd_ca_file")) << ReadAll(err);
  EXPECT_TRUE(absl::StrContains(ReadAll(err), "plain.conf:6")) << ReadAll(err);
}

TEST_F(EtcdTlsBinaryTest, ClientKeyReadableByOthersIsRefused) {
  std::string key = dir_ + "/loose.key";
  std::ofstream(key) << ReadAll(Pki("good-client.key"));
  chmod(key.c_str(), 0644);
  auto verifier = StartVerifier("loose", "etcd_key_file = " + key + "\n");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  absl::StatusOr<int> status = verifier->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  std::string log = ReadAll(stderr_);
  EXPECT_TRUE(absl::StrContains(log, "loose.key")) << log;
  EXPECT_TRUE(absl::StrContains(log, "chmod")) << log;
  EXPECT_FALSE(absl::StrContains(log, "PRIVATE KEY")) << log;
}

}  // namespace
}  // namespace cxsec::verifier
