// See node_seal.h.
#include "targets/node/node_seal.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <span>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/seal/seal_key_file.h"
#include "core/seal/seal_master_secret.h"
#include "core/status.h"
#include "platforms/posix/files.h"

namespace cxsec::node {
namespace {

constexpr uint64_t kSequenceLimit = uint64_t{UINT32_MAX} + 1;

// The sequence file holds the next sequence to use, in decimal (the Mioty
// counter file's format). Absent: 0, a node's first sealed reading.
absl::StatusOr<uint64_t> ReadNextSequence(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) return 0;
  CXSEC_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 64));
  uint64_t next = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &next) ||
      next > kSequenceLimit) {
    // Starting again at 0 would reuse sequences (and keystream): refuse.
    return absl::DataLossError(absl::StrCat(
        path, ": corrupt seal sequence file (expected the next sequence, a "
              "decimal number up to 4294967296); restoring it from a backup "
              "could reuse a sequence, so provision the node with a later "
              "seal epoch instead"));
  }
  return next;
}

std::span<const uint8_t> AsSpan(ByteView bytes) {
  return std::span<const uint8_t>(bytes.data(), bytes.size());
}

}  // namespace

const char* SealModeName(seal::SealMode mode) {
  return mode == seal::SealMode::kEncrypted ? "encrypt" : "mac";
}

absl::StatusOr<std::unique_ptr<NodeSealer>> NodeSealer::Open(
    NodeSealOptions options) {
  if (options.key_file.empty()) {
    return absl::InvalidArgumentError("sealed readings: no seal_key_file");
  }
  CXSEC_ASSIGN_OR_RETURN(seal::SealKeyFile file,
                         seal::LoadSealKeyFile(options.key_file));
  if (!absl::EqualsIgnoreCase(file.device_id, options.device_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.key_file, " holds the sealed-readings keys of ",
        file.device_id, ", but this node's device_id is ", options.device_id,
        ": give each node its own <device id>.seal from `cxsec provision "
        "--seal-master` (a reading sealed with another device's keys fails "
        "at the verifier)"));
  }
  const seal::SealMode mode = options.mode.value_or(
      file.enc_key.has_value() ? seal::SealMode::kEncrypted
                               : seal::SealMode::kMacOnly);
  if (mode == seal::SealMode::kEncrypted && !file.enc_key.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "seal_mode = encrypt, but ", options.key_file,
        " holds no encryption key (seal_enc_key; provisioned with "
        "--seal-mac-only): use seal_mode = mac, or provision the node "
        "again without --seal-mac-only"));
  }
  if (options.transport == seal::Transport::kDtlsCoap &&
      options.sequence_file.empty()) {
    return absl::InvalidArgumentError(
        "sealed readings over DTLS need seal_sequence_file (the node's "
        "persisted sequence)");
  }
  std::unique_ptr<NodeSealer> sealer(new NodeSealer(std::move(options)));
  sealer->mode_ = mode;
  // Only the keys this mode uses are loaded: a MAC-only node never holds
  // its encryption key in memory.
  const ByteView mac = file.mac_key.Reveal(SecretAccess::Grant());
  const ByteView enc = mode == seal::SealMode::kEncrypted
                           ? file.enc_key->Reveal(SecretAccess::Grant())
                           : ByteView();
  const seal::SealReason loaded =
      sealer->keys_.Load(file.epoch, AsSpan(mac), AsSpan(enc));
  sealer->epoch_start_ = file.epoch_start;
  if (loaded != seal::SealReason::kNone) {
    return absl::InvalidArgumentError(
        absl::StrCat(sealer->options_.key_file, ": cannot load the keys: ",
                     seal::SealReasonName(loaded)));
  }
  if (sealer->options_.transport == seal::Transport::kDtlsCoap) {
    CXSEC_ASSIGN_OR_RETURN(sealer->next_sequence_,
                           ReadNextSequence(sealer->options_.sequence_file));
  }
  return sealer;
}

