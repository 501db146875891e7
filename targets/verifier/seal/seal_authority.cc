#include "targets/verifier/seal/seal_authority.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "core/encoding/base64url.h"
#include "core/encoding/hex.h"
#include "core/seal/boringssl_seal_crypto.h"
#include "core/seal/seal_master_secret.h"
#include "core/status.h"
#include "platforms/posix/files.h"

namespace cxsec::verifier {
namespace {

using json = nlohmann::json;
using seal::HostSealCodec;
using seal::SealCounterState;
using seal::SealReason;
using seal::SealVerdict;

constexpr int kSnapshotVersion = 1;
// A snapshot holds at most this many bytes (about 1 M devices).
constexpr size_t kMaxSnapshotBytes = size_t{1} << 30;

std::optional<seal::Transport> TransportOf(absl::string_view name) {
  if (name == "dtls") return seal::Transport::kDtlsCoap;
  if (name == "mioty") return seal::Transport::kMioty;
  return std::nullopt;
}

// The Mioty frame counter at the end of "mioty-<device>-<counter>".
std::optional<uint32_t> MiotyCounter(absl::string_view device_id,
                                     absl::string_view message_id) {
  std::string prefix = absl::StrCat("mioty-", device_id, "-");
  if (!absl::StartsWith(message_id, prefix)) return std::nullopt;
  absl::string_view digits = message_id.substr(prefix.size());
  uint32_t counter = 0;
  if (digits.empty() || digits.size() > 10 ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(digits, &counter)) {
    return std::nullopt;
  }
  return counter;
}

json StateToJson(const SealCounterState& s) {
  std::string tags;
  for (const auto& tag : s.tags) tags.append(tag.begin(), tag.end());
  return {{"epoch", s.epoch},
          {"hasAccepted", s.has_accepted},
          {"highestSequence", s.highest_sequence},
          {"window", s.window},
          {"gapWindow", s.gap_window},
          {"gaps", s.gaps},
          {"tags", HexEncode(AsBytes(tags))}};
}

absl::StatusOr<SealCounterState> StateFromJson(const json& j) {
  SealCounterState s;
  auto u32 = [&](const char* name, uint32_t* out) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_unsigned() ||
        it->get<uint64_t>() > 0xffffffffu) {
      return false;
    }
    *out = static_cast<uint32_t>(it->get<uint64_t>());
    return true;
  };
  auto gaps = j.find("gaps");
  auto accepted = j.find("hasAccepted");
  auto tags = j.find("tags");
  if (!u32("epoch", &s.epoch) || !u32("highestSequence", &s.highest_sequence) ||
      !u32("window", &s.window) || !u32("gapWindow", &s.gap_window) ||
      gaps == j.end() || !gaps->is_number_unsigned() ||
      accepted == j.end() || !accepted->is_boolean() || tags == j.end() ||
      !tags->is_string()) {
    return absl::DataLossError("a device entry lacks a field");
  }
  s.gaps = gaps->get<uint64_t>();
  s.has_accepted = accepted->get<bool>();
  absl::StatusOr<Bytes> raw =
      HexDecodeExact(tags->get<std::string>(),
                     seal::kReplayWindowSize * seal::kTagSize, "tags");
  if (!raw.ok()) return raw.status();
  for (size_t i = 0; i < seal::kReplayWindowSize; ++i) {
    std::copy_n(raw->begin() + i * seal::kTagSize, seal::kTagSize,
                s.tags[i].begin());
  }
  return s;
}

}  // namespace

bool IsSealedPayload(absl::string_view payload_json, Bytes* bytes) {
  // The gateway's payload is a JSON string of base64url text; the first
  // character encodes the top 6 bits of the first byte, enough to tell
  // 0x20..0x3f (header byte) from anything else without decoding.
  if (payload_json.size() < 3 || payload_json.front() != '"' ||
      payload_json.back() != '"') {
    return false;
  }
  const char first = payload_json[1];
  // Base64url values 8..15 ('I'..'P') are first bytes 0x20..0x3f.
  if (first < 'I' || first > 'P') return false;
  absl::StatusOr<Bytes> decoded =
      Base64UrlDecode(payload_json.substr(1, payload_json.size() - 2));
  if (!decoded.ok() || decoded->empty()) return false;
  const uint8_t header = (*decoded)[0];
  if ((header >> seal::kVersionShift) != 1) return false;
  *bytes = *std::move(decoded);
  return true;
}

