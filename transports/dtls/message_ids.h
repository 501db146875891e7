// Message ids of DTLS readings: how the gateway names a POST /t so that the
// uplink spool and the verifier store every reading once, and only once.
//
// A CoAP token is no reading id: clients choose it per request and may
// start every run at the same value (libcoap's coap-client sends token 01
// in each run), so `<device>-<token>` made a second run's reading a
// "duplicate" that was acknowledged 2.04 and then dropped. The gateway
// therefore uses, in this order:
//
//  1. The node's own reading id, sent in the elective CoAP option
//     kReadingIdOption (65000, RFC 7252's experimental range; a gateway
//     that does not know it ignores it). cxsec-node sends one per reading
//     and keeps it across retransmissions, new DTLS sessions and gateway
//     restarts, so its retries stay exactly-once wherever they land:
//     "<device>-r<hex reading id>".
//  2. Otherwise an id no two sessions can share: a random per-session
//     nonce from the CSPRNG and a request number within the session,
//     "<device>-s<16 hex nonce>-<n>". RequestNumbering gives a CON
//     retransmission (same CoAP message id and token, within
//     EXCHANGE_LIFETIME) the number of the original, so it is stored once;
//     a retry in a new session is a new reading (a client without a
//     reading id cannot tell the gateway otherwise).
//
// The device prefix comes from the authenticated PSK identity, so one
// device can never produce another's ids.
#ifndef CXSEC_TRANSPORTS_DTLS_MESSAGE_IDS_H_
#define CXSEC_TRANSPORTS_DTLS_MESSAGE_IDS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/bytes.h"
#include "core/encoding/hex.h"

namespace cxsec::dtls {

// kReadingIdOption: the CoAP option (elective, safe-to-forward) carrying a
// node's reading id, 1..kMaxReadingIdBytes opaque bytes, at most once.
inline constexpr uint16_t kReadingIdOption = 65000;
inline constexpr size_t kMaxReadingIdBytes = 16;
inline constexpr size_t kSessionNonceBytes = 8;

// RFC 7252 4.8.2: a CON's duplicates arrive within EXCHANGE_LIFETIME, and a
// sender reuses a message id only after it.
inline constexpr absl::Duration kExchangeLifetime = absl::Seconds(247);

// ReadingMessageId: the id of a reading that carried the node's reading id.
inline std::string ReadingMessageId(absl::string_view device_id,
                                    ByteView reading_id) {
  return absl::StrCat(device_id, "-r", HexEncode(reading_id));
}

// SessionMessageId: the id of request `number` of the session `nonce`.
inline std::string SessionMessageId(absl::string_view device_id, ByteView nonce,
                                    uint64_t number) {
  return absl::StrCat(device_id, "-s", HexEncode(nonce), "-", number);
}

// RequestNumbering numbers the requests of one DTLS session: a request is
// new unless a request with the same CoAP message id and token was seen in
// the last EXCHANGE_LIFETIME, in which case it is a retransmission and
// gets the same number. At most `capacity` requests are remembered (the
// oldest is forgotten first), which bounds the memory a session holds;
// a conforming client has one request outstanding (NSTART = 1), so only
// the last few can still be retransmitted.
class RequestNumbering {
 public:
  static constexpr size_t kDefaultCapacity = 128;

  explicit RequestNumbering(size_t capacity = kDefaultCapacity)
      : capacity_(std::max<size_t>(capacity, 1)) {}

  // Number returns the request's number in this session (from 1).
  uint64_t Number(uint16_t message_id, ByteView token, absl::Time now) {
    while (!recent_.empty() && now - recent_.front().at > kExchangeLifetime) {
      recent_.pop_front();
    }
    for (const Seen& seen : recent_) {
      if (seen.message_id == message_id && seen.token.size() == token.size() &&
          std::equal(token.begin(), token.end(), seen.token.begin())) {
        return seen.number;
      }
    }
    if (recent_.size() >= capacity_) recent_.pop_front();
    recent_.push_back(Seen{message_id, Bytes(token.begin(), token.end()),
                           ++last_number_, now});
    return last_number_;
  }

  size_t remembered() const { return recent_.size(); }

 private:
  struct Seen {
    uint16_t message_id;
    Bytes token;
    uint64_t number;
    absl::Time at;
  };
  size_t capacity_;
  uint64_t last_number_ = 0;
  std::deque<Seen> recent_;
};

}  // namespace cxsec::dtls

#endif  // CXSEC_TRANSPORTS_DTLS_MESSAGE_IDS_H_
