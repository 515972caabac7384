/*
 * vonage.http: the blocking libcurl transport, and the per-transfer setup it
 * shares with vonage.multi (vn_multi.c).
 *
 * One easy handle per userdata, kept across transfers (and with it the
 * connection cache, so keep-alive survives across calls): its constant
 * options are set once, the per-call ones on every call. Callbacks
 * only append to buffers owned by the transfer; they never touch Lua. The
 * policy (which hosts may use plain http, body cap, no redirects, no proxy
 * for plain http, a POST or PATCH on the wire at most once) is enforced here,
 * where the bytes go on the wire, so every caller gets it.
 */
#include "vn_http.h"
#include "vn_client.h"
#include "vn_compat.h"
#include "vn_error.h"
#include "vn_limits.h"
#include "vn_url.h"
#include "vn_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>

#if !CURL_AT_LEAST_VERSION(7, 85, 0)
#error "libcurl 7.85 or later is needed (CURLOPT_PREREQFUNCTION, CURLOPT_PROTOCOLS_STR)"
#endif

#define VN_MAX_HEADER_BYTES ((long)VN_MAX(header_bytes))
#define VN_KEEP_BUFFER_BYTES (64 * 1024)

typedef struct vn_http {
    vn_transfer t; /* t.easy == NULL once closed */
    vn_http_config cfg;
    int busy;          /* a send is reading t while Lua may run (a finalizer) */
    int close_pending; /* close() came meanwhile: done when the send ends */
    vn_url_memo url_memo; /* the origin its URL checks last passed */
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
    vn_transfer *t = ud;
    size_t n = size * nmemb;
    /* A new status line (after 100 Continue, say) starts a new header block. */
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        t->headers.len = 0;
        t->headers_done = 0;
    } else if ((n == 2 && p[0] == '\r') || (n == 1 && p[0] == '\n')) {
        t->headers_done = 1;
    }
    return buf_append(&t->headers, p, n) == 0 ? n : 0;
}

/* Whether a byte of the request may have gone to a socket in this transfer,
 * libcurl's own re-sends included; until then it provably never left.
 * CURLINFO_REQUEST_SIZE adds up every attempt, a proxy's CONNECT too, so
 * only what it gained since on_prereq last ran counts. */
static int request_left(vn_transfer *t)
{
    long sent = 0;
    if (!t->started)
        return 0;
    if (t->left)
        return 1;
    curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &sent);
    return sent > t->request_mark;
}

/* libcurl calls this each time it is about to send the request, once
 * connected (proxy tunnel and TLS done); again when it re-sends it on a fresh
 * connection because a reused one died before any answer byte. The server may
 * have acted on the first copy, so a POST or PATCH of which a byte left is
 * stopped here (CURLE_ABORTED_BY_CALLBACK). Bytes since the last call may
 * also be a new CONNECT: then it errs on the side of "left". (A read callback
 * refusing to rewind would not do: an empty body needs no rewind, and
 * libcurl re-sends it.) */