struct SealDeviceKeys {
  uint32_t epoch = 0;
  seal::HostSealCodec::Key mac;
  seal::HostSealCodec::Key enc;  // unloaded: check only
};

absl::StatusOr<std::unique_ptr<SealAuthority>> SealAuthority::Open(
    const SealAuthorityOptions& options) {
  if (options.shared_state != nullptr &&
      (!options.state_file.empty() || !options.log_path.empty())) {
    return absl::InvalidArgumentError(
        "sealed readings: shared state excludes a state file and log");
  }
  std::unique_ptr<SealAuthority> authority(new SealAuthority());
  authority->options_ = options;
  authority->options_.cached_devices =
      std::max<size_t>(options.cached_devices, 1);
  CXSEC_ASSIGN_OR_RETURN(authority->mac_master_,
                         seal::LoadSealMasterSecret(options.mac_master_file));
  if (options.enc_master_file.empty()) {
    authority->enc_master_ = authority->mac_master_.Clone();
  } else if (options.enc_master_file != "none") {
    CXSEC_ASSIGN_OR_RETURN(SecretBytes enc,
                           seal::LoadSealMasterSecret(options.enc_master_file));
    authority->enc_master_ = std::move(enc);
  }
  uint64_t offset = 0;
  CXSEC_RETURN_IF_ERROR(authority->LoadSnapshot(&offset));
  CXSEC_RETURN_IF_ERROR(authority->CatchUp(offset));
  return authority;
}

SealAuthority::~SealAuthority() = default;

absl::Status SealAuthority::LoadSnapshot(uint64_t* offset) {
  *offset = 0;
  if (options_.state_file.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> text =
      ReadFileBounded(options_.state_file, kMaxSnapshotBytes);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return absl::OkStatus();
    return absl::Status(text.status().code(),
                        absl::StrCat("sealed-readings state ",
                                     options_.state_file, ": ",
                                     text.status().message()));
  }
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  auto fail = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(
        "sealed-readings state ", options_.state_file, ": ", why,
        "; move it away to rebuild it from the whole telemetry log"));
  };
  if (!doc.is_object() || doc.value("version", 0) != kSnapshotVersion ||
      !doc.contains("logOffset") || !doc["logOffset"].is_number_unsigned() ||
      !doc.contains("devices") || !doc["devices"].is_object()) {
    return fail("not a version 1 snapshot");
  }
  for (auto it = doc["devices"].begin(); it != doc["devices"].end(); ++it) {
    absl::StatusOr<SealCounterState> state = StateFromJson(it.value());
    if (!state.ok()) return fail(absl::StrCat(it.key(), ": ",
                                              state.status().message()));
    states_[it.key()] = *state;
  }
  *offset = doc["logOffset"].get<uint64_t>();
  return absl::OkStatus();
}

absl::Status SealAuthority::CatchUp(uint64_t offset) {
  if (options_.log_path.empty()) return absl::OkStatus();
  std::ifstream in(options_.log_path, std::ios::binary);
  if (!in) return absl::OkStatus();  // no log yet
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  if (offset > size) {
    return absl::DataLossError(absl::StrCat(
        "sealed-readings state ", options_.state_file, " covers ", offset,
        " bytes of ", options_.log_path, ", which has only ", size,
        "; move the state file away to rebuild it from the log"));
  }
  in.seekg(static_cast<std::streamoff>(offset));
  std::string line;
  uint64_t applied = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a torn last line was never acknowledged
    if (line.find("\"seal\":") == std::string::npos) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("seal") || !j["seal"].is_object() ||
        !j.contains("deviceId") || !j["deviceId"].is_string()) {
      continue;
    }
    const json& s = j["seal"];
    if (!s.contains("epoch") || !s["epoch"].is_number_unsigned() ||
        !s.contains("sequence") || !s["sequence"].is_number_unsigned() ||
        !s.contains("tag") || !s["tag"].is_string()) {
      continue;
    }
    absl::StatusOr<Bytes> tag =
        HexDecodeExact(s["tag"].get<std::string>(), seal::kTagSize, "tag");
    if (!tag.ok()) continue;
    std::array<uint8_t, seal::kTagSize> t{};
    std::copy(tag->begin(), tag->end(), t.begin());
    Commit(j["deviceId"].get<std::string>(),
           static_cast<uint32_t>(s["epoch"].get<uint64_t>()),
           static_cast<uint32_t>(s["sequence"].get<uint64_t>()), t);
    ++applied;
  }
  if (applied > 0) {
    std::fprintf(stderr,
                 "cxsec-verifier: sealed readings: %llu from the telemetry "
                 "log applied to the counter state\n",
                 static_cast<unsigned long long>(applied));
  }
  return absl::OkStatus();
}

