// Never compiled: the firmware rule must refuse this image at analysis time
// because the host's crypto backend pulls in BoringSSL (see BUILD).
#include "core/firmware/boringssl_firmware_crypto.h"
#include "core/firmware/image_verifier.h"

int main() {
  using Verifier =
      cxsec::firmware::ImageVerifier<cxsec::firmware::BoringSslFirmwareCrypto>;
  return Verifier::Verify({}, {}, {}, {}).ok() ? 0 : 1;
}