static int on_prereq(void *ud, char *remote_ip, char *local_ip, int remote_port, int local_port)
{
    vn_transfer *t = ud;
    (void)remote_ip, (void)local_ip, (void)remote_port, (void)local_port;
    t->left = request_left(t);
    t->started = 1;
    curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &t->request_mark);
    if (t->once_only && t->left) {
        t->resend_refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
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

/* The request headers hold the Authorization header: wiped after each
 * transfer; the buffer and the nodes stay for the next one. */
static void free_req_headers(vn_transfer *t)
{
    if (t->hbuf != NULL)
        OPENSSL_cleanse(t->hbuf, t->hlen);
    t->hlen = 0;
    t->req_headers = NULL;
}

void vn_transfer_release(vn_transfer *t)
{
    free_req_headers(t);
    buf_reset(&t->body, 0);
    buf_reset(&t->headers, 0);
}

void vn_transfer_free(vn_transfer *t)
{
    if (t->easy != NULL)
        curl_easy_cleanup(t->easy);
    t->easy = NULL;
    free_req_headers(t);
    free(t->hbuf);
    free(t->hnodes);
    t->hbuf = NULL;
    t->hnodes = NULL;
    t->hcap = t->hncap = 0;
    free(t->body.data);
    free(t->headers.data);
    memset(&t->body, 0, sizeof t->body);
    memset(&t->headers, 0, sizeof t->headers);
}

/* Decides the protocols a URL may use, by the one URL policy (vn_url.c).
 * Returns NULL when allowed (and sets *protocols), else a reason. */
static const char *url_policy(const char *url, size_t len, const char **protocols,
                              vn_url_memo *memo)
{
    vn_url u;
    const char *why = vn_url_check_memo(url, len, VN_URL_API, &u, memo);
    if (why == NULL)
        *protocols = u.https ? "https" : "http";
    return why;
}

static int has_bad_byte(const char *s, size_t n)
{
    return memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, '\0', n);
}

/* The one rule for a caller's header (both curl transports, and resty
 * through core.check_header): NULL when it may be sent, else why not. Host,
 * Content-Length and Transfer-Encoding frame the exchange: the transport
 * writes them from the URL and the body, and a caller's copy would
 * contradict them (a second length smuggles a request). */
static const char *header_fault(const char *k, size_t kn, const char *v, size_t vn)
{
    static const char *const framing[] = {"host", "content-length", "transfer-encoding", NULL};
    if (kn == 0 || has_bad_byte(k, kn) || memchr(k, ':', kn) || has_bad_byte(v, vn))
        return "names and values must not hold CR, LF or NUL";
    for (int i = 0; framing[i] != NULL; i++)
        if (kn == strlen(framing[i]) && strncasecmp(k, framing[i], kn) == 0)
            return "the transport writes Host, Content-Length and Transfer-Encoding itself";
    return NULL;
}

/* The name a refusal may show: "?" when it would split a line. */
static const char *shown_name(const char *k, size_t kn)
{
    return kn == 0 || has_bad_byte(k, kn) ? "?" : k;
}

/* Checks every header name and value before anything is allocated, so the
 * raise for a wrong type and the refusal of a header happen with nothing to
 * free. Returns NULL, or why the header *bad (its name) is refused.
 * *has_auth: an Authorization header is among them. */
static const char *check_headers(lua_State *L, int idx, const char *who, const char **bad,
                                 int *has_auth)
{
    const char *why = NULL;
    *has_auth = 0;
    *bad = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        size_t kn, vn;
        const char *k, *v, *fault;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: spec.headers must map strings to strings", who);
        k = lua_tolstring(L, -2, &kn);
        v = lua_tolstring(L, -1, &vn);
        if (why == NULL && (fault = header_fault(k, kn, v, vn)) != NULL) {
            why = fault;
            *bad = shown_name(k, kn);
        }
        if (kn == 13 && strncasecmp(k, "authorization", 13) == 0)
            *has_auth = 1;
        lua_pop(L, 1);
    }
    return why;
}

/* core.check_header(name, value) -> nil | message: the rule above, for the
 * resty transport (a string other than these raises). */
static int core_check_header(lua_State *L)
{
    size_t kn, vn;
    const char *k = luaL_checklstring(L, 1, &kn), *v = luaL_checklstring(L, 2, &vn);
    const char *why = header_fault(k, kn, v, vn);
    char msg[256];
    if (why == NULL)
        return 0;
    snprintf(msg, sizeof msg, "refused header '%.64s': %s", shown_name(k, kn), why);
    lua_pushstring(L, msg);
    return 1;
}

/* Whether the pair on top of the stack (key -2, value -1) goes on the wire:
 * both strings, allowed by header_fault, and not an Authorization the
 * client's own replaces. Sets *k, *kn, *v, *vn. */
