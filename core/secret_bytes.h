// SecretBytes: owned key material (PSKs, network keys, private keys, API
// keys). Its memory is wiped with the backend's cleanse (OPENSSL_cleanse)
// whenever it is freed, including buffers left behind by a resize. It has no
// operator<<, no implicit conversion and no accessor without an explicit
// SecretAccess token, so a secret cannot reach a log by accident; GoogleTest
// prints it as "SecretBytes(<redacted>, N bytes)".
//
//   absl::StatusOr<SecretBytes> psk = SecretBytes::Random(32);
//   ByteView raw = psk->Reveal(SecretAccess::Grant());  // greppable
#ifndef CXSEC_CORE_SECRET_BYTES_H_
#define CXSEC_CORE_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "core/crypto/primitives.h"

namespace cxsec {

// SecretAccess: the token that every read of raw secret bytes must present.
// It exists so that such reads are explicit and easy to audit with grep.
class SecretAccess {
 public:
  static constexpr SecretAccess Grant() { return SecretAccess(); }

 private:
  constexpr SecretAccess() = default;
};

// CleansingAllocator wipes every block before handing it back to `Base`.
template <class Base = std::allocator<uint8_t>>
class CleansingAllocator : public Base {
 public:
  using value_type = uint8_t;
  template <class U>
  struct rebind {
    using other = CleansingAllocator<Base>;
  };

  CleansingAllocator() = default;
  explicit CleansingAllocator(const Base& base) : Base(base) {}

  void deallocate(uint8_t* block, size_t size) {
    SecureZero(block, size);
    Base::deallocate(block, size);
  }

  friend bool operator==(const CleansingAllocator&, const CleansingAllocator&) {
    return true;
  }
};

// BasicSecretBytes: see the file comment. `Base` exists so tests can observe
// deallocation; code uses the SecretBytes alias.
template <class Base = std::allocator<uint8_t>>
class BasicSecretBytes {
 public:
  using Storage = std::vector<uint8_t, CleansingAllocator<Base>>;

  BasicSecretBytes() = default;
  // A zero-filled secret of `size` bytes, to be written through RevealMutable.
  explicit BasicSecretBytes(size_t size, const Base& base = Base())
      : bytes_(size, 0, CleansingAllocator<Base>(base)) {}

  // CopyFrom copies `raw` into a new secret. The caller still owns `raw` and
  // is responsible for wiping it.
  static BasicSecretBytes CopyFrom(ByteView raw, const Base& base = Base()) {
    BasicSecretBytes secret(raw.size(), base);
    std::copy(raw.begin(), raw.end(), secret.bytes_.begin());
    return secret;
  }

  // Random returns `size` bytes from the CSPRNG.
  [[nodiscard]] static absl::StatusOr<BasicSecretBytes> Random(size_t size) {
    BasicSecretBytes secret(size);
    absl::Status status = RandomBytes(absl::MakeSpan(secret.bytes_));
    if (!status.ok()) return status;
    return secret;
  }

  // Copies are explicit (Clone) so a secret is not duplicated by accident.
  BasicSecretBytes(const BasicSecretBytes&) = delete;
  BasicSecretBytes& operator=(const BasicSecretBytes&) = delete;
  BasicSecretBytes(BasicSecretBytes&& other) noexcept
      : bytes_(std::move(other.bytes_)) {
    other.bytes_.clear();
  }
  BasicSecretBytes& operator=(BasicSecretBytes&& other) noexcept {
    if (this != &other) {
      Wipe();
      bytes_ = std::move(other.bytes_);
      other.bytes_.clear();
    }
    return *this;
  }
  ~BasicSecretBytes() { Wipe(); }

  BasicSecretBytes Clone() const {
    return CopyFrom(absl::MakeConstSpan(bytes_), bytes_.get_allocator());
  }

  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

  // Reveal gives read access to the raw bytes.
  ByteView Reveal(SecretAccess) const { return absl::MakeConstSpan(bytes_); }
  // RevealMutable gives write access, e.g. to fill a key from a KDF.
  MutableByteView RevealMutable(SecretAccess) { return absl::MakeSpan(bytes_); }

  // Wipe zeroes the bytes and releases the memory (cleansed again on free).
  void Wipe() {
    if (!bytes_.empty()) SecureZero(bytes_.data(), bytes_.size());
    bytes_.clear();
    bytes_.shrink_to_fit();
  }

  // Equal compares in constant time (for equal lengths).
  bool Equals(const BasicSecretBytes& other) const {
    return ConstantTimeEquals(absl::MakeConstSpan(bytes_),
                              absl::MakeConstSpan(other.bytes_));
  }

  // GoogleTest's printer; nothing else prints a secret.
  friend void PrintTo(const BasicSecretBytes& secret, std::ostream* out) {
    *out << "SecretBytes(<redacted>, " << secret.size() << " bytes)";
  }

 private:
  Storage bytes_;
};

using SecretBytes = BasicSecretBytes<>;

// Streaming a secret does not compile, by design.
template <class Base>
std::ostream& operator<<(std::ostream&, const BasicSecretBytes<Base>&) = delete;

}  // namespace cxsec

#endif  // CXSEC_CORE_SECRET_BYTES_H_