std::shared_ptr<const SealDeviceKeys> SealAuthority::KeysFor(
    absl::string_view device_id, uint32_t epoch) {
  auto it = keys_.find(device_id);
  if (it != keys_.end() && it->second->epoch == epoch) return it->second;
  auto keys = std::make_shared<SealDeviceKeys>();
  keys->epoch = epoch;
  absl::StatusOr<SecretBytes> mac =
      seal::DeriveSealKey(seal::KeyBranch::kMac, mac_master_, device_id, epoch);
  if (!mac.ok()) return nullptr;
  ByteView raw = mac->Reveal(SecretAccess::Grant());
  if (keys->mac.Load(std::span<const uint8_t>(raw.data(), raw.size())) !=
      SealReason::kNone) {
    return nullptr;
  }
  if (enc_master_.has_value()) {
    absl::StatusOr<SecretBytes> enc = seal::DeriveSealKey(
        seal::KeyBranch::kEncryption, *enc_master_, device_id, epoch);
    if (!enc.ok()) return nullptr;
    ByteView raw_enc = enc->Reveal(SecretAccess::Grant());
    if (keys->enc.Load(std::span<const uint8_t>(raw_enc.data(),
                                                raw_enc.size())) !=
        SealReason::kNone) {
      return nullptr;
    }
  }
  // Cache the device's newest epoch only: readings of an older one are
  // stale anyway, and a burst of them must not evict the current keys.
  if (it == keys_.end() || it->second->epoch < epoch) {
    keys_[std::string(device_id)] = keys;
  }
  return keys;
}

SealCheck SealAuthority::Check(absl::string_view device_id,
                               absl::string_view transport_name,
                               absl::string_view message_id, ByteView sealed) {
  SealCheck check;
  std::optional<seal::Transport> transport = TransportOf(transport_name);
  if (!transport.has_value()) {
    check.rejection = "seal_transport_unknown";
    return check;
  }
  seal::SealedEnvelope envelope;
  const std::span<const uint8_t> bytes(sealed.data(), sealed.size());
  if (SealReason parsed = seal::ParseSealedEnvelope(*transport, bytes, envelope);
      parsed != SealReason::kNone) {
    check.rejection = absl::StrCat("seal_", seal::SealReasonName(parsed));
    return check;
  }
  if (*transport == seal::Transport::kDtlsCoap) {
    check.sequence = envelope.sequence;
  } else {
    std::optional<uint32_t> counter = MiotyCounter(device_id, message_id);
    if (!counter.has_value()) {
      check.rejection = "seal_sequence_unknown";
      return check;
    }
    check.sequence = *counter;
  }
  SealCounterState state;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = states_.find(device_id); it != states_.end()) {
      state = it->second;
      cached = true;
    }
  }
  SharedSealState* shared = options_.shared_state;
  if (shared != nullptr && !cached) {
    absl::StatusOr<SealCounterState> loaded = LoadShared(device_id);
    if (!loaded.ok()) {
      std::fprintf(stderr, "cxsec-verifier: %s\n",
                   std::string(loaded.status().message()).c_str());
      check.rejection = "seal_state_unavailable";
      check.retry = true;
      return check;
    }
    state = *loaded;
  }
  const uint32_t sequence = check.sequence;
  Decide(device_id, *transport, envelope, state, check);
  if (shared != nullptr && cached && check.rejection == "seal_tag_mismatch") {
    // Another instance may have moved the device to a later epoch than the
    // cached one (16 or more epochs later reconstructs wrongly): check
    // once more against the shared state before calling the tag bad.
    absl::StatusOr<SealCounterState> loaded = LoadShared(device_id);
    if (loaded.ok() && loaded->epoch != state.epoch) {
      check = SealCheck{};
      check.sequence = sequence;
      Decide(device_id, *transport, envelope, *loaded, check);
    }
  }
  return check;
}

