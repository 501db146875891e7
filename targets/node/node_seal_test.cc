// NodeSealer, the host node's sealing: what it seals opens with the .seal
// file's keys through core/seal's Open (as the verifier will); the DTLS
// sequence is persisted before a reading is sealed and never reused across
// a restart; a .seal file others can read, another device's file and a mode
// the file cannot serve are refused, saying why.
#include "targets/node/node_seal.h"

#include <sys/stat.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/config/key_value_file.h"
#include "core/encoding/hex.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/seal_key_file.h"
#include "core/seal/seal_master_secret.h"
#include "gtest/gtest.h"
#include "platforms/posix/files.h"
#include "targets/node/node_receipts.h"

namespace cxsec::node {
namespace {

using seal::HostSealCodec;
using seal::SealMode;
using seal::Transport;

constexpr char kDeviceId[] = "D0011223344556677";
constexpr char kMasterHex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const Bytes kReading = {0xa1, 0x61, 'n', 0x18, 0x2a};  // {"n": 42}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir ? dir : "/tmp", "/", name);
}

// The node's keys as `cxsec provision --seal-master` derives them.
struct ProvisionedKeys {
  uint32_t epoch;
  SecretBytes mac;
  SecretBytes enc;
};

ProvisionedKeys Provision(const std::string& device_id, uint32_t epoch) {
  SecretBytes master = SecretBytes::CopyFrom(*HexDecode(kMasterHex));
  return ProvisionedKeys{
      epoch,
      *seal::DeriveSealKey(seal::KeyBranch::kMac, master, device_id, epoch),
      *seal::DeriveSealKey(seal::KeyBranch::kEncryption, master, device_id,
                           epoch)};
}

// WriteSealFile writes a .seal file as provisioning does (mode `mode`).
std::string WriteSealFile(const std::string& name, const std::string& device_id,
                          const ProvisionedKeys& keys, bool with_enc,
                          mode_t mode = 0600) {
  const std::string path = TempPath(name);
  std::remove(path.c_str());
  EXPECT_TRUE(WriteFileAtomically(
                  path,
                  seal::FormatSealKeyFile(device_id, keys.epoch, keys.mac,
                                          with_enc ? &keys.enc : nullptr),
                  mode)
                  .ok());
  return path;
}

NodeSealOptions Options(const std::string& key_file, Transport transport,
                        const std::string& sequence_file = "") {
  NodeSealOptions options;
  options.key_file = key_file;
  options.device_id = kDeviceId;
  options.transport = transport;
  options.sequence_file = sequence_file;
  return options;
}

// OpenAsVerifier opens `envelope` with the provisioned keys: parse, check
// the tag at the full epoch and `sequence`, decrypt. Returns the reading.
absl::StatusOr<Bytes> OpenAsVerifier(const ProvisionedKeys& keys,
                                     Transport transport, const Bytes& envelope,
                                     uint32_t sequence,
                                     seal::SealedEnvelope* parsed_out = nullptr) {
  seal::DeviceSealKeys<seal::BoringSslSealCrypto> device;
  ByteView mac = keys.mac.Reveal(SecretAccess::Grant());
  ByteView enc = keys.enc.Reveal(SecretAccess::Grant());
  if (device.Load(keys.epoch, std::span(mac.data(), mac.size()),
                  std::span(enc.data(), enc.size())) != seal::SealReason::kNone) {
    return absl::InternalError("keys");
  }
  seal::SealedEnvelope parsed;
  if (seal::ParseSealedEnvelope(transport, envelope, parsed) !=
      seal::SealReason::kNone) {
    return absl::InvalidArgumentError("parse");
  }
  if (parsed_out != nullptr) *parsed_out = parsed;
  Bytes out(parsed.body.size());
  auto opened = HostSealCodec::Open(device.mac_key(), &device.enc_key(),
                                    transport, parsed, keys.epoch, sequence,
                                    std::span(out.data(), out.size()));
  if (!opened.ok()) {
    return absl::InvalidArgumentError(seal::SealReasonName(opened.reason()));
  }
  out.resize(opened.value());
  return out;
}

std::string FileText(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileBounded(path, 64);
  return text.ok() ? *text : "<" + std::string(text.status().message()) + ">";
}

TEST(NodeSealTest, DtlsEnvelopeOpensWithTheSealFileKeysEncryptedByDefault) {
  const ProvisionedKeys keys = Provision(kDeviceId, 3);
  const std::string sequence_file = TempPath("dtls_default.seq");
  std::remove(sequence_file.c_str());
  absl::StatusOr<std::unique_ptr<NodeSealer>> sealer = NodeSealer::Open(
      Options(WriteSealFile("dtls_default.seal", kDeviceId, keys, true),
              Transport::kDtlsCoap, sequence_file));
  ASSERT_TRUE(sealer.ok()) << sealer.status();
  EXPECT_EQ((*sealer)->mode(), SealMode::kEncrypted);
  EXPECT_EQ((*sealer)->epoch(), 3u);
  for (uint32_t sequence = 0; sequence < 3; ++sequence) {
    absl::StatusOr<Bytes> envelope = (*sealer)->SealNext(kReading);
    ASSERT_TRUE(envelope.ok()) << envelope.status();
    EXPECT_EQ(envelope->size(), kReading.size() + seal::kDtlsOverhead);
    // Version 1, encrypted, epoch 3: a header the gateway tells from CBOR.
    EXPECT_EQ((*envelope)[0], 0x20 | 0x10 | 3);
    seal::SealedEnvelope parsed;
    absl::StatusOr<Bytes> reading = OpenAsVerifier(
        keys, Transport::kDtlsCoap, *envelope, sequence, &parsed);
    ASSERT_TRUE(reading.ok()) << reading.status();
    EXPECT_EQ(parsed.sequence, sequence);
    EXPECT_EQ(*reading, kReading);
    // Ciphertext: the reading is not in the envelope in clear.
    EXPECT_NE(Bytes(envelope->begin() + 5, envelope->end() - 8), kReading);
    // Under another sequence it does not open.
    EXPECT_FALSE(
        OpenAsVerifier(keys, Transport::kDtlsCoap, *envelope, sequence + 1).ok());
  }
}

TEST(NodeSealTest, MacModeLeavesTheReadingReadable) {
  const ProvisionedKeys keys = Provision(kDeviceId, 0);
  const std::string sequence_file = TempPath("mac.seq");
  std::remove(sequence_file.c_str());
  NodeSealOptions options = Options(
      WriteSealFile("mac.seal", kDeviceId, keys, true), Transport::kDtlsCoap,
      sequence_file);
  options.mode = SealMode::kMacOnly;
  absl::StatusOr<std::unique_ptr<NodeSealer>> sealer =
      NodeSealer::Open(std::move(options));
  ASSERT_TRUE(sealer.ok()) << sealer.status();
  absl::StatusOr<Bytes> envelope = (*sealer)->SealNext(kReading);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ((*envelope)[0], 0x20);
  EXPECT_EQ(Bytes(envelope->begin() + 5, envelope->end() - 8), kReading);
  absl::StatusOr<Bytes> reading =
      OpenAsVerifier(keys, Transport::kDtlsCoap, *envelope, 0);
  ASSERT_TRUE(reading.ok()) << reading.status();
  EXPECT_EQ(*reading, kReading);
}

TEST(NodeSealTest, MacOnlyFileDefaultsToMacAndRefusesEncrypt) {
  const ProvisionedKeys keys = Provision(kDeviceId, 0);
  const std::string file = WriteSealFile("maconly.seal", kDeviceId, keys, false);
  absl::StatusOr<std::unique_ptr<NodeSealer>> sealer = NodeSealer::Open(
      Options(file, Transport::kDtlsCoap, TempPath("maconly.seq")));
  ASSERT_TRUE(sealer.ok()) << sealer.status();
  EXPECT_EQ((*sealer)->mode(), SealMode::kMacOnly);

  NodeSealOptions options =
      Options(file, Transport::kDtlsCoap, TempPath("maconly.seq"));
  options.mode = SealMode::kEncrypted;
  absl::StatusOr<std::unique_ptr<NodeSealer>> refused =
      NodeSealer::Open(std::move(options));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("no encryption key"),
            std::string::npos)
      << refused.status();
}

