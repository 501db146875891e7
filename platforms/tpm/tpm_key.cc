// TpmKey on tpm2-tss SAPI; see tpm_key.h.
#include "platforms/tpm/tpm_key.h"

#include <tss2/tss2_sys.h>
#include <tss2/tss2_tctildr.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/crypto/p256_signature.h"
#include "core/status.h"

namespace cxsec {

namespace {

constexpr TSS2_RC kLayerMask = 0xFF0000;
constexpr int kMaxRetries = 20;
// An object's authValue is at most the digest size of its name algorithm.
constexpr size_t kMaxAuthValueBytes = 32;

// The TPM's own response codes (layer 0). Format-1 codes carry the
// parameter/handle/session number in bits 6 and 8-11; strip them.
TSS2_RC TpmBaseCode(TSS2_RC rc) {
  if ((rc & kLayerMask) != 0) return rc;
  if (rc & TPM2_RC_FMT1) return rc & (TPM2_RC_FMT1 | 0x3F);
  return rc & 0xFFF;
}

std::string DescribeRc(TSS2_RC rc) {
  TSS2_RC base = TpmBaseCode(rc);
  const char* name = "";
  switch (base) {
    case TPM2_RC_INITIALIZE:
      name = " (TPM_RC_INITIALIZE: TPM2_Startup not sent)";
      break;
    case TPM2_RC_FAILURE:
      name = " (TPM_RC_FAILURE: not initialised, or failure mode)";
      break;
    case TPM2_RC_LOCKOUT: name = " (TPM_RC_LOCKOUT: dictionary-attack lockout)"; break;
    case TPM2_RC_OBJECT_MEMORY: name = " (TPM_RC_OBJECT_MEMORY)"; break;
    case TPM2_RC_HANDLE: name = " (TPM_RC_HANDLE)"; break;
    case TPM2_RC_AUTH_FAIL: name = " (TPM_RC_AUTH_FAIL)"; break;
    case TPM2_RC_BAD_AUTH:
      name = " (TPM_RC_BAD_AUTH)";
      break;
    case TPM2_RC_NV_SPACE: name = " (TPM_RC_NV_SPACE)"; break;
    case TPM2_RC_KEY: name = " (TPM_RC_KEY)"; break;
    case TPM2_RC_SCHEME: name = " (TPM_RC_SCHEME)"; break;
    case TPM2_RC_ATTRIBUTES: name = " (TPM_RC_ATTRIBUTES)"; break;
    default: break;
  }
  return absl::StrFormat("0x%x%s", rc, name);
}

bool IsTransient(TSS2_RC rc) {
  TSS2_RC base = TpmBaseCode(rc);
  return base == TPM2_RC_RETRY || base == TPM2_RC_YIELDED ||
         base == TPM2_RC_TESTING;
}

absl::Status TpmError(absl::string_view what, TSS2_RC rc) {
  TSS2_RC base = TpmBaseCode(rc);
  if (base == TPM2_RC_LOCKOUT) {
    return absl::UnavailableError(absl::StrCat(
        what, ": the TPM is in dictionary-attack lockout; wait for the "
              "lockout interval or clear it with the lockout authorization (",
        DescribeRc(rc), ")"));
  }
  if ((rc & kLayerMask) == TSS2_TCTI_RC_LAYER) {
    return absl::UnavailableError(
        absl::StrCat(what, ": lost the TPM connection (", DescribeRc(rc), ")"));
  }
  return absl::InternalError(absl::StrCat(what, " failed: ", DescribeRc(rc)));
}

// PasswordAuth is a password session (TPM2_RS_PW) presenting `value`.
// The value crosses the TCTI in clear: to the kernel's resource manager on
// a gateway, a local channel. The caller wipes the result.
TSS2L_SYS_AUTH_COMMAND PasswordAuth(ByteView value = ByteView()) {
  TSS2L_SYS_AUTH_COMMAND auth;
  std::memset(&auth, 0, sizeof(auth));
  auth.count = 1;
  auth.auths[0].sessionHandle = TPM2_RS_PW;
  auth.auths[0].hmac.size = static_cast<uint16_t>(value.size());
  if (!value.empty()) {
    std::memcpy(auth.auths[0].hmac.buffer, value.data(), value.size());
  }
  return auth;
}

bool IsAuthFailure(TSS2_RC rc) {
  TSS2_RC base = TpmBaseCode(rc);
  return base == TPM2_RC_AUTH_FAIL || base == TPM2_RC_BAD_AUTH;
}

// The TCG "SRK" template for ECC P-256 (TCG TPM v2.0 Provisioning
// Guidance): a restricted AES-128-CFB storage key with zero-filled unique
// fields, so every enrolment derives the same primary.
TPM2B_PUBLIC StoragePrimaryTemplate() {
  TPM2B_PUBLIC in;
  std::memset(&in, 0, sizeof(in));
  TPMT_PUBLIC& p = in.publicArea;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                       TPMA_OBJECT_SENSITIVEDATAORIGIN |
                       TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
                       TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  p.parameters.eccDetail.symmetric.keyBits.aes = 128;
  p.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  p.unique.ecc.x.size = 32;
  p.unique.ecc.y.size = 32;
  return in;
}

// A non-restricted P-256 key that signs only ECDSA with SHA-256.
TPM2B_PUBLIC SigningKeyTemplate() {
  TPM2B_PUBLIC in;
  std::memset(&in, 0, sizeof(in));
  TPMT_PUBLIC& p = in.publicArea;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                       TPMA_OBJECT_SENSITIVEDATAORIGIN |
                       TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
                       TPMA_OBJECT_SIGN_ENCRYPT;
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
  p.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  return in;
}

void LeftPad32(const TPM2B_ECC_PARAMETER& value, uint8_t* out) {
  std::memset(out, 0, 32);
  std::memcpy(out + 32 - value.size, value.buffer, value.size);
}

}  // namespace

class TpmConnection {
 public:
  static absl::StatusOr<std::unique_ptr<TpmConnection>> Open(
      absl::string_view tcti) {
    if (!(absl::StartsWith(tcti, "swtpm:") ||
          absl::StartsWith(tcti, "device:") ||
          absl::StartsWith(tcti, "mssim:"))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "TCTI '", tcti,
          "' is not supported; use 'device:/dev/tpmrm0' or "
          "'swtpm:host=127.0.0.1,port=2321'"));
    }
    auto connection = std::unique_ptr<TpmConnection>(new TpmConnection());
    std::string config(tcti);
    TSS2_RC rc = Tss2_TctiLdr_Initialize(config.c_str(), &connection->tcti_);
    if (rc != TSS2_RC_SUCCESS) {
      return absl::UnavailableError(absl::StrCat(
          "no TPM reachable through TCTI '", tcti, "' (", DescribeRc(rc),
          "); is the TPM present / swtpm running?"));
    }
    size_t size = Tss2_Sys_GetContextSize(0);
    connection->sys_ = static_cast<TSS2_SYS_CONTEXT*>(std::calloc(1, size));
    if (connection->sys_ == nullptr) return absl::ResourceExhaustedError("calloc");
    TSS2_ABI_VERSION abi = TSS2_ABI_VERSION_CURRENT;
    rc = Tss2_Sys_Initialize(connection->sys_, size, connection->tcti_, &abi);
    if (rc != TSS2_RC_SUCCESS) {
      std::free(connection->sys_);
      connection->sys_ = nullptr;
      return TpmError("Tss2_Sys_Initialize", rc);
    }
    // Probe: a TCTI may open without a TPM answering behind it.
    TPM2B_DIGEST random;
    std::memset(&random, 0, sizeof(random));
    rc = Tss2_Sys_GetRandom(connection->sys_, nullptr, 8, &random, nullptr);
    if (rc != TSS2_RC_SUCCESS) {
      if (TpmBaseCode(rc) == TPM2_RC_INITIALIZE) {
        rc = Tss2_Sys_Startup(connection->sys_, TPM2_SU_CLEAR);
        if (rc == TSS2_RC_SUCCESS) return connection;
      }
      TSS2_RC base = TpmBaseCode(rc);
      if (base == TPM2_RC_INITIALIZE || base == TPM2_RC_FAILURE) {
        // swtpm started without `--flags not-need-init` answers every
        // command with TPM_RC_FAILURE until its control channel sends the
        // init (the power-on of a real TPM): the usual first-run mistake.
        return absl::UnavailableError(absl::StrCat(
            "the TPM behind TCTI '", tcti, "' is not initialised (",
            DescribeRc(rc),
            "). swtpm: start it with `swtpm socket --tpm2 ... --flags "
            "not-need-init,startup-clear`, or send the init on its control "
            "port (by default the TPM port + 1): `swtpm_ioctl --tcp "
            "127.0.0.1:<ctrl port> -i`. A hardware TPM answering this is in "
            "failure mode: reboot the machine (docs/IDENTITY_AND_JWT.md, "
            "Running swtpm)"));
      }
      return absl::UnavailableError(absl::StrCat(
          "no TPM answering through TCTI '", tcti, "' (", DescribeRc(rc), ")"));
    }
    return connection;
  }

  ~TpmConnection() {
    if (sys_ != nullptr) {
      Tss2_Sys_Finalize(sys_);
      std::free(sys_);
    }
    if (tcti_ != nullptr) Tss2_TctiLdr_Finalize(&tcti_);
  }

  TSS2_SYS_CONTEXT* sys() { return sys_; }

  // Flush releases a transient object; failures are ignored because they
  // only happen when the object is already gone.
  void Flush(TPM2_HANDLE handle) { (void)Tss2_Sys_FlushContext(sys_, handle); }

  // ReadPublic distinguishes "nothing there" (NOT_FOUND) from errors.
  absl::StatusOr<TPM2B_PUBLIC> ReadPublic(uint32_t handle) {
    TPM2B_PUBLIC out;
    TPM2B_NAME name;
    TPM2B_NAME qualified;
    std::memset(&out, 0, sizeof(out));
    std::memset(&name, 0, sizeof(name));
    std::memset(&qualified, 0, sizeof(qualified));
    TSS2_RC rc = Tss2_Sys_ReadPublic(sys_, handle, nullptr, &out, &name,
                                     &qualified, nullptr);
    if (rc == TSS2_RC_SUCCESS) return out;
    if (TpmBaseCode(rc) == TPM2_RC_HANDLE) {
      return absl::NotFoundError(absl::StrFormat(
          "TPM handle 0x%08x is empty; run 'cxsec tpm enroll' first", handle));
    }
    return TpmError(absl::StrFormat("TPM2_ReadPublic(0x%08x)", handle), rc);
  }

 private:
  TpmConnection() = default;
  TSS2_TCTI_CONTEXT* tcti_ = nullptr;
  TSS2_SYS_CONTEXT* sys_ = nullptr;
};

