/*
 * vonage.http: the blocking libcurl transport, and the per-transfer setup it
 * shares with vonage.multi (vn_multi.c).
 *
 * One easy handle per userdata, reset before each transfer (curl_easy_reset
 * keeps the connection cache, so keep-alive survives across calls). Callbacks
 * only append to buffers owned by the transfer; they never touch Lua. The
 * policy (which hosts may use plain http, body cap, no redirects) is enforced
 * here, where the bytes go on the wire, so every caller gets it.
 */
#include "vn_http.h"
#include "vn_compat.h"
#include "vn_error.h"
#include "vn_url.h"
#include "vn_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VN_DEFAULT_MAX_BODY (1024L * 1024L)
#define VN_MAX_HEADER_BYTES (64L * 1024L)
#define VN_KEEP_BUFFER_BYTES (64 * 1024)

typedef struct vn_http {
    vn_transfer t; /* t.easy == NULL once closed */
    vn_http_config cfg;
} vn_http;

static void buf_reset(vn_buf *b, size_t limit)
{
    if (b->cap > VN_KEEP_BUFFER_BYTES) { /* do not pin a 1 MiB answer forever */
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
    b->len = 0;
    b->limit = limit;
    b->overflow = 0;
}

static int buf_append(vn_buf *b, const char *p, size_t n)
{
    if (n > b->limit - b->len) {
        b->overflow = 1;
        return -1;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *d;
        while (cap < b->len + n)
            cap *= 2;
        d = realloc(b->data, cap);
        if (d == NULL)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    vn_buf *b = ud;
    size_t n = size * nmemb;
    return buf_append(b, p, n) == 0 ? n : 0; /* 0 aborts: cap enforced mid-stream */
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    vn_buf *b = ud;
    size_t n = size * nmemb;
    /* A new status line (after 100 Continue, say) starts a new header block. */
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        b->len = 0;
    return buf_append(b, p, n) == 0 ? n : 0;
}

static char *dup_opt(lua_State *L, int idx, const char *field, const char *who)
{
    size_t n;
    const char *s = vn_optfield_string(L, idx, field, &n);
    char *d;
    if (s == NULL)
        return NULL;
    if (memchr(s, '\0', n) != NULL || memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL)
        luaL_error(L, "%s: option '%s' holds a control character", who, field);
    d = vn_strdup_len(s, n);
    if (d == NULL)
        luaL_error(L, "%s: out of memory", who);
    return d;
}

void vn_http_config_read(lua_State *L, int idx, vn_http_config *cfg, const char *who)
{
    cfg->ca_file = dup_opt(L, idx, "ca_file", who);
    cfg->proxy = dup_opt(L, idx, "proxy", who);
    cfg->user_agent = dup_opt(L, idx, "user_agent", who);
    cfg->interface_name = dup_opt(L, idx, "interface", who);
}

void vn_http_config_free(vn_http_config *cfg)
{
    free(cfg->ca_file);
    free(cfg->proxy);
    free(cfg->user_agent);
    free(cfg->interface_name);
    cfg->ca_file = cfg->proxy = cfg->user_agent = cfg->interface_name = NULL;
}

void vn_transfer_release(vn_transfer *t)
{
    curl_slist_free_all(t->req_headers); /* it holds the Authorization header */
    t->req_headers = NULL;
    buf_reset(&t->body, 0);
    buf_reset(&t->headers, 0);
}

void vn_transfer_free(vn_transfer *t)
{
    if (t->easy != NULL)
        curl_easy_cleanup(t->easy);
    t->easy = NULL;
    curl_slist_free_all(t->req_headers);
    t->req_headers = NULL;
    free(t->body.data);
    free(t->headers.data);
    memset(&t->body, 0, sizeof t->body);
    memset(&t->headers, 0, sizeof t->headers);
}

/* Decides the protocols a URL may use, by the one URL policy (vn_url.c).
 * Returns NULL when allowed (and sets *protocols), else a reason. */
static const char *url_policy(const char *url, size_t len, const char **protocols)
{
    vn_url u;
    const char *why = vn_url_check(url, len, VN_URL_API, &u);
    if (why == NULL)
        *protocols = u.https ? "https" : "http";
    return why;
}

static int has_bad_byte(const char *s, size_t n)
{
    return memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, '\0', n);
}

/* Checks every header name and value before anything is allocated, so the
 * raise for a wrong type and the refusal of CR/LF/NUL happen with nothing to free. */
static const char *check_headers(lua_State *L, int idx, const char *who)
{
    const char *bad = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        size_t kn, vn;
        const char *k, *v;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: spec.headers must map strings to strings", who);
        k = lua_tolstring(L, -2, &kn);
        v = lua_tolstring(L, -1, &vn);
        if (bad == NULL && (kn == 0 || has_bad_byte(k, kn) || memchr(k, ':', kn) ||
                            has_bad_byte(v, vn)))
            bad = k;
        lua_pop(L, 1);
    }
    return bad;
}