absl::StatusOr<SealCounterState> SealAuthority::LoadShared(
    absl::string_view device_id) {
  CXSEC_ASSIGN_OR_RETURN(std::optional<SealCounterState> loaded,
                         options_.shared_state->Load(device_id));
  SealCounterState state = loaded.value_or(SealCounterState{});
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(device_id);
  if (it == states_.end() && states_.size() >= options_.cached_devices) {
    // Bounded: drop an arbitrary other device; it is loaded again when
    // it next sends.
    states_.erase(states_.begin());
  }
  states_[std::string(device_id)] = state;
  return state;
}

void SealAuthority::Decide(absl::string_view device_id,
                           seal::Transport transport_value,
                           const seal::SealedEnvelope& envelope,
                           const SealCounterState& state_in, SealCheck& check) {
  const seal::Transport* transport = &transport_value;
  SealCounterState state = state_in;
  auto epoch = seal::ReconstructEpoch(state.epoch, envelope.epoch_low4);
  if (!epoch.ok()) {
    check.rejection = "seal_unknown_epoch";
    return;
  }
  check.epoch = epoch.value();
  std::shared_ptr<const SealDeviceKeys> keys;
  {
    std::lock_guard<std::mutex> lock(mu_);
    keys = KeysFor(device_id, check.epoch);
  }
  if (keys == nullptr) {
    check.rejection = "seal_key_unavailable";
    return;
  }
  check.encrypted = envelope.mode == seal::SealMode::kEncrypted;
  if (check.encrypted && !keys->enc.loaded()) {
    // Check-only deployment: the customer holds the encryption master.
    SealReason verified = HostSealCodec::Verify(
        keys->mac, *transport, envelope, check.epoch, check.sequence);
    if (verified != SealReason::kNone) {
      check.rejection = absl::StrCat("seal_", seal::SealReasonName(verified));
      return;
    }
  } else {
    Bytes reading(envelope.body.size());
    auto opened = HostSealCodec::Open(
        keys->mac, &keys->enc, *transport, envelope, check.epoch,
        check.sequence, std::span<uint8_t>(reading.data(), reading.size()));
    if (!opened.ok()) {
      check.rejection =
          absl::StrCat("seal_", seal::SealReasonName(opened.reason()));
      return;
    }
    check.reading = std::move(reading);
  }
  std::copy(envelope.tag.begin(), envelope.tag.end(), check.tag.begin());
  check.verdict = seal::ApplySealedReading(
      state, check.epoch, check.sequence,
      std::span<const uint8_t, seal::kTagSize>(check.tag));
  check.dedup_message_id =
      absl::StrCat("seal/", check.epoch, "/", check.sequence);
  check.keys = std::move(keys);
}

void SealAuthority::Commit(absl::string_view device_id, uint32_t epoch,
                           uint32_t sequence,
                           const std::array<uint8_t, seal::kTagSize>& tag) {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.shared_state != nullptr && !states_.contains(device_id)) {
    return;  // loaded from the shared state when next needed
  }
  SealCounterState& state = states_[device_id];
  // Anything but kAccepted leaves the state as it was: a line applied twice
  // (catch-up after a snapshot) is a duplicate.
  (void)seal::ApplySealedReading(state, epoch, sequence,
                                 std::span<const uint8_t, seal::kTagSize>(tag));
  dirty_ = true;
}

std::string SealAuthority::Receipt(const SealDeviceKeys* keys,
                                   absl::string_view transport,
                                   uint32_t sequence,
                                   seal::ReceiptVerdict verdict) {
  if (keys == nullptr ||
      TransportOf(transport) != seal::Transport::kDtlsCoap) {
    return "";
  }
  std::array<uint8_t, seal::kReceiptSize> receipt{};
  if (seal::SealReceiptCodec<seal::BoringSslSealCrypto>::Make(
          keys->mac, seal::Transport::kDtlsCoap, verdict, keys->epoch, sequence,
          receipt) != SealReason::kNone) {
    return "";
  }
  return Base64UrlEncode(ByteView(receipt.data(), receipt.size()));
}

void SealAuthority::ForgetCached(absl::string_view device_id) {
  if (options_.shared_state == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  states_.erase(device_id);
}

void SealAuthority::AfterDurable(uint64_t log_offset) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!dirty_ ||
        absl::Now() - last_snapshot_ < options_.snapshot_interval) {
      return;
    }
  }
  absl::Status written = Snapshot(log_offset);
  if (!written.ok()) {
    // The log still holds every reading: the next start catches up from
    // the previous snapshot, only more slowly.
    std::fprintf(stderr, "cxsec-verifier: sealed-readings state: %s\n",
                 std::string(written.message()).c_str());
  }
}