namespace {

absl::StatusOr<JwtPublicKey> SigningPublicKey(const TPM2B_PUBLIC& pub,
                                              uint32_t handle) {
  const TPMT_PUBLIC& p = pub.publicArea;
  auto wrong = [&](absl::string_view why) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "TPM object at 0x%08x is not a P-256 ECDSA signing key: %s", handle,
        why));
  };
  if (p.type != TPM2_ALG_ECC) return wrong("not an ECC key");
  if (p.parameters.eccDetail.curveID != TPM2_ECC_NIST_P256) {
    return wrong("curve is not NIST P-256");
  }
  if ((p.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) == 0) {
    return wrong("sign attribute not set");
  }
  if ((p.objectAttributes & TPMA_OBJECT_RESTRICTED) != 0) {
    return wrong("restricted key (cannot sign external data)");
  }
  TPM2_ALG_ID scheme = p.parameters.eccDetail.scheme.scheme;
  if (scheme != TPM2_ALG_NULL &&
      !(scheme == TPM2_ALG_ECDSA &&
        p.parameters.eccDetail.scheme.details.ecdsa.hashAlg == TPM2_ALG_SHA256)) {
    return wrong("scheme is not ECDSA with SHA-256");
  }
  const TPM2B_ECC_PARAMETER& x = p.unique.ecc.x;
  const TPM2B_ECC_PARAMETER& y = p.unique.ecc.y;
  if (x.size > 32 || y.size > 32) return wrong("coordinates too long");
  uint8_t xb[32];
  uint8_t yb[32];
  LeftPad32(x, xb);
  LeftPad32(y, yb);
  return JwtPublicKey::FromP256Coordinates(ByteView(xb, 32), ByteView(yb, 32));
}