static int build_headers(lua_State *L, vn_transfer *t, int idx)
{
    curl_slist_free_all(t->req_headers);
    t->req_headers = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const char *line = lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
        struct curl_slist *next = curl_slist_append(t->req_headers, line);
        lua_pop(L, 2);
        if (next == NULL)
            return -1;
        t->req_headers = next;
    }
    /* libcurl would otherwise wait for 100-continue on larger POST bodies. */
    {
        struct curl_slist *next = curl_slist_append(t->req_headers, "Expect:");
        if (next == NULL)
            return -1;
        t->req_headers = next;
    }
    return 0;
}

/* Pushes the response headers as a table of lower-case names; a repeated
 * header's values are joined with ", " as RFC 9110 allows. */
static void push_headers(lua_State *L, const vn_buf *b)
{
    const char *p = b->data, *end = b->data + b->len;
    lua_newtable(L);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon != NULL && colon > p) {
            const char *v = colon + 1, *ve = line_end;
            luaL_Buffer name;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            luaL_buffinit(L, &name);
            for (const char *c = p; c < colon; c++)
                luaL_addchar(&name, (char)tolower((unsigned char)*c));
            luaL_pushresult(&name);
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            } else {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            }
            lua_rawset(L, -3);
        }
        p = line_end + 1;
    }
}

/* Maps a failed transfer to nil, msg, err; retryable only when the request
 * provably never left (no connection was made). */
static int transfer_error(lua_State *L, vn_transfer *t, CURLcode rc)
{
    const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
    curl_off_t connect_us = 0;
    switch (rc) {
    case CURLE_WRITE_ERROR:
        if (t->body.overflow)
            return vn_error_push(L, "transport", "body_too_large", 0,
                                 "response body exceeds the %lu byte limit",
                                 (unsigned long)t->body.limit);
        if (t->headers.overflow)
            return vn_error_push(L, "transport", "headers_too_large", 0,
                                 "response headers exceed %ld bytes", VN_MAX_HEADER_BYTES);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        vn_error_push(L, "transport", "dns", 0, "could not resolve host: %s", detail);
        goto retryable;
    case CURLE_COULDNT_CONNECT:
        vn_error_push(L, "transport", "connect_failed", 0, "could not connect: %s", detail);
        goto retryable;
    case CURLE_SSL_CONNECT_ERROR:
        vn_error_push(L, "transport", "tls", 0, "TLS handshake failed: %s", detail);
        goto retryable;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return vn_error_push(L, "transport", "tls_verify", 0,
                             "TLS certificate verification failed: %s", detail);
    case CURLE_OPERATION_TIMEDOUT:
        curl_easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        vn_error_push(L, "transport", "timeout", 0, "timed out: %s", detail);
        if (connect_us == 0)
            goto retryable; /* never connected: the request cannot have been sent */
        return 3;
    case CURLE_UNSUPPORTED_PROTOCOL:
        return vn_error_push(L, "transport", "insecure_url", 0, "refused: %s", detail);
    default:
        break;
    }
    return vn_error_push(L, "transport", "network", 0, "%s", detail);
retryable:
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "retryable");
    return 3;
}

int vn_transfer_push_result(lua_State *L, vn_transfer *t, CURLcode rc)
{
    long status = 0;
    if (rc != CURLE_OK)
        return transfer_error(L, t, rc);
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_pushinteger(L, status);
    push_headers(L, &t->headers);
    lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
    return 3;
}

/*
 * spec_idx is an absolute stack index. The spec: { method=, url=, headers={name=value}, body=, timeout_ms=,
 *             connect_timeout_ms=, max_response_bytes= }
 * Redirects are never followed: the caller sees the 3xx and its location.
 */
