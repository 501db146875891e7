// See dtls_server.h. Everything that touches libcoap runs on the server
// thread (DtlsServer::Run); the C callbacks find their state through the
// context's app data.
#include "transports/dtls/dtls_server.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/crypto/primitives.h"
#include "core/deployment/deployment_keys.h"
#include "core/deployment/telemetry_cbor.h"
#include "core/encoding/hex.h"
#include "core/seal/sealed_reading.h"
#include "transports/dtls/identity.h"
#include "transports/dtls/libcoap_setup.h"
#include "transports/dtls/message_ids.h"
#include "transports/dtls/session_walk_limiter.h"

namespace cxsec::dtls {
namespace {

// The GnuTLS priority strings libcoap 4.3.1 uses for PSK sessions (they
// are compiled into libcoap-3-gnutls; see gnutls_psk_ccm8.conf).
constexpr const char* kLibcoapPriorities[] = {
    "NORMAL:+ECDHE-PSK:+PSK:+ECDHE-ECDSA:+AES-128-CCM-8:+CTYPE-CLI-ALL:"
    "+CTYPE-SRV-ALL:+SHA256",
    "NORMAL:+ECDHE-PSK:+PSK:+ECDHE-ECDSA:+AES-128-CCM-8",
    "NORMAL:+ECDHE-PSK:+PSK",
};

// The most seal receipt bytes one 2.04 carries: well inside a DTLS record
// of the smallest node (Mbed TLS, 1024 bytes of content), 30 receipts.
constexpr size_t kMaxReceiptPayloadBytes = 512;

constexpr coap_pdu_code_t Code(int n) {
  return static_cast<coap_pdu_code_t>(COAP_RESPONSE_CODE(n));
}

void Log(const std::string& line) {
  std::fprintf(stderr, "cxsec-dtls: %s\n", line.c_str());
}

std::string BinToString(const coap_bin_const_t* bin) {
  if (bin == nullptr || bin->s == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(bin->s), bin->length);
}

// Printable form of an identity a peer sent, for logs: bounded and with
// non-printable bytes escaped so a hostile identity cannot forge log lines.
std::string Printable(absl::string_view raw) {
  std::string out;
  for (char c : raw.substr(0, kMaxIdentityBytes)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "\\x", HexEncode(ByteView(&u, 1)));
    }
  }
  return out;
}

// IsSealedEnvelope: the payload starts with a sealed-reading header byte
// (version 1: 0x20..0x3f), never a CBOR map's first byte (0xa0..0xbf).
bool IsSealedEnvelope(ByteView payload) {
  return !payload.empty() &&
         (payload[0] >> seal::kVersionShift) == seal::kFormatVersion;
}

// CheckSealedEnvelope: what the gateway can check of a sealed reading
// without any of its keys (it holds none): the structure, with core/seal's
// parser (size bounds, version). The tag is the verifier's to check.
absl::Status CheckSealedEnvelope(ByteView payload) {
  seal::SealedEnvelope envelope;
  const seal::SealReason reason = seal::ParseSealedEnvelope(
      seal::Transport::kDtlsCoap,
      std::span<const uint8_t>(payload.data(), payload.size()), envelope);
  switch (reason) {
    case seal::SealReason::kNone:
      return absl::OkStatus();
    case seal::SealReason::kTruncated:
      return absl::InvalidArgumentError(absl::StrCat(
          "sealed reading: truncated: ", payload.size(),
          " bytes, an envelope has at least ", seal::kDtlsOverhead,
          " (header, sequence, tag)"));
    case seal::SealReason::kBodyTooLarge:
      return absl::InvalidArgumentError(absl::StrCat(
          "sealed reading: body_too_large: a body of ",
          payload.size() - seal::kDtlsOverhead, " bytes, at most ",
          seal::kMaxBodySize));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("sealed reading: ", seal::SealReasonName(reason)));
  }
}

// CommitPool: the threads that call the MessageSink for confirmable
// readings (DtlsServerOptions::commit_threads). The server's thread
// submits a job and goes on; a worker runs it (the spool's fsync'd commit,
// shared with whatever other workers commit at the same time), queues it
// as done and wakes the server's thread through an eventfd, which takes
// the finished jobs on its own thread (libcoap is not thread-safe).
// Destruction runs every job already submitted: the node may hold an
// empty ACK for it.
template <class Job>
class CommitPool {
 public:
  CommitPool(size_t threads, std::function<void(Job*)> run)
      : run_(std::move(run)), wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    for (size_t i = 0; i < threads; ++i) {
      workers_.emplace_back([this] { Work(); });
    }
  }
  ~CommitPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : workers_) t.join();
    if (wake_fd_ >= 0) close(wake_fd_);
  }
  bool ok() const { return wake_fd_ >= 0; }
  // Readable while finished jobs wait for TakeDone.
  int wake_fd() const { return wake_fd_; }
  void Submit(Job* job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      todo_.push_back(job);
    }
    ready_.notify_one();
  }
  std::vector<Job*> TakeDone() {
    uint64_t count;
    while (read(wake_fd_, &count, sizeof(count)) > 0) {
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Job*> done;
    done.swap(done_);
    return done;
  }

 private:
  void Work() {
    for (;;) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [this] { return stopping_ || !todo_.empty(); });
        if (todo_.empty()) return;  // stopping, and nothing left to run
        job = todo_.front();
        todo_.pop_front();
      }
      run_(job);
      {
        std::lock_guard<std::mutex> lock(mu_);
        done_.push_back(job);
      }
      const uint64_t one = 1;
      (void)!write(wake_fd_, &one, sizeof(one));
    }
  }

  std::function<void(Job*)> run_;
  const int wake_fd_;
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<Job*> todo_;
  std::vector<Job*> done_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

