// TpmKey against a real TPM simulator (swtpm), cross-checked with
// tpm2-tools.
#include "platforms/tpm/tpm_key.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/clock.h"
#include "core/crypto/p256_signature.h"
#include "core/jwt/issuer.h"
#include "core/jwt/verifier.h"
#include "gtest/gtest.h"
#include "platforms/tpm/tpm_auth_file.h"
#include "tests/fixtures/swtpm_fixture.h"

namespace cxsec {
namespace {

using ::cxsec::testing::RunCommand;
using ::cxsec::testing::SwtpmProcess;

class TpmKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SwtpmProcess>> tpm = SwtpmProcess::Start();
    ASSERT_TRUE(tpm.ok()) << tpm.status();
    tpm_ = std::move(*tpm);
  }
  std::string ToolsTcti() { return absl::StrCat("TPM2TOOLS_TCTI=", tpm_->Tcti()); }
  std::string TmpPath(absl::string_view name) {
    return absl::StrCat(tpm_->state_dir(), "/", name);
  }

  std::unique_ptr<SwtpmProcess> tpm_;
};

TEST_F(TpmKeyTest, NoTpmReachable) {
  std::string tcti = tpm_->Tcti();
  tpm_.reset();  // stop it: nothing listens on the port any more
  absl::StatusOr<TpmKey> key = TpmKey::Open(tcti, kTpmDefaultKeyHandle);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kUnavailable) << key.status();
  EXPECT_TRUE(absl::StrContains(key.status().message(), "no TPM")) << key.status();
}

TEST_F(TpmKeyTest, BadTctiAndHandleAreRejectedBeforeConnecting) {
  EXPECT_EQ(TpmKey::Open("libtpms", kTpmDefaultKeyHandle).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TpmKey::Open(tpm_->Tcti(), 0x80000001).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(TpmKey::ParseHandle("0x01000000").ok());
  EXPECT_FALSE(TpmKey::ParseHandle("banana").ok());
  EXPECT_EQ(*TpmKey::ParseHandle("0x81000010"), 0x81000010u);
}

TEST_F(TpmKeyTest, EmptyHandle) {
  absl::StatusOr<TpmKey> key = TpmKey::Open(tpm_->Tcti(), 0x81000020);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound) << key.status();
  EXPECT_TRUE(absl::StrContains(key.status().message(), "0x81000020 is empty"));
}

TEST_F(TpmKeyTest, EnrolSignThousandsAndMintVerifiableTokens) {
  bool created = false;
  absl::StatusOr<TpmKey> key = TpmKey::Enroll(
      tpm_->Tcti(), kTpmDefaultKeyHandle, SecretBytes(), &created);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(created);
  // Thousands of signatures in a row: nothing may leak a transient handle
  // (swtpm answers TPM_RC_OBJECT_MEMORY after 3 leaked objects).
  for (int i = 0; i < 2000; ++i) {
    Bytes message = ToBytes(absl::StrCat("message ", i));
    absl::StatusOr<Bytes> sig = key->Sign(message);
    ASSERT_TRUE(sig.ok()) << i << ": " << sig.status();
    ASSERT_EQ(sig->size(), 64u);
    if (i % 250 == 0) {
      ASSERT_TRUE(key->PublicKey().VerifySignature(message, *sig).ok()) << i;
    }
  }
  // A token minted through the TPM verifies with the TPM-exported key.
  FakeClock clock(absl::FromUnixSeconds(1700000000));
  absl::StatusOr<MintedJwt> minted =
      MintJwt(*key, {.subject = "G0123456789abcdef01", .audience = "proj"}, clock.Now());
  ASSERT_TRUE(minted.ok()) << minted.status();
  absl::StatusOr<JwtPublicKey> exported = JwtPublicKey::FromSpkiPem(key->PublicKey().SpkiPem());
  ASSERT_TRUE(exported.ok());
  JwtVerifier verifier({.audience = "proj"}, clock);
  ASSERT_TRUE(verifier
                  .SetDeviceKeys(*DeviceKeySet::Create(
                      "G0123456789abcdef01",
                      {{std::make_shared<const JwtPublicKey>(std::move(*exported)),
                        std::nullopt}}))
                  .ok());
  absl::StatusOr<VerifiedClaims> claims = verifier.Verify(minted->token);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->key_id, key->PublicKey().Thumbprint());

}