static int usable_pair(lua_State *L, const char *authorization, const char **k, size_t *kn,
                       const char **v, size_t *vn)
{
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        return 0;
    *k = lua_tolstring(L, -2, kn);
    *v = lua_tolstring(L, -1, vn);
    return header_fault(*k, *kn, *v, *vn) == NULL &&
           !(authorization != NULL && *kn == 13 && strncasecmp(*k, "authorization", 13) == 0);
}

/* Links the line just written at t->hbuf + t->hlen (len bytes with its
 * NUL) as the list's next node. */
static void put_node(vn_transfer *t, size_t len)
{
    t->hnodes[t->hn].data = t->hbuf + t->hlen;
    t->hnodes[t->hn].next = NULL;
    if (t->hn > 0)
        t->hnodes[t->hn - 1].next = &t->hnodes[t->hn];
    t->hlen += len;
    t->hn++;
}

static void put_line(vn_transfer *t, const char *k, size_t kn, const char *v, size_t vn)
{
    char *line = t->hbuf + t->hlen;
    memcpy(line, k, kn);
    memcpy(line + kn, ": ", 2);
    memcpy(line + kn + 2, v, vn);
    line[kn + 2 + vn] = '\0';
    put_node(t, kn + 3 + vn);
}

/* Builds the header list from the table at idx, plus the Authorization
 * value (NULL: none) that never became a Lua string, into the transfer's
 * own buffer and nodes (no allocation once they are large enough; the
 * value is copied once, there). Lua may have run since check_headers (a
 * finalizer changing the table), so each pair used is checked again here,
 * where no Lua can run: lua_next and lua_tolstring on strings only; the
 * first walk sizes, the second writes. Returns 0, -1 (out of memory) or
 * -2 (a header refused). */
static int build_headers(lua_State *L, vn_transfer *t, int idx, const char *authorization)
{
    /* "Expect:" (no value): libcurl sends no Expect, so it does not wait
     * for a 100-continue on larger POST bodies. */
    size_t bytes = sizeof "Expect:", lines = 1, an = authorization ? strlen(authorization) : 0;
    const char *k, *v;
    size_t kn, vn;
    free_req_headers(t);
    if (authorization != NULL) {
        bytes += 13 + 3 + an;
        lines++;
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (bytes > t->hcap) {
                char *d = malloc(bytes);
                if (d == NULL)
                    return -1;
                if (t->hbuf != NULL)
                    free(t->hbuf); /* wiped by free_req_headers */
                t->hbuf = d;
                t->hcap = bytes;
            }
            if (lines > t->hncap) {
                struct curl_slist *n = realloc(t->hnodes, lines * sizeof *n);
                if (n == NULL)
                    return -1;
                t->hnodes = n;
                t->hncap = lines;
            }
            t->hn = 0;
        }
        if (idx != 0) {
            lua_pushnil(L);
            while (lua_next(L, idx) != 0) {
                if (!usable_pair(L, authorization, &k, &kn, &v, &vn)) {
                    lua_pop(L, 2);
                    return -2;
                }
                if (pass == 0) {
                    bytes += kn + 3 + vn;
                    lines++;
                } else {
                    put_line(t, k, kn, v, vn);
                }
                lua_pop(L, 1);
            }
        }
    }
    if (authorization != NULL)
        put_line(t, "Authorization", 13, authorization, an);
    memcpy(t->hbuf + t->hlen, "Expect:", sizeof "Expect:");
    put_node(t, sizeof "Expect:");
    t->req_headers = t->hnodes;
    return 0;
}

/* The response headers api.call reads (Retry-After and the Date it is
 * measured from) and the ones a caller may: the only ones built for a
 * library call, whose table is otherwise thrown away. */
static const char *wanted_header(const char *name, size_t len)
{
    static const char *const names[] = { "retry-after", "date", "content-type", "location" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0)
            return names[i];
    return NULL;
}

/* Pushes the response headers as a table of lower-case names (with few, only
 * the wanted ones); a repeated header's values are joined with ", " as RFC
 * 9110 allows. */