absl::Status SealAuthority::Snapshot(uint64_t log_offset) {
  if (options_.state_file.empty()) return absl::OkStatus();
  std::string text;
  {
    std::lock_guard<std::mutex> lock(mu_);
    json devices = json::object();
    for (const auto& [id, state] : states_) devices[id] = StateToJson(state);
    text = json{{"version", kSnapshotVersion},
                {"logOffset", log_offset},
                {"devices", std::move(devices)}}
               .dump();
    dirty_ = false;
    last_snapshot_ = absl::Now();
  }
  return WriteFileAtomically(options_.state_file, text + "\n", 0600);
}

json SealAuthority::DeviceState(absl::string_view device_id) const {
  if (options_.shared_state != nullptr) {
    absl::StatusOr<std::optional<SealCounterState>> loaded =
        options_.shared_state->Load(device_id);
    if (loaded.ok()) {
      if (!loaded->has_value()) return nullptr;
      return {{"epoch", (*loaded)->epoch},
              {"highestSequence", (*loaded)->highest_sequence},
              {"gaps", (*loaded)->gaps}};
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(device_id);
  if (it == states_.end() || !it->second.has_accepted) return nullptr;
  json state = {{"epoch", it->second.epoch},
                {"highestSequence", it->second.highest_sequence},
                {"gaps", it->second.gaps}};
  // The shared store did not answer: this instance's copy, possibly behind.
  if (options_.shared_state != nullptr) state["cached"] = true;
  return state;
}

std::string SealAuthority::RenderMetrics() const {
  if (options_.shared_state != nullptr) {
    size_t cached = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cached = states_.size();
    }
    std::string out = absl::StrCat(
        "# HELP cxsec_seal_cached_devices Devices whose shared sealed-reading "
        "state this instance caches.\n"
        "# TYPE cxsec_seal_cached_devices gauge\n"
        "cxsec_seal_cached_devices ",
        cached, "\n");
    absl::StatusOr<SharedSealState::Totals> totals =
        options_.shared_state->LoadTotals();
    if (!totals.ok()) return out;  // no cluster-wide numbers this scrape
    return absl::StrCat(
        out,
        "# HELP cxsec_seal_gaps_total Sealed-reading sequences skipped, summed "
        "over devices (readings a gateway may have dropped); with Redis, "
        "cluster-wide (the same on every instance: do not sum).\n"
        "# TYPE cxsec_seal_gaps_total counter\n"
        "cxsec_seal_gaps_total ",
        totals->gaps,
        "\n# HELP cxsec_seal_devices Devices with sealed-reading counter "
        "state.\n"
        "# TYPE cxsec_seal_devices gauge\n"
        "cxsec_seal_devices ",
        totals->devices, "\n");
  }
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t gaps = 0;
  for (const auto& [id, state] : states_) gaps += state.gaps;
  return absl::StrCat(
      "# HELP cxsec_seal_gaps_total Sealed-reading sequences skipped, summed "
      "over devices (readings a gateway may have dropped).\n"
      "# TYPE cxsec_seal_gaps_total counter\n"
      "cxsec_seal_gaps_total ",
      gaps,
      "\n# HELP cxsec_seal_devices Devices with sealed-reading counter state.\n"
      "# TYPE cxsec_seal_devices gauge\n"
      "cxsec_seal_devices ",
      states_.size(), "\n");
}

void SealAuthority::AppendLogFields(const SealCheck& check, std::string* line) {
  // Written by hand: a reading's log line is on every sealed request's
  // path, and a nested JSON object (a std::map per level) cost more than
  // the rest of the sealed work together (seal_authority_benchmark).
  if (check.reading.has_value()) {
    absl::StrAppend(line, ",\"reading\":\"",
                    Base64UrlEncode(ByteView(*check.reading)), "\"");
  }
  absl::StrAppend(line, ",\"seal\":{\"epoch\":", check.epoch,
                  ",\"mode\":\"", check.encrypted ? "encrypted" : "mac",
                  "\",\"sequence\":", check.sequence, ",\"tag\":\"",
                  HexEncode(ByteView(check.tag.data(), check.tag.size())),
                  "\"}");
}

}  // namespace cxsec::verifier
