// TestPki: throwaway CAs and server certificates for HTTPS tests and the
// uplink benchmark, made by the openssl CLI in a separate process (never
// linked: cxsec processes must not load OpenSSL 3). P-256 keys, 2-day
// validity, files under a caller-given directory.
#ifndef CXSEC_TRANSPORTS_UPLINK_TESTING_TEST_PKI_H_
#define CXSEC_TRANSPORTS_UPLINK_TESTING_TEST_PKI_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cxsec::testing {

struct TestCa {
  std::string dir;
  std::string cert_path;  // PEM
  std::string key_path;
};

struct TestServerCert {
  std::string cert_path;  // PEM, the leaf only
  std::string key_path;   // PEM
};

// MakeTestCa creates a self-signed CA named `name` in `dir`/`name`.*.
[[nodiscard]] absl::StatusOr<TestCa> MakeTestCa(const std::string& dir,
                                                const std::string& name);

// IssueServerCert issues a serverAuth certificate for `dns_names` and
// `ip_addresses` (subjectAltName), signed by `ca`.
[[nodiscard]] absl::StatusOr<TestServerCert> IssueServerCert(
    const TestCa& ca, const std::string& name,
    const std::vector<std::string>& dns_names,
    const std::vector<std::string>& ip_addresses);

// SpkiPinOfCertificate computes the base64 SHA-256 of the certificate's
// SubjectPublicKeyInfo with the openssl CLI, independently of cxsec's own
// code, so tests cross-check the client's pin computation.
[[nodiscard]] absl::StatusOr<std::string> SpkiPinOfCertificate(
    const std::string& cert_path);

// ReadTextFile reads a whole file (tests only).
[[nodiscard]] absl::StatusOr<std::string> ReadTextFile(const std::string& path);

}  // namespace cxsec::testing

#endif  // CXSEC_TRANSPORTS_UPLINK_TESTING_TEST_PKI_H_
