// See libcoap_setup.h.
#include "transports/dtls/libcoap_setup.h"

#include <coap3/coap.h>

#include <cstdlib>

namespace cxsec::dtls {

void StartLibcoap() {
  static std::once_flag started;
  std::call_once(started, [] {
    coap_startup();
    const char* level = std::getenv("CXSEC_COAP_LOG_LEVEL");
    int log_level = level != nullptr ? std::atoi(level) : LOG_ERR;
    coap_set_log_level(static_cast<coap_log_t>(log_level));
    coap_dtls_set_log_level(log_level);
  });
}

std::mutex& GnutlsPriorityMutex() {
  static std::mutex* mutex = new std::mutex;
  return *mutex;
}

}  // namespace cxsec::dtls