TEST(NodeSealTest, SequenceIsPersistedBeforeSealingAndNeverReusedAfterRestart) {
  const ProvisionedKeys keys = Provision(kDeviceId, 0);
  const std::string file = WriteSealFile("restart.seal", kDeviceId, keys, true);
  const std::string sequence_file = TempPath("restart.seq");
  std::remove(sequence_file.c_str());
  std::set<uint32_t> used;
  for (int run = 0; run < 3; ++run) {  // three boots of the node
    absl::StatusOr<std::unique_ptr<NodeSealer>> sealer = NodeSealer::Open(
        Options(file, Transport::kDtlsCoap, sequence_file));
    ASSERT_TRUE(sealer.ok()) << sealer.status();
    EXPECT_EQ((*sealer)->next_sequence(), used.size());
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<Bytes> envelope = (*sealer)->SealNext(kReading);
      ASSERT_TRUE(envelope.ok()) << envelope.status();
      seal::SealedEnvelope parsed;
      ASSERT_TRUE(OpenAsVerifier(keys, Transport::kDtlsCoap, *envelope,
                                 static_cast<uint32_t>(used.size()), &parsed)
                      .ok());
      EXPECT_TRUE(used.insert(parsed.sequence).second)
          << "sequence " << parsed.sequence << " reused";
      // By the time the envelope exists, the file already says its
      // sequence is used: a crash now cannot make the node reuse it.
      EXPECT_EQ(FileText(sequence_file), absl::StrCat(parsed.sequence + 1, "\n"));
    }
    // The node dies here without any shutdown step.
  }
  EXPECT_EQ(used, (std::set<uint32_t>{0, 1, 2, 3, 4, 5}));
}

