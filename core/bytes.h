// Byte views and owned byte strings, the currency of every cxsec API.
// ByteView never owns; Bytes owns. Secrets use SecretBytes (secret_bytes.h)
// instead, so they are wiped and cannot be printed.
#ifndef CXSEC_CORE_BYTES_H_
#define CXSEC_CORE_BYTES_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/types/span.h"

namespace cxsec {

// ByteView: a read-only, non-owning view of bytes.
using ByteView = absl::Span<const uint8_t>;
// MutableByteView: a writable, non-owning view of bytes.
using MutableByteView = absl::Span<uint8_t>;
// Bytes: an owned, growable byte string.
using Bytes = std::vector<uint8_t>;

// AsBytes views the characters of `text` as bytes, without copying.
inline ByteView AsBytes(absl::string_view text) {
  return ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

// AsStringView views `bytes` as characters, without copying.
inline absl::string_view AsStringView(ByteView bytes) {
  return absl::string_view(reinterpret_cast<const char*>(bytes.data()),
                          bytes.size());
}

// ToBytes copies `bytes` into an owned Bytes.
inline Bytes ToBytes(ByteView bytes) { return Bytes(bytes.begin(), bytes.end()); }
inline Bytes ToBytes(absl::string_view text) { return ToBytes(AsBytes(text)); }

// ToString copies `bytes` into a std::string.
inline std::string ToString(ByteView bytes) {
  return std::string(AsStringView(bytes));
}

}  // namespace cxsec

#endif  // CXSEC_CORE_BYTES_H_
