// Fuzzes the bootloader's header + TLV parser: VerifyImage must never read
// out of bounds, loop unboundedly or accept an image no trusted key
// signed; DescribeImage (dumpinfo) must stay in bounds too. The trusted set
// holds one fixed Ed25519 key whose private half is not in the corpus, so
// any acceptance is a bug.
#include <cstdint>
#include <cstdlib>

#include "core/firmware/host_image_verifier.h"
#include "core/firmware/image_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec::firmware;
  TrustedKey key;
  key.algorithm = SignatureAlgorithm::kEd25519;
  key.public_key_size = 32;
  for (size_t i = 0; i < 32; ++i) {
    key.key_hash[i] = static_cast<uint8_t>(i);
    key.public_key[i] = static_cast<uint8_t>(0x40 + i);
  }
  absl::Span<const uint8_t> bytes(data, size);
  uint8_t buffer[128];
  VerifyOptions options;
  VerifyOutcome outcome = VerifyImage(MemoryImageSource(bytes),
                                      absl::MakeConstSpan(&key, 1), options,
                                      absl::MakeSpan(buffer));
  if (outcome.ok()) std::abort();
  ImageInfo info = DescribeImage(bytes);
  (void)info;
  return 0;
}