TEST(NodeSealTest, NothingIsSealedWhenTheSequenceCannotBePersisted) {
  const ProvisionedKeys keys = Provision(kDeviceId, 0);
  const std::string dir = TempPath("gone");
  ASSERT_TRUE(MakeDirectories(dir, 0700).ok());
  absl::StatusOr<std::unique_ptr<NodeSealer>> sealer = NodeSealer::Open(
      Options(WriteSealFile("gone.seal", kDeviceId, keys, true),
              Transport::kDtlsCoap, dir + "/seq"));
  ASSERT_TRUE(sealer.ok()) << sealer.status();
  ASSERT_EQ(::rmdir(dir.c_str()), 0);  // the flash went away
  EXPECT_FALSE((*sealer)->SealNext(kReading).ok());
  EXPECT_EQ((*sealer)->next_sequence(), 0u);
}

TEST(NodeSealTest, CorruptOrExhaustedSequenceIsRefusedNotRestarted) {
  const ProvisionedKeys keys = Provision(kDeviceId, 0);
  const std::string file = WriteSealFile("corrupt.seal", kDeviceId, keys, true);
  const std::string sequence_file = TempPath("corrupt.seq");
  ASSERT_TRUE(WriteFileAtomically(sequence_file, "twelve\n", 0600).ok());
  absl::StatusOr<std::unique_ptr<NodeSealer>> corrupt = NodeSealer::Open(
      Options(file, Transport::kDtlsCoap, sequence_file));
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.status().message().find("corrupt seal sequence file"),
            std::string::npos)
      << corrupt.status();

  ASSERT_TRUE(WriteFileAtomically(sequence_file, "4294967295\n", 0600).ok());
  absl::StatusOr<std::unique_ptr<NodeSealer>> last = NodeSealer::Open(
      Options(file, Transport::kDtlsCoap, sequence_file));
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_TRUE((*last)->SealNext(kReading).ok());  // sequence 2^32 - 1
  absl::StatusOr<Bytes> exhausted = (*last)->SealNext(kReading);
  ASSERT_FALSE(exhausted.ok());
  EXPECT_EQ(exhausted.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(NodeSealTest, RefusesASealFileOthersCanRead) {
  const ProvisionedKeys keys = Provision(kDeviceId, 0);
  const std::string file =
      WriteSealFile("open.seal", kDeviceId, keys, true, 0644);
  absl::StatusOr<std::unique_ptr<NodeSealer>> sealer = NodeSealer::Open(
      Options(file, Transport::kDtlsCoap, TempPath("open.seq")));
  ASSERT_FALSE(sealer.ok());
  EXPECT_NE(sealer.status().message().find(file), std::string::npos)
      << sealer.status();
}

TEST(NodeSealTest, RefusesAnotherDevicesSealFile) {
  const std::string other = "D0011223344556678";
  const ProvisionedKeys keys = Provision(other, 0);
  const std::string file = WriteSealFile("other.seal", other, keys, true);
  absl::StatusOr<std::unique_ptr<NodeSealer>> sealer = NodeSealer::Open(
      Options(file, Transport::kMioty));
  ASSERT_FALSE(sealer.ok());
  EXPECT_EQ(sealer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sealer.status().message().find(other), std::string::npos)
      << sealer.status();
  EXPECT_NE(sealer.status().message().find(kDeviceId), std::string::npos)
      << sealer.status();
}

TEST(NodeSealTest, MiotyEnvelopeOpensUnderTheFrameCounter) {
  const ProvisionedKeys keys = Provision(kDeviceId, 1);
  absl::StatusOr<std::unique_ptr<NodeSealer>> sealer = NodeSealer::Open(
      Options(WriteSealFile("mioty.seal", kDeviceId, keys, true),
              Transport::kMioty));
  ASSERT_TRUE(sealer.ok()) << sealer.status();
  const uint32_t counter = 0x01000007;  // upper bits beyond the frame's 24
  absl::StatusOr<Bytes> envelope = (*sealer)->SealWithSequence(counter, kReading);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->size(), kReading.size() + seal::kMiotyOverhead);
  absl::StatusOr<Bytes> reading =
      OpenAsVerifier(keys, Transport::kMioty, *envelope, counter);
  ASSERT_TRUE(reading.ok()) << reading.status();
  EXPECT_EQ(*reading, kReading);
  // A gateway that claims other upper counter bits makes the tag fail.
  EXPECT_FALSE(
      OpenAsVerifier(keys, Transport::kMioty, *envelope, counter & 0xffffff)
          .ok());
  // A Mioty sealer has no sequence of its own.
  EXPECT_FALSE((*sealer)->SealNext(kReading).ok());
}

