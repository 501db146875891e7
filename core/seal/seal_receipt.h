// Seal receipts: the verifier's verdict on one sealed DTLS/CoAP reading,
// authenticated with the device's MAC key so that it can travel back to
// the node through the gateway (in a later CoAP 2.04 payload) and the
// gateway can neither forge nor alter one (docs/SEALED_READINGS.md,
// "Receipts"). A node that got a 2.04 for a reading but never a receipt
// knows the gateway acknowledged it and then dropped it.
//
// Device-side rules, as sealed_reading.h: no Abseil, no heap. The verifier
// makes receipts, the node checks them, both with the device's K_mac of
// the reading's epoch:
//
//   using Receipts = SealReceiptCodec<BoringSslSealCrypto>;
//   std::array<uint8_t, kReceiptSize> receipt;
//   Receipts::Make(mac_key, Transport::kDtlsCoap, ReceiptVerdict::kAccepted,
//                  epoch, sequence, receipt);               // verifier
//   SealReceipt checked;
//   if (Receipts::Check(keys.mac_key(), keys.epoch(), Transport::kDtlsCoap,
//                       bytes, checked) == SealReason::kNone) ...  // node
//
// Format (17 bytes): verdict (1) || BE32(epoch) || BE32(sequence) || mac (8),
//   mac = AES-CMAC(K_mac(epoch), "cxsec-receipt-v1" || transport ||
//                  BE32(epoch) || BE32(sequence) || verdict)[0..8).
// The label fills the first CMAC block, whose first byte ('c', 0x63) is
// never the first byte of an AES input of the envelope (CCM's B0 0x59,
// S0 0x01, the keystream's nonce 0x01/0x02, the Mioty CMAC's nonce), so a
// receipt is never a valid envelope tag and no envelope tag a receipt.
#ifndef CXSEC_CORE_SEAL_SEAL_RECEIPT_H_
#define CXSEC_CORE_SEAL_SEAL_RECEIPT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "core/mioty/frame_codec.h"
#include "core/seal/sealed_reading.h"

namespace cxsec::seal {

inline constexpr size_t kReceiptMacSize = 8;
inline constexpr size_t kReceiptSize = 1 + 4 + 4 + kReceiptMacSize;

namespace labels {
inline constexpr char kReceipt[] = "cxsec-receipt-v1";
}  // namespace labels
static_assert(sizeof(labels::kReceipt) - 1 == kAesBlockSize,
              "the receipt label fills the first CMAC block");

// ReceiptVerdict: what the verifier did with the reading. An extend-only
// list: only final verdicts that mean "the verifier holds the reading".
enum class ReceiptVerdict : uint8_t {
  kAccepted = 0,   // stored now
  kDuplicate = 1,  // stored already (an honest retry)
};

// SealReceipt: the fields of a receipt whose MAC verified.
struct SealReceipt {
  ReceiptVerdict verdict = ReceiptVerdict::kAccepted;
  uint32_t epoch = 0;
  uint32_t sequence = 0;
};

// SealReceiptCodec: make (verifier) and check (node) receipts.
template <SealCryptoPolicy Crypto>
struct SealReceiptCodec {
  using Key = SealKey<Crypto>;

  // Make writes the receipt for (`epoch`, `sequence`) of `transport` with
  // `verdict`, under `mac_key` (the device's K_mac of `epoch`).
  static SealReason Make(const Key& mac_key, Transport transport,
                         ReceiptVerdict verdict, uint32_t epoch,
                         uint32_t sequence,
                         std::span<uint8_t, kReceiptSize> out) {
    if (!seal_internal::KnownTransport(transport)) {
      return SealReason::kUnknownTransport;
    }
    if (!KnownVerdict(static_cast<uint8_t>(verdict))) {
      return SealReason::kUnknownVerdict;
    }
    if (!mac_key.loaded()) return SealReason::kKeyNotLoaded;
    out[0] = static_cast<uint8_t>(verdict);
    seal_internal::PutBe32(epoch, out.data() + 1);
    seal_internal::PutBe32(sequence, out.data() + 5);
    const std::array<uint8_t, kReceiptMacSize> mac =
        Mac(mac_key, transport, out[0], epoch, sequence);
    std::memcpy(out.data() + 9, mac.data(), kReceiptMacSize);
    return SealReason::kNone;
  }

  // Check reads `bytes` (untrusted: from the gateway) as one receipt of
  // `transport` and verifies its MAC under `mac_key`, the node's key of
  // `key_epoch`. A receipt of another epoch cannot be checked (the node
  // erased that key): kEpochMismatch. On success `out` holds its fields;
  // on failure `out` means nothing. Constant-time comparison.
  static SealReason Check(const Key& mac_key, uint32_t key_epoch,
                          Transport transport, std::span<const uint8_t> bytes,
                          SealReceipt& out) {
    if (!seal_internal::KnownTransport(transport)) {
      return SealReason::kUnknownTransport;
    }
    if (!mac_key.loaded()) return SealReason::kKeyNotLoaded;
    if (bytes.size() != kReceiptSize) return SealReason::kTruncated;
    if (!KnownVerdict(bytes[0])) return SealReason::kUnknownVerdict;
    const uint32_t epoch = seal_internal::LoadBe32(bytes.data() + 1);
    const uint32_t sequence = seal_internal::LoadBe32(bytes.data() + 5);
    if (epoch != key_epoch) return SealReason::kEpochMismatch;
    std::array<uint8_t, kReceiptMacSize> expected =
        Mac(mac_key, transport, bytes[0], epoch, sequence);
    const bool equal = Crypto::ConstantTimeEquals(
        expected.data(), bytes.data() + 9, kReceiptMacSize);
    Crypto::Wipe(expected.data(), expected.size());
    if (!equal) return SealReason::kTagMismatch;
    out.verdict = static_cast<ReceiptVerdict>(bytes[0]);
    out.epoch = epoch;
    out.sequence = sequence;
    return SealReason::kNone;
  }

 private:
  static constexpr bool KnownVerdict(uint8_t verdict) { return verdict <= 1; }

  static std::array<uint8_t, kReceiptMacSize> Mac(const Key& mac_key,
                                                  Transport transport,
                                                  uint8_t verdict,
                                                  uint32_t epoch,
                                                  uint32_t sequence) {
    // label (16) || transport || BE32(epoch) || BE32(sequence) || verdict
    uint8_t fields[1 + 4 + 4 + 1];
    fields[0] = static_cast<uint8_t>(transport);
    seal_internal::PutBe32(epoch, fields + 1);
    seal_internal::PutBe32(sequence, fields + 5);
    fields[9] = verdict;
    mioty::Cmac<Crypto> cmac(mac_key.expanded());
    cmac.Update(seal_internal::Label(labels::kReceipt));
    cmac.Update(std::span<const uint8_t>(fields, sizeof(fields)));
    Block tag = cmac.Final();
    std::array<uint8_t, kReceiptMacSize> mac;
    std::memcpy(mac.data(), tag.data(), kReceiptMacSize);
    Crypto::Wipe(tag.data(), tag.size());
    return mac;
  }
};

}  // namespace cxsec::seal

#endif  // CXSEC_CORE_SEAL_SEAL_RECEIPT_H_
