// bench_token: makes a fresh gateway key for tools/bench/verifier.sh,
// writes its public PEM to argv[1] and prints a one-hour ES256 token for
// gateway argv[2] in project argv[3]; with argv[4] = N, prints N distinct
// tokens (one per line) for the fresh-token benchmark.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/time/clock.h"

#include "targets/verifier/testing/verifier_testing.h"

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: bench_token PUBKEY_OUT GATEWAY PROJECT [COUNT]\n");
    return 2;
  }
  cxsec::verifier::testing::GatewaySigner signer;
  std::ofstream(argv[1]) << signer.PublicKeyPem();
  int count = argc == 5 ? std::atoi(argv[4]) : 1;
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