static void push_headers(lua_State *L, const vn_buf *b, int few)
{
    const char *p = b->data, *end = b->data + b->len;
    lua_newtable(L);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        const char *known = colon != NULL && colon > p && few ? wanted_header(p, (size_t)(colon - p)) : NULL;
        if (colon != NULL && colon > p && (!few || known != NULL)) {
            const char *v = colon + 1, *ve = line_end;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (known != NULL) { /* already lower case */
                lua_pushstring(L, known);
            } else {
                luaL_Buffer name;
                luaL_buffinit(L, &name);
                for (const char *c = p; c < colon; c++)
                    luaL_addchar(&name, (char)tolower((unsigned char)*c));
                luaL_pushresult(&name);
            }
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

static int headers_too_large(lua_State *L)
{
    return vn_error_push(L, "transport", "headers_too_large", 0,
                         "response headers exceed %ld bytes", VN_MAX_HEADER_BYTES);
}

/* Marks the err on top retryable when the request provably never left. */
static int retryable_unless(lua_State *L, int left)
{
    if (!left) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "retryable");
    }
    return 3;
}

/* Maps a failed transfer to nil, msg, err. Retryable only when the request
 * provably never left; a POST or PATCH that left on a connection that then
 * failed before the answer is "outcome_unknown", since the server may have
 * acted on it. */
static int transfer_error(lua_State *L, vn_transfer *t, CURLcode rc)
{
    const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
    int left = request_left(t);
    switch (rc) {
    case CURLE_WRITE_ERROR:
        if (t->body.overflow)
            return vn_error_push(L, "transport", "body_too_large", 0,
                                 "response body exceeds the %lu byte limit",
                                 (unsigned long)t->body.limit);
        if (t->headers.overflow)
            return headers_too_large(L);
        break;
    case CURLE_OUT_OF_MEMORY:
        /* libcurl 7.x fails a header line over its own limit (100 KiB) with
         * this code: once the request left and before the head's blank line,
         * that is by far the likelier cause. */
        if (left && !t->headers_done)
            return headers_too_large(L);
        break;
#if CURL_AT_LEAST_VERSION(8, 6, 0)
    case CURLE_TOO_LARGE: /* the same limit, named, from libcurl 8.6 on */
        if (left && !t->headers_done)
            return headers_too_large(L);
        break;
#endif
    case CURLE_UNSUPPORTED_PROTOCOL:
        if (!left) /* a scheme refused before any I/O */
            return vn_error_push(L, "transport", "insecure_url", 0, "refused: %s", detail);
        /* Once it left, the answer was not HTTP (HTTP/0.9, a bad status line). */
        /* fall through */
    case CURLE_WEIRD_SERVER_REPLY:
        return vn_error_push(L, "transport", "bad_response", 0,
                             "the answer is not valid HTTP: %s", detail);
    case CURLE_OPERATION_TIMEDOUT:
        vn_error_push(L, "transport", "timeout", 0, "timed out: %s%s", detail,
                      t->once_only && left ? "; the server may have received the request" : "");
        if (t->once_only && left) { /* a POST or PATCH that left: it may have been processed */
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "outcome_unknown");
        }
        return retryable_unless(L, left);
    default:
        break;
    }
    if (t->once_only && left) {
        if (t->resend_refused)
            detail = "the connection closed before any answer";
        return vn_error_push(L, "transport", "outcome_unknown", 0,
                             "outcome unknown: the request was sent, then %s%s%s; the server "
                             "may have received it, so it was not sent again",
                             t->resend_refused ? "" : "the exchange failed (", detail,
                             t->resend_refused ? "" : ")");
    }
    /* Left here, the request may have left too: a GET that libcurl re-sent
     * on a fresh connection that then failed. */
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        vn_error_push(L, "transport", "dns", 0, "could not resolve host: %s", detail);
        return retryable_unless(L, left);
    case CURLE_COULDNT_CONNECT:
        vn_error_push(L, "transport", "connect_failed", 0, "could not connect: %s", detail);
        return retryable_unless(L, left);
    case CURLE_SSL_CONNECT_ERROR:
        vn_error_push(L, "transport", "tls", 0, "TLS handshake failed: %s", detail);
        return retryable_unless(L, left);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return vn_error_push(L, "transport", "tls_verify", 0,
                             "TLS certificate verification failed: %s", detail);
    default:
        return vn_error_push(L, "transport", "network", 0, "%s", detail);
    }
}