absl::Status CheckCcm8OnlyPriority() {
  for (const char* text : kLibcoapPriorities) {
    gnutls_priority_t priority;
    const char* error_at = nullptr;
    int rc;
    {
      std::lock_guard<std::mutex> lock(GnutlsPriorityMutex());
      rc = gnutls_priority_init(&priority, text, &error_at);
    }
    if (rc == GNUTLS_E_NO_PRIORITIES_WERE_SET) continue;  // nothing offered
    if (rc != GNUTLS_E_SUCCESS) {
      return absl::FailedPreconditionError(
          absl::StrCat("GnuTLS rejected libcoap's priority string: ",
                       gnutls_strerror(rc)));
    }
    for (unsigned i = 0; i < 1024; ++i) {
      unsigned suite = 0;
      rc = gnutls_priority_get_cipher_suite_index(priority, i, &suite);
      if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
      if (rc != GNUTLS_E_SUCCESS) continue;
      unsigned char id[2];
      gnutls_kx_algorithm_t kx;
      gnutls_cipher_algorithm_t cipher;
      gnutls_mac_algorithm_t mac;
      gnutls_protocol_t min_version;
      const char* name =
          gnutls_cipher_suite_info(suite, id, &kx, &cipher, &mac, &min_version);
      if (name == nullptr) continue;
      bool tls13_only = min_version == GNUTLS_TLS1_3;  // never in DTLS 1.2
      bool psk_ccm8 = kx == GNUTLS_KX_PSK && cipher == GNUTLS_CIPHER_AES_128_CCM_8;
      if (!tls13_only && !psk_ccm8) {
        gnutls_priority_deinit(priority);
        return absl::FailedPreconditionError(absl::StrCat(
            "GnuTLS would negotiate ", name,
            "; only TLS_PSK_WITH_AES_128_CCM_8 is allowed. Run with "
            "GNUTLS_SYSTEM_PRIORITY_FILE pointing at "
            "transports/dtls/gnutls_psk_ccm8.conf (installed as "
            "/etc/cxsec/gnutls_psk_ccm8.conf)"));
      }
    }
    gnutls_priority_deinit(priority);
  }
  return absl::OkStatus();
}

// Loop: the server thread's state.
struct DtlsServer::Loop {
  // The code and payload of a reading's answer.
  struct AnswerFields {
    coap_pdu_code_t code = COAP_EMPTY_CODE;
    Bytes receipts;  // a sealed reading's seal receipts, or empty
  };
  struct SessionInfo {
    std::string device_id;
    uint32_t epoch = 0;
    bool connected = false;
    bool wrong_suite = false;
    bool evicting = false;  // queued in to_evict
    uint64_t serial = 0;    // creation order: the oldest is evicted first
    Bytes nonce;            // kSessionNonceBytes from the CSPRNG
    RequestNumbering requests;
    // The answer to the session's last committed reading, for a
    // retransmission of its request that arrives after it (the ACK was
    // lost, or crossed the retransmission): the same answer again (RFC
    // 7252 4.5), not a second trip to the sink, which would also hand out
    // the device's seal receipts a second time. A node has one request
    // outstanding at a time, so the last one is the only one to keep.
    struct LastAnswer {
      coap_mid_t mid = 0;
      bool separate = false;  // a CON libcoap retransmits until acknowledged
      AnswerFields fields;
    };
    std::optional<LastAnswer> last_answer;
  };
  struct Bucket {
    double tokens = 0;
    absl::Time last;
  };

  DtlsServer* server;
  MessageSink sink;
  SecretBytes callback_key;  // libcoap copies it; kept until the next call
  coap_bin_const_t callback_bin{};
  absl::flat_hash_map<coap_session_t*, SessionInfo> sessions;
  size_t connected = 0;
  uint64_t next_serial = 0;
  // Sessions to end once libcoap returns from its callbacks: ending one
  // inside a callback would change `sessions` under the caller's feet. The
  // serial tells a freed session from a new one at the same address.
  std::vector<std::pair<coap_session_t*, uint64_t>> to_evict;
  absl::flat_hash_map<std::string, Bucket> buckets;

  // A reading the pool commits. Its 2.04 goes out piggybacked on the
  // request's ACK once the commit is done: one datagram each way, no
  // separate response for the node to acknowledge. A commit that outlasts
  // the node's ACK timeout shows as a retransmission of the request: that
  // gets an empty ACK and the 2.04 follows as a separate CON, so the node
  // stops retransmitting. Either way the reading reaches the sink once: a
  // retransmission after the answer gets it again
  // (SessionInfo::last_answer).
  struct Pending {
    coap_session_t* session = nullptr;  // our reference, released when answered
    coap_mid_t mid = 0;                 // the request's
    Bytes token;
    bool separate = false;  // an empty ACK went out: answer with a CON
    std::string device_id;
    bool sealed = false;
    VerifiedMessage message;  // the worker's until done
    absl::Status queued;      // the sink's answer, set by the worker
  };
  absl::flat_hash_map<Pending*, std::unique_ptr<Pending>> pending;
  // The pending reading of a (session, request message id), where a
  // retransmission of its request finds it.
  absl::flat_hash_map<std::pair<coap_session_t*, coap_mid_t>, Pending*>
      pending_requests;
  std::unique_ptr<CommitPool<Pending>> pool;  // null: answer in the handler
  ScopedSessionWalkLimit* walk_limit = nullptr;
  // Sessions that ended (DTLS close or error) since libcoap last returned.
  std::vector<coap_session_t*> ended;
  // Sessions being freed since libcoap last returned. libcoap raises
  // COAP_EVENT_DTLS_CLOSED from inside coap_session_free when the session
  // still had its DTLS state (an idle timeout in its walk announces
  // COAP_EVENT_SERVER_SESSION_DEL first, then frees): that event must not
  // list a session that is gone a moment later. Cleared by FreeEnded.
  std::vector<coap_session_t*> freeing;

