// cxsec's Mbed TLS 2.28 configuration for nodes (MBEDTLS_CONFIG_FILE).
// It replaces Mbed TLS's default config.h entirely: only what a node needs
// is compiled, and nothing that needs an OS.
//
// Enabled: AES-128 (tables in flash, ECB and CTR), CMAC and CCM (Mioty
// frames, DTLS CCM_8 suites), SHA-256 and HMAC/HKDF (key derivation),
// ECDSA on P-256 (firmware signature verification; signing compiles too
// and is dropped by --gc-sections unless used).
// Not enabled: file system, sockets, time (no time.h), threading, the
// standard library's malloc. Mbed TLS's bignum and ECP code allocate, so
// its calloc/free come from MBEDTLS_MEMORY_BUFFER_ALLOC_C over a static
// buffer the firmware hands to mbedtls_memory_buffer_alloc_init(); until
// then every Mbed TLS allocation fails cleanly (returns NULL).
// The DTLS 1.2 client (ssl_cli, ssl_tls, ssl_msg, ssl_ciphersuites: PSK
// key exchange, TLS_PSK_WITH_AES_128_CCM_8 only) is compiled by the
// separate @mbedtls//:mbedtls_dtls_client library, which only the DTLS
// node (targets/node/dtls) links; its options below change no code the
// other images use.
//
// Built for the Cortex-M3 by //platforms/cortex_m and, unchanged, for the
// host by host tests of the same known answers.
#ifndef CXSEC_PLATFORMS_CORTEX_M_MBEDTLS_CXSEC_MBEDTLS_CONFIG_H_
#define CXSEC_PLATFORMS_CORTEX_M_MBEDTLS_CXSEC_MBEDTLS_CONFIG_H_

// System support: inline assembly for bignum multiplication (Thumb-2 on
// the M3, x86-64 on the host); no OS entropy, no time, no stdlib calls.
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
// The allocator calls mbedtls_exit() when it finds its heap corrupted.
// newlib's exit() would drag in stdio and atexit; a trap instead stops
// the device through its fault handler (and aborts a host test).
#define MBEDTLS_PLATFORM_EXIT_MACRO(status) __builtin_trap()
// Mbed TLS aligns its blocks to 4 bytes by default, but a block header
// holds size_t and pointers: 8-byte aligned on the host (UBSan reports a
// misaligned access), and 8 is what AAPCS gives 64-bit values on the M3.
#define MBEDTLS_MEMORY_ALIGN_MULTIPLE 8

// Symmetric crypto: AES with its tables in flash (const) and the smaller
// table set (2 KiB instead of 8 KiB). CTR for the Mioty frame codec.
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES
#define MBEDTLS_CIPHER_MODE_CTR
#define MBEDTLS_CIPHER_C
#define MBEDTLS_CMAC_C
#define MBEDTLS_CCM_C

// Hashes and key derivation. SHA256_SMALLER trades speed for ~1 KiB flash.
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_HKDF_C

// ECDSA on P-256 only. A window of 2 and no fixed-point tables keep the
// RAM for a verify small, at some speed cost.
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_MPI_MAX_SIZE 32
#define MBEDTLS_ECP_MAX_BITS 256
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0
// ECP blinds scalar multiplications with an internal HMAC_DRBG when the
// caller passes no RNG (check_config.h insists on a DRBG module); it is
// also what deterministic ECDSA signing would use.
#define MBEDTLS_HMAC_DRBG_C

// The DTLS 1.2 client of the DTLS node (targets/node/dtls): PSK only, one
// cipher suite (RFC 7925's mandatory TLS_PSK_WITH_AES_128_CCM_8, the one
// the gateway's GnuTLS offers), records of at most 1 KiB each way (a CoAP
// reading is well under 100 bytes; PSK handshake messages are small), no
// renegotiation, no session tickets, no certificates; the extended master
// secret (RFC 7627) is offered. Timers and the
// transport come from the firmware (mbedtls_ssl_set_timer_cb/set_bio).
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_DTLS
#define MBEDTLS_SSL_DTLS_ANTI_REPLAY
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#define MBEDTLS_SSL_CIPHERSUITES MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8
#define MBEDTLS_SSL_IN_CONTENT_LEN 1024
#define MBEDTLS_SSL_OUT_CONTENT_LEN 1024
#define MBEDTLS_SSL_MAX_CONTENT_LEN 1024
#define MBEDTLS_PSK_MAX_LEN 16

#include "mbedtls/check_config.h"

#endif  // CXSEC_PLATFORMS_CORTEX_M_MBEDTLS_CXSEC_MBEDTLS_CONFIG_H_