int vn_transfer_push_result(lua_State *L, vn_transfer *t, CURLcode rc)
{
    long status = 0;
    if (rc != CURLE_OK)
        return transfer_error(L, t, rc);
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_pushinteger(L, status);
    push_headers(L, &t->headers, t->few_headers);
    lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
    return 3;
}

/* Credentials never cross a proxy in clear: plain http (loopback only) goes
 * direct whatever the environment says ("" turns libcurl's http_proxy and
 * all_proxy off too); https may use cfg->proxy or the environment's
 * https_proxy/all_proxy, through a CONNECT tunnel that keeps TLS end to end. */
static void set_proxy(CURL *e, const vn_http_config *cfg, const char *protocols)
{
    if (strcmp(protocols, "https") != 0)
        curl_easy_setopt(e, CURLOPT_PROXY, "");
    else /* NULL: libcurl's default, the environment's proxy */
        curl_easy_setopt(e, CURLOPT_PROXY, cfg->proxy);
}

/* The method, its body, and the guard that sends a POST or PATCH at most
 * once. Every call sets the method in full (the handle is not reset): GET
 * drops an earlier body, and the custom verb is set or cleared each time. */
static int set_method(vn_transfer *t, const char *method, const char *body, size_t body_len)
{
    CURL *e = t->easy;
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    t->once_only = !vn_method_idempotent(method);
    t->started = t->left = t->resend_refused = t->headers_done = 0;
    t->request_mark = 0;
    if (get || (body == NULL && !post)) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        /* The size first: COPYPOSTFIELDS then copies that many bytes (NULs too). */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "") != CURLE_OK)
            return -1;
    }
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, get || post ? NULL : method);
    return 0;
}

/* Pushes spec[field] (raw: no metamethod runs) and returns its stack index. */
static int spec_field(lua_State *L, int spec_idx, const char *field)
{
    lua_pushstring(L, field);
    lua_rawget(L, spec_idx);
    return lua_gettop(L);
}

static const char *spec_string(lua_State *L, int idx, const char *field, size_t *len,
                               const char *who)
{
    if (lua_isnil(L, idx))
        return NULL;
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "%s: spec.%s must be a string", who, field);
    return lua_tolstring(L, idx, len);
}

typedef struct push_args {
    vn_transfer *t;
    CURLcode rc;
} push_args;

int vn_transfer_push_protected(lua_State *L)
{
    push_args *a = lua_touserdata(L, 1);
    return vn_transfer_push_result(L, a->t, a->rc);
}

int vn_transfer_push_guarded(lua_State *L, int fn, vn_transfer *t, CURLcode rc, int *busy,
                             int *nresults)
{
    push_args a;
    int base, status;
    a.t = t;
    a.rc = rc;
    base = lua_gettop(L);
    /* Nothing between ++busy and the pcall allocates (the function is the
     * caller's upvalue, made at load), so no finalizer runs before the guard
     * and no raise can leave *busy set. */
    ++*busy;
    lua_pushvalue(L, fn);
    lua_pushlightuserdata(L, &a);
    status = lua_pcall(L, 1, LUA_MULTRET, 0);
    --*busy;
    *nresults = lua_gettop(L) - base;
    return status;
}

int vn_busy_error(lua_State *L)
{
    return vn_error_push(L, "transport", "busy", 0,
                         "the transport is busy: a call on it is under way (a finalizer "
                         "or metamethod called it again)");
}