  static Loop* From(coap_session_t* session) {
    return static_cast<Loop*>(coap_get_app_data(coap_session_get_context(session)));
  }

  template <class F>
  void Count(F f) {
    absl::MutexLock lock(&server->mutex_);
    f(server->counters_);
  }

  // -- PSK lookup ---------------------------------------------------------
  const coap_bin_const_t* LookUpPsk(coap_bin_const_t* identity_bin,
                                    coap_session_t* session) {
    std::string raw = BinToString(identity_bin);
    std::optional<PskIdentity> identity = ParsePskIdentity(raw);
    if (!identity.has_value()) {
      Log(absl::StrCat("rejected handshake: '", Printable(raw),
                       "' is not a device identity"));
      Count([&](DtlsServerCounters& c) {
        ++c.unknown_identities;
        c.last_failed_identity = Printable(raw);
      });
      return nullptr;
    }
    // Every session that got a key counts, established or still in its
    // handshake, so sessions that never send a request fill the budget too.
    if (sessions.size() >= server->options_.max_sessions &&
        !sessions.contains(session)) {
      Log(absl::StrCat("refused handshake of ", identity->device_id,
                       ": session limit ", server->options_.max_sessions,
                       " reached"));
      Count([&](DtlsServerCounters& c) { ++c.sessions_refused; });
      return nullptr;
    }
    absl::StatusOr<SecretBytes> psk;
    uint32_t epoch = 0;
    {
      absl::MutexLock lock(&server->mutex_);
      const SecurityConfig& security = server->security_;
      epoch = identity->epoch.value_or(security.epoch);
      if (!security.AcceptsEpoch(epoch)) {
        ++server->counters_.unknown_identities;
        server->counters_.last_failed_identity = raw;
        psk = absl::PermissionDeniedError("epoch not accepted");
      } else if (security.IsCompromised(identity->device_id, epoch)) {
        ++server->counters_.unknown_identities;
        server->counters_.last_failed_identity = raw;
        psk = absl::PermissionDeniedError(absl::StrCat(
            "the device is marked compromised for key epochs below ",
            security.compromised.at(identity->device_id),
            "; provision it again with a key of that epoch"));
      } else {
        psk = DeriveDevicePsk(security.MasterFor(epoch), identity->device_id,
                              epoch);
      }
    }
    if (!psk.ok()) {
      Log(absl::StrCat("rejected handshake of ", identity->device_id,
                       ": key epoch ", epoch, " is not accepted (",
                       psk.status().message(), ")"));
      return nullptr;
    }
    auto [slot, created] = sessions.try_emplace(session);
    SessionInfo& info = slot->second;
    if (created) {
      // The nonce names this session's readings (message_ids.h): random, so
      // that no other session, before or after a restart, shares an id.
      absl::StatusOr<Bytes> nonce = RandomBytes(kSessionNonceBytes);
      if (!nonce.ok()) {
        sessions.erase(slot);
        Log(absl::StrCat("refused handshake of ", identity->device_id,
                         ": no session nonce: ", nonce.status().message()));
        return nullptr;
      }
      info.nonce = std::move(*nonce);
      info.serial = ++next_serial;
    }
    info.device_id = identity->device_id;
    info.epoch = epoch;
    EnforceIdentityCap(info.device_id, session);
    callback_key = std::move(*psk);
    ByteView key = callback_key.Reveal(SecretAccess::Grant());
    callback_bin.s = key.data();
    callback_bin.length = key.size();
    return &callback_bin;
  }

  // -- session events -----------------------------------------------------
  // libcoap 4.3.1 raises COAP_EVENT_DTLS_CONNECTED for client sessions
  // only, so a server session is marked established at its first request
  // (or, if it never sends one, judged from GnuTLS's state when it closes).
  void MarkConnected(coap_session_t* session, SessionInfo& info) {
    info.connected = true;
    ++connected;
    std::string suite = "unknown";
    coap_tls_library_t library;
    auto* tls = static_cast<gnutls_session_t>(coap_session_get_tls(session, &library));
    bool ok = false;
    if (tls != nullptr && library == COAP_TLS_LIBRARY_GNUTLS) {
      suite = absl::StrCat(
          gnutls_kx_get_name(gnutls_kx_get(tls)), "-",
          gnutls_cipher_get_name(gnutls_cipher_get(tls)), " ",
          gnutls_protocol_get_name(gnutls_protocol_get_version(tls)));
      ok = gnutls_kx_get(tls) == GNUTLS_KX_PSK &&
           gnutls_cipher_get(tls) == GNUTLS_CIPHER_AES_128_CCM_8 &&
           gnutls_protocol_get_version(tls) == GNUTLS_DTLS1_2;
    }
    info.wrong_suite = !ok;
    if (!ok) {
      Log(absl::StrCat("refusing session of ", info.device_id, ": negotiated ",
                       suite, ", not PSK-AES-128-CCM-8 DTLS1.2"));
    }
    Count([&](DtlsServerCounters& c) {
      ++c.handshakes_ok;
      if (!ok) ++c.wrong_suite;
      c.last_cipher_suite = suite;
    });
  }

