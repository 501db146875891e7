// `cxsec jwt mint|enroll-proof|verify|inspect`: device JWTs for operators
// and tests.
//   mint   (--key FILE | --tpm STR --handle H) --sub ID --aud PROJECT [--ttl S]
//   enroll-proof (--key FILE | --tpm STR --handle H) --gateway ID
//          --challenge NONCE [--ttl S]   proof of possession for key enrolment
//   verify --pub FILE --aud PROJECT [--iss ISS] TOKEN
//   inspect TOKEN   (decodes without verifying; says so)
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/cli/command_line.h"
#include "core/clock.h"
#include "core/identity/soft_key.h"
#include "core/jwt/enrollment_proof.h"
#include "core/jwt/issuer.h"
#include "core/jwt/jws.h"
#include "core/jwt/verifier.h"
#include "core/status.h"
#include "platforms/posix/soft_key_file.h"
#include "platforms/tpm/tpm_auth_file.h"
#include "platforms/tpm/tpm_key.h"
#include "tools/cli/command_registry.h"

namespace cxsec::cli {
namespace {

constexpr char kUsage[] =
    "Usage: cxsec jwt mint (--key FILE | --tpm TCTI [--handle H] "
    "[--tpm-auth-file F]) --sub ID "
    "--aud PROJECT [--ttl SECONDS]\n"
    "       cxsec jwt enroll-proof (--key FILE | --tpm TCTI [--handle H] "
    "[--tpm-auth-file F]) "
    "--gateway ID --challenge NONCE [--ttl SECONDS]\n"
    "       cxsec jwt verify --pub FILE --aud PROJECT [--iss ISS] TOKEN\n"
    "       cxsec jwt inspect TOKEN\n";

int Fail(absl::string_view what, const absl::Status& status, int code = 1) {
  std::fprintf(stderr, "cxsec jwt %s: %s\n", std::string(what).c_str(),
               std::string(status.message()).c_str());
  return code;
}

std::string Time(absl::Time t) {
  return absl::StrCat(absl::ToUnixSeconds(t), " (",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()), ")");
}

// OpenTpmKey opens --tpm's key with the value in --tpm-auth-file, if given.
absl::StatusOr<TpmKey> OpenTpmKey(const CommandLine& cl, uint32_t handle) {
  SecretBytes auth;
  if (cl.Has("tpm-auth-file")) {
    CXSEC_ASSIGN_OR_RETURN(auth, ReadTpmAuthFile(cl.Value("tpm-auth-file")));
  }
  return TpmKey::Open(cl.Value("tpm"), handle, auth);
}

template <class I>
int Mint(I& identity, const JwtIssueOptions& options) {
  absl::StatusOr<MintedJwt> minted = MintJwt(identity, options, absl::Now());
  if (!minted.ok()) return Fail("mint", minted.status());
  std::printf("%s\n", minted->token.c_str());
  return 0;
}

int RunMint(int argc, const char* const* argv) {
  CommandLine cl(
      {{"key", true, "software private key (PKCS#8 PEM, 0600)", "FILE"},
       {"tpm", true, "TPM TCTI, e.g. device:/dev/tpmrm0", "TCTI"},
       {"handle", true, "TPM key handle (default 0x81000010)", "H"},
       {"tpm-auth-file", true, "the TPM key's authorization value file", "F"},
       {"sub", true, "subject: the gateway id", "ID"},
       {"aud", true, "audience: the project id", "PROJECT"},
       {"iss", true, "issuer (default: the subject)", "ISS"},
       {"ttl", true, "lifetime in seconds (default 3600, max 86400)", "S"}});
  if (absl::Status s = cl.Parse(argc, argv); !s.ok()) return Fail("mint", s, 2);
  if (cl.Has("help")) {
    std::printf("%s\n%s", kUsage, cl.Usage().c_str());
    return 0;
  }
  absl::StatusOr<std::string> sub = cl.RequiredValue("sub");
  absl::StatusOr<std::string> aud = cl.RequiredValue("aud");
  absl::StatusOr<long long> ttl = cl.IntValue("ttl", 3600, 1, 86400);
  if (!sub.ok()) return Fail("mint", sub.status(), 2);
  if (!aud.ok()) return Fail("mint", aud.status(), 2);
  if (!ttl.ok()) return Fail("mint", ttl.status(), 2);
  if (cl.Has("key") == cl.Has("tpm")) {
    return Fail("mint", absl::InvalidArgumentError("give exactly one of --key or --tpm"), 2);
  }
  JwtIssueOptions options{*sub, *aud, cl.Value("iss"), absl::Seconds(*ttl)};
  if (cl.Has("key")) {
    absl::StatusOr<SoftKey> key = LoadSoftKey(cl.Value("key"));
    if (!key.ok()) return Fail("mint", key.status());
    return Mint(*key, options);
  }
  absl::StatusOr<uint32_t> handle = TpmKey::ParseHandle(cl.Value("handle", "0x81000010"));
  if (!handle.ok()) return Fail("mint", handle.status(), 2);
  absl::StatusOr<TpmKey> key = OpenTpmKey(cl, *handle);
  if (!key.ok()) return Fail("mint", key.status());
  return Mint(*key, options);
}

template <class I>
int EnrollProof(I& identity, const std::string& gateway,
                const std::string& nonce, absl::Duration lifetime) {
  absl::StatusOr<std::string> proof =
      MintEnrollmentProof(identity, gateway, nonce, absl::Now(), lifetime);
  if (!proof.ok()) return Fail("enroll-proof", proof.status());
  std::printf("%s\n", proof->c_str());
  return 0;
}

// The proof that the key being enrolled is held by whoever enrols it: the
// verifier's challenge signed by that key (inside the TPM for --tpm).
int RunEnrollProof(int argc, const char* const* argv) {
  CommandLine cl(
      {{"key", true, "the new software private key (PKCS#8 PEM, 0600)", "FILE"},
       {"tpm", true, "TPM TCTI, e.g. device:/dev/tpmrm0", "TCTI"},
       {"handle", true, "TPM key handle (default 0x81000010)", "H"},
       {"tpm-auth-file", true, "the TPM key's authorization value file", "F"},
       {"gateway", true, "the gateway the key is enrolled for", "ID"},
       {"challenge", true,
        "nonce from POST /v1/gateways/{id}/enrollment-challenge", "NONCE"},
       {"ttl", true, "proof lifetime in seconds (default 300, max 600)", "S"}});
  if (absl::Status s = cl.Parse(argc, argv); !s.ok())
    return Fail("enroll-proof", s, 2);
  if (cl.Has("help")) {
    std::printf("%s\n%s", kUsage, cl.Usage().c_str());
    return 0;
  }
  absl::StatusOr<std::string> gateway = cl.RequiredValue("gateway");
  absl::StatusOr<std::string> nonce = cl.RequiredValue("challenge");
  absl::StatusOr<long long> ttl =
      cl.IntValue("ttl", absl::ToInt64Seconds(kDefaultEnrollmentProofLifetime),
                  1, absl::ToInt64Seconds(kMaxEnrollmentProofLifetime));
  if (!gateway.ok()) return Fail("enroll-proof", gateway.status(), 2);
  if (!nonce.ok()) return Fail("enroll-proof", nonce.status(), 2);
  if (!ttl.ok()) return Fail("enroll-proof", ttl.status(), 2);
  if (!IsWellFormedEnrollmentNonce(*nonce)) {
    return Fail("enroll-proof",
                absl::InvalidArgumentError(
                    "--challenge must be the 43-character nonce the verifier "
                    "returned (POST /v1/gateways/{id}/enrollment-challenge)"),
                2);
  }
  if (cl.Has("key") == cl.Has("tpm")) {
    return Fail(
        "enroll-proof",
        absl::InvalidArgumentError("give exactly one of --key or --tpm"), 2);
  }
  if (cl.Has("key")) {
    absl::StatusOr<SoftKey> key = LoadSoftKey(cl.Value("key"));
    if (!key.ok()) return Fail("enroll-proof", key.status());
    return EnrollProof(*key, *gateway, *nonce, absl::Seconds(*ttl));
  }
  absl::StatusOr<uint32_t> handle =
      TpmKey::ParseHandle(cl.Value("handle", "0x81000010"));
  if (!handle.ok()) return Fail("enroll-proof", handle.status(), 2);
  absl::StatusOr<TpmKey> key = OpenTpmKey(cl, *handle);
  if (!key.ok()) return Fail("enroll-proof", key.status());
  return EnrollProof(*key, *gateway, *nonce, absl::Seconds(*ttl));
}

int RunVerify(int argc, const char* const* argv) {
  CommandLine cl({{"pub", true, "public key: SPKI PEM or JWK file", "FILE"},
                  {"aud", true, "this project's id", "PROJECT"},
                  {"iss", true, "required issuer (optional)", "ISS"}});
  if (absl::Status s = cl.Parse(argc, argv); !s.ok()) return Fail("verify", s, 2);
  if (cl.Has("help")) {
    std::printf("%s\n%s", kUsage, cl.Usage().c_str());
    return 0;
  }
  absl::StatusOr<std::string> pub = cl.RequiredValue("pub");
  absl::StatusOr<std::string> aud = cl.RequiredValue("aud");
  if (!pub.ok()) return Fail("verify", pub.status(), 2);
  if (!aud.ok()) return Fail("verify", aud.status(), 2);
  if (cl.positionals().size() != 1) {
    return Fail("verify", absl::InvalidArgumentError("give exactly one TOKEN"), 2);
  }
  const std::string& token = cl.positionals()[0];
  absl::StatusOr<JwtPublicKey> key = LoadPublicKey(*pub);
  if (!key.ok()) return Fail("verify", key.status());
  JwtVerifierOptions options{.audience = *aud, .cache_capacity = 0};
  if (cl.Has("iss")) options.issuer = cl.Value("iss");
  JwtVerifier verifier(options, SystemClock::Default());
  // The key file is the trust anchor: it belongs to whichever device the
  // token names, so the device id is the token's (still unverified) sub.
  std::string device = "-";
  if (absl::StatusOr<JwsParts> jws = ParseJws(token); jws.ok()) {
    absl::StatusOr<nlohmann::json> claims =
        ParseStrictJsonObject(AsStringView(jws->payload), "payload");
    if (claims.ok() && claims->contains("sub") && (*claims)["sub"].is_string() &&
        !(*claims)["sub"].get<std::string>().empty()) {
      device = (*claims)["sub"].get<std::string>();
    }
  }
  absl::StatusOr<DeviceKeySet> keys = DeviceKeySet::Create(
      device, {{std::make_shared<const JwtPublicKey>(std::move(*key)), std::nullopt}});
  if (!keys.ok()) return Fail("verify", keys.status());
  absl::StatusOr<VerifiedClaims> claims = verifier.VerifyWithKeys(token, *keys);
  if (!claims.ok()) {
    std::printf("REJECTED %s\n", std::string(claims.status().message()).c_str());
    return 1;
  }
  std::printf("VALID\nsub: %s\niss: %s\naud: %s\niat: %s\nexp: %s\njti: %s\nalg: %s\nkid: %s\n",
              claims->subject.c_str(), claims->issuer.c_str(), claims->audience.c_str(),
              Time(claims->issued_at).c_str(), Time(claims->expires_at).c_str(),
              claims->jwt_id.c_str(), std::string(JwtAlgorithmName(claims->algorithm)).c_str(),
              claims->key_id.c_str());
  return 0;
}

int RunInspect(int argc, const char* const* argv) {
  if (argc != 1 || std::string(argv[0]) == "--help") {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  std::printf("NOT VERIFIED: decoded only, do not trust these values\n");
  absl::StatusOr<JwsParts> jws = ParseJws(argv[0]);
  if (!jws.ok()) {
    std::printf("malformed: %s\n", std::string(jws.status().message()).c_str());
    return 1;
  }
  std::printf("header: %s\n", jws->header.dump(2).c_str());
  absl::StatusOr<nlohmann::json> claims =
      ParseStrictJsonObject(AsStringView(jws->payload), "payload");
  if (!claims.ok()) {
    std::printf("payload: malformed: %s\n", std::string(claims.status().message()).c_str());
    return 1;
  }
  std::printf("payload: %s\n", claims->dump(2).c_str());
  return 0;
}

int RunJwt(int argc, const char* const* argv) {
  std::string action = argc >= 1 ? argv[0] : "";
  if (action == "mint") return RunMint(argc - 1, argv + 1);
  if (action == "enroll-proof") return RunEnrollProof(argc - 1, argv + 1);
  if (action == "verify") return RunVerify(argc - 1, argv + 1);
  if (action == "inspect") return RunInspect(argc - 1, argv + 1);
  bool help = action == "--help" || action == "help";
  std::fprintf(help ? stdout : stderr, "%s", kUsage);
  return help ? 0 : 2;
}

}  // namespace
}  // namespace cxsec::cli

CXSEC_REGISTER_COMMAND(
    jwt, "mint, verify or inspect device JWTs; sign key-enrolment proofs",
    cxsec::cli::RunJwt);