// The node moves to the next epoch on its own after seal_epoch_readings
// readings: each envelope opens only with the verifier's keys of its epoch
// (derived from the master), the .seal file then holds only the newest
// epoch's keys, and a restarted node goes on from there.
TEST(NodeSealTest, RatchetsToTheNextEpochOnItsOwnAndErasesTheOldKeys) {
  for (Transport transport : {Transport::kDtlsCoap, Transport::kMioty}) {
    const bool dtls = transport == Transport::kDtlsCoap;
    const std::string name = dtls ? "ratchet-dtls" : "ratchet-mioty";
    const std::string file =
        WriteSealFile(name + ".seal", kDeviceId, Provision(kDeviceId, 0), true);
    const std::string sequence_file = TempPath(name + ".seq");
    std::remove(sequence_file.c_str());
    NodeSealOptions options =
        Options(file, transport, dtls ? sequence_file : "");
    options.epoch_readings = 3;
    uint32_t sequence = 0;
    for (int boot = 0; boot < 2; ++boot) {
      absl::StatusOr<std::unique_ptr<NodeSealer>> sealer =
          NodeSealer::Open(options);
      ASSERT_TRUE(sealer.ok()) << sealer.status();
      for (int i = 0; i < 4; ++i, ++sequence) {
        absl::StatusOr<Bytes> envelope =
            dtls ? (*sealer)->SealNext(kReading)
                 : (*sealer)->SealWithSequence(sequence, kReading);
        ASSERT_TRUE(envelope.ok()) << envelope.status();
        const uint32_t epoch = sequence / 3;
        EXPECT_EQ((*sealer)->epoch(), epoch) << name << " sequence " << sequence;
        absl::StatusOr<Bytes> reading = OpenAsVerifier(
            Provision(kDeviceId, epoch), transport, *envelope, sequence);
        ASSERT_TRUE(reading.ok()) << name << " sequence " << sequence << ": "
                                  << reading.status();
        EXPECT_EQ(*reading, kReading);
        if (epoch > 0) {
          EXPECT_FALSE(OpenAsVerifier(Provision(kDeviceId, epoch - 1),
                                      transport, *envelope, sequence)
                           .ok());
        }
      }
    }
    // Eight readings: epochs 0, 1 and 2 (from sequence 6). The file holds
    // epoch 2's keys only, as the verifier derives them.
    absl::StatusOr<seal::SealKeyFile> stored = seal::LoadSealKeyFile(file);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->epoch, 2u);
    EXPECT_EQ(stored->epoch_start, 6u);
    const ProvisionedKeys epoch2 = Provision(kDeviceId, 2);
    const ProvisionedKeys epoch0 = Provision(kDeviceId, 0);
    EXPECT_TRUE(stored->mac_key.Reveal(SecretAccess::Grant()) ==
                epoch2.mac.Reveal(SecretAccess::Grant()));
    EXPECT_EQ(ReadFileBounded(file, 1024)->find(HexEncode(
                  epoch0.mac.Reveal(SecretAccess::Grant()))),
              std::string::npos);
  }
}