  static bool HandshakeFinished(coap_session_t* session) {
    coap_tls_library_t library;
    auto* tls = static_cast<gnutls_session_t>(coap_session_get_tls(session, &library));
    return tls != nullptr && library == COAP_TLS_LIBRARY_GNUTLS &&
           gnutls_handshake_get_last_out(tls) == GNUTLS_HANDSHAKE_FINISHED;
  }

  void OnEvent(coap_session_t* session, coap_event_t event) {
    if (event == COAP_EVENT_DTLS_CLOSED || event == COAP_EVENT_DTLS_ERROR) {
      // Freed by FreeEnded once libcoap returns; listed once, as a freed
      // session must not be looked at again, and not at all when it is
      // being freed already.
      if (std::find(ended.begin(), ended.end(), session) == ended.end() &&
          std::find(freeing.begin(), freeing.end(), session) == freeing.end()) {
        ended.push_back(session);
      }
    } else if (event == COAP_EVENT_SERVER_SESSION_DEL) {
      std::erase(ended, session);  // libcoap frees it now
      freeing.push_back(session);
    } else if (event == COAP_EVENT_SERVER_SESSION_NEW) {
      std::erase(freeing, session);  // a new session where a freed one was
    }
    auto it = sessions.find(session);
    if (it == sessions.end()) return;
    switch (event) {
      case COAP_EVENT_DTLS_CONNECTED:
        if (!it->second.connected) MarkConnected(session, it->second);
        return;
      case COAP_EVENT_DTLS_CLOSED:
      case COAP_EVENT_DTLS_ERROR:
      case COAP_EVENT_SERVER_SESSION_DEL: {
        if (!it->second.connected && HandshakeFinished(session)) {
          MarkConnected(session, it->second);
        }
        if (it->second.connected) {
          --connected;
        } else {
          // The PSK callback ran but the handshake never completed: with
          // PSK that is almost always a wrong key for this identity.
          Log(absl::StrCat("handshake failed for identity ",
                           it->second.device_id, " (epoch ", it->second.epoch,
                           "): wrong PSK or aborted"));
          std::string id = it->second.device_id;
          Count([&](DtlsServerCounters& c) {
            ++c.handshakes_failed;
            c.last_failed_identity = id;
          });
        }
        sessions.erase(it);
        return;
      }
      default:
        return;
    }
  }

  // EnforceIdentityCap keeps at most max_sessions_per_identity established
  // sessions per device, ending that device's oldest ones beyond it, so one
  // node key cannot take every session slot. Only sessions whose handshake
  // completed count and are evicted: completing it proves the key, while a
  // device id is public, and counting handshakes in progress would let
  // anyone push a node off the gateway by starting handshakes in its name.
  // Sessions that finished their handshake but never sent a request are
  // found here (libcoap raises no event for them) and count as well.
  void EnforceIdentityCap(const std::string& device_id,
                          coap_session_t* current) {
    const size_t cap = server->options_.max_sessions_per_identity;
    if (cap == 0) return;
    std::vector<std::pair<uint64_t, coap_session_t*>> established;
    for (auto& [other, info] : sessions) {
      if (info.device_id != device_id || info.evicting) continue;
      if (!info.connected && other != current && HandshakeFinished(other)) {
        MarkConnected(other, info);
      }
      if (info.connected) established.emplace_back(info.serial, other);
    }
    if (established.size() <= cap) return;
    std::sort(established.begin(), established.end());
    size_t excess = established.size() - cap;
    for (const auto& [serial, other] : established) {
      if (excess == 0) break;
      if (other == current) continue;  // the session that just proved its key
      sessions[other].evicting = true;
      to_evict.emplace_back(other, serial);
      --excess;
    }
  }

  // FreeEnded frees the sessions that ended, as libcoap's walk over every
  // session would on its next pass (server session, no references left):
  // the walk runs only once per interval now (session_walk_limiter.h), and
  // until an ended session is freed libcoap keeps it under its address,
  // where a node coming back from the same address and port would meet
  // the dead session (its datagrams dropped until a DTLS retransmission,
  // a second or more later). A session something still holds (a reading
  // whose commit is running) turns into a client session, which libcoap frees at
  // its last release. Runs between coap_io_process calls, outside every
  // libcoap callback.
  void FreeEnded() {
    std::vector<coap_session_t*> to_free;
    to_free.swap(ended);
    for (coap_session_t* session : to_free) {
      if (coap_session_get_state(session) != COAP_SESSION_STATE_NONE) {
        walk_limit->WalkOnNextCall();  // unexpected: let libcoap decide
        continue;
      }
      freeing.push_back(session);
      if (coap_session_set_type_client(session)) coap_session_release(session);
    }
    // Every free announced since libcoap last returned is complete.
    freeing.clear();
  }

  // EndEvicted ends the sessions EnforceIdentityCap chose; runs between two
  // coap_io_process calls, outside every libcoap callback.
  void EndEvicted() {
    std::vector<std::pair<coap_session_t*, uint64_t>> victims;
    victims.swap(to_evict);
    for (const auto& [session, serial] : victims) {
      auto it = sessions.find(session);
      if (it == sessions.end() || it->second.serial != serial) continue;
      std::string id = it->second.device_id;
      Log(absl::StrCat("ended the oldest session of ", id, ": more than ",
                       server->options_.max_sessions_per_identity,
                       " sessions for one identity"));
      Count([](DtlsServerCounters& c) { ++c.sessions_evicted; });
      // Sends close_notify and frees the DTLS state; libcoap raises
      // COAP_EVENT_DTLS_CLOSED (OnEvent forgets the session, FreeEnded
      // frees it).
      coap_session_disconnected(session, COAP_NACK_NOT_DELIVERABLE);
      // In case libcoap raised no event for it (e.g. no DTLS state left).
      it = sessions.find(session);
      if (it != sessions.end() && it->second.serial == serial) {
        if (it->second.connected) --connected;
        sessions.erase(it);
      }
    }
  }

