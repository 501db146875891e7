// Process-wide set-up of libcoap shared by the gateway's DTLS server and
// the nodes' DTLS clients (a test or load client runs both in one
// process): libcoap started once, and one lock around everything that
// builds a GnuTLS priority cache.
#ifndef CXSEC_TRANSPORTS_DTLS_LIBCOAP_SETUP_H_
#define CXSEC_TRANSPORTS_DTLS_LIBCOAP_SETUP_H_

#include <mutex>

namespace cxsec::dtls {

// Calls coap_startup once per process and sets libcoap's and GnuTLS's log
// level (CXSEC_COAP_LOG_LEVEL, default LOG_ERR; 7 shows debug output).
void StartLibcoap();

// Held while creating a libcoap context (its GnuTLS backend calls
// gnutls_priority_init) or calling gnutls_priority_init directly. GnuTLS
// 3.7 re-reads the system priority file (GNUTLS_SYSTEM_PRIORITY_FILE) in
// there under a race: threads doing it at once now and then got "No or
// insufficient priorities were set" (1-5 of 12,000 load-client nodes on 4
// threads), so coap_new_context returned NULL, or a priority check could
// see no suites at all.
std::mutex& GnutlsPriorityMutex();

}  // namespace cxsec::dtls

#endif  // CXSEC_TRANSPORTS_DTLS_LIBCOAP_SETUP_H_
