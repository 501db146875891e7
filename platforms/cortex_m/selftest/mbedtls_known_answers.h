// Known-answer tests for the Mbed TLS build a node runs: each computes one
// published test vector with the node's Mbed TLS configuration and compares
// it with the published answer. The same header runs on the Cortex-M3
// (selftest_main.cc, booted in QEMU) and on the host (a unit test), so a
// wrong configuration or a miscompiled module shows up on both.
//
// Vectors, all from their standards (and cross-checked with Python's
// `cryptography` when this file was written):
//   SHA-256("abc")                         FIPS 180-2, appendix B.1
//   AES-128 encrypt of one block           FIPS 197, appendix C.1
//   AES-CMAC, 16-byte message              RFC 4493, example 2
//   AES-CCM, 8-byte tag                    RFC 3610, packet vector #1
//   HKDF-SHA-256                           RFC 5869, test case 1
//   ECDSA P-256 / SHA-256 verify of "sample"
//                                          RFC 6979, appendix A.2.5
// plus one negative: the ECDSA signature must not verify a changed message.
//
// Heap-free in this file; ECDSA's bignums come from Mbed TLS's allocator,
// so the caller first gives it a buffer (mbedtls_memory_buffer_alloc_init).
#ifndef CXSEC_PLATFORMS_CORTEX_M_SELFTEST_MBEDTLS_KNOWN_ANSWERS_H_
#define CXSEC_PLATFORMS_CORTEX_M_SELFTEST_MBEDTLS_KNOWN_ANSWERS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "mbedtls/aes.h"
#include "mbedtls/ccm.h"
#include "mbedtls/cipher.h"
#include "mbedtls/cmac.h"
#include "mbedtls/ecdsa.h"
#include "mbedtls/ecp.h"
#include "mbedtls/hkdf.h"
#include "mbedtls/md.h"
#include "mbedtls/sha256.h"

namespace cxsec::selftest {

// KnownAnswerOutcome: what one known-answer test found.
enum class KnownAnswerOutcome : uint8_t {
  kMatch = 0,     // computed the published answer
  kMismatch = 1,  // computed something else
  kError = 2,     // Mbed TLS returned an error (see mbedtls_error)
};

// KnownAnswerResult: the outcome of the test `name`.
struct KnownAnswerResult {
  const char* name;
  KnownAnswerOutcome outcome;
  int mbedtls_error;  // 0 unless outcome == kError

  bool passed() const { return outcome == KnownAnswerOutcome::kMatch; }
};

namespace internal {

template <size_t N>
constexpr std::array<uint8_t, N / 2> Hex(const char (&text)[N]) {
  static_assert(N % 2 == 1, "hex text must have an even number of digits");
  auto nibble = [](char c) -> uint8_t {
    return static_cast<uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  };
  std::array<uint8_t, N / 2> bytes{};
  for (size_t i = 0; i < N / 2; ++i) {
    bytes[i] = static_cast<uint8_t>(nibble(text[2 * i]) << 4 |
                                    nibble(text[2 * i + 1]));
  }
  return bytes;
}

// Compares without early exit: not secret here, but it is the habit.
inline bool SameBytes(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  uint8_t difference = 0;
  for (size_t i = 0; i < a.size(); ++i)
    difference |= static_cast<uint8_t>(a[i] ^ b[i]);
  return difference == 0;
}

inline KnownAnswerResult Compare(const char* name, int error,
                                 std::span<const uint8_t> computed,
                                 std::span<const uint8_t> expected) {
  if (error != 0) return {name, KnownAnswerOutcome::kError, error};
  return {name,
          SameBytes(computed, expected) ? KnownAnswerOutcome::kMatch
                                        : KnownAnswerOutcome::kMismatch,
          0};
}

}  // namespace internal

// Sha256Abc: SHA-256 of "abc".
inline KnownAnswerResult Sha256Abc() {
  constexpr auto kExpected = internal::Hex(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const uint8_t message[] = {'a', 'b', 'c'};
  std::array<uint8_t, 32> digest{};
  const int error =
      mbedtls_sha256_ret(message, sizeof(message), digest.data(), /*is224=*/0);
  return internal::Compare("sha256_fips180_abc", error, digest, kExpected);
}

// Aes128Block: one AES-128 block encryption.
inline KnownAnswerResult Aes128Block() {
  constexpr auto kKey = internal::Hex("000102030405060708090a0b0c0d0e0f");
  constexpr auto kPlaintext = internal::Hex("00112233445566778899aabbccddeeff");
  constexpr auto kExpected = internal::Hex("69c4e0d86a7b0430d8cdb78070b4c55a");
  std::array<uint8_t, 16> ciphertext{};
  mbedtls_aes_context aes;
  mbedtls_aes_init(&aes);
  int error = mbedtls_aes_setkey_enc(&aes, kKey.data(), 128);
  if (error == 0)
    error = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, kPlaintext.data(),
                                  ciphertext.data());
  mbedtls_aes_free(&aes);
  return internal::Compare("aes128_fips197_c1", error, ciphertext, kExpected);
}

// AesCmac: AES-128-CMAC of one block.
inline KnownAnswerResult AesCmac() {
  constexpr auto kKey = internal::Hex("2b7e151628aed2a6abf7158809cf4f3c");
  constexpr auto kMessage = internal::Hex("6bc1bee22e409f96e93d7e117393172a");
  constexpr auto kExpected = internal::Hex("070a16b46b4d4144f79bdd9dd04a287c");
  std::array<uint8_t, 16> tag{};
  const int error = mbedtls_cipher_cmac(
      mbedtls_cipher_info_from_type(MBEDTLS_CIPHER_AES_128_ECB), kKey.data(),
      128, kMessage.data(), kMessage.size(), tag.data());
  return internal::Compare("aes_cmac_rfc4493_ex2", error, tag, kExpected);
}

// AesCcm: AES-128-CCM encryption with an 8-byte tag.
inline KnownAnswerResult AesCcm() {
  constexpr auto kKey = internal::Hex("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf");
  constexpr auto kNonce = internal::Hex("00000003020100a0a1a2a3a4a5");
  constexpr auto kAad = internal::Hex("0001020304050607");
  constexpr auto kPlaintext =
      internal::Hex("08090a0b0c0d0e0f101112131415161718191a1b1c1d1e");
  constexpr auto kExpected = internal::Hex(
      "588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0");
  std::array<uint8_t, kPlaintext.size() + 8> output{};
  mbedtls_ccm_context ccm;
  mbedtls_ccm_init(&ccm);
  int error = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, kKey.data(), 128);
  if (error == 0) {
    error = mbedtls_ccm_encrypt_and_tag(&ccm, kPlaintext.size(), kNonce.data(),
                                        kNonce.size(), kAad.data(), kAad.size(),
                                        kPlaintext.data(), output.data(),
                                        output.data() + kPlaintext.size(), 8);
  }
  mbedtls_ccm_free(&ccm);
  return internal::Compare("aes_ccm_rfc3610_pv1", error, output, kExpected);
}