  // Authorized returns the session's identity, or sets an error response.
  SessionInfo* Authorized(coap_session_t* session, coap_pdu_t* response) {
    auto it = sessions.find(session);
    if (it == sessions.end()) {
      coap_pdu_set_code(response, Code(401));
      return nullptr;
    }
    if (it->second.evicting) {
      coap_pdu_set_code(response, Code(401));
      return nullptr;
    }
    if (!it->second.connected) {
      MarkConnected(session, it->second);
      EnforceIdentityCap(it->second.device_id, session);
    }
    if (it->second.wrong_suite) {
      coap_pdu_set_code(response, Code(403));
      return nullptr;
    }
    absl::MutexLock lock(&server->mutex_);
    if (!server->security_.AcceptsEpoch(it->second.epoch) ||
        server->security_.IsCompromised(it->second.device_id,
                                        it->second.epoch)) {
      // The epoch was retired, or the device marked compromised, while
      // this session was open.
      coap_pdu_set_code(response, Code(401));
      return nullptr;
    }
    return &it->second;
  }

  bool TakeToken(const std::string& device_id) {
    const DtlsServerOptions& options = server->options_;
    absl::Time now = absl::Now();
    if (buckets.size() > 4 * options.max_sessions + 1024) buckets.clear();
    auto [it, inserted] = buckets.try_emplace(device_id);
    Bucket& bucket = it->second;
    if (inserted) {
      bucket.tokens = options.request_burst;
    } else {
      double elapsed = absl::ToDoubleSeconds(now - bucket.last);
      bucket.tokens = std::min(options.request_burst,
                               bucket.tokens + elapsed * options.requests_per_second);
    }
    bucket.last = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  // MessageId names a reading (message_ids.h): by the node's reading id
  // when the request carries one, else by this session's nonce and the
  // request's number in it (a retransmission keeps its number).
  absl::StatusOr<std::string> MessageId(SessionInfo& info,
                                        const coap_pdu_t* request) {
    coap_opt_iterator_t options;
    coap_opt_filter_t filter;
    coap_option_filter_clear(&filter);
    coap_option_filter_set(&filter, kReadingIdOption);
    coap_option_iterator_init(request, &options, &filter);
    const coap_opt_t* reading_id = nullptr;
    while (const coap_opt_t* option = coap_option_next(&options)) {
      if (reading_id != nullptr) {
        return absl::InvalidArgumentError("more than one reading-id option");
      }
      reading_id = option;
    }
    if (reading_id != nullptr) {
      const size_t length = coap_opt_length(reading_id);
      if (length == 0 || length > kMaxReadingIdBytes) {
        return absl::InvalidArgumentError(
            absl::StrCat("reading-id option of ", length, " bytes (1 to ",
                         kMaxReadingIdBytes, ")"));
      }
      return ReadingMessageId(info.device_id,
                              ByteView(coap_opt_value(reading_id), length));
    }
    coap_bin_const_t token = coap_pdu_get_token(request);
    const uint64_t number =
        info.requests.Number(static_cast<uint16_t>(coap_pdu_get_mid(request)),
                             ByteView(token.s, token.length), absl::Now());
    return SessionMessageId(info.device_id, info.nonce, number);
  }

  // -- POST /t --------------------------------------------------------------
  void OnTelemetry(coap_session_t* session, const coap_pdu_t* request,
                   coap_pdu_t* response) {
    if (pool != nullptr && coap_pdu_get_type(request) == COAP_MESSAGE_CON) {
      auto it = pending_requests.find({session, coap_pdu_get_mid(request)});
      if (it != pending_requests.end()) {
        // A retransmission while the commit runs: the node's ACK timeout
        // passed. An empty ACK stops its retransmissions (sent again if
        // that one was lost); the answer follows separately.
        Pending* job = it->second;
        if (!job->separate) {
          job->separate = true;
          Count([](DtlsServerCounters& c) { ++c.answers_separate; });
        }
        coap_send_ack(session, request);
        SendNothing(response);
        return;
      }
      auto known = sessions.find(session);
      if (known != sessions.end() && known->second.last_answer.has_value() &&
          known->second.last_answer->mid == coap_pdu_get_mid(request)) {
        const SessionInfo::LastAnswer& last = *known->second.last_answer;
        Count([](DtlsServerCounters& c) { ++c.answers_repeated; });
        if (last.separate) {
          // The answer is a CON of its own, retransmitted until the node
          // acknowledges it: this request only needs its empty ACK again.
          coap_send_ack(session, request);
          SendNothing(response);
        } else {
          FillAnswer(last.fields, response);
        }
        return;
      }
    }
    SessionInfo* info = Authorized(session, response);
    if (info == nullptr) return;
    if (!TakeToken(info->device_id)) {
      Count([](DtlsServerCounters& c) { ++c.rate_limited; });
      coap_pdu_set_code(response, Code(429));
      return;
    }
    size_t length = 0;
    const uint8_t* data = nullptr;
    if (!coap_get_data(request, &length, &data)) length = 0;
    size_t cap = server->options_.max_payload_bytes;
    coap_opt_iterator_t options;
    if (length > cap ||
        coap_check_option(request, COAP_OPTION_BLOCK1, &options) != nullptr) {
      Count([](DtlsServerCounters& c) { ++c.too_large; });
      coap_pdu_set_code(response, Code(413));
      return;
    }
    ByteView payload(data, length);
    // A sealed reading (docs/SEALED_READINGS.md) is forwarded byte for byte
    // once its structure checks out; telemetry CBOR is decoded as before.
    const bool sealed = IsSealedEnvelope(payload);
    absl::Status shape;
    if (sealed) {
      shape = CheckSealedEnvelope(payload);
    } else {
      TelemetryLimits limits;
      limits.max_bytes = cap;
      shape = DecodeTelemetry(payload, limits).status();
    }
    if (!shape.ok()) {
      Count([](DtlsServerCounters& c) { ++c.malformed; });
      coap_pdu_set_code(response, Code(400));
      std::string why(shape.message());
      coap_add_data(response, why.size(),
                    reinterpret_cast<const uint8_t*>(why.data()));
      return;
    }
    absl::StatusOr<std::string> message_id = MessageId(*info, request);
    if (!message_id.ok()) {
      Count([](DtlsServerCounters& c) { ++c.malformed; });
      coap_pdu_set_code(response, Code(402));
      std::string why(message_id.status().message());
      coap_add_data(response, why.size(),
                    reinterpret_cast<const uint8_t*>(why.data()));
      return;
    }
    VerifiedMessage message;
    message.device_id = info->device_id;
    message.message_id = *std::move(message_id);
    message.transport = std::string(kName);
    message.received_at = absl::Now();
    message.payload.assign(payload.begin(), payload.end());
    if (pool != nullptr && coap_pdu_get_type(request) == COAP_MESSAGE_CON) {
      auto job = std::make_unique<Pending>();
      coap_bin_const_t token = coap_pdu_get_token(request);
      job->session = coap_session_reference(session);
      job->mid = coap_pdu_get_mid(request);
      job->token.assign(token.s, token.s + token.length);
      job->device_id = info->device_id;
      job->sealed = sealed;
      job->message = std::move(message);
      Pending* raw = job.get();
      pending.emplace(raw, std::move(job));
      pending_requests[{session, raw->mid}] = raw;
      pool->Submit(raw);
      SendNothing(response);  // TakeCommitted answers
      return;
    }
    Answer(info->device_id, sealed, TimedSink(std::move(message)), response);
  }

  // TimedSink: the sink, with its time counted (any thread).
  absl::Status TimedSink(VerifiedMessage message) {
    const absl::Time start = absl::Now();
    absl::Status queued = sink(std::move(message));
    const int64_t us = absl::ToInt64Microseconds(absl::Now() - start);
    Count([us](DtlsServerCounters& c) {
      ++c.sink_calls;
      c.sink_us += static_cast<uint64_t>(us);
    });
    return queued;
  }

  // SendNothing: no answer to this request now. libcoap sends a response
  // left at 0.00 as an empty ACK, but drops an empty NON.
  static void SendNothing(coap_pdu_t* response) {
    coap_pdu_set_type(response, COAP_MESSAGE_NON);
  }

  // TakeCommitted answers the readings the pool is done with.
  void TakeCommitted() {
    std::vector<Pending*> done = pool->TakeDone();
    for (Pending* job : done) {
      pending_requests.erase({job->session, job->mid});
      SendAnswer(*job);
      coap_session_release(job->session);
      pending.erase(job);
    }
  }

  // SendAnswer: the 2.04 (or 5.03) of a committed reading, piggybacked on
  // the request's ACK, or as a CON of its own once an empty ACK went out.
  // A session that ended meanwhile gets nothing: the node sends the
  // reading again in a new one, and it is stored once (message_ids.h).
  void SendAnswer(const Pending& job) {
    if (coap_session_get_state(job.session) != COAP_SESSION_STATE_ESTABLISHED) {
      Count([](DtlsServerCounters& c) { ++c.answers_dropped; });
      return;
    }
    coap_pdu_t* answer = coap_pdu_init(
        job.separate ? COAP_MESSAGE_CON : COAP_MESSAGE_ACK, COAP_EMPTY_CODE,
        job.separate ? coap_new_message_id(job.session) : job.mid,
        coap_session_max_pdu_size(job.session));
    if (answer == nullptr ||
        !coap_add_token(answer, job.token.size(), job.token.data())) {
      if (answer != nullptr) coap_delete_pdu(answer);
      Count([](DtlsServerCounters& c) { ++c.answers_dropped; });
      return;
    }
    AnswerFields fields = Answer(job.device_id, job.sealed, job.queued, answer);
    // coap_send takes the PDU, and retransmits a CON until the node
    // acknowledges it.
    if (coap_send(job.session, answer) == COAP_INVALID_MID) {
      Count([](DtlsServerCounters& c) { ++c.answers_dropped; });
      return;
    }
    auto it = sessions.find(job.session);
    if (it != sessions.end()) {
      it->second.last_answer =
          SessionInfo::LastAnswer{job.mid, job.separate, std::move(fields)};
    }
  }

  // Answer: the reply to a reading the sink has answered `queued` for,
  // written into `response` and returned (to repeat it to a
  // retransmission).
  AnswerFields Answer(const std::string& device_id, bool sealed,
                      const absl::Status& queued, coap_pdu_t* response) {
    AnswerFields fields;
    if (!queued.ok()) {
      Log(absl::StrCat("could not queue a message of ", device_id, ": ",
                       queued.message()));
      Count([](DtlsServerCounters& c) { ++c.sink_failures; });
      fields.code = Code(503);
      FillAnswer(fields, response);
      return fields;
    }
    fields.code = Code(204);
    // A sealed reading's 2.04 carries the device's pending seal receipts
    // (opaque here: only the node can check them).
    if (sealed && server->options_.take_receipts) {
      fields.receipts = server->options_.take_receipts(device_id,
                                                       kMaxReceiptPayloadBytes);
      if (fields.receipts.size() > kMaxReceiptPayloadBytes) {
        fields.receipts.clear();
      }
    }
    FillAnswer(fields, response);
    Count([sealed, sent = fields.receipts.size()](DtlsServerCounters& c) {
      ++c.messages_accepted;
      if (sealed) ++c.sealed_accepted;
      c.receipts_bytes_sent += sent;
    });
    return fields;
  }

  static void FillAnswer(const AnswerFields& fields, coap_pdu_t* response) {
    coap_pdu_set_code(response, fields.code);
    if (fields.receipts.empty()) return;
    uint8_t format[4];
    coap_add_option(
        response, COAP_OPTION_CONTENT_FORMAT,
        coap_encode_var_safe(format, sizeof(format),
                             COAP_MEDIATYPE_APPLICATION_OCTET_STREAM),
        format);
    coap_add_data(response, fields.receipts.size(), fields.receipts.data());
  }

  // -- GET /k ---------------------------------------------------------------
  void OnKey(coap_session_t* session, coap_pdu_t* response) {
    const SessionInfo* info = Authorized(session, response);
    if (info == nullptr) return;
    absl::StatusOr<Bytes> body;
    {
      absl::MutexLock lock(&server->mutex_);
      const SecurityConfig& security = server->security_;
      if (!security.next_epoch.has_value() || info->epoch != security.epoch) {
        body = absl::NotFoundError("no newer key");
      } else {
        uint32_t next_epoch = *security.next_epoch;
        absl::StatusOr<SecretBytes> current = DeriveDevicePsk(
            security.MasterFor(info->epoch), info->device_id, info->epoch);
        absl::StatusOr<SecretBytes> next = DeriveDevicePsk(
            security.MasterFor(next_epoch), info->device_id, next_epoch);
        if (!current.ok() || !next.ok()) {
          body = absl::InternalError("key derivation failed");
        } else {
          absl::StatusOr<Bytes> wrapped =
              WrapNextPsk(*current, info->device_id, next_epoch, *next);
          if (wrapped.ok()) {
            body = EncodeKeyUpdate(next_epoch, *wrapped);
            ++server->counters_.keys_served;
          } else {
            body = wrapped.status();
          }
        }
      }
    }
    if (!body.ok()) {
      coap_pdu_set_code(response, body.status().code() == absl::StatusCode::kNotFound
                                      ? Code(404)
                                      : Code(500));
      return;
    }
    coap_pdu_set_code(response, Code(205));
    uint8_t format[4];
    coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(format, sizeof(format),
                                         COAP_MEDIATYPE_APPLICATION_OCTET_STREAM),
                    format);
    coap_add_data(response, body->size(), body->data());
  }
};

