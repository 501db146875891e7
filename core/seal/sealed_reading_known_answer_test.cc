// The known-answer vectors of docs/SEALED_READINGS.md. They were computed
// once by tools/seal/seal_vectors.py, an implementation of the spec that
// shares no code with this one (Python hmac/hashlib, pyca/cryptography on
// OpenSSL 3). Both backends must reproduce every key and sealed envelope,
// open them, and the doc must list exactly these lines.
//
// Arguments: the vectors file, then docs/SEALED_READINGS.md.
#include <array>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/mbedtls_seal_crypto.h"
#include "core/seal/seal_receipt.h"
#include "core/seal/sealed_reading.h"
#include "gtest/gtest.h"

namespace cxsec::seal {
namespace {

using Bytes = std::vector<uint8_t>;

std::string vectors_path;
std::string doc_path;

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) {
      line.pop_back();
    }
    lines.push_back(line);
  }
  return lines;
}

std::map<std::string, std::string> Vectors() {
  std::map<std::string, std::string> vectors;
  for (const std::string& line : ReadLines(vectors_path)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    vectors[line.substr(0, colon)] = value;
  }
  return vectors;
}

Bytes Hex(const std::string& text) {
  Bytes out;
  for (size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(
        static_cast<uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string ToHex(std::span<const uint8_t> bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

TEST(SealedReadingKnownAnswerTest, DocListsEveryVectorLine) {
  const std::vector<std::string> vectors = ReadLines(vectors_path);
  const std::vector<std::string> doc = ReadLines(doc_path);
  ASSERT_GT(vectors.size(), 20u);
  for (const std::string& line : vectors) {
    if (line.empty()) continue;
    EXPECT_NE(std::find(doc.begin(), doc.end(), line), doc.end())
        << "docs/SEALED_READINGS.md lacks the line: " << line;
  }
}

template <class Crypto>
void CheckKeys() {
  auto v = Vectors();
  const Bytes master = Hex(v["master_secret"]);
  const Bytes device_id = Hex(v["device_id"]);
  uint8_t prk[32];
  Kdf<Crypto>::Extract(seal_internal::Label(labels::kSalt), master, prk);
  EXPECT_EQ(ToHex(prk), v["prk"]);
  for (uint32_t epoch : {0u, 1u, 2u, 17u}) {
    std::array<uint8_t, 16> mac{}, enc{};
    ASSERT_EQ(
        DeriveEpochKey<Crypto>(KeyBranch::kMac, master, device_id, epoch, mac),
        SealReason::kNone);
    ASSERT_EQ(DeriveEpochKey<Crypto>(KeyBranch::kEncryption, master, device_id,
                                     epoch, enc),
              SealReason::kNone);
    EXPECT_EQ(ToHex(mac), v["mac_key_epoch_" + std::to_string(epoch)]);
    EXPECT_EQ(ToHex(enc), v["enc_key_epoch_" + std::to_string(epoch)]);
  }
}

TEST(SealedReadingKnownAnswerTest, KeysOnBoringSsl) {
  CheckKeys<BoringSslSealCrypto>();
}
TEST(SealedReadingKnownAnswerTest, KeysOnMbedTls) {
  CheckKeys<MbedTlsSealCrypto>();
}

struct Case {
  const char* name;
  Transport transport;
  SealMode mode;
};
constexpr Case kCases[] = {
    {"dtls_mac_only", Transport::kDtlsCoap, SealMode::kMacOnly},
    {"dtls_encrypted", Transport::kDtlsCoap, SealMode::kEncrypted},
    {"dtls_encrypted_empty", Transport::kDtlsCoap, SealMode::kEncrypted},
    {"mioty_mac_only", Transport::kMioty, SealMode::kMacOnly},
    {"mioty_encrypted", Transport::kMioty, SealMode::kEncrypted},
};

template <class Crypto>
void CheckEnvelopes() {
  auto v = Vectors();
  const Bytes master = Hex(v["master_secret"]);
  const Bytes device_id = Hex(v["device_id"]);
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const std::string name = c.name;
    const uint32_t epoch =
        static_cast<uint32_t>(std::stoul(v[name + "_epoch"]));
    const uint32_t sequence =
        static_cast<uint32_t>(std::stoul(v[name + "_sequence"]));
    const Bytes body = Hex(v[name + "_body"]);
    ASSERT_FALSE(v[name + "_sealed"].empty());
    std::array<uint8_t, 16> mac{}, enc{};
    ASSERT_EQ(
        DeriveEpochKey<Crypto>(KeyBranch::kMac, master, device_id, epoch, mac),
        SealReason::kNone);
    ASSERT_EQ(DeriveEpochKey<Crypto>(KeyBranch::kEncryption, master, device_id,
                                     epoch, enc),
              SealReason::kNone);
    DeviceSealKeys<Crypto> keys;
    ASSERT_EQ(keys.Load(epoch, mac, enc), SealReason::kNone);
    Bytes out(SealedSize(c.transport, body.size()));
    auto sealed = SealedReadingCodec<Crypto>::Seal(keys, c.transport, c.mode,
                                                   sequence, body, out);
    ASSERT_TRUE(sealed.ok()) << SealReasonName(sealed.reason());
    EXPECT_EQ(ToHex(out), v[name + "_sealed"]);

    const Bytes expected = Hex(v[name + "_sealed"]);
    SealedEnvelope envelope;
    ASSERT_EQ(ParseSealedEnvelope(c.transport, expected, envelope),
              SealReason::kNone);
    auto full_epoch = ReconstructEpoch(epoch & ~0xfu, envelope.epoch_low4);
    ASSERT_TRUE(full_epoch.ok());
    EXPECT_EQ(full_epoch.value(), epoch);
    Bytes plain(kMaxBodySize);
    auto opened = SealedReadingCodec<Crypto>::Open(
        keys.mac_key(), &keys.enc_key(), c.transport, envelope, epoch, sequence,
        plain);
    ASSERT_TRUE(opened.ok()) << SealReasonName(opened.reason());
    EXPECT_EQ(Bytes(plain.begin(), plain.begin() + opened.value()), body);
  }
}

TEST(SealedReadingKnownAnswerTest, EnvelopesOnBoringSsl) {
  CheckEnvelopes<BoringSslSealCrypto>();
}
TEST(SealedReadingKnownAnswerTest, EnvelopesOnMbedTls) {
  CheckEnvelopes<MbedTlsSealCrypto>();
}

// Receipts (SEALED_READINGS.md, "Receipts"): made byte for byte as the
// Python implementation makes them, and checked, on both backends.
template <class Crypto>
void CheckReceipts() {
  auto v = Vectors();
  const Bytes master = Hex(v["master_secret"]);
  const Bytes device_id = Hex(v["device_id"]);
  int checked = 0;
  for (const char* name : {"receipt_accepted", "receipt_duplicate",
                           "receipt_accepted_epoch_17"}) {
    SCOPED_TRACE(name);
    const std::string n = name;
    ASSERT_FALSE(v[n].empty());
    const uint32_t epoch = static_cast<uint32_t>(std::stoul(v[n + "_epoch"]));
    const uint32_t sequence =
        static_cast<uint32_t>(std::stoul(v[n + "_sequence"]));
    const auto verdict =
        static_cast<ReceiptVerdict>(std::stoul(v[n + "_verdict"]));
    std::array<uint8_t, 16> mac{};
    ASSERT_EQ(
        DeriveEpochKey<Crypto>(KeyBranch::kMac, master, device_id, epoch, mac),
        SealReason::kNone);
    SealKey<Crypto> key;
    ASSERT_EQ(key.Load(mac), SealReason::kNone);
    std::array<uint8_t, kReceiptSize> receipt{};
    ASSERT_EQ(SealReceiptCodec<Crypto>::Make(key, Transport::kDtlsCoap, verdict,
                                             epoch, sequence, receipt),
              SealReason::kNone);
    EXPECT_EQ(ToHex(receipt), v[n]);
    SealReceipt out;
    ASSERT_EQ(SealReceiptCodec<Crypto>::Check(key, epoch, Transport::kDtlsCoap,
                                              Hex(v[n]), out),
              SealReason::kNone);
    EXPECT_EQ(out.epoch, epoch);
    EXPECT_EQ(out.sequence, sequence);
    EXPECT_EQ(out.verdict, verdict);
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(SealedReadingKnownAnswerTest, ReceiptsOnBoringSsl) {
  CheckReceipts<BoringSslSealCrypto>();
}
TEST(SealedReadingKnownAnswerTest, ReceiptsOnMbedTls) {
  CheckReceipts<MbedTlsSealCrypto>();
}

}  // namespace
}  // namespace cxsec::seal

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (argc != 3) {
    fprintf(stderr, "usage: %s known_answers.txt SEALED_READINGS.md\n",
            argv[0]);
    return 2;
  }
  cxsec::seal::vectors_path = argv[1];
  cxsec::seal::doc_path = argv[2];
  return RUN_ALL_TESTS();
}