// HkdfSha256: HKDF-SHA-256 extract and expand to 42 bytes.
inline KnownAnswerResult HkdfSha256() {
  std::array<uint8_t, 22> ikm{};
  ikm.fill(0x0b);
  constexpr auto kSalt = internal::Hex("000102030405060708090a0b0c");
  constexpr auto kInfo = internal::Hex("f0f1f2f3f4f5f6f7f8f9");
  constexpr auto kExpected = internal::Hex(
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208"
      "d5b887185865");
  std::array<uint8_t, 42> okm{};
  const int error =
      mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), kSalt.data(),
                   kSalt.size(), ikm.data(), ikm.size(), kInfo.data(),
                   kInfo.size(), okm.data(), okm.size());
  return internal::Compare("hkdf_sha256_rfc5869_tc1", error, okm, kExpected);
}

namespace internal {

// The RFC 6979 A.2.5 key and its SHA-256 signature of "sample".
inline int EcdsaP256VerifySample(std::span<const uint8_t> message) {
  constexpr auto kPublicKey =
      Hex("04"
          "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
          "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299");
  constexpr auto kR =
      Hex("efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716");
  constexpr auto kS =
      Hex("f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8");
  std::array<uint8_t, 32> hash{};
  mbedtls_ecp_group group;
  mbedtls_ecp_point public_key;
  mbedtls_mpi r;
  mbedtls_mpi s;
  mbedtls_ecp_group_init(&group);
  mbedtls_ecp_point_init(&public_key);
  mbedtls_mpi_init(&r);
  mbedtls_mpi_init(&s);
  int error =
      mbedtls_sha256_ret(message.data(), message.size(), hash.data(), 0);
  if (error == 0)
    error = mbedtls_ecp_group_load(&group, MBEDTLS_ECP_DP_SECP256R1);
  if (error == 0)
    error = mbedtls_ecp_point_read_binary(&group, &public_key,
                                          kPublicKey.data(), kPublicKey.size());
  if (error == 0) error = mbedtls_mpi_read_binary(&r, kR.data(), kR.size());
  if (error == 0) error = mbedtls_mpi_read_binary(&s, kS.data(), kS.size());
  if (error == 0)
    error = mbedtls_ecdsa_verify(&group, hash.data(), hash.size(), &public_key,
                                 &r, &s);
  mbedtls_mpi_free(&s);
  mbedtls_mpi_free(&r);
  mbedtls_ecp_point_free(&public_key);
  mbedtls_ecp_group_free(&group);
  return error;
}

}  // namespace internal

// EcdsaP256Verify: the published signature verifies.
inline KnownAnswerResult EcdsaP256Verify() {
  const uint8_t message[] = {'s', 'a', 'm', 'p', 'l', 'e'};
  const int error = internal::EcdsaP256VerifySample(message);
  if (error == MBEDTLS_ERR_ECP_VERIFY_FAILED)
    return {"ecdsa_p256_rfc6979_a25_verify", KnownAnswerOutcome::kMismatch, 0};
  return {"ecdsa_p256_rfc6979_a25_verify",
          error == 0 ? KnownAnswerOutcome::kMatch : KnownAnswerOutcome::kError,
          error};
}

// EcdsaP256RejectsChangedMessage: the same signature fails on "Sample".
inline KnownAnswerResult EcdsaP256RejectsChangedMessage() {
  const uint8_t message[] = {'S', 'a', 'm', 'p', 'l', 'e'};
  const int error = internal::EcdsaP256VerifySample(message);
  if (error == MBEDTLS_ERR_ECP_VERIFY_FAILED)
    return {"ecdsa_p256_rejects_changed_message", KnownAnswerOutcome::kMatch,
            0};
  if (error == 0)
    return {"ecdsa_p256_rejects_changed_message", KnownAnswerOutcome::kMismatch,
            0};
  return {"ecdsa_p256_rejects_changed_message", KnownAnswerOutcome::kError,
          error};
}

// The tests in the order the self-test runs them.
inline constexpr KnownAnswerResult (*kAllKnownAnswerTests[])() = {
    Sha256Abc,
    Aes128Block,
    AesCmac,
    AesCcm,
    HkdfSha256,
    EcdsaP256Verify,
    EcdsaP256RejectsChangedMessage,
};

}  // namespace cxsec::selftest

#endif  // CXSEC_PLATFORMS_CORTEX_M_SELFTEST_MBEDTLS_KNOWN_ANSWERS_H_