namespace {

const coap_bin_const_t* PskCallback(coap_bin_const_t* identity,
                                    coap_session_t* session, void*) {
  return DtlsServer::Loop::From(session)->LookUpPsk(identity, session);
}

int EventCallback(coap_session_t* session, const coap_event_t event) {
  DtlsServer::Loop::From(session)->OnEvent(session, event);
  return 0;
}

void TelemetryHandler(coap_resource_t*, coap_session_t* session,
                      const coap_pdu_t* request, const coap_string_t*,
                      coap_pdu_t* response) {
  DtlsServer::Loop::From(session)->OnTelemetry(session, request, response);
}

void KeyHandler(coap_resource_t*, coap_session_t* session, const coap_pdu_t*,
                const coap_string_t*, coap_pdu_t* response) {
  DtlsServer::Loop::From(session)->OnKey(session, response);
}

}  // namespace

DtlsServer::DtlsServer(DtlsServerOptions options, SecurityConfig security)
    : options_(std::move(options)), security_(std::move(security)) {}

DtlsServer::~DtlsServer() { Stop(); }

absl::Status DtlsServer::Start(MessageSink sink) {
  if (started_) return absl::FailedPreconditionError("DtlsServer already started");
  StartLibcoap();
  if (!coap_dtls_is_supported()) {
    return absl::FailedPreconditionError("libcoap was built without DTLS");
  }
  if (options_.require_ccm8_priority) {
    absl::Status priority = CheckCcm8OnlyPriority();
    if (!priority.ok()) return priority;
  }
  absl::Notification bound;
  absl::Status status;
  stop_ = false;
  thread_ = std::thread([this, sink = std::move(sink), &bound, &status]() mutable {
    Run(std::move(sink), &bound, &status);
  });
  bound.WaitForNotification();
  if (!status.ok()) {
    thread_.join();
    return status;
  }
  started_ = true;
  return absl::OkStatus();
}