absl::Status CheckHandleRange(uint32_t handle) {
  if (handle < kTpmOwnerPersistentFirst || handle > kTpmOwnerPersistentLast) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "TPM handle 0x%08x is outside the owner persistent range "
        "0x81000000-0x817fffff",
        handle));
  }
  return absl::OkStatus();
}

}  // namespace

TpmKey::TpmKey(std::unique_ptr<TpmConnection> connection, std::string tcti,
               uint32_t handle, SecretBytes auth,
               std::shared_ptr<const JwtPublicKey> public_key)
    : connection_(std::move(connection)),
      tcti_(std::move(tcti)),
      auth_(std::move(auth)),
      mutex_(std::make_unique<absl::Mutex>()),
      handle_(handle),
      public_key_(std::move(public_key)) {}
TpmKey::TpmKey(TpmKey&&) noexcept = default;
TpmKey& TpmKey::operator=(TpmKey&&) noexcept = default;
TpmKey::~TpmKey() = default;

absl::StatusOr<uint32_t> TpmKey::ParseHandle(absl::string_view text) {
  uint32_t value = 0;
  bool ok = absl::StartsWithIgnoreCase(text, "0x")
                ? absl::SimpleHexAtoi(text.substr(2), &value)
                : absl::SimpleAtoi(text, &value);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a TPM handle (e.g. 0x81000010)"));
  }
  CXSEC_RETURN_IF_ERROR(CheckHandleRange(value));
  return value;
}

