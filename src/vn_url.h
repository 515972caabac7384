/*
 * The one URL policy: which URLs the library sends to, follows or takes as a
 * host option. Every path uses it (both curl transports through vn_http.c,
 * and core.check_url for the resty transport, silent-auth hops,
 * redirect_url / redirect_uri and the client's host options).
 */
#ifndef VN_URL_H
#define VN_URL_H

#include <stddef.h>
#include <lua.h>

#define VN_URL_MEMO_BYTES 320

typedef enum vn_url_purpose {
    VN_URL_API,      /* a request the client sends: no #fragment (it is never sent) */
    VN_URL_REDIRECT, /* a URL a device follows: a #fragment may carry the outcome */
    VN_URL_HOST      /* a host option: scheme://host[:port] and nothing else */
} vn_url_purpose;

typedef struct vn_url {
    int https;                 /* 1 for https, 0 for http (to loopback only) */
    char host[258];            /* lower case; an IPv6 address in brackets, compressed */
    int port;                  /* 1..65535; the scheme's default when absent */
    const char *target;        /* path and query as written (inside url), before any # */
    size_t target_len;         /* 0 when the URL has neither */
} vn_url;

/*
 * Checks url (len bytes, NUL-terminated at len) for purpose. Returns NULL and
 * fills *out when allowed, else a reason that reads after "it" ("uses a scheme
 * other than https") and never quotes the URL. Does no I/O.
 */
const char *vn_url_check(const char *url, size_t len, vn_url_purpose purpose, vn_url *out);

/* The origin (scheme "://" authority) of the last URL a transport's checks
 * passed, libcurl's reading of it included: len 0 when none. */
typedef struct vn_url_memo {
    char origin[VN_URL_MEMO_BYTES];
    size_t len;
} vn_url_memo;

/* vn_url_check, but libcurl's own reading of the URL (a whole parse) is
 * skipped when the URL's origin is byte for byte the one memo holds:
 * libcurl ends the authority at the first '/', '?' or '#', as this check
 * does, so it reads that origin as it did before. Every other rule runs
 * on every URL. memo is updated after a full check passes. */
const char *vn_url_check_memo(const char *url, size_t len, vn_url_purpose purpose, vn_url *out,
                              vn_url_memo *memo);

int vn_url_open(lua_State *L);

#endif
