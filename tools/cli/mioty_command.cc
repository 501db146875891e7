// `cxsec mioty`: Mioty (TS-UNB) frames and the gateway's Mioty key store.
//
//   cxsec mioty encode --eui HEX --key HEX --counter N [--long] [--mpf HEX]
//                      [--short HEX] PAYLOAD_HEX        prints the MPDU in hex
//   cxsec mioty decode --keys FILE [--state DIR] MPDU_HEX
//                      prints device, counter and plaintext, or why it failed
//   cxsec mioty keys add    --keys FILE --eui HEX --key HEX [--short HEX]
//                           [--device-id D...]   the id its readings go under
//                           [--min-counter N]   lowest counter the gateway
//                                               accepts from the device
//   cxsec mioty keys set    --keys FILE --eui HEX --min-counter N
//   cxsec mioty keys remove --keys FILE --eui HEX
//   cxsec mioty keys import --keys FILE SOURCE      (CSV or JSON, mode 0600)
//   cxsec mioty keys list   --keys FILE              (never prints keys)
//   cxsec mioty state show  --state DIR --eui HEX    the gateway's replay state
//   cxsec mioty state seed  --state DIR --eui HEX --counter N
//                      raises a device's last accepted counter (gateway
//                      stopped)
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/cli/command_line.h"
#include "core/encoding/hex.h"
#include "core/mioty/frame.h"
#include "core/status.h"
#include "platforms/posix/files.h"
#include "tools/cli/command_registry.h"
#include "transports/mioty/key_store.h"
#include "transports/mioty/replay_guard.h"