TEST_F(TpmKeyTest, SignaturesAreAlwaysLowSAndVerify) {
  // A TPM returns s or n - s at random; TpmKey must hand out only the low
  // form, which is the only one verifiers accept. 300 low ones by chance
  // would happen once in 2^300 runs.
  absl::StatusOr<TpmKey> key =
      TpmKey::Enroll(tpm_->Tcti(), kTpmDefaultKeyHandle);
  ASSERT_TRUE(key.ok()) << key.status();
  for (int i = 0; i < 300; ++i) {
    Bytes message = ToBytes(absl::StrCat("low s ", i));
    absl::StatusOr<Bytes> sig = key->Sign(message);
    ASSERT_TRUE(sig.ok()) << i << ": " << sig.status();
    ASSERT_EQ(sig->size(), 64u);
    ASSERT_TRUE(P256SIsLow(sig->data() + 32)) << "signature " << i;
    absl::Status verified = key->PublicKey().VerifySignature(message, *sig);
    ASSERT_TRUE(verified.ok()) << i << ": " << verified;
  }
}

TEST_F(TpmKeyTest, ReenrolReusesAndManyEnrolmentsFlushEverything) {
  std::string thumbprint;
  {
    absl::StatusOr<TpmKey> key = TpmKey::Enroll(tpm_->Tcti(), kTpmDefaultKeyHandle);
    ASSERT_TRUE(key.ok()) << key.status();
    thumbprint = key->PublicKey().Thumbprint();
  }
  bool created = true;
  absl::StatusOr<TpmKey> again = TpmKey::Enroll(
      tpm_->Tcti(), kTpmDefaultKeyHandle, SecretBytes(), &created);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(created);
  EXPECT_EQ(again->PublicKey().Thumbprint(), thumbprint);
  again = absl::UnknownError("closed");
  // Each enrolment creates two transient objects; if either leaked, the
  // fourth enrolment would fail with TPM_RC_OBJECT_MEMORY.
  for (uint32_t i = 0; i < 6; ++i) {
    absl::StatusOr<TpmKey> key = TpmKey::Enroll(tpm_->Tcti(), 0x81000100 + i);
    ASSERT_TRUE(key.ok()) << i << ": " << key.status();
    EXPECT_NE(key->PublicKey().Thumbprint(), thumbprint);
  }
  ASSERT_TRUE(TpmKey::Evict(tpm_->Tcti(), 0x81000100).ok());
  EXPECT_EQ(TpmKey::Open(tpm_->Tcti(), 0x81000100).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TpmKeyTest, ExportedPublicKeyMatchesTpm2Readpublic) {
  std::string pem;
  {
    absl::StatusOr<TpmKey> key = TpmKey::Enroll(tpm_->Tcti(), kTpmDefaultKeyHandle);
    ASSERT_TRUE(key.ok()) << key.status();
    pem = key->PublicKey().SpkiPem();
  }  // swtpm serves one connection at a time: close ours first
  std::string out = TmpPath("readpublic.pem");
  absl::StatusOr<std::string> run = RunCommand(
      {"tpm2_readpublic", "-c", "0x81000010", "-f", "pem", "-o", out}, {ToolsTcti()});
  ASSERT_TRUE(run.ok()) << run.status();
  std::ifstream file(out);
  std::stringstream text;
  text << file.rdbuf();
  absl::StatusOr<JwtPublicKey> theirs = JwtPublicKey::FromSpkiPem(text.str());
  ASSERT_TRUE(theirs.ok()) << theirs.status() << "\n" << text.str();
  absl::StatusOr<JwtPublicKey> ours = JwtPublicKey::FromSpkiPem(pem);
  ASSERT_TRUE(ours.ok());
  EXPECT_EQ(theirs->RawPublic(), ours->RawPublic());
  EXPECT_EQ(theirs->SpkiDer(), ours->SpkiDer());
}

TEST_F(TpmKeyTest, WrongKeyType) {
  // A storage (restricted decrypt) key made persistent by tpm2-tools.
  std::string ctx = TmpPath("primary.ctx");
  ASSERT_TRUE(RunCommand({"tpm2_createprimary", "-C", "o", "-g", "sha256", "-G",
                          "ecc", "-c", ctx},
                         {ToolsTcti()})
                  .ok());
  ASSERT_TRUE(RunCommand({"tpm2_evictcontrol", "-C", "o", "-c", ctx, "0x81000030"},
                         {ToolsTcti()})
                  .ok());
  absl::StatusOr<TpmKey> key = TpmKey::Open(tpm_->Tcti(), 0x81000030);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kFailedPrecondition) << key.status();
  EXPECT_TRUE(absl::StrContains(key.status().message(), "not a P-256 ECDSA signing key"));
  // Enrol refuses to overwrite it.
  EXPECT_EQ(TpmKey::Enroll(tpm_->Tcti(), 0x81000030).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(TpmKeyTest, LockoutOfAnOlderDictionaryProtectedKeyIsNamed) {
  // A P-256 signing key without noDA, as cxsec enrolled them before keys
  // got an authorization value: made here with tpm2-tools.
  std::string primary = TmpPath("primary.ctx");
  std::string pub = TmpPath("key.pub");
  std::string priv = TmpPath("key.priv");
  std::string loaded = TmpPath("key.ctx");
  ASSERT_TRUE(RunCommand({"tpm2_createprimary", "-C", "o", "-g", "sha256", "-G",
                          "ecc", "-c", primary},
                         {ToolsTcti()})
                  .ok());
  // swtpm has no resource manager: free the tools' transient objects.
  ASSERT_TRUE(RunCommand({"tpm2_flushcontext", "-t"}, {ToolsTcti()}).ok());
  ASSERT_TRUE(RunCommand({"tpm2_create", "-C", primary, "-G",
                          "ecc256:ecdsa-sha256", "-u", pub, "-r", priv},
                         {ToolsTcti()})
                  .ok());
  ASSERT_TRUE(RunCommand({"tpm2_flushcontext", "-t"}, {ToolsTcti()}).ok());
  ASSERT_TRUE(RunCommand({"tpm2_load", "-C", primary, "-u", pub, "-r", priv,
                          "-c", loaded},
                         {ToolsTcti()})
                  .ok());
  ASSERT_TRUE(
      RunCommand({"tpm2_evictcontrol", "-C", "o", "-c", loaded, "0x81000031"},
                 {ToolsTcti()})
          .ok());
  ASSERT_TRUE(RunCommand({"tpm2_flushcontext", "-t"}, {ToolsTcti()}).ok());
  // One failed authorization locks DA-protected keys out for 1000 s.
  ASSERT_TRUE(RunCommand({"tpm2_dictionarylockout", "-s", "-n", "1", "-t", "1000",
                          "-l", "1000"},
                         {ToolsTcti()})
                  .ok());
  std::string message = TmpPath("message");
  std::ofstream(message) << "hello";
  EXPECT_FALSE(RunCommand({"tpm2_sign", "-c", "0x81000031", "-p", "wrong", "-g",
                           "sha256", "-o", TmpPath("sig"), message},
                          {ToolsTcti()})
                   .ok());
  absl::StatusOr<TpmKey> key = TpmKey::Open(tpm_->Tcti(), 0x81000031);
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<Bytes> sig = key->Sign(AsBytes("hello"));
  ASSERT_FALSE(sig.ok());
  EXPECT_EQ(sig.status().code(), absl::StatusCode::kUnavailable) << sig.status();
  EXPECT_TRUE(absl::StrContains(sig.status().message(), "lockout")) << sig.status();
}

TEST_F(TpmKeyTest, OnlyTheHolderOfTheAuthorizationValueSigns) {
  absl::StatusOr<SecretBytes> auth = CreateTpmAuthFile(TmpPath("gateway.auth"));
  ASSERT_TRUE(auth.ok()) << auth.status();
  std::string pem;
  {
    bool created = false;
    absl::StatusOr<TpmKey> key =
        TpmKey::Enroll(tpm_->Tcti(), kTpmDefaultKeyHandle, *auth, &created);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_TRUE(created);
    pem = key->PublicKey().SpkiPem();
    absl::StatusOr<Bytes> sig = key->Sign(AsBytes("hello"));
    ASSERT_TRUE(sig.ok()) << sig.status();
    // After a reconnect (the gateway's path when the TPM comes back) the
    // value is still presented.
    absl::StatusOr<TpmKey> again = key->Reconnect();
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_TRUE(again->Sign(AsBytes("hello")).ok());
  }
  {
    // Another local TPM user: no value, or a guessed one.
    absl::StatusOr<TpmKey> stranger =
        TpmKey::Open(tpm_->Tcti(), kTpmDefaultKeyHandle);
    ASSERT_TRUE(stranger.ok()) << stranger.status();
    absl::StatusOr<Bytes> sig = stranger->Sign(AsBytes("hello"));
    ASSERT_FALSE(sig.ok());
    EXPECT_EQ(sig.status().code(), absl::StatusCode::kPermissionDenied)
        << sig.status();
    EXPECT_TRUE(
        absl::StrContains(sig.status().message(), "authorization value"))
        << sig.status();
    SecretBytes guess = SecretBytes::CopyFrom(AsBytes(std::string(32, 'x')));
    absl::StatusOr<TpmKey> guesser =
        TpmKey::Open(tpm_->Tcti(), kTpmDefaultKeyHandle, guess);
    ASSERT_TRUE(guesser.ok());
    EXPECT_EQ(guesser->Sign(AsBytes("hello")).status().code(),
              absl::StatusCode::kPermissionDenied);
    // Enrolling over it with another value is refused, not handed back.
    EXPECT_EQ(TpmKey::Enroll(tpm_->Tcti(), kTpmDefaultKeyHandle, guess)
                  .status()
                  .code(),
              absl::StatusCode::kPermissionDenied);
  }
  // noDA: guesses with tpm2-tools under the strictest lockout policy do
  // not lock the gateway out of its own key.
  ASSERT_TRUE(RunCommand({"tpm2_dictionarylockout", "-s", "-n", "1", "-t",
                          "1000", "-l", "1000"},
                         {ToolsTcti()})
                  .ok());
  std::string message = TmpPath("message");
  std::ofstream(message) << "hello";
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(RunCommand({"tpm2_sign", "-c", "0x81000010", "-p", "wrong",
                             "-g", "sha256", "-o", TmpPath("sig"), message},
                            {ToolsTcti()})
                     .ok());
  }
  absl::StatusOr<SecretBytes> reread = ReadTpmAuthFile(TmpPath("gateway.auth"));
  ASSERT_TRUE(reread.ok()) << reread.status();
  absl::StatusOr<TpmKey> gateway =
      TpmKey::Open(tpm_->Tcti(), kTpmDefaultKeyHandle, *reread);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  absl::StatusOr<Bytes> sig = gateway->Sign(AsBytes("hello"));
  ASSERT_TRUE(sig.ok()) << sig.status();
  absl::StatusOr<JwtPublicKey> public_key = JwtPublicKey::FromSpkiPem(pem);
  ASSERT_TRUE(public_key.ok());
}

TEST_F(TpmKeyTest, AuthorizationFilesMustBePrivateAndWhole) {
  std::string path = TmpPath("a.auth");
  ASSERT_TRUE(CreateTpmAuthFile(path).ok());
  // Never replaced: the key it belongs to would become unusable.
  EXPECT_FALSE(CreateTpmAuthFile(path).ok());
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  EXPECT_FALSE(ReadTpmAuthFile(path).ok());
  std::string short_path = TmpPath("short.auth");
  std::ofstream(short_path) << "0123456789";
  ASSERT_EQ(chmod(short_path.c_str(), 0600), 0);
  absl::StatusOr<SecretBytes> short_auth = ReadTpmAuthFile(short_path);
  ASSERT_FALSE(short_auth.ok());
  EXPECT_TRUE(
      absl::StrContains(short_auth.status().message(), "holds 10 bytes"))
      << short_auth.status();
}

}  // namespace
}  // namespace cxsec