/*
 * The spec: { method=, url=, headers={name=value}, body=, timeout_ms=,
 *             connect_timeout_ms=, max_response_bytes=,
 *             client=, auth=, auth_time= }
 * client (a vonage.client): the transport adds that client's Authorization
 * header (auth "jwt" | "basic" | nil for its default, at Unix time auth_time)
 * in C; only its own transport, and only to its api_host or network_host.
 * Redirects are never followed: the caller sees the 3xx and its location.
 */
int vn_spec_read(lua_State *L, int spec_idx, int transport_idx, vn_spec *sp, vn_url_memo *memo,
                 const char *who)
{
    const char *why, *bad;
    int idx, client_idx, has_auth = 0;

    memset(sp, 0, sizeof *sp);
    luaL_checkstack(L, 16, who);
    /* Every value stays on the stack until the call ends: a finalizer that
     * changes the spec table meanwhile cannot free a string in use. */
    sp->method = spec_string(L, spec_field(L, spec_idx, "method"), "method", NULL, who);
    sp->url = spec_string(L, spec_field(L, spec_idx, "url"), "url", &sp->url_len, who);
    sp->body = spec_string(L, spec_field(L, spec_idx, "body"), "body", &sp->body_len, who);
    if (sp->method == NULL || sp->url == NULL)
        return luaL_error(L, "%s: spec.method and spec.url are required", who);
    sp->timeout_ms = vn_optfield_integer(L, spec_idx, "timeout_ms", VN_RANGE(timeout_ms));
    sp->connect_ms = vn_optfield_integer(L, spec_idx, "connect_timeout_ms", VN_RANGE(connect_timeout_ms));
    /* Any cap up to the client's largest: each caller's option has its own floor. */
    sp->max_body = vn_optfield_integer(L, spec_idx, "max_response_bytes", VN_DEFAULT(max_response_bytes), 0,
                                       VN_MAX(max_response_bytes));
    idx = spec_field(L, spec_idx, "headers");
    if (!lua_isnil(L, idx) && !lua_istable(L, idx))
        return luaL_error(L, "%s: spec.headers must be a table", who);
    sp->headers_idx = lua_isnil(L, idx) ? 0 : idx;

    client_idx = spec_field(L, spec_idx, "client");
    if (!lua_isnil(L, client_idx)) {
        if ((sp->client = vn_client_test(L, client_idx)) == NULL)
            return luaL_error(L, "%s: spec.client must be a vonage.client", who);
        sp->auth = spec_string(L, spec_field(L, spec_idx, "auth"), "auth", NULL, who);
        idx = spec_field(L, spec_idx, "auth_time");
        if (lua_type(L, idx) != LUA_TNUMBER)
            return luaL_error(L, "%s: spec.auth_time must be a number", who);
        sp->auth_time = (double)lua_tonumber(L, idx);
    }

    if (strcmp(sp->method, "GET") && strcmp(sp->method, "POST") && strcmp(sp->method, "DELETE") &&
        strcmp(sp->method, "PATCH") && strcmp(sp->method, "PUT"))
        return luaL_error(L, "%s: unsupported method '%s'", who, sp->method);
    if ((why = url_policy(sp->url, sp->url_len, &sp->protocols, memo)) != NULL)
        return vn_error_push(L, "transport", "insecure_url", 0, "refused URL: it %s", why);
    if (sp->headers_idx != 0 &&
        (why = check_headers(L, sp->headers_idx, who, &bad, &has_auth)) != NULL)
        return vn_error_push(L, "validation", "bad_header", 0, "refused header '%.64s': %s", bad,
                             why);
    if (sp->client != NULL) {
        if (sp->headers_idx != 0 && has_auth)
            return luaL_error(L, "%s: spec.client and an Authorization header exclude each other",
                              who);
        if ((why = vn_client_may_send(L, client_idx, transport_idx, sp->url)) != NULL)
            return luaL_error(L, "%s: %s", who, why);
    }
    return 0;
}