namespace cxsec::cli {
namespace {

using namespace cxsec::mioty;

constexpr char kUsage[] =
    "Usage:\n"
    "  cxsec mioty encode --eui HEX --key HEX --counter N [--long] [--mpf "
    "HEX]\n"
    "                     [--short HEX] PAYLOAD_HEX\n"
    "  cxsec mioty decode --keys FILE [--state DIR] MPDU_HEX\n"
    "  cxsec mioty keys add --keys FILE --eui HEX --key HEX [--short HEX]\n"
    "                       [--min-counter N] [--device-id D...]\n"
    "  cxsec mioty keys set --keys FILE --eui HEX --min-counter N\n"
    "  cxsec mioty keys remove --keys FILE --eui HEX\n"
    "  cxsec mioty keys import --keys FILE SOURCE\n"
    "  cxsec mioty keys list --keys FILE\n"
    "  cxsec mioty state show --state DIR --eui HEX\n"
    "  cxsec mioty state seed --state DIR --eui HEX --counter N\n";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "cxsec mioty: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

absl::StatusOr<CommandLine> ParseFlags(std::vector<FlagSpec> specs, int argc,
                                       const char* const* argv) {
  CommandLine cl(std::move(specs));
  CXSEC_RETURN_IF_ERROR(cl.Parse(argc, argv));
  return cl;
}

// ParseCounter reads a 32-bit packet counter: decimal digits only (no sign,
// no spaces, which absl::SimpleAtoi would let through).
absl::StatusOr<uint32_t> ParseCounter(absl::string_view text) {
  uint64_t value = 0;
  bool ok = !text.empty() && text.size() <= 10;
  for (char c : text) {
    if (!ok || c < '0' || c > '9') {
      ok = false;
      break;
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!ok || value > UINT32_MAX) {
    return absl::InvalidArgumentError(
        "flag '--counter' must be an integer between 0 and 4294967295");
  }
  return static_cast<uint32_t>(value);
}

absl::Status Encode(int argc, const char* const* argv) {
  CXSEC_ASSIGN_OR_RETURN(
      CommandLine cl,
      ParseFlags({{"eui", true, "the device's EUI-64 (16 hex digits)", "HEX"},
                  {"key", true, "the 16-byte network key (32 hex digits)", "HEX"},
                  {"counter", true, "the 32-bit packet counter", "N"},
                  {"long", false, "long addressing (EUI-64 in the frame)", ""},
                  {"mpf", true, "MAC payload format byte (2 hex digits)", "HEX"},
                  {"short", true, "short address (default: EUI's last 2 bytes)",
                   "HEX"}},
                 argc, argv));
  if (cl.Has("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  if (cl.positionals().size() != 1) {
    return absl::InvalidArgumentError("encode needs exactly one PAYLOAD_HEX");
  }
  UplinkParams params;
  CXSEC_ASSIGN_OR_RETURN(std::string eui_text, cl.RequiredValue("eui"));
  CXSEC_ASSIGN_OR_RETURN(params.eui, EuiFromHex(eui_text));
  params.short_address = ShortAddressOf(params.eui);
  if (cl.Has("short")) {
    CXSEC_ASSIGN_OR_RETURN(params.short_address,
                           ShortAddressFromHex(cl.Value("short")));
  }
  CXSEC_ASSIGN_OR_RETURN(std::string counter_text, cl.RequiredValue("counter"));
  CXSEC_ASSIGN_OR_RETURN(params.counter, ParseCounter(counter_text));
  params.long_addressing = cl.Has("long");
  if (cl.Has("mpf")) {
    CXSEC_ASSIGN_OR_RETURN(Bytes mpf, HexDecodeExact(cl.Value("mpf"), 1, "--mpf"));
    params.mpf = mpf[0];
  }
  CXSEC_ASSIGN_OR_RETURN(std::string key_text, cl.RequiredValue("key"));
  CXSEC_ASSIGN_OR_RETURN(Bytes raw_key,
                         HexDecodeExact(key_text, kNetworkKeySize, "--key"));
  SecretBytes secret = SecretBytes::CopyFrom(raw_key);
  SecureZero(raw_key.data(), raw_key.size());
  CXSEC_ASSIGN_OR_RETURN(MiotyNetworkKey key, MiotyNetworkKey::FromBytes(
                                                  secret.Reveal(SecretAccess::Grant())));
  CXSEC_ASSIGN_OR_RETURN(Bytes payload,
                         HexDecode(cl.positionals()[0], 2 * kMaxMpduSize));
  CXSEC_ASSIGN_OR_RETURN(Bytes mpdu, EncodeUplink(key, params, payload));
  std::printf("%s\n", HexEncode(mpdu).c_str());
  return absl::OkStatus();
}

// LoadState reads the gateway's replay state for `eui` without creating
// anything (decode is a read-only diagnostic).
absl::StatusOr<ReplayState> LoadState(const std::string& dir, const Eui64& eui) {
  std::string path = absl::StrCat(dir, "/", EuiToHex(eui), ".counter");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return ReplayState{};
  CXSEC_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 256));
  return ReplayGuard::DecodeState(text, path);
}

absl::Status Decode(int argc, const char* const* argv) {
  CXSEC_ASSIGN_OR_RETURN(
      CommandLine cl,
      ParseFlags({{"keys", true, "the gateway's Mioty key store (mode 0600)", "FILE"},
                  {"state", true,
                   "the gateway's replay state directory: rebuild the counter "
                   "from it and report whether the frame would be a replay",
                   "DIR"}},
                 argc, argv));
  if (cl.Has("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  if (cl.positionals().size() != 1) {
    return absl::InvalidArgumentError("decode needs exactly one MPDU_HEX");
  }
  CXSEC_ASSIGN_OR_RETURN(std::string keys_path, cl.RequiredValue("keys"));
  CXSEC_ASSIGN_OR_RETURN(MiotyKeyStore store, MiotyKeyStore::Load(keys_path));
  CXSEC_ASSIGN_OR_RETURN(Bytes mpdu,
                         HexDecode(cl.positionals()[0], 2 * (kMaxMpduSize + 1)));
  CXSEC_ASSIGN_OR_RETURN(FrameHeader header, ParseFrameHeader(mpdu));
  std::vector<const MiotyDevice*> candidates;
  if (header.long_addressing) {
    const MiotyDevice* device = store.FindByEui(header.eui);
    if (device == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("unknown EUI-64 ", EuiToHex(header.eui)));
    }
    candidates.push_back(device);
  } else {
    for (const MiotyDevice* d : store.CandidatesFor(header.short_address)) {
      candidates.push_back(d);
    }
    if (candidates.empty()) {
      return absl::NotFoundError(absl::StrCat(
          "unknown short address ", absl::Hex(header.short_address, absl::kZeroPad4)));
    }
  }
  uint8_t plain[kMaxMpduSize];
  absl::Status last = absl::UnauthenticatedError("MIC mismatch");
  for (const MiotyDevice* device : candidates) {
    std::vector<uint32_t> counters;
    ReplayState state;
    if (cl.Has("state")) {
      CXSEC_ASSIGN_OR_RETURN(state, LoadState(cl.Value("state"), device->eui));
      std::optional<uint32_t> c = ReconstructCounter(
          ReplayGuard::ReferenceCounter(state, device->min_counter),
          header.counter_low24);
      if (c) counters.push_back(*c);
    } else {
      // Offline, the upper 8 counter bits are unknown: try all 256.
      for (uint32_t high = 0; high < 256; ++high) {
        counters.push_back((high << 24) | header.counter_low24);
      }
    }
    for (uint32_t counter : counters) {
      absl::StatusOr<VerifiedFrame> frame =
          VerifyUplink(device->key, header, device->eui, counter, mpdu,
                       absl::MakeSpan(plain));
      if (!frame.ok()) {
        last = frame.status();
        continue;
      }
      std::printf("device %s\n", EuiToHex(device->eui).c_str());
      if (!frame->long_addressing) {
        std::printf("short_address %04x\n", frame->short_address);
      }
      std::printf("counter %u\n", frame->counter);
      if (frame->mpf) std::printf("mpf %02x\n", *frame->mpf);
      std::printf("payload %s\n", HexEncode(frame->payload).c_str());
      if (cl.Has("state")) {
        absl::StatusOr<ReplayGuard> guard = ReplayGuard::Open(cl.Value("state"), {});
        if (guard.ok()) {
          absl::Status verdict =
              guard->Admit(state, counter, device->min_counter).status();
          std::printf("replay_check %s\n",
                      verdict.ok() ? "would be accepted"
                                   : std::string(verdict.message()).c_str());
        }
      }
      return absl::OkStatus();
    }
  }
  if (candidates.size() > 1) {
    return absl::UnauthenticatedError(absl::StrCat(
        "no key of the ", candidates.size(), " devices with short address ",
        absl::Hex(header.short_address, absl::kZeroPad4), " verifies the frame"));
  }
  return last;
}

absl::Status Keys(int argc, const char* const* argv) {
  if (argc < 1) {
    return absl::InvalidArgumentError(
        "keys needs add, set, remove, import or list");
  }
  const std::string action = argv[0];
  CXSEC_ASSIGN_OR_RETURN(
      CommandLine cl,
      ParseFlags(
          {{"keys", true, "the gateway's Mioty key store (mode 0600)", "FILE"},
           {"eui", true, "EUI-64 (16 hex digits)", "HEX"},
           {"key", true, "network key (32 hex digits)", "HEX"},
           {"short", true, "short address (4 hex digits)", "HEX"},
           {"min-counter", true,
            "lowest frame counter the gateway accepts from the device, "
            "also with no replay state for it (default 0)",
            "N"},
           {"device-id", true,
            "the id the gateway sends its readings under, as registered at "
            "the verifier (default: D + the EUI-64 in upper case)",
            "D..."}},
          argc - 1, argv + 1));
  if (cl.Has("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  CXSEC_ASSIGN_OR_RETURN(std::string path, cl.RequiredValue("keys"));
  auto load_or_new = [&]() -> absl::StatusOr<MiotyKeyStore> {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return MiotyKeyStore();
    return MiotyKeyStore::Load(path);
  };
  if (action == "list") {
    CXSEC_ASSIGN_OR_RETURN(MiotyKeyStore store, MiotyKeyStore::Load(path));
    for (const MiotyDevice* d : store.Devices()) {
      if (d->min_counter > 0) {
        std::printf("%s %04x %s min_counter=%u\n", EuiToHex(d->eui).c_str(),
                    d->short_address, d->device_id.c_str(), d->min_counter);
      } else {
        std::printf("%s %04x %s\n", EuiToHex(d->eui).c_str(),
                    d->short_address, d->device_id.c_str());
      }
    }
    return absl::OkStatus();
  }
  CXSEC_ASSIGN_OR_RETURN(MiotyKeyStore store, load_or_new());
  if (action == "add") {
    MiotyDeviceRecord record;
    CXSEC_ASSIGN_OR_RETURN(std::string eui, cl.RequiredValue("eui"));
    CXSEC_ASSIGN_OR_RETURN(record.eui, EuiFromHex(eui));
    record.short_address = ShortAddressOf(record.eui);
    if (cl.Has("short")) {
      CXSEC_ASSIGN_OR_RETURN(record.short_address, ShortAddressFromHex(cl.Value("short")));
    }
    if (cl.Has("min-counter")) {
      CXSEC_ASSIGN_OR_RETURN(record.min_counter,
                             MinCounterFromText(cl.Value("min-counter")));
    }
    if (cl.Has("device-id")) {
      CXSEC_ASSIGN_OR_RETURN(record.device_id,
                             DeviceIdFromText(cl.Value("device-id")));
    }
    CXSEC_ASSIGN_OR_RETURN(std::string key_text, cl.RequiredValue("key"));
    CXSEC_ASSIGN_OR_RETURN(Bytes raw, HexDecodeExact(key_text, kNetworkKeySize, "--key"));
    record.network_key = SecretBytes::CopyFrom(raw);
    SecureZero(raw.data(), raw.size());
    std::string collision;
    CXSEC_RETURN_IF_ERROR(store.Add(std::move(record), &collision));
    if (!collision.empty()) {
      std::fprintf(stderr, "cxsec mioty: note: shared %s\n", collision.c_str());
    }
  } else if (action == "set") {
    CXSEC_ASSIGN_OR_RETURN(std::string eui, cl.RequiredValue("eui"));
    CXSEC_ASSIGN_OR_RETURN(Eui64 parsed, EuiFromHex(eui));
    CXSEC_ASSIGN_OR_RETURN(std::string floor, cl.RequiredValue("min-counter"));
    CXSEC_ASSIGN_OR_RETURN(uint32_t min_counter, MinCounterFromText(floor));
    CXSEC_RETURN_IF_ERROR(store.SetMinCounter(parsed, min_counter));
  } else if (action == "remove") {
    CXSEC_ASSIGN_OR_RETURN(std::string eui, cl.RequiredValue("eui"));
    CXSEC_ASSIGN_OR_RETURN(Eui64 parsed, EuiFromHex(eui));
    CXSEC_RETURN_IF_ERROR(store.Remove(parsed));
  } else if (action == "import") {
    if (cl.positionals().size() != 1) {
      return absl::InvalidArgumentError("keys import needs exactly one SOURCE file");
    }
    CXSEC_ASSIGN_OR_RETURN(ImportReport report, store.ImportFile(cl.positionals()[0]));
    std::printf("imported %zu devices\n", report.added);
    for (const std::string& c : report.collisions) {
      std::printf("collision: %s (each key is tried per frame)\n", c.c_str());
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown keys action '", action, "' (add, set, remove, import, list)"));
  }
  return store.Save(path);
}

std::string DescribeState(const ReplayState& state) {
  if (!state.highest.has_value()) return "no frame accepted yet";
  return absl::StrCat("last accepted counter ", *state.highest);
}

// State shows or seeds the replay state of one device. Seeding is for a
// device that joins this gateway with its counter already high (above 2^24
// the gateway cannot rebuild the upper byte from nothing): it sets the
// last accepted counter, so the device's next frame must be above it. It
// only ever raises the counter: lowering it would let recorded frames be
// replayed. The gateway caches states while it runs, so seed it stopped.
absl::Status State(int argc, const char* const* argv) {
  if (argc < 1) return absl::InvalidArgumentError("state needs show or seed");
  const std::string action = argv[0];
  CXSEC_ASSIGN_OR_RETURN(
      CommandLine cl,
      ParseFlags({{"state", true, "the gateway's replay state directory", "DIR"},
                  {"eui", true, "EUI-64 (16 hex digits)", "HEX"},
                  {"counter", true, "seed: the device's last used counter", "N"}},
                 argc - 1, argv + 1));
  if (cl.Has("help")) {
    std::fputs(kUsage, stdout);
    return absl::OkStatus();
  }
  CXSEC_ASSIGN_OR_RETURN(std::string dir, cl.RequiredValue("state"));
  CXSEC_ASSIGN_OR_RETURN(std::string eui_text, cl.RequiredValue("eui"));
  CXSEC_ASSIGN_OR_RETURN(Eui64 eui, EuiFromHex(eui_text));
  if (action == "show") {
    CXSEC_ASSIGN_OR_RETURN(ReplayState state, LoadState(dir, eui));
    std::printf("%s %s\n", EuiToHex(eui).c_str(), DescribeState(state).c_str());
    return absl::OkStatus();
  }
  if (action != "seed") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown state action '", action, "' (show, seed)"));
  }
  CXSEC_ASSIGN_OR_RETURN(std::string counter_text, cl.RequiredValue("counter"));
  CXSEC_ASSIGN_OR_RETURN(uint32_t counter, ParseCounter(counter_text));
  CXSEC_ASSIGN_OR_RETURN(ReplayGuard guard, ReplayGuard::Open(dir, ReplayPolicy{}));
  CXSEC_ASSIGN_OR_RETURN(ReplayState current, guard.State(eui));
  if (current.highest.has_value() && *current.highest >= counter) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device ", EuiToHex(eui), " already has last accepted counter ",
        *current.highest, "; seeding only raises it (a lower value would let "
        "recorded frames be replayed)"));
  }
  ReplayState seeded;
  seeded.highest = counter;
  seeded.seen = 1;  // the counter itself counts as used
  CXSEC_RETURN_IF_ERROR(guard.Commit(eui, seeded));
  std::printf("%s %s\n", EuiToHex(eui).c_str(), DescribeState(seeded).c_str());
  return absl::OkStatus();
}

int RunMiotyCommand(int argc, const char* const* argv) {
  if (argc < 1 || std::string(argv[0]) == "--help") {
    std::fputs(kUsage, argc < 1 ? stderr : stdout);
    return argc < 1 ? 2 : 0;
  }
  const std::string sub = argv[0];
  absl::Status status;
  if (sub == "encode") {
    status = Encode(argc - 1, argv + 1);
  } else if (sub == "decode") {
    status = Decode(argc - 1, argv + 1);
  } else if (sub == "keys") {
    status = Keys(argc - 1, argv + 1);
  } else if (sub == "state") {
    status = State(argc - 1, argv + 1);
  } else {
    status = absl::InvalidArgumentError(
        absl::StrCat("unknown subcommand '", sub, "'\n", kUsage));
  }
  return status.ok() ? 0 : Fail(status);
}

}  // namespace
}  // namespace cxsec::cli

CXSEC_REGISTER_COMMAND(mioty, "Mioty (TS-UNB) frames and the gateway key store",
                       cxsec::cli::RunMiotyCommand);
