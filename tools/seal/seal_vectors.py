#!/usr/bin/env python3
"""Known-answer vectors for sealed readings (docs/SEALED_READINGS.md).

An independent implementation of the spec: Python's hashlib/hmac for
HKDF-SHA-256 and pyca/cryptography (OpenSSL 3) for AES-CCM, AES-CMAC and
AES-CTR -- none of cxsec's C++ code or its crypto backends (BoringSSL, Mbed
TLS). Written from the spec text, so a vector that both this script and
core/seal/sealed_reading.h reproduce is evidence for the spec, not for
one implementation agreeing with itself.

    python3 tools/seal/seal_vectors.py > core/seal/testdata/known_answers.txt

Output: one "name: lower-case hex" line per value (docs/SEALED_READINGS.md
lists the same lines; core/seal:sealed_reading_known_answer_test checks
both).
"""

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

SALT = b"cxsec-seal-v1"
MAC_INFO = b"cxsec-seal-v1 mac"
ENC_INFO = b"cxsec-seal-v1 enc"
MAC_RATCHET = b"cxsec-seal-v1 mac ratchet"
ENC_RATCHET = b"cxsec-seal-v1 enc ratchet"
DTLS, MIOTY = 1, 2


def hkdf_extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand16(prk, info):
    # RFC 5869 with L = 16: T(1) = HMAC(PRK, info || 0x01), truncated.
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:16]


def epoch_key(master, device_id, branch, epoch):
    prk = hkdf_extract(SALT, master)
    key = hkdf_expand16(prk, (MAC_INFO if branch == "mac" else ENC_INFO) + device_id)
    for e in range(1, epoch + 1):
        label = MAC_RATCHET if branch == "mac" else ENC_RATCHET
        key = hkdf_expand16(key, label + struct.pack(">I", e))
    return key


def nonce(transport, epoch, sequence):
    return bytes([transport]) + struct.pack(">II", epoch, sequence) + bytes(4)


def seal(mac_key, enc_key, transport, encrypted, epoch, sequence, body):
    header = bytes([(1 << 5) | (0x10 if encrypted else 0) | (epoch & 0x0F)])
    if transport == DTLS:
        header += struct.pack(">I", sequence)
    n = nonce(transport, epoch, sequence)
    if encrypted:
        counter = n + b"\xe0\x00\x00"
        encryptor = Cipher(algorithms.AES(enc_key), modes.CTR(counter)).encryptor()
        body = encryptor.update(body) + encryptor.finalize()
    authenticated = header + body
    if transport == DTLS:
        # AES-CCM, 8-byte tag, 13-byte nonce, empty message, aad = envelope.
        tag = AESCCM(mac_key, tag_length=8).encrypt(n, b"", authenticated)
    else:
        c = cmac.CMAC(algorithms.AES(mac_key))
        c.update(n + bytes(3) + authenticated)
        tag = c.finalize()[:8]
    return authenticated + tag


RECEIPT_LABEL = b"cxsec-receipt-v1"


def receipt(mac_key, transport, verdict, epoch, sequence):
    # verdict || BE32(epoch) || BE32(sequence) || AES-CMAC(K_mac(epoch),
    # label || transport || BE32(epoch) || BE32(sequence) || verdict)[0..8)
    c = cmac.CMAC(algorithms.AES(mac_key))
    c.update(RECEIPT_LABEL + bytes([transport]) + struct.pack(">II", epoch, sequence) + bytes([verdict]))
    return bytes([verdict]) + struct.pack(">II", epoch, sequence) + c.finalize()[:8]


def main():
    master = bytes(range(32))
    device_id = bytes.fromhex("0011223344556677")
    out = []

    def put(name, value):
        out.append(("%s: %s" % (name, value.hex())).rstrip())

    put("master_secret", master)
    put("device_id", device_id)
    put("prk", hkdf_extract(SALT, master))
    for epoch in (0, 1, 2, 17):
        put("mac_key_epoch_%d" % epoch, epoch_key(master, device_id, "mac", epoch))
        put("enc_key_epoch_%d" % epoch, epoch_key(master, device_id, "enc", epoch))

    reading = bytes.fromhex("a3616e01617418e961681832")  # CBOR {n:1,t:233,h:50}
    long_reading = bytes(range(40))
    cases = [
        ("dtls_mac_only", DTLS, False, 0, 1, reading),
        ("dtls_encrypted", DTLS, True, 1, 0x01020304, long_reading),
        ("dtls_encrypted_empty", DTLS, True, 17, 0xFFFFFFFF, b""),
        ("mioty_mac_only", MIOTY, False, 0, 7, reading),
        ("mioty_encrypted", MIOTY, True, 2, 0x01ABCDEF, long_reading),
    ]
    for name, transport, encrypted, epoch, sequence, body in cases:
        mac_key = epoch_key(master, device_id, "mac", epoch)
        enc_key = epoch_key(master, device_id, "enc", epoch)
        put(name + "_body", body)
        out.append("%s_epoch: %d" % (name, epoch))
        out.append("%s_sequence: %d" % (name, sequence))
        put(name + "_sealed", seal(mac_key, enc_key, transport, encrypted, epoch, sequence, body))
    receipts = [
        ("receipt_accepted", DTLS, 0, 0, 1),
        ("receipt_duplicate", DTLS, 1, 1, 0x01020304),
        ("receipt_accepted_epoch_17", DTLS, 0, 17, 0xFFFFFFFF),
    ]
    for name, transport, verdict, epoch, sequence in receipts:
        mac_key = epoch_key(master, device_id, "mac", epoch)
        out.append("%s_verdict: %d" % (name, verdict))
        out.append("%s_epoch: %d" % (name, epoch))
        out.append("%s_sequence: %d" % (name, sequence))
        put(name, receipt(mac_key, transport, verdict, epoch, sequence))
    print("\n".join(out))


if __name__ == "__main__":
    main()