/* Whether libcurl was built with a default CA file (7.84 tells). */
static int has_default_ca_file(CURL *e)
{
#if LIBCURL_VERSION_NUM >= 0x075400
    char *path = NULL;
    return curl_easy_getinfo(e, CURLINFO_CAINFO, &path) == CURLE_OK && path != NULL;
#else
    (void)e;
    return 0;
#endif
}

/* The options every transfer on this handle shares, set once per easy
 * handle (curl_easy_reset per call cost ~20 setopts and libcurl's own
 * re-allocations): redirects off, TLS verified, the callbacks into t.
 * vn_transfer_prepare sets only what a call changes, and each of those on
 * every call, so nothing of one call reaches the next. */
static void transfer_configure(vn_transfer *t, const vn_http_config *cfg)
{
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* HTTP/2 when TLS's ALPN offers it (many transfers, one connection and
     * one handshake), HTTP/1.1 otherwise and always for plain http. */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t->body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, t);
    if (cfg->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
    /* One trust store, the CA file (ca_file, else the system bundle), and
     * no CA directory: Debian's libcurl adds /etc/ssl/certs by default, which
     * both trusts more than a given ca_file and stops libcurl from caching the
     * parsed store, so every new connection parsed the whole file again. A
     * libcurl built with a CA directory alone keeps it (else nothing would
     * be trusted). */
    if (cfg->ca_file != NULL || has_default_ca_file(e))
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    if (cfg->user_agent)
        curl_easy_setopt(e, CURLOPT_USERAGENT, cfg->user_agent);
    if (cfg->interface_name)
        curl_easy_setopt(e, CURLOPT_INTERFACE, cfg->interface_name);
    t->configured = 1;
    t->protocols = NULL;
}

int vn_transfer_prepare(lua_State *L, vn_transfer *t, const vn_http_config *cfg,
                        const vn_spec *sp, vn_failure *f)
{
    CURL *e = t->easy;
    const char *authorization = NULL;

    if (sp->client != NULL &&
        (authorization = vn_client_header(sp->client, sp->auth, sp->auth_time, f)) == NULL)
        return -1;
    switch (build_headers(L, t, sp->headers_idx, authorization)) {
    case 0:
        break;
    case -2:
        vn_failure_set(f, "validation", "bad_header",
                       "refused spec.headers: changed after they were checked");
        return -1;
    default:
        vn_failure_set(f, "transport", "out_of_memory", "out of memory");
        return -1;
    }

    if (!t->configured)
        transfer_configure(t, cfg);
    t->few_headers = sp->client != NULL;
    t->errbuf[0] = '\0';
    buf_reset(&t->body, (size_t)sp->max_body);
    buf_reset(&t->headers, VN_MAX_HEADER_BYTES);
    /* libcurl copies every string option, so the spec may go once this returns. */
    curl_easy_setopt(e, CURLOPT_URL, sp->url);
    /* The protocol limit and the proxy rule that follows from it change
     * only when the scheme does (sp->protocols is a literal: it outlives t). */
    if (t->protocols == NULL || strcmp(t->protocols, sp->protocols) != 0) {
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, sp->protocols);
        set_proxy(e, cfg, sp->protocols);
        t->protocols = sp->protocols;
    }
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, sp->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, sp->connect_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->req_headers);
    if (set_method(t, sp->method, sp->body, sp->body_len) != 0) {
        vn_failure_set(f, "transport", "out_of_memory", "out of memory");
        return -1;
    }
    return 0;
}