// VerifierReceipt: the receipt the verifier sends for (`epoch`,
// `sequence`), made with that epoch's MAC key as it derives it.
Bytes VerifierReceipt(uint32_t epoch, uint32_t sequence,
                      seal::ReceiptVerdict verdict = seal::ReceiptVerdict::kAccepted) {
  const ProvisionedKeys keys = Provision(kDeviceId, epoch);
  ByteView raw = keys.mac.Reveal(SecretAccess::Grant());
  seal::SealKey<seal::BoringSslSealCrypto> mac;
  EXPECT_EQ(mac.Load(std::span(raw.data(), raw.size())), seal::SealReason::kNone);
  std::array<uint8_t, seal::kReceiptSize> out{};
  EXPECT_EQ(seal::SealReceiptCodec<seal::BoringSslSealCrypto>::Make(
                mac, Transport::kDtlsCoap, verdict, epoch, sequence, out),
            seal::SealReason::kNone);
  return Bytes(out.begin(), out.end());
}

// A DTLS node that ratchets every 3 readings, with the receipt tracker
// cxsec-node runs (NewSealReceiptTracker, window 3) logging into `log`;
// `sealer` is null (and the test failed) if it could not be opened.
struct RatchetingDtlsNode {
  std::shared_ptr<NodeSealer> sealer;
  std::shared_ptr<SealReceiptTracker> tracker;
  std::shared_ptr<std::vector<std::string>> log =
      std::make_shared<std::vector<std::string>>();
};

RatchetingDtlsNode OpenRatchetingDtlsNode(const std::string& name) {
  const std::string file = WriteSealFile(name + ".seal", kDeviceId,
                                         Provision(kDeviceId, 0), true);
  const std::string sequence_file = TempPath(name + ".seq");
  std::remove(sequence_file.c_str());
  NodeSealOptions options = Options(file, Transport::kDtlsCoap, sequence_file);
  options.epoch_readings = 3;
  RatchetingDtlsNode node;
  absl::StatusOr<std::unique_ptr<NodeSealer>> opened = NodeSealer::Open(options);
  if (!opened.ok()) {
    ADD_FAILURE() << opened.status();
    return node;
  }
  node.sealer = std::move(*opened);
  node.tracker = NewSealReceiptTracker(
      node.sealer, 3,
      [log = node.log](const std::string& line) { log->push_back(line); });
  return node;
}

// A node that ratchets every 3 readings, with the tracker cxsec-node runs
// (NewSealReceiptTracker): receipts come back one reading late, so the
// last reading of each epoch is receipted in the next epoch's first 2.04,
// after the node erased the key it was sealed with. The receipt still
// settles it: no reading is counted unreceipted, no receipt as bad.
TEST(NodeSealTest, ReceiptsOfAnEarlierEpochStillSettleTheirReadings) {
  RatchetingDtlsNode node = OpenRatchetingDtlsNode("receipts-epoch");
  ASSERT_NE(node.sealer, nullptr);
  NodeSealer* sealer = node.sealer.get();
  SealReceiptTracker* tracker = node.tracker.get();
  const std::vector<std::string>& log = *node.log;
  Bytes answer;  // the 2.04's payload: the previous reading's receipt
  for (uint32_t sequence = 0; sequence < 10; ++sequence) {
    const auto fields = tracker->NextReadingFields();
    ASSERT_EQ(fields.size(), 2u);
    EXPECT_EQ(fields[0], (std::pair<std::string, int64_t>{"ur", 0}))
        << "sequence " << sequence;
    absl::StatusOr<Bytes> envelope = sealer->SealNext(kReading);
    ASSERT_TRUE(envelope.ok()) << envelope.status();
    ASSERT_EQ(sealer->epoch(), sequence / 3);
    tracker->OnAcknowledged(*envelope, answer);
    // Every other receipt says duplicate (an honest retry): it settles too.
    answer = VerifierReceipt(sequence / 3, sequence,
                             sequence % 2 == 0 ? seal::ReceiptVerdict::kAccepted
                                               : seal::ReceiptVerdict::kDuplicate);
  }
  EXPECT_EQ(tracker->counters().acknowledged, 10u);
  EXPECT_EQ(tracker->counters().receipted, 9u);
  EXPECT_EQ(tracker->counters().unreceipted, 0u);
  EXPECT_EQ(tracker->counters().bad_receipts, 0u);
  EXPECT_EQ(tracker->counters().highest_receipted, 8);
  EXPECT_TRUE(log.empty()) << log.front();
}

