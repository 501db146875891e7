// See dtls_node.h.
#include "transports/dtls/dtls_node.h"

#include <arpa/inet.h>
#include <coap3/coap.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/crypto/primitives.h"
#include "core/deployment/deployment_keys.h"
#include "core/deployment/telemetry_cbor.h"
#include "platforms/posix/files.h"
#include "transports/dtls/identity.h"
#include "transports/dtls/libcoap_setup.h"
#include "transports/dtls/message_ids.h"

namespace cxsec::dtls {
namespace {

DtlsNode* NodeOf(coap_session_t* session) {
  return static_cast<DtlsNode*>(
      coap_get_app_data(coap_session_get_context(session)));
}

bool SameToken(const coap_pdu_t* pdu, const Bytes& token) {
  coap_bin_const_t t = coap_pdu_get_token(pdu);
  return t.length == token.size() &&
         std::equal(token.begin(), token.end(), t.s);
}

coap_response_t OnResponse(coap_session_t* session, const coap_pdu_t*,
                           const coap_pdu_t* received, const coap_mid_t) {
  DtlsNode* node = NodeOf(session);
  if (!SameToken(received, node->pending_.token)) return COAP_RESPONSE_OK;
  coap_pdu_code_t code = coap_pdu_get_code(received);
  node->pending_.response.code = (code >> 5) * 100 + (code & 0x1f);
  node->pending_.response.piggybacked =
      coap_pdu_get_type(received) == COAP_MESSAGE_ACK;
  size_t length = 0;
  const uint8_t* data = nullptr;
  if (coap_get_data(received, &length, &data)) {
    node->pending_.response.body.assign(data, data + length);
  }
  node->pending_.done = true;
  return COAP_RESPONSE_OK;
}

void OnNack(coap_session_t* session, const coap_pdu_t*,
            const coap_nack_reason_t, const coap_mid_t) {
  DtlsNode* node = NodeOf(session);
  node->pending_.failed = true;
}

int OnEvent(coap_session_t* session, const coap_event_t event) {
  DtlsNode* node = NodeOf(session);
  switch (event) {
    case COAP_EVENT_DTLS_CLOSED:
    case COAP_EVENT_DTLS_ERROR:
    case COAP_EVENT_SESSION_FAILED:
    case COAP_EVENT_SESSION_CLOSED:
      node->session_lost_ = true;
      node->pending_.failed = true;
      break;
    default:
      break;
  }
  return 0;
}

}  // namespace

absl::StatusOr<NodeKey> LoadNodeKey(const std::string& path) {
  absl::StatusOr<std::string> text = ReadPrivateFile(path, 4096);
  if (!text.ok()) return text.status();
  absl::StatusOr<NodeKey> key = ParseNodeKeyFile(*text, path);
  SecureZero(text->data(), text->size());
  return key;
}

absl::StatusOr<std::unique_ptr<DtlsNode>> DtlsNode::Open(DtlsNodeOptions options) {
  absl::StatusOr<NodeKey> key = LoadNodeKey(options.key_file);
  if (!key.ok()) return key.status();
  StartLibcoap();
  std::unique_ptr<DtlsNode> node(new DtlsNode(std::move(options), std::move(*key)));
  {
    std::lock_guard<std::mutex> lock(GnutlsPriorityMutex());
    node->context_ = coap_new_context(nullptr);
  }
  if (node->context_ == nullptr) return absl::InternalError("coap_new_context failed");
  coap_set_app_data(node->context_, node.get());
  coap_register_response_handler(node->context_, OnResponse);
  coap_register_nack_handler(node->context_, OnNack);
  coap_register_event_handler(node->context_, OnEvent);
  // A random token prefix per boot keeps message ids unique across reboots.
  absl::StatusOr<Bytes> seed = RandomBytes(8);
  if (!seed.ok()) return seed.status();
  for (uint8_t b : *seed) node->next_token_ = (node->next_token_ << 8) | b;
  return node;
}

DtlsNode::DtlsNode(DtlsNodeOptions options, NodeKey key)
    : options_(std::move(options)), key_(std::move(key)) {}

DtlsNode::~DtlsNode() {
  DropSession();
  if (context_ != nullptr) coap_free_context(context_);
}

void DtlsNode::DropSession() {
  if (session_ != nullptr) {
    // A CON still queued for retransmission holds its own reference to the
    // session, so releasing ours alone left the session and that PDU alive
    // after a lost session (LeakSanitizer: 414 bytes per failed attempt).
    // Disconnecting first drops what is queued, then the release frees it.
    coap_session_disconnected(session_, COAP_NACK_NOT_DELIVERABLE);
    coap_session_release(session_);
  }
  session_ = nullptr;
  session_lost_ = false;
  session_established_ = false;
}

absl::Status DtlsNode::EnsureSession() {
  if (session_ != nullptr && !session_lost_) return absl::OkStatus();
  DropSession();
  coap_address_t address;
  coap_address_init(&address);
  address.addr.sin.sin_family = AF_INET;
  address.addr.sin.sin_port = htons(options_.gateway_port);
  address.size = sizeof(address.addr.sin);
  if (inet_pton(AF_INET, options_.gateway_host.c_str(),
                &address.addr.sin.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gateway host '", options_.gateway_host, "' is not an IPv4 address"));
  }
  std::string identity = options_.bare_identity
                             ? key_.device_id
                             : FormatPskIdentity(key_.device_id, key_.epoch);
  ByteView psk = key_.psk.Reveal(SecretAccess::Grant());
  coap_dtls_cpsk_t setup{};
  setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
  setup.psk_info.identity.s = reinterpret_cast<const uint8_t*>(identity.data());
  setup.psk_info.identity.length = identity.size();
  setup.psk_info.key.s = psk.data();
  setup.psk_info.key.length = psk.size();
  session_ = coap_new_client_session_psk2(context_, nullptr, &address,
                                          COAP_PROTO_DTLS, &setup);
  if (session_ == nullptr) {
    return absl::UnavailableError("cannot create a DTLS session to the gateway");
  }
  coap_session_set_max_retransmit(session_, options_.max_retransmit);
  coap_fixed_point_t ack_timeout{static_cast<uint16_t>(options_.ack_timeout_seconds), 0};
  coap_session_set_ack_timeout(session_, ack_timeout);
  return absl::OkStatus();
}

absl::StatusOr<CoapResponse> DtlsNode::Exchange(int method,
                                                absl::string_view path,
                                                ByteView payload,
                                                bool send_reading_id,
                                                int content_format) {
  Bytes token(8);
  uint64_t t = next_token_++;
  for (int i = 7; i >= 0; --i, t >>= 8) token[i] = static_cast<uint8_t>(t);
  absl::Status last = absl::UnavailableError("no attempt made");
  absl::Duration backoff = options_.retry_backoff;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (attempt > 0 && backoff > absl::ZeroDuration()) {
      const absl::Time resume = absl::Now() + backoff;
      while (absl::Now() < resume) coap_io_process(context_, 50);
      backoff = std::min(backoff * 2, absl::Seconds(4));
    }
    absl::Status session = EnsureSession();
    if (!session.ok()) return session;
    coap_pdu_t* pdu = coap_new_pdu(COAP_MESSAGE_CON,
                                   static_cast<coap_pdu_code_t>(method), session_);
    if (pdu == nullptr) return absl::InternalError("coap_new_pdu failed");
    coap_add_token(pdu, token.size(), token.data());
    coap_add_option(pdu, COAP_OPTION_URI_PATH, path.size(),
                    reinterpret_cast<const uint8_t*>(path.data()));
    if (!payload.empty()) {
      uint8_t format[4];
      coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                      coap_encode_var_safe(
                          format, sizeof(format),
                          static_cast<unsigned>(content_format)),
                      format);
    }
    if (send_reading_id) {
      // The token doubles as the reading id: random per boot, a counter
      // per request, the same in every attempt. Options go in ascending
      // order, so this one (65000) comes last.
      coap_add_option(pdu, kReadingIdOption, token.size(), token.data());
    }
    if (!payload.empty()) coap_add_data(pdu, payload.size(), payload.data());
    pending_ = Pending{token};
    if (coap_send(session_, pdu) == COAP_INVALID_MID) {
      last = absl::UnavailableError("coap_send failed");
      DropSession();
      continue;
    }
    absl::Time deadline = absl::Now() + options_.request_timeout;
    while (!pending_.done && !pending_.failed && absl::Now() < deadline) {
      coap_io_process(context_, 50);
    }
    if (pending_.done) {
      // libcoap 4.3.1 does not raise DTLS_CONNECTED to the application, so
      // a session counts as one handshake once it carried a response.
      if (!session_established_) ++handshakes_;
      session_established_ = true;
      return pending_.response;
    }
    last = pending_.failed
               ? absl::UnavailableError("the gateway did not answer (session "
                                        "lost, handshake failed or retries "
                                        "exhausted)")
               : absl::DeadlineExceededError("request timed out");
    // Session lost or never established: handshake again and resend.
    DropSession();
  }
  return last;
}

