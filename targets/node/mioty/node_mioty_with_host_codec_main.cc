// Never compiled: the firmware rule must refuse this image at analysis time
// because the host's Mioty API (core/mioty/frame.h) pulls in Abseil and
// BoringSSL; a node uses frame_codec.h with the Mbed TLS backend (BUILD).
#include "core/mioty/frame.h"

int main() {
  cxsec::mioty::UplinkParams params;
  return params.counter == 0 ? 0 : 1;
}