absl::StatusOr<TpmKey> TpmKey::Open(absl::string_view tcti, uint32_t handle,
                                    const SecretBytes& auth) {
  CXSEC_RETURN_IF_ERROR(CheckHandleRange(handle));
  if (auth.size() > kMaxAuthValueBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TPM authorization value of ", auth.size(), " bytes; at most ",
        kMaxAuthValueBytes, " (SHA-256 name algorithm)"));
  }
  CXSEC_ASSIGN_OR_RETURN(std::unique_ptr<TpmConnection> connection,
                         TpmConnection::Open(tcti));
  CXSEC_ASSIGN_OR_RETURN(TPM2B_PUBLIC pub, connection->ReadPublic(handle));
  CXSEC_ASSIGN_OR_RETURN(JwtPublicKey key, SigningPublicKey(pub, handle));
  return TpmKey(std::move(connection), std::string(tcti), handle, auth.Clone(),
                std::make_shared<const JwtPublicKey>(std::move(key)));
}

absl::StatusOr<TpmKey> TpmKey::Reconnect() const {
  return Open(tcti_, handle_, auth_);
}

absl::StatusOr<TpmKey> TpmKey::Enroll(absl::string_view tcti, uint32_t handle,
                                      const SecretBytes& auth_value,
                                      bool* created) {
  if (created != nullptr) *created = false;
  CXSEC_RETURN_IF_ERROR(CheckHandleRange(handle));
  if (auth_value.size() > kMaxAuthValueBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TPM authorization value of ", auth_value.size(), " bytes; at most ",
        kMaxAuthValueBytes, " (SHA-256 name algorithm)"));
  }
  CXSEC_ASSIGN_OR_RETURN(std::unique_ptr<TpmConnection> connection,
                         TpmConnection::Open(tcti));
  absl::StatusOr<TPM2B_PUBLIC> existing = connection->ReadPublic(handle);
  if (existing.ok()) {
    CXSEC_ASSIGN_OR_RETURN(JwtPublicKey key, SigningPublicKey(*existing, handle));
    TpmKey reused(std::move(connection), std::string(tcti), handle,
                  auth_value.Clone(),
                  std::make_shared<const JwtPublicKey>(std::move(key)));
    // Reusing a key whose value is not `auth_value` would hand back a key
    // that fails at its first real signature: find out now.
    absl::StatusOr<Bytes> probe = reused.SignDigest(Sha256Digest{});
    if (!probe.ok()) {
      return absl::Status(
          probe.status().code(),
          absl::StrFormat("0x%08x already holds a signing key, but %s; evict "
                          "it (tpm2_evictcontrol) to enrol a new one",
                          handle, probe.status().message()));
    }
    return reused;
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();

  TSS2_SYS_CONTEXT* sys = connection->sys();
  TSS2L_SYS_AUTH_COMMAND auth = PasswordAuth();
  TSS2L_SYS_AUTH_RESPONSE response;
  std::memset(&response, 0, sizeof(response));
  TPM2B_SENSITIVE_CREATE sensitive;
  std::memset(&sensitive, 0, sizeof(sensitive));
  absl::Cleanup wipe_sensitive = [&] {
    SecureZero(&sensitive, sizeof(sensitive));
  };
  {
    ByteView value = auth_value.Reveal(SecretAccess::Grant());
    sensitive.sensitive.userAuth.size = static_cast<uint16_t>(value.size());
    if (!value.empty()) {
      std::memcpy(sensitive.sensitive.userAuth.buffer, value.data(),
                  value.size());
    }
  }
  TPM2B_DATA outside;
  std::memset(&outside, 0, sizeof(outside));
  TPML_PCR_SELECTION pcrs;
  std::memset(&pcrs, 0, sizeof(pcrs));
  TPM2B_CREATION_DATA creation_data;
  TPM2B_DIGEST creation_hash;
  TPMT_TK_CREATION creation_ticket;
  TPM2B_NAME name;

  // 1. The storage primary (transient), with an empty authValue: the
  // standard SRK that other software expects to find.
  TPM2B_SENSITIVE_CREATE primary_sensitive;
  std::memset(&primary_sensitive, 0, sizeof(primary_sensitive));
  TPM2B_PUBLIC primary_template = StoragePrimaryTemplate();
  TPM2B_PUBLIC primary_public;
  std::memset(&primary_public, 0, sizeof(primary_public));
  std::memset(&creation_data, 0, sizeof(creation_data));
  std::memset(&creation_hash, 0, sizeof(creation_hash));
  std::memset(&creation_ticket, 0, sizeof(creation_ticket));
  std::memset(&name, 0, sizeof(name));
  TPM2_HANDLE primary = 0;
  TSS2_RC rc = Tss2_Sys_CreatePrimary(
      sys, TPM2_RH_OWNER, &auth, &primary_sensitive, &primary_template,
      &outside, &pcrs, &primary, &primary_public, &creation_data,
      &creation_hash, &creation_ticket, &name, &response);
  if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_CreatePrimary(owner)", rc);
  absl::Cleanup flush_primary = [&] { connection->Flush(primary); };

  // 2. The signing key under it.
  TPM2B_PUBLIC key_template = SigningKeyTemplate();
  TPM2B_PRIVATE key_private;
  TPM2B_PUBLIC key_public;
  std::memset(&key_private, 0, sizeof(key_private));
  std::memset(&key_public, 0, sizeof(key_public));
  std::memset(&creation_data, 0, sizeof(creation_data));
  std::memset(&creation_hash, 0, sizeof(creation_hash));
  std::memset(&creation_ticket, 0, sizeof(creation_ticket));
  rc = Tss2_Sys_Create(sys, primary, &auth, &sensitive, &key_template,
                       &outside, &pcrs, &key_private, &key_public,
                       &creation_data, &creation_hash, &creation_ticket,
                       &response);
  if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_Create(signing key)", rc);

  // 3. Load it (transient) and make it persistent.
  TPM2_HANDLE loaded = 0;
  std::memset(&name, 0, sizeof(name));
  rc = Tss2_Sys_Load(sys, primary, &auth, &key_private, &key_public, &loaded,
                     &name, &response);
  if (rc != TSS2_RC_SUCCESS) return TpmError("TPM2_Load(signing key)", rc);
  absl::Cleanup flush_loaded = [&] { connection->Flush(loaded); };
  rc = Tss2_Sys_EvictControl(sys, TPM2_RH_OWNER, loaded, &auth, handle,
                             &response);
  if (rc != TSS2_RC_SUCCESS) {
    return TpmError(absl::StrFormat("TPM2_EvictControl(-> 0x%08x)", handle), rc);
  }
  std::move(flush_loaded).Invoke();
  std::move(flush_primary).Invoke();

  CXSEC_ASSIGN_OR_RETURN(TPM2B_PUBLIC pub, connection->ReadPublic(handle));
  CXSEC_ASSIGN_OR_RETURN(JwtPublicKey key, SigningPublicKey(pub, handle));
  if (created != nullptr) *created = true;
  return TpmKey(std::move(connection), std::string(tcti), handle,
                auth_value.Clone(),
                std::make_shared<const JwtPublicKey>(std::move(key)));
}

