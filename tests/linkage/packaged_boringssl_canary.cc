// A deliberately banned binary that links Debian's packaged BoringSSL
// (libcrypto.so.0), a second copy beside the one cxsec builds from source.
extern "C" int CRYPTO_is_confidential_build(void);

int main() { return CRYPTO_is_confidential_build() >= 0 ? 0 : 1; }
