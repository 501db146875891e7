// `cxsec tpm enroll --tcti STR [--handle H] --auth-file FILE`: create (or
// reuse) the gateway's TPM signing key with the authorization value in FILE
// (drawn and written 0600 when FILE does not exist) and print its public
// key as PEM and JWK.
// `cxsec tpm pubkey --tcti STR [--handle H]` prints it without creating.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "core/cli/command_line.h"
#include "platforms/tpm/tpm_auth_file.h"
#include "platforms/tpm/tpm_key.h"
#include "tools/cli/command_registry.h"

namespace cxsec::cli {
namespace {

constexpr char kUsage[] =
    "Usage: cxsec tpm enroll --tcti STR [--handle 0x81000010] "
    "(--auth-file FILE | --empty-auth)\n"
    "       cxsec tpm pubkey --tcti STR [--handle 0x81000010]\n"
    "TCTI: device:/dev/tpmrm0 (gateway) or swtpm:host=127.0.0.1,port=2321\n"
    "--auth-file: the key's authorization value; created (32 random bytes,\n"
    "  0600) if FILE does not exist. The gateway reads it (tpm_auth_file).\n";

int RunTpm(int argc, const char* const* argv) {
  if (argc < 1 || (std::string(argv[0]) != "enroll" && std::string(argv[0]) != "pubkey")) {
    std::fprintf(argc >= 1 && std::string(argv[0]) == "--help" ? stdout : stderr, "%s", kUsage);
    return argc >= 1 && std::string(argv[0]) == "--help" ? 0 : 2;
  }
  std::string action = argv[0];
  CommandLine cl(
      {{"tcti", true, "TPM TCTI config string", "STR"},
       {"handle", true, "persistent owner handle (default 0x81000010)", "H"},
       {"auth-file", true, "the key's authorization value (created if absent)",
        "FILE"},
       {"empty-auth", false, "enrol without an authorization value", ""}});
  if (absl::Status status = cl.Parse(argc - 1, argv + 1); !status.ok()) {
    std::fprintf(stderr, "cxsec tpm: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  if (cl.Has("help")) {
    std::printf("%s\n%s", kUsage, cl.Usage().c_str());
    return 0;
  }
  absl::StatusOr<std::string> tcti = cl.RequiredValue("tcti");
  if (!tcti.ok()) {
    std::fprintf(stderr, "cxsec tpm: %s\n%s", std::string(tcti.status().message()).c_str(), kUsage);
    return 2;
  }
  absl::StatusOr<uint32_t> handle =
      TpmKey::ParseHandle(cl.Value("handle", "0x81000010"));
  if (!handle.ok()) {
    std::fprintf(stderr, "cxsec tpm: %s\n", std::string(handle.status().message()).c_str());
    return 2;
  }
  SecretBytes auth;
  if (action == "enroll") {
    if (cl.Has("auth-file") == cl.Has("empty-auth")) {
      std::fprintf(
          stderr,
          "cxsec tpm enroll: give --auth-file FILE (recommended: without "
          "an authorization value any local TPM user can sign as this "
          "gateway) or --empty-auth\n%s",
          kUsage);
      return 2;
    }
    if (cl.Has("auth-file")) {
      std::string path = cl.Value("auth-file");
      absl::StatusOr<SecretBytes> loaded = access(path.c_str(), F_OK) == 0
                                               ? ReadTpmAuthFile(path)
                                               : CreateTpmAuthFile(path);
      if (!loaded.ok()) {
        std::fprintf(stderr, "cxsec tpm enroll: %s\n",
                     std::string(loaded.status().message()).c_str());
        return 1;
      }
      auth = std::move(*loaded);
    }
  }
  bool created = false;
  absl::StatusOr<TpmKey> key =
      action == "enroll" ? TpmKey::Enroll(*tcti, *handle, auth, &created)
                         : TpmKey::Open(*tcti, *handle);
  if (!key.ok()) {
    std::fprintf(stderr, "cxsec tpm %s: %s\n", action.c_str(),
                 std::string(key.status().message()).c_str());
    return 1;
  }
  if (action == "enroll") {
    std::fprintf(stderr, "%s\n",
                 absl::StrFormat(created ? "created a P-256 signing key at 0x%08x"
                                         : "0x%08x already holds a P-256 signing key; reusing it",
                                 *handle)
                     .c_str());
  }
  std::printf("%s%s\n", key->PublicKey().SpkiPem().c_str(), key->PublicKey().Jwk().c_str());
  return 0;
}

}  // namespace
}  // namespace cxsec::cli

CXSEC_REGISTER_COMMAND(tpm, "enrol the TPM signing key, print its public key",
                       cxsec::cli::RunTpm);