absl::StatusOr<Bytes> NodeSealer::SealNext(ByteView reading) {
  if (options_.transport != seal::Transport::kDtlsCoap) {
    return absl::FailedPreconditionError(
        "SealNext is for DTLS/CoAP; a Mioty reading is sealed under its "
        "frame's packet counter");
  }
  if (next_sequence_ >= kSequenceLimit) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "sealed readings: the 32-bit sequence of seal epoch ", epoch(),
        " is used up; provision the node with a later seal epoch"));
  }
  if (reading.size() > seal::kMaxBodySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("sealed readings: a reading of ", reading.size(),
                     " bytes exceeds the envelope's ", seal::kMaxBodySize));
  }
  const uint32_t sequence = static_cast<uint32_t>(next_sequence_);
  // Persist first: a sequence is used at most once, even across a crash
  // between here and the radio (the reading is then lost, a gap the
  // verifier counts, never a repeated keystream).
  CXSEC_RETURN_IF_ERROR(WriteFileAtomically(
      options_.sequence_file, absl::StrCat(next_sequence_ + 1, "\n"), 0600));
  next_sequence_ += 1;
  CXSEC_RETURN_IF_ERROR(AdvanceEpochIfDue(sequence));
  return Seal(sequence, reading);
}

absl::Status NodeSealer::AdvanceEpochIfDue(uint32_t sequence) {
  const uint32_t readings = options_.epoch_readings;
  if (readings == 0 ||
      uint64_t{sequence} < uint64_t{epoch_start_} + uint64_t{readings}) {
    return absl::OkStatus();
  }
  const uint32_t from = keys_.epoch();
  const seal::SealReason advanced = keys_.Advance();
  if (advanced != seal::SealReason::kNone) {
    return absl::FailedPreconditionError(
        absl::StrCat("sealed readings: cannot move past epoch ", from, ": ",
                     seal::SealReasonName(advanced)));
  }
  // The new keys reach the file before anything is sealed with them, and
  // the old ones leave it: a node captured later cannot open or forge the
  // readings it sealed before. A crash before the write keeps the old
  // epoch (its next readings move again); after it, the new one.
  const std::span<const uint8_t> mac = keys_.mac_key().raw();
  const SecretBytes mac_key =
      SecretBytes::CopyFrom(ByteView(mac.data(), mac.size()));
  std::optional<SecretBytes> enc_key;
  if (keys_.enc_key().loaded()) {
    const std::span<const uint8_t> enc = keys_.enc_key().raw();
    enc_key = SecretBytes::CopyFrom(ByteView(enc.data(), enc.size()));
  }
  std::string text =
      seal::FormatSealKeyFile(options_.device_id, keys_.epoch(), mac_key,
                              enc_key.has_value() ? &*enc_key : nullptr,
                              sequence);
  absl::Status written = WriteFileAtomically(options_.key_file, text, 0600);
  SecureZero(text.data(), text.size());
  if (!written.ok()) {
    return absl::Status(
        written.code(),
        absl::StrCat("sealed readings: cannot persist the keys of epoch ",
                     keys_.epoch(), " (nothing sealed with them): ",
                     written.message()));
  }
  epoch_start_ = sequence;
  std::fprintf(stderr,
               "cxsec-node: sealed readings: moved from epoch %u to %u at "
               "sequence %u; the old keys are erased\n",
               from, keys_.epoch(), sequence);
  return absl::OkStatus();
}

absl::StatusOr<Bytes> NodeSealer::SealWithSequence(uint32_t sequence,
                                                   ByteView reading) {
  if (options_.transport != seal::Transport::kMioty) {
    return absl::FailedPreconditionError(
        "SealWithSequence is for Mioty; a DTLS/CoAP node seals with "
        "SealNext, which persists its own sequence");
  }
  CXSEC_RETURN_IF_ERROR(AdvanceEpochIfDue(sequence));
  return Seal(sequence, reading);
}

absl::StatusOr<Bytes> NodeSealer::Seal(uint32_t sequence,
                                       ByteView reading) const {
  Bytes out(seal::SealedSize(options_.transport, reading.size()));
  auto sealed = seal::HostSealCodec::Seal(
      keys_, options_.transport, mode_, sequence, AsSpan(reading),
      std::span<uint8_t>(out.data(), out.size()));
  if (!sealed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sealing a reading of ", reading.size(),
                     " bytes failed: ", seal::SealReasonName(sealed.reason())));
  }
  out.resize(sealed.value());
  return out;
}

seal::SealReason NodeSealer::CheckReceipt(ByteView bytes,
                                          seal::SealReceipt& out) const {
  return seal::SealReceiptCodec<seal::BoringSslSealCrypto>::Check(
      keys_.mac_key(), keys_.epoch(), options_.transport,
      std::span<const uint8_t>(bytes.data(), bytes.size()), out);
}