int vn_transfer_prepare(lua_State *L, vn_transfer *t, const vn_http_config *cfg, int spec_idx,
                        const char *who)
{
    CURL *e = t->easy;
    const char *method, *url, *protocols = NULL, *why, *bad, *body;
    size_t body_len = 0, url_len = 0;
    long timeout_ms, connect_ms, max_body;
    int headers_idx;

    method = vn_optfield_string(L, spec_idx, "method", NULL);
    url = vn_optfield_string(L, spec_idx, "url", &url_len);
    body = vn_optfield_string(L, spec_idx, "body", &body_len);
    if (method == NULL || url == NULL)
        return luaL_error(L, "%s: spec.method and spec.url are required", who);
    timeout_ms = vn_optfield_integer(L, spec_idx, "timeout_ms", 10000, 1, 600000);
    connect_ms = vn_optfield_integer(L, spec_idx, "connect_timeout_ms", 3000, 1, 600000);
    max_body = vn_optfield_integer(L, spec_idx, "max_response_bytes", VN_DEFAULT_MAX_BODY, 0,
                                   1L << 30);
    lua_getfield(L, spec_idx, "headers");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1))
        return luaL_error(L, "%s: spec.headers must be a table", who);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    headers_idx = lua_gettop(L);

    if (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "DELETE") &&
        strcmp(method, "PATCH") && strcmp(method, "PUT"))
        return luaL_error(L, "%s: unsupported method '%s'", who, method);
    if ((why = url_policy(url, url_len, &protocols)) != NULL)
        return vn_error_push(L, "transport", "insecure_url", 0, "refused URL: it %s", why);
    if ((bad = check_headers(L, headers_idx, who)) != NULL)
        return vn_error_push(L, "validation", "bad_header", 0,
                             "refused header '%.64s': names and values must not hold CR, LF or NUL",
                             has_bad_byte(bad, strlen(bad)) ? "?" : bad);
    if (build_headers(L, t, headers_idx) != 0)
        return vn_error_push(L, "transport", "out_of_memory", 0, "out of memory");
    lua_pop(L, 1); /* the headers table */

    curl_easy_reset(e);
    t->errbuf[0] = '\0';
    buf_reset(&t->body, (size_t)max_body);
    buf_reset(&t->headers, VN_MAX_HEADER_BYTES);
    /* libcurl copies every string option, so the spec may go once this returns. */
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols);
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->req_headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t->body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t->headers);
    if (cfg->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->proxy)
        curl_easy_setopt(e, CURLOPT_PROXY, cfg->proxy);
    if (cfg->user_agent)
        curl_easy_setopt(e, CURLOPT_USERAGENT, cfg->user_agent);
    if (cfg->interface_name)
        curl_easy_setopt(e, CURLOPT_INTERFACE, cfg->interface_name);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (body != NULL || strcmp(method, "POST") == 0) {
            /* The size first: COPYPOSTFIELDS then copies that many bytes (NULs too). */
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            if (curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "") != CURLE_OK)
                return vn_error_push(L, "transport", "out_of_memory", 0, "out of memory");
        }
    }
    return 0;
}

static vn_http *check_http(lua_State *L, int idx)
{
    vn_http *h = luaL_checkudata(L, idx, VN_HTTP_TNAME);
    if (h->t.easy == NULL)
        luaL_error(L, "vonage.http: the transport is closed");
    return h;
}

/* core.http_new{ ca_file=, proxy=, user_agent=, interface= } -> vonage.http */
static int http_new(lua_State *L)
{
    vn_http *h;
    luaL_checktype(L, 1, LUA_TTABLE);
    h = vn_newobject(L, sizeof *h, VN_HTTP_TNAME);
    vn_http_config_read(L, 1, &h->cfg, "vonage.http");
    h->t.easy = curl_easy_init();
    if (h->t.easy == NULL)
        return luaL_error(L, "vonage.http: curl_easy_init failed");
    return 1;
}

/* http:close() -- also __gc and __close; safe to call twice */
static int http_close(lua_State *L)
{
    vn_http *h = luaL_checkudata(L, 1, VN_HTTP_TNAME);
    vn_transfer_free(&h->t);
    vn_http_config_free(&h->cfg);
    return 0;
}

static int http_tostring(lua_State *L)
{
    vn_http *h = luaL_checkudata(L, 1, VN_HTTP_TNAME);
    lua_pushfstring(L, "vonage.http (curl%s%s)", h->t.easy ? "" : ", closed",
                    h->cfg.proxy ? ", via proxy" : "");
    return 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* http:sleep(ms) -- the backoff between retries, for a blocking transport */
static int http_sleep(lua_State *L)
{
    lua_Integer ms = luaL_checkinteger(L, 2);
    luaL_argcheck(L, ms >= 0 && ms <= 60000, 2, "sleep must be 0..60000 ms");
    sleep_ms((long)ms);
    return 0;
}

/* http:send(spec) -> status, headers, body | nil, msg, err  (spec: see vn_transfer_prepare) */
static int http_send(lua_State *L)
{
    vn_http *h = check_http(L, 1);
    int n;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    if ((n = vn_transfer_prepare(L, &h->t, &h->cfg, 2, "vonage.http")) != 0)
        return n;
    n = vn_transfer_push_result(L, &h->t, curl_easy_perform(h->t.easy));
    vn_transfer_release(&h->t);
    return n;
}

static const luaL_Reg http_methods[] = {
    {"send", http_send},
    {"sleep", http_sleep},
    {"close", http_close},
    {NULL, NULL},
};

static const luaL_Reg http_metamethods[] = {
    {"__gc", http_close},
    {"__close", http_close},
    {"__tostring", http_tostring},
    {NULL, NULL},
};

int vn_http_open(lua_State *L)
{
    vn_newclass(L, VN_HTTP_TNAME, http_methods, http_metamethods);
    lua_pushcfunction(L, http_new);
    lua_setfield(L, -2, "http_new");
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    lua_setfield(L, -2, "curl_version");
    return 0;
}