static int http_is_closed(const vn_http *h)
{
    return h->t.easy == NULL || h->close_pending;
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

static void http_free(vn_http *h)
{
    vn_transfer_free(&h->t);
    vn_http_config_free(&h->cfg);
    h->close_pending = 0;
}

/* http:close() -- also __close; safe to call twice. A close that a finalizer
 * runs while a send reads the transfer waits for that send's end. */
static int http_close(lua_State *L)
{
    vn_http *h = luaL_checkudata(L, 1, VN_HTTP_TNAME);
    if (h->busy)
        h->close_pending = 1;
    else
        http_free(h);
    return 0;
}

/* __gc: no call can be inside an object being collected */
static int http_gc(lua_State *L)
{
    http_free(luaL_checkudata(L, 1, VN_HTTP_TNAME));
    return 0;
}

static int http_tostring(lua_State *L)
{
    vn_http *h = luaL_checkudata(L, 1, VN_HTTP_TNAME);
    lua_pushfstring(L, "vonage.http (curl%s%s)", http_is_closed(h) ? ", closed" : "",
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
    luaL_argcheck(L, ms >= VN_MIN(sleep_ms) && ms <= VN_MAX(sleep_ms), 2,
                  "sleep must be " VN_STR(VN_MIN(sleep_ms)) ".." VN_STR(VN_MAX(sleep_ms)) " ms");
    sleep_ms((long)ms);
    return 0;
}

static int closed_error(lua_State *L)
{
    return vn_error_push(L, "transport", "closed", 0, "the transport is closed");
}

/* http:send(spec) -> status, headers, body | nil, msg, err  (spec: see vn_spec_read)
 * A send that Lua code (a finalizer) starts while this transport is inside
 * another gets err.code "busy": the transfer's buffers are in use. */
static int http_send(lua_State *L)
{
    vn_http *h = luaL_checkudata(L, 1, VN_HTTP_TNAME);
    vn_spec sp;
    vn_failure f;
    CURLcode rc;
    int n, status;
    if (http_is_closed(h))
        return closed_error(L);
    if (h->busy)
        return vn_busy_error(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    if ((n = vn_spec_read(L, 2, 1, &sp, &h->url_memo, "vonage.http")) != 0)
        return n;
    /* Reading the spec may have run Lua (a finalizer) that closed us. */
    if (http_is_closed(h))
        return closed_error(L);
    /* Busy from the first write to the transfer to the last read of it. */
    h->busy++;
    if (vn_transfer_prepare(L, &h->t, &h->cfg, &sp, &f) != 0) {
        vn_transfer_release(&h->t);
        h->busy--;
        if (h->close_pending && !h->busy)
            http_free(h);
        return vn_failure_push(L, &f);
    }
    rc = curl_easy_perform(h->t.easy);
    status = vn_transfer_push_guarded(L, lua_upvalueindex(1), &h->t, rc, &h->busy, &n);
    vn_transfer_release(&h->t);
    h->busy--;
    if (h->close_pending && !h->busy)
        http_free(h);
    if (status != 0)
        return lua_error(L);
    return n;
}

/* send is set in vn_http_open with its upvalue (vn_set_guarded_method). */
static const luaL_Reg http_methods[] = {
    {"sleep", http_sleep},
    {"close", http_close},
    {NULL, NULL},
};

static const luaL_Reg http_metamethods[] = {
    {"__gc", http_gc},
    {"__close", http_close},
    {"__tostring", http_tostring},
    {NULL, NULL},
};

void vn_set_guarded_method(lua_State *L, const char *tname, const char *name, lua_CFunction f)
{
    luaL_getmetatable(L, tname);
    lua_getfield(L, -1, "__index");
    lua_pushcfunction(L, vn_transfer_push_protected);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, -2, name);
    lua_pop(L, 2);
}

int vn_http_open(lua_State *L)
{
    vn_newclass(L, VN_HTTP_TNAME, http_methods, http_metamethods);
    vn_set_guarded_method(L, VN_HTTP_TNAME, "send", http_send);
    lua_pushcfunction(L, core_check_header);
    lua_setfield(L, -2, "check_header");
    lua_pushcfunction(L, http_new);
    lua_setfield(L, -2, "http_new");
    return 0;
}
