// bench_token: makes a fresh gateway key for tools/bench/verifier.sh,
// writes its public PEM to argv[1] and prints a one-hour ES256 token for
// gateway argv[2] in project argv[3]; with argv[4] = N, prints N distinct
// tokens (one per line) for the fresh-token benchmark. With argv[5] = an
// enrolment challenge (nonce) it also writes argv[1] + ".enroll.json", the
// body of POST /v1/gateways/{id}/keys: the public key and the proof of
// possession the verifier requires.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/time/clock.h"
#include "targets/verifier/testing/verifier_testing.h"

int main(int argc, char** argv) {
  if (argc < 4 || argc > 6) {
    std::fprintf(
        stderr,
        "usage: bench_token PUBKEY_OUT GATEWAY PROJECT [COUNT [NONCE]]\n");
    return 2;
  }
  cxsec::verifier::testing::GatewaySigner signer;
  std::ofstream(argv[1]) << signer.PublicKeyPem();
  if (argc == 6) {
    nlohmann::json body = {{"publicKeyPem", signer.PublicKeyPem()},
                           {"proof", signer.EnrollmentProof(argv[2], argv[5])}};
    std::ofstream(std::string(argv[1]) + ".enroll.json") << body.dump();
  }
  int count = argc >= 5 ? std::atoi(argv[4]) : 1;
  int64_t now = absl::ToUnixSeconds(absl::Now());
  for (int i = 0; i < count && i < 1000000; ++i) {
    // A distinct jti makes each token distinct, so none is a cache hit.
    std::printf("%s\n", signer.Sign({{"alg", "ES256"}, {"typ", "JWT"}},
                                     {{"sub", argv[2]}, {"aud", argv[3]}, {"iat", now},
                                      {"exp", now + 3600}, {"jti", std::to_string(i)}})
                             .c_str());
  }
  return 0;
}