absl::StatusOr<Bytes> DtlsNode::PostForAnswer(ByteView payload,
                                              int content_format) {
  absl::StatusOr<CoapResponse> response =
      Exchange(COAP_REQUEST_POST, "t", payload, /*send_reading_id=*/true,
               content_format);
  if (!response.ok()) return response.status();
  if (response->code != 204) {
    return absl::UnavailableError(
        absl::StrCat("gateway answered ", response->code / 100, ".",
                     response->code % 100 < 10 ? "0" : "", response->code % 100));
  }
  return std::move(response->body);
}

absl::Status DtlsNode::Post(ByteView payload, int content_format) {
  return PostForAnswer(payload, content_format).status();
}

absl::Status DtlsNode::PostReading(bool event, int64_t temperature_mc) {
  nlohmann::json data = {{"t", temperature_mc}};
  if (!options_.reading_marker.empty()) data["m"] = options_.reading_marker;
  if (options_.seal_reading && options_.sealed_reading_fields) {
    for (const auto& [key, value] : options_.sealed_reading_fields()) {
      data[key] = value;
    }
  }
  Bytes reading = EncodeTelemetry(event, data);
  if (!options_.seal_reading) return Post(reading);
  absl::StatusOr<Bytes> envelope = options_.seal_reading(reading);
  if (!envelope.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sealed readings: cannot seal a reading: ", envelope.status().message()));
  }
  absl::StatusOr<Bytes> answer =
      PostForAnswer(*envelope, kContentFormatOctetStream);
  if (!answer.ok()) return answer.status();
  if (options_.on_sealed_acknowledged) {
    options_.on_sealed_acknowledged(*envelope, *answer);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> DtlsNode::RotateKeyIfOffered() {
  absl::StatusOr<CoapResponse> response = Exchange(COAP_REQUEST_GET, "k", {});
  if (!response.ok()) return response.status();
  if (response->code == 404) return false;
  if (response->code != 205) {
    return absl::UnavailableError(
        absl::StrCat("key request answered with code ", response->code));
  }
  absl::StatusOr<KeyUpdate> update = DecodeKeyUpdate(response->body);
  if (!update.ok()) return update.status();
  if (update->next_epoch <= key_.epoch) {
    return absl::InvalidArgumentError("gateway offered an older key epoch");
  }
  absl::StatusOr<SecretBytes> next = UnwrapNextPsk(
      key_.psk, key_.device_id, update->next_epoch, update->wrapped);
  if (!next.ok()) return next.status();
  NodeKey rotated{key_.device_id, key_.pan_id, update->next_epoch, std::move(*next)};
  std::string text = FormatNodeKeyFile(rotated);
  absl::Status written = WriteFileAtomically(options_.key_file, text, 0600);
  SecureZero(text.data(), text.size());
  if (!written.ok()) return written;
  key_ = std::move(rotated);
  DropSession();  // the next request handshakes with the new key
  return true;
}

absl::Status DtlsNode::RunPeriodic(absl::Duration interval, int count,
                                   int rekey_every, const std::atomic<bool>* stop) {
  // A reading without a 2.04 is not delivered; the caller (cxsec-node's
  // exit status) must learn it, not only the log.
  int attempted = 0;
  int failed = 0;
  absl::Status last_failure;
  for (int i = 0; (count <= 0 || i < count) && !(stop && stop->load()); ++i) {
    absl::Status posted = PostReading(false, 21000 + i % 1000);
    if (posted.code() == absl::StatusCode::kFailedPrecondition) return posted;
    ++attempted;
    if (!posted.ok()) {
      ++failed;
      last_failure = posted;
      std::fprintf(stderr, "cxsec-node: post failed: %s\n",
                   std::string(posted.message()).c_str());
    }
    if (rekey_every > 0 && (i + 1) % rekey_every == 0) {
      absl::StatusOr<bool> rotated = RotateKeyIfOffered();
      if (rotated.ok() && *rotated) {
        std::fprintf(stderr, "cxsec-node: switched to key epoch %u\n", key_.epoch);
      }
    }
    absl::Time until = absl::Now() + interval;
    while (absl::Now() < until && !(stop && stop->load())) {
      coap_io_process(context_, 50);
    }
  }
  if (failed > 0) {
    return absl::UnavailableError(absl::StrCat(
        failed, " of ", attempted,
        " readings not delivered (no 2.04 from the gateway); last: ",
        last_failure.message()));
  }
  return absl::OkStatus();
}

}  // namespace cxsec::dtls
