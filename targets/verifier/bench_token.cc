// bench_token: makes a fresh gateway key for tools/bench/verifier.sh,
// writes its public PEM to argv[1] and prints a one-hour ES256 token for
// gateway argv[2] in project argv[3].
#include <cstdio>
#include <fstream>

#include "targets/verifier/testing/verifier_testing.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: bench_token PUBKEY_OUT GATEWAY PROJECT\n");
    return 2;
  }
  cxsec::verifier::testing::GatewaySigner signer;
  std::ofstream(argv[1]) << signer.PublicKeyPem();
  std::printf("%s\n", signer.Token(argv[2], argv[3]).c_str());
  return 0;
}
