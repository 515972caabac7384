/*
 * The one URL policy (see vn_url.h). The URL is read twice: by a strict
 * reader here, which sees the text exactly as written, and by libcurl's own
 * parser (CURLU), which is what a transfer connects to. Both must agree on
 * scheme, host and port, so nothing libcurl normalises (127.1, 0x7f.0.0.1,
 * %31%32%37.0.0.1, a dropped zone id) can pass as something else.
 *
 * What counts as loopback, for plain http:
 * - the name "localhost" (any case), exactly: RFC 6761 reserves it for
 *   loopback. "localhost." and "*.localhost" are refused: a resolver (nginx's,
 *   or DNS through a search list) may ask the network for them.
 * - 127.0.0.0/8 written as four decimal numbers without leading zeros.
 * - ::1 in any spelling inet_pton reads ([::1], [0:0:0:0:0:0:0:1]).
 * Not loopback: 0.0.0.0, [::], IPv4-mapped addresses ([::ffff:127.0.0.1]:
 * one spelling of loopback is enough, and a mapped address goes through
 * the IPv6 stack, where proxies and filters treat it differently).
 */
#include "vn_url.h"
#include "vn_compat.h"
#include "vn_limits.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

static const char R_LONG[] = "is longer than " VN_STR(VN_MAX(url_bytes)) " bytes";
static const char R_BYTES[] =
    "holds a space, a control character or a byte outside printable ASCII";
static const char R_SYNTAX[] = "is not an absolute URL of the form scheme://host/path";
static const char R_SCHEME[] = "uses a scheme other than https";
static const char R_USERINFO[] = "holds userinfo (a user or password before the host)";
static const char R_EMPTY_HOST[] = "has no host";
static const char R_PERCENT[] = "has a percent-encoded host";
static const char R_NAME[] =
    "has a malformed host name (labels of letters, digits, - and _, separated by dots)";
static const char R_DOT[] = "has a host name ending in a dot (write it without the dot)";
static const char R_IPV4[] =
    "writes an IPv4 address in another form than four decimal numbers (like 127.0.0.1)";
static const char R_IPV6[] = "has a malformed IPv6 address (zone ids are refused)";
static const char R_PORT[] = "has a port that is empty or outside 1-65535";
static const char R_HTTP[] = "uses plain http to a host that is not loopback (https is required)";
static const char R_FRAGMENT[] = "has a #fragment, which is never sent";
static const char R_ORIGIN[] =
    "has a path, query or fragment (give only scheme://host[:port], like https://api.nexmo.com)";
static const char R_INVALID[] = "is not a valid absolute URL";
static const char R_CURL[] = "is read differently by libcurl than by this check";
static const char R_NOMEM[] = "could not be checked (out of memory)";

enum host_kind { HOST_NAME, HOST_IPV4, HOST_IPV6 };

/* a.b.c.d, each 0..255 in decimal without a leading zero (inet_aton reads
 * 010 as octal), and nothing else. */
static int canonical_ipv4(const char *h, size_t n, unsigned char out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t start = i;
        unsigned v = 0;
        if (part > 0) {
            if (i >= n || h[i] != '.')
                return 0;
            start = ++i;
        }
        while (i < n && i - start < 3 && h[i] >= '0' && h[i] <= '9')
            v = v * 10 + (unsigned)(h[i++] - '0');
        if (i == start || v > 255 || (h[start] == '0' && i - start > 1))
            return 0;
        out[part] = (unsigned char)v;
    }
    return i == n;
}

/* A registered name, or an IPv4 address when its last label is a number (as
 * WHATWG and libcurl read it): then only the canonical form is taken. */
static const char *check_name(const char *h, size_t n, enum host_kind *kind, unsigned char v4[4])
{
    size_t label = 0, last = 0;
    if (memchr(h, '%', n))
        return R_PERCENT;
    if (n > 253)
        return R_NAME;
    if (h[n - 1] == '.')
        return R_DOT;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '.') {
            if (label == 0)
                return R_NAME;
            label = 0;
            last = i + 1;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return R_NAME;
        } else {
            return R_NAME;
        }
    }
    {
        const char *l = h + last;
        size_t ln = n - last, digits = 0;
        while (digits < ln && isdigit((unsigned char)l[digits]))
            digits++;
        if (digits < ln && !(ln >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X'))) {
            *kind = HOST_NAME;
            return NULL;
        }
    }
    if (!canonical_ipv4(h, n, v4))
        return R_IPV4;
    *kind = HOST_IPV4;
    return NULL;
}

