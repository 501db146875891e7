/* libcoap 4.3.1's configuration for cxsec: what its ./configure writes on
 * Debian 12 (x86-64, glibc) with the options of Debian's libcoap-3-gnutls
 * build (--enable-dtls --with-gnutls --disable-add-default-names
 * --disable-as-dtls-default). Written by hand so that Bazel builds libcoap
 * without running autoconf; third_party/libcoap.BUILD compiles against it.
 */
#ifndef CXSEC_THIRD_PARTY_LIBCOAP_COAP_CONFIG_H_
#define CXSEC_THIRD_PARTY_LIBCOAP_COAP_CONFIG_H_

#define COAP_CLIENT_SUPPORT 1
#define COAP_SERVER_SUPPORT 1
#define COAP_DISABLE_TCP 0
#define COAP_EPOLL_SUPPORT 1

/* The DTLS backend: GnuTLS, as Debian's libcoap-3-gnutls. */
#define HAVE_LIBGNUTLS 1

#define HAVE_ARPA_INET_H 1
#define HAVE_ASSERT_H 1
#define HAVE_DLFCN_H 1
#define HAVE_GETADDRINFO 1
#define HAVE_GETRANDOM 1
#define HAVE_IF_NAMETOINDEX 1
#define HAVE_INTTYPES_H 1
#define HAVE_LIMITS_H 1
#define HAVE_MALLOC 1
#define HAVE_MEMSET 1
#define HAVE_NETDB_H 1
#define HAVE_NETINET_IN_H 1
#define HAVE_NET_IF_H 1
#define HAVE_PTHREAD_H 1
#define HAVE_PTHREAD_MUTEX_LOCK 1
#define HAVE_SELECT 1
#define HAVE_SOCKET 1
#define HAVE_STDINT_H 1
#define HAVE_STDIO_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRCASECMP 1
#define HAVE_STRINGS_H 1
#define HAVE_STRING_H 1
#define HAVE_STRNLEN 1
#define HAVE_STRRCHR 1
#define HAVE_STRUCT_CMSGHDR 1
#define HAVE_SYSLOG_H 1
#define HAVE_SYS_IOCTL_H 1
#define HAVE_SYS_SOCKET_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_SYS_UNISTD_H 1
#define HAVE_TIME_H 1
#define HAVE_UNISTD_H 1
#define STDC_HEADERS 1

#define PACKAGE_BUGREPORT "libcoap-developers@lists.sourceforge.net"
#define PACKAGE_NAME "libcoap"
#define PACKAGE_STRING "libcoap 4.3.1"
#define PACKAGE_TARNAME "libcoap"
#define PACKAGE_URL "https://libcoap.net/"
#define PACKAGE_VERSION "4.3.1"

#endif  /* CXSEC_THIRD_PARTY_LIBCOAP_COAP_CONFIG_H_ */
