// Fuzzes the node's .seal key file parser: never a crash; no error quotes
// a run of 32 hex digits (a key's text); whatever parses, formatted again
// as `cxsec provision` writes it, parses to the same device, epoch and keys.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/seal/seal_key_file.h"
#include "core/seal/seal_master_secret.h"

namespace {

bool HasHexRun(const std::string& text, size_t length) {
  size_t run = 0;
  for (char c : text) {
    run = std::isxdigit(static_cast<unsigned char>(c)) ? run + 1 : 0;
    if (run >= length) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cxsec;
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<seal::SealKeyFile> keys =
      seal::ParseSealKeyFile(text, "fuzz.seal");
  if (!keys.ok()) {
    if (HasHexRun(std::string(keys.status().message()), 32)) std::abort();
    return 0;
  }
  const std::string again = seal::FormatSealKeyFile(
      keys->device_id, keys->epoch, keys->mac_key,
      keys->enc_key.has_value() ? &*keys->enc_key : nullptr);
  absl::StatusOr<seal::SealKeyFile> reparsed =
      seal::ParseSealKeyFile(again, "again.seal");
  auto same = [](const SecretBytes& a, const SecretBytes& b) {
    return a.Reveal(SecretAccess::Grant()) == b.Reveal(SecretAccess::Grant());
  };
  if (!reparsed.ok() || reparsed->device_id != keys->device_id ||
      reparsed->epoch != keys->epoch ||
      !same(reparsed->mac_key, keys->mac_key) ||
      reparsed->enc_key.has_value() != keys->enc_key.has_value() ||
      (keys->enc_key.has_value() &&
       !same(*reparsed->enc_key, *keys->enc_key))) {
    std::abort();
  }
  return 0;
}
