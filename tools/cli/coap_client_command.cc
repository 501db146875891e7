// `cxsec coap-client-command --key-file FILE [--gateway HOST:PORT]
// [--client coap-client-openssl|coap-client-gnutls]`: prints the bash
// commands with which Debian's coap-client posts one reading as a
// provisioned DTLS device, for interop checks against a gateway.
//
// coap-client 4.3.1 takes the PSK only as raw bytes in `-k` (or in the
// text of a `-h` hint file), never as hex, and a 16-byte PSK is arbitrary
// bytes: typing it by hand fails. The command quotes every byte as $'\xHH',
// which carries any byte but 0x00 (a C string ends there); for a PSK with
// a 0x00 byte it refuses and says why (about 6% of keys).
#include <cstdio>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/cli/command_line.h"
#include "core/deployment/node_key_file.h"
#include "core/secret_bytes.h"
#include "platforms/posix/files.h"
#include "tools/cli/command_registry.h"

namespace cxsec::cli {
namespace {

constexpr char kUsage[] =
    "Usage: cxsec coap-client-command --key-file DIR/devices/<id>.key\n"
    "       [--gateway 127.0.0.1:5684] [--client coap-client-openssl]\n"
    "Prints bash commands that post one CBOR reading to the gateway as this\n"
    "device with Debian's coap-client (package libcoap3-bin). The output\n"
    "holds the device's PSK: run it as `bash <(cxsec coap-client-command "
    "...)`\nrather than pasting it into a shell history.\n";

// {"v3":{"s":"p","d":{"t":21500}}}: a periodic reading, 21.5 degrees C, as
// cxsec-node sends it (docs/DTLS_AND_KEYS.md, POST /t).
constexpr char kReadingCbor[] =
    "\\xa1\\x62v3\\xa2\\x61s\\x61p\\x61d\\xa1\\x61t\\x19\\x53\\xfc";

int Fail(const std::string& message, int code) {
  std::fprintf(stderr, "cxsec coap-client-command: %s\n", message.c_str());
  return code;
}

int RunCoapClientCommand(int argc, const char* const* argv) {
  CommandLine cl(
      {{"key-file", true, "the device's key file from `cxsec provision` (0600)",
        "FILE"},
       {"gateway", true, "gateway DTLS address (127.0.0.1:5684)", "HOST:PORT"},
       {"client", true, "coap-client-openssl (default) or coap-client-gnutls",
        "NAME"}});
  if (absl::Status status = cl.Parse(argc, argv); !status.ok()) {
    return Fail(std::string(status.message()), 2);
  }
  if (cl.Has("help")) {
    std::printf("%s\n%s", kUsage, cl.Usage().c_str());
    return 0;
  }
  absl::StatusOr<std::string> path = cl.RequiredValue("key-file");
  if (!path.ok() || !cl.positionals().empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  std::string client = cl.Value("client", "coap-client-openssl");
  if (client != "coap-client-openssl" && client != "coap-client-gnutls") {
    return Fail("--client must be coap-client-openssl or coap-client-gnutls",
                2);
  }
  std::string gateway = cl.Value("gateway", "127.0.0.1:5684");
  for (char c : gateway) {
    // The address goes into a command line unquoted: refuse anything a
    // shell would interpret.
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
          c == ':' || c == '-' || c == '[' || c == ']')) {
      return Fail("--gateway must be HOST:PORT", 2);
    }
  }
  absl::StatusOr<std::string> text = ReadPrivateFile(*path, 4096);
  if (!text.ok()) return Fail(std::string(text.status().message()), 1);
  absl::StatusOr<NodeKey> key = ParseNodeKeyFile(*text, *path);
  SecureZero(text->data(), text->size());
  if (!key.ok()) return Fail(std::string(key.status().message()), 1);
  ByteView psk = key->psk.Reveal(SecretAccess::Grant());
  std::string quoted_psk;
  for (uint8_t byte : psk) {
    if (byte == 0) {
      return Fail(
          absl::StrCat(
              "the PSK of ", key->device_id, " (epoch ", key->epoch,
              ") contains a 0x00 byte. coap-client 4.3.1 reads the PSK only "
              "as a C string (-k, or a line of a -h hint file), so it cannot "
              "send this key: use another device id (`cxsec provision "
              "--security security.txt --devices ...`) for the interop "
              "check, or wait for the next epoch's key after `cxsec "
              "rollover`"),
          1);
    }
    absl::StrAppend(&quoted_psk, absl::StrFormat("\\x%02x", byte));
  }
  // The explicit identity "<id>.<epoch>" names this key's epoch, so the
  // command also works during a rollover (docs/DTLS_AND_KEYS.md).
  std::printf(
      "#!/bin/bash\n"
      "# %s posts one reading as %s (key epoch %u) to coaps://%s/t.\n"
      "# On 2.04 (spooled at the gateway) coap-client prints nothing; a "
      "4.01 or a failed\n# handshake means the gateway does not accept this "
      "key (docs/DTLS_AND_KEYS.md).\n"
      "printf '%s' > reading.cbor\n"
      "%s -m post -t 60 -f reading.cbor -u '%s.%u' -k $'%s' -B 8 "
      "'coaps://%s/t'\n",
      client.c_str(), key->device_id.c_str(), key->epoch, gateway.c_str(),
      kReadingCbor, client.c_str(), key->device_id.c_str(), key->epoch,
      quoted_psk.c_str(), gateway.c_str());
  SecureZero(quoted_psk.data(), quoted_psk.size());
  return 0;
}

}  // namespace
}  // namespace cxsec::cli

// Registered by hand: CXSEC_REGISTER_COMMAND needs a name that is also an
// identifier, and imgtool-style CLIs spell commands with dashes.
static ::cxsec::cli::CommandRegistration coap_client_command_registration(
    "coap-client-command",
    "print the coap-client commands that post a reading as a DTLS device",
    cxsec::cli::RunCoapClientCommand);