// Across an epoch the node still refuses what it refused before: a receipt
// of the earlier epoch with a wrong MAC (or for a reading it never sent)
// is bad and settles nothing, so a reading the gateway dropped just before
// the epoch moved is unreceipted; its genuine receipt, arriving late (two
// epochs on, while the node still remembers it), takes that back.
TEST(NodeSealTest, AcrossAnEpochForgedReceiptsStayBadAndLateOnesStillCount) {
  RatchetingDtlsNode node = OpenRatchetingDtlsNode("receipts-forged");
  ASSERT_NE(node.sealer, nullptr);
  NodeSealer* sealer = node.sealer.get();
  SealReceiptTracker* tracker = node.tracker.get();
  const std::vector<std::string>& log = *node.log;
  std::vector<std::pair<std::string, int64_t>> fields;
  for (uint32_t sequence = 0; sequence < 8; ++sequence) {
    fields = tracker->NextReadingFields();
    absl::StatusOr<Bytes> envelope = sealer->SealNext(kReading);
    ASSERT_TRUE(envelope.ok()) << envelope.status();
    Bytes answer;
    if (sequence > 0 && sequence != 3) {  // reading 2's receipt is withheld
      answer = VerifierReceipt((sequence - 1) / 3, sequence - 1);
    }
    if (sequence == 3) {
      Bytes forged = VerifierReceipt(0, 2);
      forged[16] ^= 1;  // reading 2's receipt, its MAC altered
      Bytes never_sent = VerifierReceipt(0, 40);
      answer = forged;
      answer.insert(answer.end(), never_sent.begin(), never_sent.end());
    }
    if (sequence == 7) {  // epoch 2: reading 2's receipt after all
      Bytes late = VerifierReceipt(0, 2);
      answer.insert(answer.end(), late.begin(), late.end());
    }
    tracker->OnAcknowledged(*envelope, answer);
    if (sequence == 6) {
      // Reading 6 was prepared 4 readings after reading 2's 2.04.
      EXPECT_EQ(fields[0], (std::pair<std::string, int64_t>{"ur", 1}));
    }
  }
  EXPECT_EQ(tracker->counters().bad_receipts, 2u);
  EXPECT_EQ(tracker->NextReadingFields()[0],
            (std::pair<std::string, int64_t>{"ur", 0}));
  EXPECT_EQ(tracker->counters().receipted, 7u);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find("sealed reading 2 was acknowledged"), std::string::npos)
      << log[0];
  EXPECT_NE(log[1].find("sealed reading 2 got its receipt late"),
            std::string::npos)
      << log[1];
}

absl::Status Validate(const std::string& text) {
  absl::StatusOr<KeyValueFile> config = KeyValueFile::Parse(text, "node.conf");
  if (!config.ok()) return config.status();
  return ValidateNodeSealConfig(*config);
}

TEST(NodeSealTest, ConfigKeysAreCheckedAgainstEachOther) {
  EXPECT_TRUE(Validate("transport = dtls\n").ok());
  EXPECT_TRUE(Validate("seal_key_file = a.seal\nseal_sequence_file = s\n").ok());
  EXPECT_TRUE(Validate("transport = mioty\nseal_key_file = a.seal\n"
                       "seal_mode = mac\n")
                  .ok());
  // DTLS without a sequence file, Mioty with one, a mode without keys, an
  // unknown mode.
  EXPECT_FALSE(Validate("seal_key_file = a.seal\n").ok());
  EXPECT_FALSE(Validate("transport = mioty\nseal_key_file = a.seal\n"
                        "seal_sequence_file = s\n")
                   .ok());
  EXPECT_FALSE(Validate("seal_mode = mac\n").ok());
  EXPECT_FALSE(Validate("seal_sequence_file = s\n").ok());
  EXPECT_FALSE(Validate("transport = mioty\nseal_key_file = a.seal\n"
                        "seal_mode = aead\n")
                   .ok());
}

}  // namespace
}  // namespace cxsec::node