std::optional<ExpectedSealReceipts> NodeSealer::ExpectedReceipts(
    ByteView envelope) const {
  seal::SealedEnvelope parsed;
  if (seal::ParseSealedEnvelope(
          options_.transport,
          std::span<const uint8_t>(envelope.data(), envelope.size()),
          parsed) != seal::SealReason::kNone ||
      options_.transport != seal::Transport::kDtlsCoap ||
      parsed.epoch_low4 != (keys_.epoch() & 0x0F)) {
    return std::nullopt;
  }
  ExpectedSealReceipts expected;
  expected.epoch = keys_.epoch();
  expected.sequence = parsed.sequence;
  for (seal::ReceiptVerdict verdict :
       {seal::ReceiptVerdict::kAccepted, seal::ReceiptVerdict::kDuplicate}) {
    if (seal::SealReceiptCodec<seal::BoringSslSealCrypto>::Make(
            keys_.mac_key(), options_.transport, verdict, expected.epoch,
            expected.sequence,
            expected.by_verdict[static_cast<size_t>(verdict)]) !=
        seal::SealReason::kNone) {
      return std::nullopt;
    }
  }
  return expected;
}

std::vector<ConfigKey> NodeSealConfigKeys() {
  return {
      {"seal_key_file", false,
       "sealed readings: this node's <device id>.seal from `cxsec provision "
       "--seal-master`, mode 0600 (absent: readings are not sealed)"},
      {"seal_mode", false,
       "sealed readings: mac or encrypt (default: encrypt when the .seal "
       "file holds an encryption key, else mac)"},
      {"seal_epoch_readings", false,
       "sealed readings: move to the next key epoch (ratchet, rewrite the "
       ".seal file, erase the old keys) after this many readings in one "
       "epoch; 0 (default): never"},
      {"seal_sequence_file", false,
       "sealed readings over DTLS: the persisted next sequence (required "
       "with seal_key_file when transport = dtls)"},
      {"seal_receipt_window", false,
       "sealed readings over DTLS: a reading acknowledged by the gateway "
       "this many readings ago without a seal receipt counts as "
       "unreceipted (default 3)"},
  };
}

absl::Status ValidateNodeSealConfig(const KeyValueFile& config) {
  const KeyValueFile::Entry* mode = config.Find("seal_mode");
  if (mode != nullptr && mode->value != "mac" && mode->value != "encrypt") {
    return config.LineError(mode->line, "'seal_mode' must be mac or encrypt");
  }
  const bool mioty = config.GetString("transport", "dtls") == "mioty";
  const KeyValueFile::Entry* sequence = config.Find("seal_sequence_file");
  const KeyValueFile::Entry* window = config.Find("seal_receipt_window");
  if (window != nullptr) {
    CXSEC_RETURN_IF_ERROR(
        config.GetInt("seal_receipt_window", 3, 1, 1000).status());
  }
  if (mioty && window != nullptr) {
    return config.LineError(window->line,
                            "'seal_receipt_window' is for transport = dtls: "
                            "a Mioty node has no way back for receipts");
  }
  if (config.Find("seal_key_file") == nullptr) {
    for (const KeyValueFile::Entry* entry : {mode, sequence, window}) {
      if (entry != nullptr) {
        return config.LineError(
            entry->line, absl::StrCat("'", entry->key,
                                      "' needs 'seal_key_file' (the node's "
                                      ".seal file)"));
      }
    }
    return absl::OkStatus();
  }
  if (mioty && sequence != nullptr) {
    return config.LineError(
        sequence->line,
        "'seal_sequence_file' is for transport = dtls: a Mioty node seals "
        "under its packet counter (mioty_counter_file)");
  }
  if (!mioty && sequence == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source(),
        ": 'seal_key_file' with transport = dtls needs 'seal_sequence_file' "
        "(where the node persists its sealed-readings sequence)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<NodeSealer>> OpenNodeSealer(
    const KeyValueFile& config, seal::Transport transport) {
  if (config.Find("seal_key_file") == nullptr) {
    return std::unique_ptr<NodeSealer>();
  }
  CXSEC_RETURN_IF_ERROR(ValidateNodeSealConfig(config));
  NodeSealOptions options;
  options.key_file = config.GetString("seal_key_file");
  options.device_id = config.GetString("device_id");
  if (const KeyValueFile::Entry* mode = config.Find("seal_mode")) {
    options.mode = mode->value == "encrypt" ? seal::SealMode::kEncrypted
                                            : seal::SealMode::kMacOnly;
  }
  options.transport = transport;
  options.sequence_file = config.GetString("seal_sequence_file");
  CXSEC_ASSIGN_OR_RETURN(
      long long epoch_readings,
      config.GetInt("seal_epoch_readings", 0, 0, 0xffffffffLL));
  options.epoch_readings = static_cast<uint32_t>(epoch_readings);
  return NodeSealer::Open(std::move(options));
}

}  // namespace cxsec::node
