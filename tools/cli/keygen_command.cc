// `cxsec keygen --alg ES256|EdDSA --out DIR`: a new software identity key.
#include <cstdio>
#include <string>

#include "core/cli/command_line.h"
#include "core/identity/soft_key.h"
#include "platforms/posix/soft_key_file.h"
#include "tools/cli/command_registry.h"

namespace cxsec::cli {
namespace {

int RunKeygen(int argc, const char* const* argv) {
  CommandLine cl({{"alg", true, "ES256 (P-256) or EdDSA (Ed25519)", "ALG"},
                  {"out", true, "directory for private_key.pem (0600), "
                                "public_key.pem and public_key.jwk", "DIR"}});
  if (absl::Status status = cl.Parse(argc, argv); !status.ok()) {
    std::fprintf(stderr, "cxsec keygen: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  if (cl.Has("help")) {
    std::printf("Usage: cxsec keygen --alg ES256|EdDSA --out DIR\n\n%s",
                cl.Usage().c_str());
    return 0;
  }
  absl::StatusOr<std::string> alg_name = cl.RequiredValue("alg");
  absl::StatusOr<std::string> out = cl.RequiredValue("out");
  if (!alg_name.ok() || !out.ok() || !cl.positionals().empty()) {
    std::fprintf(stderr, "Usage: cxsec keygen --alg ES256|EdDSA --out DIR\n");
    return 2;
  }
  absl::StatusOr<JwtAlgorithm> alg = ParseJwtAlgorithm(*alg_name);
  if (!alg.ok()) {
    std::fprintf(stderr, "cxsec keygen: %s\n", std::string(alg.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<SoftKey> key = SoftKey::Generate(*alg);
  if (!key.ok()) {
    std::fprintf(stderr, "cxsec keygen: %s\n", std::string(key.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<SoftKeyFiles> files = WriteNewSoftKey(*key, *out);
  if (!files.ok()) {
    std::fprintf(stderr, "cxsec keygen: %s\n", std::string(files.status().message()).c_str());
    return 1;
  }
  std::printf("private key: %s (0600)\npublic key:  %s\nJWK:         %s\nkid:         %s\n",
              files->private_key.c_str(), files->public_pem.c_str(),
              files->public_jwk.c_str(), key->PublicKey().Thumbprint().c_str());
  return 0;
}

}  // namespace
}  // namespace cxsec::cli

CXSEC_REGISTER_COMMAND(keygen, "generate a software identity key (ES256/EdDSA)",
                       cxsec::cli::RunKeygen);
