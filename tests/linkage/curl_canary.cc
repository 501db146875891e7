// A deliberately banned binary: it links libcurl-gnutls, which pulls in
// libssh2 and, through it, OpenSSL 3's libcrypto.so.3. The linkage checker
// must flag it; openssl3_ban_detects_test proves that it does.
extern "C" const char* curl_version(void);

int main() { return curl_version() != nullptr ? 0 : 1; }