/* libcurl's reading of the URL must name the same scheme, host and port. */
static const char *curl_agrees(const char *url, const vn_url *u, enum host_kind kind,
                               const struct in6_addr *addr)
{
    CURLU *h = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    const char *why = NULL;
    CURLUcode rc;
    if (h == NULL)
        return R_NOMEM;
    rc = curl_url_set(h, CURLUPART_URL, url, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(h, CURLUPART_SCHEME, &scheme, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(h, CURLUPART_HOST, &host, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (rc == CURLUE_OUT_OF_MEMORY) {
        why = R_NOMEM;
    } else if (rc != CURLUE_OK) {
        why = R_INVALID;
    } else if (strcmp(scheme, u->https ? "https" : "http") != 0 || atoi(port) != u->port) {
        why = R_CURL;
    } else if (kind == HOST_IPV6) {
        char buf[64];
        size_t n = strlen(host);
        struct in6_addr theirs;
        if (n < 3 || n - 2 >= sizeof buf || host[0] != '[' || host[n - 1] != ']') {
            why = R_CURL;
        } else {
            memcpy(buf, host + 1, n - 2);
            buf[n - 2] = '\0';
            if (inet_pton(AF_INET6, buf, &theirs) != 1 || memcmp(&theirs, addr, sizeof theirs))
                why = R_CURL;
        }
    } else if (strcasecmp(host, u->host) != 0) {
        why = R_CURL;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(h);
    return why;
}

const char *vn_url_check(const char *url, size_t len, vn_url_purpose purpose, vn_url *out)
{
    return vn_url_check_memo(url, len, purpose, out, NULL);
}

const char *vn_url_check_memo(const char *url, size_t len, vn_url_purpose purpose, vn_url *out,
                              vn_url_memo *memo)
{
    size_t i, a, e, port_at;
    enum host_kind kind = HOST_NAME;
    unsigned char v4[4] = {0, 0, 0, 0};
    struct in6_addr v6;
    int loopback;
    const char *why, *tail, *hash;

    memset(out, 0, sizeof *out);
    memset(&v6, 0, sizeof v6);
    if (len > VN_MAX(url_bytes))
        return R_LONG;
    for (i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return R_BYTES;

    /* scheme ":" "//": schemes are case-insensitive (RFC 3986, 3.1) */
    if (len == 0 || !isalpha((unsigned char)url[0]))
        return R_SYNTAX;
    for (i = 1; i < len && (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' ||
                            url[i] == '.');
         i++)
        ;
    if (i >= len || url[i] != ':')
        return R_SYNTAX;
    if (i == 5 && strncasecmp(url, "https", 5) == 0)
        out->https = 1;
    else if (!(i == 4 && strncasecmp(url, "http", 4) == 0))
        return R_SCHEME;
    if (len - i < 3 || url[i + 1] != '/' || url[i + 2] != '/')
        return R_SYNTAX;

    /* authority: userinfo is refused for every purpose */
    a = i + 3;
    for (e = a; e < len && url[e] != '/' && url[e] != '?' && url[e] != '#'; e++)
        ;
    if (memchr(url + a, '@', e - a))
        return R_USERINFO;
    if (e == a)
        return R_EMPTY_HOST;
    if (url[a] == '[') {
        const char *close = memchr(url + a, ']', e - a);
        char buf[64];
        size_t n;
        if (close == NULL)
            return R_IPV6;
        n = (size_t)(close - (url + a + 1));
        if (n == 0 || n >= sizeof buf || memchr(url + a + 1, '%', n))
            return R_IPV6;
        memcpy(buf, url + a + 1, n);
        buf[n] = '\0';
        if (inet_pton(AF_INET6, buf, &v6) != 1)
            return R_IPV6;
        kind = HOST_IPV6;
        port_at = (size_t)(close + 1 - url);
        if (port_at < e && url[port_at] != ':')
            return R_IPV6;
        out->host[0] = '[';
        if (inet_ntop(AF_INET6, &v6, out->host + 1, sizeof out->host - 2) == NULL)
            return R_IPV6;
        strcat(out->host, "]");
    } else {
        const char *colon = memchr(url + a, ':', e - a);
        size_t n = colon ? (size_t)(colon - (url + a)) : e - a;
        if (n == 0)
            return R_EMPTY_HOST;
        if ((why = check_name(url + a, n, &kind, v4)) != NULL)
            return why;
        for (i = 0; i < n; i++)
            out->host[i] = (char)tolower((unsigned char)url[a + i]);
        out->host[n] = '\0';
        port_at = a + n;
    }

    if (port_at == e) {
        out->port = out->https ? 443 : 80;
    } else {
        long port = 0;
        size_t digits = e - port_at - 1;
        if (digits == 0 || digits > 5)
            return R_PORT;
        for (i = port_at + 1; i < e; i++) {
            if (!isdigit((unsigned char)url[i]))
                return R_PORT;
            port = port * 10 + (url[i] - '0');
        }
        if (port < 1 || port > 65535)
            return R_PORT;
        out->port = (int)port;
    }

    tail = url + e;
    hash = memchr(tail, '#', len - e);
    if (purpose == VN_URL_HOST && e < len)
        return R_ORIGIN;
    if (purpose == VN_URL_API && hash != NULL)
        return R_FRAGMENT;
    out->target = tail;
    out->target_len = hash ? (size_t)(hash - tail) : len - e;

    static const struct in6_addr v6_loopback = IN6ADDR_LOOPBACK_INIT;
    switch (kind) {
    case HOST_IPV4:
        loopback = v4[0] == 127;
        break;
    case HOST_IPV6:
        loopback = memcmp(&v6, &v6_loopback, sizeof v6) == 0;
        break;
    default:
        loopback = strcmp(out->host, "localhost") == 0;
        break;
    }
    if (!out->https && !loopback)
        return R_HTTP;
    if (memo != NULL && memo->len == e && memcmp(memo->origin, url, e) == 0)
        return NULL;
    why = curl_agrees(url, out, kind, &v6);
    if (memo != NULL && why == NULL && e <= sizeof memo->origin) {
        memcpy(memo->origin, url, e);
        memo->len = e;
    }
    return why;
}

/* core.check_url(url, purpose) -> scheme, host, port, target | nil, reason
 * purpose: "api" (a request the client sends), "redirect" (a URL a device
 * follows; may have a #fragment), "host" (a host option: scheme://host[:port]).
 * scheme is "https" or "http"; host is lower case, an IPv6 address in
 * brackets; port is a number, the scheme's default when absent; target is
 * the path and query to send ("/" when absent), never the fragment. */
static int core_check_url(lua_State *L)
{
    static const char *const purposes[] = {"api", "redirect", "host", NULL};
    size_t len;
    const char *url, *why;
    int purpose;
    vn_url u;
    luaL_checktype(L, 1, LUA_TSTRING);
    url = lua_tolstring(L, 1, &len);
    purpose = luaL_checkoption(L, 2, NULL, purposes);
    why = vn_url_check(url, len, (vn_url_purpose)purpose, &u);
    if (why != NULL) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    lua_pushstring(L, u.https ? "https" : "http");
    lua_pushstring(L, u.host);
    lua_pushinteger(L, u.port);
    if (u.target_len == 0 || u.target[0] == '?') {
        lua_pushliteral(L, "/");
        lua_pushlstring(L, u.target, u.target_len);
        lua_concat(L, 2);
    } else {
        lua_pushlstring(L, u.target, u.target_len);
    }
    return 4;
}

static const luaL_Reg url_functions[] = {
    {"check_url", core_check_url},
    {NULL, NULL},
};

int vn_url_open(lua_State *L)
{
    vn_setfuncs(L, url_functions);
    return 0;
}
