// A deliberately banned binary that links OpenSSL 3's libcrypto directly.
extern "C" unsigned long OpenSSL_version_num(void);

int main() { return OpenSSL_version_num() != 0 ? 0 : 1; }
