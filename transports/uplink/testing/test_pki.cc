#include "transports/uplink/testing/test_pki.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace cxsec::testing {
namespace {

absl::Status RunShell(const std::string& command) {
  std::string quiet = absl::StrCat("(", command, ") >/dev/null 2>&1");
  int rc = std::system(quiet.c_str());
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("command failed (", rc, "): ",
                                            command));
  }
  return absl::OkStatus();
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<TestCa> MakeTestCa(const std::string& dir,
                                  const std::string& name) {
  TestCa ca;
  ca.dir = dir;
  ca.cert_path = absl::StrCat(dir, "/", name, ".pem");
  ca.key_path = absl::StrCat(dir, "/", name, ".key");
  std::string config = absl::StrCat(dir, "/", name, ".cnf");
  absl::Status status = WriteText(
      config, absl::StrCat("[req]\ndistinguished_name = dn\nprompt = no\n"
                           "[dn]\nCN = ",
                           name,
                           "\n[ca_ext]\nbasicConstraints = critical, CA:TRUE\n"
                           "keyUsage = critical, keyCertSign, cRLSign\n"
                           "subjectKeyIdentifier = hash\n"));
  if (!status.ok()) return status;
  status = RunShell(absl::StrCat(
      "openssl req -x509 -config '", config,
      "' -extensions ca_ext -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
      "-nodes -days 2 -keyout '",
      ca.key_path, "' -out '", ca.cert_path, "'"));
  if (!status.ok()) return status;
  return ca;
}

absl::StatusOr<TestServerCert> IssueServerCert(
    const TestCa& ca, const std::string& name,
    const std::vector<std::string>& dns_names,
    const std::vector<std::string>& ip_addresses) {
  TestServerCert cert;
  std::string base = absl::StrCat(ca.dir, "/", name);
  cert.cert_path = base + ".pem";
  cert.key_path = base + ".key";
  std::string alt;
  for (size_t i = 0; i < dns_names.size(); ++i) {
    absl::StrAppend(&alt, "DNS.", i + 1, " = ", dns_names[i], "\n");
  }
  for (size_t i = 0; i < ip_addresses.size(); ++i) {
    absl::StrAppend(&alt, "IP.", i + 1, " = ", ip_addresses[i], "\n");
  }
  absl::Status status = WriteText(
      base + ".cnf",
      absl::StrCat("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = ",
                   name,
                   "\n[server_ext]\nbasicConstraints = critical, CA:FALSE\n"
                   "keyUsage = critical, digitalSignature\n"
                   "extendedKeyUsage = serverAuth\n"
                   "subjectAltName = @alt\n[alt]\n",
                   alt));
  if (!status.ok()) return status;
  status = RunShell(absl::StrCat(
      "openssl req -new -config '", base,
      ".cnf' -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '",
      cert.key_path, "' -out '", base, ".csr' && openssl x509 -req -in '",
      base, ".csr' -CA '", ca.cert_path, "' -CAkey '", ca.key_path,
      "' -set_serial 0x$(openssl rand -hex 8) -days 2 -extfile '", base,
      ".cnf' -extensions server_ext -out '", cert.cert_path, "'"));
  if (!status.ok()) return status;
  return cert;
}

absl::StatusOr<std::string> SpkiPinOfCertificate(const std::string& cert_path) {
  std::string command = absl::StrCat(
      "openssl x509 -in '", cert_path,
      "' -pubkey -noout | openssl pkey -pubin -outform der | "
      "openssl dgst -sha256 -binary | openssl base64 -A");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen failed");
  char buffer[128] = {};
  size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, pipe);
  int rc = ::pclose(pipe);
  if (rc != 0 || n == 0) {
    return absl::InternalError(absl::StrCat("cannot compute the pin of ",
                                            cert_path));
  }
  return std::string(absl::StripAsciiWhitespace(absl::string_view(buffer, n)));
}

}  // namespace cxsec::testing
