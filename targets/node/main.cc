// cxsec-node: a battery node, simulated on the host (radio over UDP,
// flash in files).
#include "targets/common/binary_main.h"
#include "targets/node/mioty_sender.h"
#include "targets/node/node_core.h"
#include "targets/node/node_receipts.h"
#include "targets/node/node_seal.h"
#include "platforms/posix/endpoint.h"
#include "transports/dtls/dtls_node.h"

namespace cxsec::node {
namespace {

absl::Status Validate(const KeyValueFile& config) {
  CXSEC_RETURN_IF_ERROR(CheckIdFormat(config, "device_id", 'D', 16));
  CXSEC_RETURN_IF_ERROR(CheckOneOf(config, "transport", {"dtls", "mioty"}));
  CXSEC_RETURN_IF_ERROR(
      config.GetInt("interval_seconds", 60, 1, 86400).status());
  CXSEC_RETURN_IF_ERROR(ValidateMiotyNodeConfig(config));
  CXSEC_RETURN_IF_ERROR(ValidateNodeSealConfig(config));
  return absl::OkStatus();
}

// RunDtls: the 6LoWPAN node (CoAP over DTLS-PSK, transports/dtls).
absl::Status RunDtls(const KeyValueFile& config) {
  CXSEC_ASSIGN_OR_RETURN(
      HostPort gateway,
      ParseHostPort(config.GetString("gateway", "127.0.0.1:5684")));
  dtls::DtlsNodeOptions options;
  options.gateway_host = gateway.host;
  options.gateway_port = gateway.port;
  options.key_file = config.GetString("key_file", "node.key");
  options.reading_marker = config.GetString("reading_marker", "");
  if (options.reading_marker.size() > 64) {
    return absl::InvalidArgumentError("reading_marker: at most 64 bytes");
  }
  // A reading survives a gateway restart of up to ~20 s: 8 sessions, with
  // waits of 0.25 s doubling to 4 s between them.
  options.max_attempts = 8;
  options.retry_backoff = absl::Milliseconds(250);
  CXSEC_ASSIGN_OR_RETURN(long long interval,
                         config.GetInt("interval_seconds", 60, 1, 86400));
  CXSEC_ASSIGN_OR_RETURN(long long count, config.GetInt("post_count", 0, 0, 1 << 30));
  // Sealed readings: each reading's CBOR becomes an envelope carrying the
  // node's own sequence (persisted before it is sent), posted as is.
  CXSEC_ASSIGN_OR_RETURN(std::shared_ptr<NodeSealer> sealer,
                         OpenNodeSealer(config, seal::Transport::kDtlsCoap));
  std::shared_ptr<SealReceiptTracker> receipts;
  if (sealer != nullptr) {
    options.seal_reading = [sealer](ByteView reading) {
      return sealer->SealNext(reading);
    };
    // Seal receipts (docs/SEALED_READINGS.md, "Receipts"): readings the
    // gateway acknowledged but the verifier never receipted are counted
    // and reported inside the next sealed readings ("ur", "rs").
    CXSEC_ASSIGN_OR_RETURN(long long window,
                           config.GetInt("seal_receipt_window", 3, 1, 1000));
    receipts = NewSealReceiptTracker(
        sealer, static_cast<int>(window), [](const std::string& line) {
          std::fprintf(stderr, "cxsec-node: %s\n", line.c_str());
        });
    options.sealed_reading_fields = [receipts] {
      return receipts->NextReadingFields();
    };
    options.on_sealed_acknowledged = [receipts](ByteView envelope,
                                                ByteView answer) {
      receipts->OnAcknowledged(envelope, answer);
    };
  }
  CXSEC_ASSIGN_OR_RETURN(std::unique_ptr<dtls::DtlsNode> node,
                         dtls::DtlsNode::Open(options));
  if (node->device_id() != config.GetString("device_id")) {
    return absl::InvalidArgumentError("key_file belongs to another device_id");
  }
  if (sealer != nullptr) {
    std::fprintf(stderr,
                 "cxsec-node: sealing readings (seal_mode = %s, seal epoch "
                 "%u, next sequence %llu)\n",
                 SealModeName(sealer->mode()), sealer->epoch(),
                 static_cast<unsigned long long>(sealer->next_sequence()));
  }
  // Ask the gateway for a rolled-over key every 10 posts.
  absl::Status run = node->RunPeriodic(absl::Seconds(interval),
                                       static_cast<int>(count), 10, nullptr);
  if (receipts != nullptr) {
    const SealReceiptCounters& r = receipts->counters();
    std::fprintf(stderr,
                 "cxsec-node: seal receipts acknowledged=%llu receipted=%llu "
                 "unreceipted=%llu bad_receipts=%llu highest_receipted=%lld\n",
                 static_cast<unsigned long long>(r.acknowledged),
                 static_cast<unsigned long long>(r.receipted),
                 static_cast<unsigned long long>(r.unreceipted),
                 static_cast<unsigned long long>(r.bad_receipts),
                 static_cast<long long>(r.highest_receipted));
  }
  // Unavailable: readings went undelivered (a local fault such as an
  // unwritable seal_sequence_file comes back as it is).
  if (run.code() == absl::StatusCode::kUnavailable && node->handshakes() == 0) {
    // Not one response in the whole run: the node cannot tell a gateway
    // that is down from one that refuses its key, so it names both.
    return absl::Status(
        run.code(),
        absl::StrCat(run.message(), ". No DTLS session with the gateway at ",
                     gateway.host, ":", gateway.port,
                     " ever carried a "
                     "response for ",
                     node->device_id(), " (key epoch ", node->epoch(),
                     "): either the gateway is not reachable, "
                     "or it refuses this key (an epoch retired by `cxsec "
                     "rollover --retire`, or a device it does not know); a "
                     "refused node needs a new key file from `cxsec "
                     "provision` (docs/DTLS_AND_KEYS.md)"));
  }
  return run;
}

absl::Status Run(const KeyValueFile& config) {
  if (config.GetString("transport") == "mioty") return RunMiotyNode(config);
  // Validate() admits only "dtls" (the default) and "mioty".
  return RunDtls(config);
}

}  // namespace
}  // namespace cxsec::node

int main(int argc, char** argv) {
  cxsec::TargetBinary binary{
      .name = "cxsec-node",
      .summary =
          "A simulated battery node: posts CBOR telemetry to a gateway "
          "over CoAP/DTLS-PSK or Mioty.",
      .composition = cxsec::node::kNodeComposition,
      .config_keys =
          {
              {"device_id", true, "this node's id: D + 16 hex digits"},
              {"transport", false, "dtls (default) or mioty"},
              {"gateway", false, "gateway address, host:port"},
              {"key_file", false,
               "DTLS device key file from `cxsec provision`, mode 0600 "
               "(default node.key)"},
              {"interval_seconds", false, "seconds between posts (1..86400)"},
              {"flash_dir", false, "simulated flash (boot slots)"},
              {"post_count", false, "stop after this many posts (0: never)"},
              {"reading_marker", false,
               "DTLS: text (at most 64 bytes) added to every reading as "
               "\"m\", to check where readings are visible"},
          },
      .validate = cxsec::node::Validate,
      .run = cxsec::node::Run,
  };
  for (const cxsec::ConfigKey& key : cxsec::node::MiotyNodeConfigKeys()) {
    binary.config_keys.push_back(key);
  }
  for (const cxsec::ConfigKey& key : cxsec::node::NodeSealConfigKeys()) {
    binary.config_keys.push_back(key);
  }
  return cxsec::RunTargetBinary(binary, argc, argv);
}