void DtlsServer::Run(MessageSink sink, absl::Notification* bound,
                     absl::Status* status) {
  Loop loop{this, std::move(sink)};
  coap_context_t* context;
  {
    std::lock_guard<std::mutex> lock(GnutlsPriorityMutex());
    context = coap_new_context(nullptr);
  }
  auto fail = [&](absl::Status error) {
    *status = std::move(error);
    if (context != nullptr) coap_free_context(context);
    bound->Notify();
  };
  if (context == nullptr) return fail(absl::InternalError("coap_new_context failed"));
  coap_set_app_data(context, &loop);
  coap_context_set_max_handshake_sessions(context,
                                          static_cast<unsigned>(options_.max_handshakes));
  coap_context_set_session_timeout(context, options_.idle_timeout_seconds);
  // Not coap_context_set_max_idle_sessions: libcoap would evict the
  // oldest idle node to make room; the PSK callback refuses instead.
  coap_register_event_handler(context, EventCallback);

  coap_dtls_spsk_t psk{};
  psk.version = COAP_DTLS_SPSK_SETUP_VERSION;
  psk.validate_id_call_back = PskCallback;
  if (!coap_context_set_psk2(context, &psk)) {
    return fail(absl::InternalError("coap_context_set_psk2 failed"));
  }
  coap_address_t address;
  coap_address_init(&address);
  address.addr.sin.sin_family = AF_INET;
  address.addr.sin.sin_port = htons(options_.port);
  address.size = sizeof(address.addr.sin);
  if (inet_pton(AF_INET, options_.listen_address.c_str(),
                &address.addr.sin.sin_addr) != 1) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "listen address '", options_.listen_address, "' is not an IPv4 address")));
  }
  if (coap_new_endpoint(context, &address, COAP_PROTO_DTLS) == nullptr) {
    return fail(absl::UnavailableError(absl::StrCat(
        "cannot bind coaps on ", options_.listen_address, ":", options_.port, "/udp")));
  }
  coap_resource_t* telemetry = coap_resource_init(coap_make_str_const("t"), 0);
  coap_register_handler(telemetry, COAP_REQUEST_POST, TelemetryHandler);
  coap_add_resource(context, telemetry);
  coap_resource_t* key = coap_resource_init(coap_make_str_const("k"), 0);
  coap_register_handler(key, COAP_REQUEST_GET, KeyHandler);
  coap_add_resource(context, key);
  if (options_.commit_threads > 0) {
    Loop* l = &loop;
    loop.pool = std::make_unique<CommitPool<Loop::Pending>>(
        options_.commit_threads, [l](Loop::Pending* job) {
          job->queued = l->TimedSink(std::move(job->message));
        });
    if (!loop.pool->ok()) {
      return fail(absl::InternalError(
          absl::StrCat("eventfd failed: ", strerror(errno))));
    }
  }
  bound->Notify();

  // libcoap walks every session per datagram; this keeps it to one walk
  // per interval, so a packet's cost does not grow with the sessions held.
  auto walk_limit = std::make_unique<ScopedSessionWalkLimit>(context);
  loop.walk_limit = walk_limit.get();
  bool walk_limit_checked = false;
  SessionWalkCounts published_walks;
  // libcoap's own epoll descriptor (its sockets and timers) and the pool's
  // eventfd, waited on together, so a finished commit is answered at once.
  const int coap_fd = coap_context_get_coap_fd(context);
  while (!stop_.load()) {
    if (coap_fd >= 0) {
      pollfd fds[2] = {{coap_fd, POLLIN, 0}, {-1, POLLIN, 0}};
      if (loop.pool != nullptr) fds[1].fd = loop.pool->wake_fd();
      const int ready = poll(fds, 2, 100);
      if (ready < 0 && errno != EINTR) break;
      // libcoap only when its descriptor (sockets and timers) is ready or
      // the poll timed out: each pass reprograms its timer, a system call
      // that woken-for-commits passes need not pay.
      if (ready == 0 || fds[0].revents != 0) {
        if (coap_io_process(context, COAP_IO_NO_WAIT) < 0) break;
      }
    } else if (coap_io_process(context, loop.pending.empty() ? 100 : 1) < 0) {
      break;
    }
    loop.FreeEnded();
    // The answers go out as they are built (coap_send), not in a pass.
    if (loop.pool != nullptr) loop.TakeCommitted();
    if (!loop.to_evict.empty()) {
      loop.EndEvicted();
      loop.FreeEnded();
    }
    if (!walk_limit_checked) {
      walk_limit_checked = true;
      if (!walk_limit->engaged()) {
        Log("libcoap does not call the session walk limiter: each datagram "
            "costs a walk over every session held");
      }
    }
    if (const SessionWalkCounts walks = walk_limit->counts();
        walks.walks != published_walks.walks ||
        walks.skipped != published_walks.skipped) {
      published_walks = walks;
      loop.Count([&](DtlsServerCounters& c) {
        c.session_walks = walks.walks;
        c.session_walks_skipped = walks.skipped;
      });
    }
  }
  // Every reading already handed to the pool is committed before the
  // server stops (a node may hold an empty ACK for it). Their answers are
  // not sent: each node sends its reading again, and it is stored once.
  loop.pool.reset();
  for (auto& [job, owned] : loop.pending) coap_session_release(job->session);
  loop.pending.clear();
  loop.pending_requests.clear();
  loop.FreeEnded();
  loop.walk_limit = nullptr;
  walk_limit.reset();
  coap_free_context(context);
  // Freeing the context frees its sessions without SERVER_SESSION_DEL; the
  // DTLS_CLOSED events it raised listed them here. Gone: never to be read.
  loop.ended.clear();
}

void DtlsServer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  started_ = false;
}

void DtlsServer::ReplaceSecurity(SecurityConfig security) {
  absl::MutexLock lock(&mutex_);
  security_ = std::move(security);
}

DtlsServerCounters DtlsServer::Counters() const {
  absl::MutexLock lock(&mutex_);
  return counters_;
}

}  // namespace cxsec::dtls