absl::Status TpmKey::Evict(absl::string_view tcti, uint32_t handle) {
  CXSEC_RETURN_IF_ERROR(CheckHandleRange(handle));
  CXSEC_ASSIGN_OR_RETURN(std::unique_ptr<TpmConnection> connection,
                         TpmConnection::Open(tcti));
  CXSEC_RETURN_IF_ERROR(connection->ReadPublic(handle).status());
  TSS2L_SYS_AUTH_COMMAND auth = PasswordAuth();
  TSS2_RC rc = Tss2_Sys_EvictControl(connection->sys(), TPM2_RH_OWNER, handle,
                                     &auth, handle, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    return TpmError(absl::StrFormat("TPM2_EvictControl(0x%08x)", handle), rc);
  }
  return absl::OkStatus();
}

absl::StatusOr<Bytes> TpmKey::SignDigest(const Sha256Digest& digest) {
  absl::MutexLock lock(mutex_.get());
  TSS2L_SYS_AUTH_COMMAND auth =
      PasswordAuth(auth_.Reveal(SecretAccess::Grant()));
  absl::Cleanup wipe_auth = [&] { SecureZero(&auth, sizeof(auth)); };
  TSS2L_SYS_AUTH_RESPONSE response;
  TPM2B_DIGEST in;
  std::memset(&in, 0, sizeof(in));
  in.size = static_cast<uint16_t>(digest.size());
  std::memcpy(in.buffer, digest.data(), digest.size());
  TPMT_SIG_SCHEME scheme;
  std::memset(&scheme, 0, sizeof(scheme));
  scheme.scheme = TPM2_ALG_ECDSA;
  scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  TPMT_TK_HASHCHECK validation;
  std::memset(&validation, 0, sizeof(validation));
  validation.tag = TPM2_ST_HASHCHECK;
  validation.hierarchy = TPM2_RH_NULL;
  TPMT_SIGNATURE signature;
  TSS2_RC rc = TSS2_RC_SUCCESS;
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    std::memset(&signature, 0, sizeof(signature));
    std::memset(&response, 0, sizeof(response));
    rc = Tss2_Sys_Sign(connection_->sys(), handle_, &auth, &in, &scheme,
                       &validation, &signature, &response);
    if (!IsTransient(rc)) break;
  }
  if (rc != TSS2_RC_SUCCESS) {
    if (TpmBaseCode(rc) == TPM2_RC_HANDLE) {
      return absl::NotFoundError(absl::StrFormat(
          "TPM handle 0x%08x is empty (key evicted?)", handle_));
    }
    if (IsAuthFailure(rc)) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "TPM2_Sign(0x%08x): the key refused the authorization value (%s); "
          "use the file `cxsec tpm enroll --auth-file` wrote for this key",
          handle_, DescribeRc(rc)));
    }
    return TpmError(absl::StrFormat("TPM2_Sign(0x%08x)", handle_), rc);
  }
  if (signature.sigAlg != TPM2_ALG_ECDSA ||
      signature.signature.ecdsa.signatureR.size > 32 ||
      signature.signature.ecdsa.signatureS.size > 32) {
    return absl::InternalError("TPM2_Sign returned an unexpected signature");
  }
  Bytes out(64);
  LeftPad32(signature.signature.ecdsa.signatureR, out.data());
  LeftPad32(signature.signature.ecdsa.signatureS, out.data() + 32);
  // A TPM signs with either s or n - s; verifiers accept only the low one.
  NormalizeP256SignatureToLowS(out.data());
  return out;
}

}  // namespace cxsec
