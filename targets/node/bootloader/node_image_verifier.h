// The node's composition of the firmware image verifier: the one place
// that picks its crypto backend (Mbed TLS, which fits a Cortex-M3 and
// allocates only from the buffer the image hands it). The host composes
// the same verifier with BoringSSL in core/firmware/host_image_verifier.h.
#ifndef CXSEC_TARGETS_NODE_BOOTLOADER_NODE_IMAGE_VERIFIER_H_
#define CXSEC_TARGETS_NODE_BOOTLOADER_NODE_IMAGE_VERIFIER_H_

#include "core/firmware/image_verifier.h"
#include "core/firmware/mbedtls_firmware_crypto.h"

namespace cxsec::node::bootloader {

using NodeImageVerifier =
    firmware::ImageVerifier<firmware::MbedTlsFirmwareCrypto>;

}  // namespace cxsec::node::bootloader

#endif  // CXSEC_TARGETS_NODE_BOOTLOADER_NODE_IMAGE_VERIFIER_H_
