/*
 * The signature checks of Vonage's signed webhooks, done with OpenSSL alone.
 *
 * libjwt 1.10 (Debian's) is not used here: with an empty key it accepts
 * unsigned tokens and it sizes stack buffers by the token's length. This file
 * parses the token itself, decides the algorithm itself (HS256, never what the
 * token asks for), and keeps every buffer a fixed size bounded by the 8 KiB
 * token limit. vn_webhook_check() uses no Lua, so the fuzzer can drive it.
 */
#include "vn_webhook.h"
#include "vn_compat.h"
#include "vn_util.h"
#include "vn_error.h"

#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SHA256_LEN 32
#define MAX_SECRET VN_MAX_SIGNATURE_SECRET
#define JSON_MAX_DEPTH 32

static int fail(vn_webhook_result *out, const char *code, const char *message)
{
    out->code = code;
    out->message = message;
    return -1;
}

/* ------------------------------------------------------------ base64url */

/* Strict unpadded base64url into out (cap bytes); -1 unless s is the one
 * canonical encoding of some byte string that fits. */
static long b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    unsigned acc = 0;
    int bits = 0;
    size_t used = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = vn_b64url_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (used == cap)
                return -1;
            out[used++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)used;
}

/* ----------------------------------------------------------------- JSON */

/* A strict RFC 8259 reader over a byte range: just enough to walk the
 * members of one object, read the few strings and numbers we decide on, and
 * skip everything else with a depth limit. */
typedef struct {
    const unsigned char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int hex4(const unsigned char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char ch = p[i];
        unsigned d;
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
        else return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

static void put(char *out, size_t cap, size_t *len, unsigned char ch)
{
    if (out != NULL && *len < cap)
        out[*len] = (char)ch;
    (*len)++;
}

static void put_utf8(char *out, size_t cap, size_t *len, unsigned cp)
{
    if (cp < 0x80) {
        put(out, cap, len, (unsigned char)cp);
    } else if (cp < 0x800) {
        put(out, cap, len, (unsigned char)(0xc0 | cp >> 6));
        put(out, cap, len, (unsigned char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        put(out, cap, len, (unsigned char)(0xe0 | cp >> 12));
        put(out, cap, len, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        put(out, cap, len, (unsigned char)(0x80 | (cp & 0x3f)));
    } else {
        put(out, cap, len, (unsigned char)(0xf0 | cp >> 18));
        put(out, cap, len, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
        put(out, cap, len, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        put(out, cap, len, (unsigned char)(0x80 | (cp & 0x3f)));
    }
}

/* Reads a string at c->p ('"' expected), decoding escapes into out (at most
 * cap bytes kept; *len is the full decoded length, so *len > cap means it
 * did not fit). out may be NULL to skip. */
static int read_string(cursor *c, char *out, size_t cap, size_t *len)
{
    *len = 0;
    if (c->p >= c->end || *c->p != '"')
        return -1;
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = *c->p++;
        if (ch == '"')
            return 0;
        if (ch < 0x20)
            return -1;
        if (ch != '\\') {
            put(out, cap, len, ch);
            continue;
        }
        if (c->p >= c->end)
            return -1;
        ch = *c->p++;
        switch (ch) {
        case '"': case '\\': case '/': put(out, cap, len, ch); break;
        case 'b': put(out, cap, len, '\b'); break;
        case 'f': put(out, cap, len, '\f'); break;
        case 'n': put(out, cap, len, '\n'); break;
        case 'r': put(out, cap, len, '\r'); break;
        case 't': put(out, cap, len, '\t'); break;
        case 'u': {
            unsigned cp, low;
            if (c->end - c->p < 4 || hex4(c->p, &cp) != 0)
                return -1;
            c->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
                    hex4(c->p + 2, &low) != 0 || low < 0xdc00 || low > 0xdfff)
                    return -1;
                c->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return -1;
            }
            put_utf8(out, cap, len, cp);
            break;
        }
        default:
            return -1;
        }
    }
    return -1;
}

static int is_digit(const cursor *c)
{
    return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

/* Reads a number; *integer says whether it had neither fraction nor exponent. */
static int read_number(cursor *c, int *integer)
{
    *integer = 1;
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (!is_digit(c))
        return -1;
    if (*c->p == '0')
        c->p++;
    else
        while (is_digit(c))
            c->p++;
    if (c->p < c->end && *c->p == '.') {
        *integer = 0;
        c->p++;
        if (!is_digit(c))
            return -1;
        while (is_digit(c))
            c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        *integer = 0;
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (!is_digit(c))
            return -1;
        while (is_digit(c))
            c->p++;
    }
    return 0;
}

static int literal(cursor *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

static int skip_value(cursor *c, int depth);

/* Calls member(ctx, key, key_len, c) for each member of the object at c->p;
 * the callback consumes the value. Keys longer than the buffer are passed
 * truncated with their true length, so they match nothing. */
typedef int (*member_fn)(void *ctx, const char *key, size_t key_len, cursor *c);

static int walk_object(cursor *c, int depth, member_fn member, void *ctx)
{
    char key[32];
    if (depth > JSON_MAX_DEPTH || c->p >= c->end || *c->p != '{')
        return -1;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        size_t key_len;
        skip_ws(c);
        if (read_string(c, key, sizeof key, &key_len) != 0)
            return -1;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':')
            return -1;
        c->p++;
        skip_ws(c);
        if (member(ctx, key, key_len, c) != 0)
            return -1;
        skip_ws(c);
        if (c->p >= c->end)
            return -1;
        if (*c->p == '}') {
            c->p++;
            return 0;
        }
        if (*c->p++ != ',')
            return -1;
    }
}

static int skip_member(void *ctx, const char *key, size_t key_len, cursor *c)
{
    (void)key;
    (void)key_len;
    return skip_value(c, *(int *)ctx);
}

static int skip_value(cursor *c, int depth)
{
    size_t len;
    int integer;
    if (depth > JSON_MAX_DEPTH || c->p >= c->end)
        return -1;
    switch (*c->p) {
    case '{': {
        int inner = depth + 1;
        return walk_object(c, depth, skip_member, &inner);
    }
    case '[':
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            return 0;
        }
        for (;;) {
            skip_ws(c);
            if (skip_value(c, depth + 1) != 0)
                return -1;
            skip_ws(c);
            if (c->p >= c->end)
                return -1;
            if (*c->p == ']') {
                c->p++;
                return 0;
            }
            if (*c->p++ != ',')
                return -1;
        }
    case '"':
        return read_string(c, NULL, 0, &len);
    case 't':
        return literal(c, "true");
    case 'f':
        return literal(c, "false");
    case 'n':
        return literal(c, "null");
    default:
        return read_number(c, &integer);
    }
}

/* Walks a whole document that must be one object and nothing after it. */
static int walk_document(const unsigned char *text, size_t n, member_fn member, void *ctx)
{
    cursor c = { text, text + n };
    skip_ws(&c);
    if (walk_object(&c, 1, member, ctx) != 0)
        return -1;
    skip_ws(&c);
    return c.p == c.end ? 0 : -1;
}

static int key_is(const char *key, size_t key_len, const char *name)
{
    return key_len == strlen(name) && memcmp(key, name, key_len) == 0;
}

/* Reads a string value into buf; *ok says whether it was a string equal to
 * `want` (when want is given). Non-strings are skipped and leave *ok 0. */
static int string_equals(cursor *c, const char *want, int *ok)
{
    char buf[16];
    size_t len;
    *ok = 0;
    if (c->p < c->end && *c->p == '"') {
        if (read_string(c, buf, sizeof buf, &len) != 0)
            return -1;
        *ok = len == strlen(want) && memcmp(buf, want, len) == 0;
        return 0;
    }
    return skip_value(c, 2);
}

/* ------------------------------------------------------ the JOSE header */

typedef struct {
    int alg_seen, alg_ok, typ_seen, typ_ok, crit_seen;
} header_info;

static int header_member(void *ctx, const char *key, size_t key_len, cursor *c)
{
    header_info *h = ctx;
    if (key_is(key, key_len, "alg")) {
        if (h->alg_seen++)
            return -1;
        return string_equals(c, "HS256", &h->alg_ok);
    }
    if (key_is(key, key_len, "typ")) {
        if (h->typ_seen++)
            return -1;
        return string_equals(c, "JWT", &h->typ_ok);
    }
    if (key_is(key, key_len, "crit"))
        h->crit_seen++;
    return skip_value(c, 2);
}

/* ------------------------------------------------------------ the claims */

typedef struct {
    const unsigned char *body_hash; /* SHA-256 of the body, 32 bytes */
    int hash_seen, iat_seen, exp_seen, nbf_seen;
    enum vn_payload_hash payload_hash;
    const char *bad_number; /* the time claim that was a non-integer number */
} claims_info;

/* Lower-case hex of the digest compared with the claim in constant time:
 * the length check leaks nothing, a hex digest's length is public. */
static int hash_member(claims_info *ci, cursor *c)
{
    static const char digits[] = "0123456789abcdef";
    char claim[2 * SHA256_LEN], expected[2 * SHA256_LEN];
    size_t len;
    if (c->p >= c->end || *c->p != '"') {
        ci->payload_hash = VN_HASH_MISSING;
        return skip_value(c, 2);
    }
    if (read_string(c, claim, sizeof claim, &len) != 0)
        return -1;
    for (int i = 0; i < SHA256_LEN; i++) {
        expected[2 * i] = digits[ci->body_hash[i] >> 4];
        expected[2 * i + 1] = digits[ci->body_hash[i] & 15];
    }
    ci->payload_hash = len == sizeof claim && CRYPTO_memcmp(claim, expected, sizeof claim) == 0
                           ? VN_HASH_OK : VN_HASH_MISMATCH;
    return 0;
}

static int time_member(claims_info *ci, const char *name, int *seen, cursor *c)
{
    int integer;
    if ((*seen)++)
        return -1;
    if (c->p < c->end && (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))) {
        if (read_number(c, &integer) != 0)
            return -1;
        if (!integer && ci->bad_number == NULL)
            ci->bad_number = name;
        return 0;
    }
    return skip_value(c, 2); /* not a number: the Lua side names the type */
}

static int claims_member(void *ctx, const char *key, size_t key_len, cursor *c)
{
    claims_info *ci = ctx;
    if (key_is(key, key_len, "payload_hash")) {
        if (ci->hash_seen++)
            return -1;
        return hash_member(ci, c);
    }
    if (key_is(key, key_len, "iat"))
        return time_member(ci, "iat", &ci->iat_seen, c);
    if (key_is(key, key_len, "exp"))
        return time_member(ci, "exp", &ci->exp_seen, c);
    if (key_is(key, key_len, "nbf"))
        return time_member(ci, "nbf", &ci->nbf_seen, c);
    return skip_value(c, 2);
}

/* ---------------------------------------------------------- the checker */

int vn_webhook_check(const char *authorization, size_t auth_len,
                     const unsigned char *secret, size_t secret_len,
                     const unsigned char *body, size_t body_len,
                     vn_webhook_result *out)
{
    unsigned char header[VN_WEBHOOK_MAX_SEGMENT];
    unsigned char signature[SHA256_LEN + 1], mac[EVP_MAX_MD_SIZE], body_hash[SHA256_LEN];
    unsigned int mac_len = 0, hash_len = 0;
    const char *token, *dot1, *dot2, *end;
    long header_len, payload_len;
    header_info hi = { 0, 0, 0, 0, 0 };
    claims_info ci;

    memset(out, 0, sizeof *out);

    /* 1. Bearer <token>: bounded, no NUL, three non-empty base64url segments */
    if (authorization == NULL || memchr(authorization, '\0', auth_len) != NULL)
        return fail(out, "malformed", "webhook: the Authorization header holds a NUL byte");
    end = authorization + auth_len;
    while (end > authorization && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end - authorization < 7 || strncasecmp(authorization, "Bearer ", 7) != 0)
        return fail(out, "malformed", "webhook: the Authorization header is not 'Bearer <token>'");
    token = authorization + 7;
    while (token < end && *token == ' ')
        token++;
    if (end - token > VN_WEBHOOK_MAX_TOKEN)
        return fail(out, "malformed", "webhook: the token is longer than " VN_STR(VN_WEBHOOK_MAX_TOKEN) " bytes");
    dot1 = memchr(token, '.', (size_t)(end - token));
    dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) != NULL ||
        dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == end)
        return fail(out, "malformed", "webhook: the token must have three non-empty segments");

    /* 2. The header, decided by us */
    header_len = b64url_decode(token, (size_t)(dot1 - token), header, sizeof header);
    if (header_len < 0 || walk_document(header, (size_t)header_len, header_member, &hi) != 0)
        return fail(out, "malformed", "webhook: the token header is not base64url JSON");
    if (!hi.alg_ok)
        return fail(out, "unsupported_alg", "webhook: the token's alg must be HS256");
    if (hi.typ_seen && !hi.typ_ok)
        return fail(out, "unsupported_header", "webhook: the token's typ must be JWT");
    if (hi.crit_seen)
        return fail(out, "unsupported_header", "webhook: the token header has crit");

    /* 3. A secret to check it with */
    if (secret == NULL || secret_len == 0 || secret_len > MAX_SECRET)
        return fail(out, "no_secret", "webhook: no signature secret is configured");

    /* 4. The signature, in constant time */
    if (b64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), signature, sizeof signature) != SHA256_LEN)
        return fail(out, "bad_signature", "webhook: the signature does not match");
    if (HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)token,
             (size_t)(dot2 - token), mac, &mac_len) == NULL || mac_len != SHA256_LEN) {
        ERR_clear_error();
        return fail(out, "internal", "webhook: HMAC-SHA256 failed");
    }
    if (CRYPTO_memcmp(mac, signature, SHA256_LEN) != 0)
        return fail(out, "bad_signature", "webhook: the signature does not match");

    /* 5. Signed claims: a strict JSON object; time claims integers */
    payload_len = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1),
                                (unsigned char *)out->claims_json, sizeof out->claims_json);
    if (payload_len < 0)
        return fail(out, "invalid_claims", "webhook: the token payload is not base64url");
    if (EVP_Digest(body, body_len, body_hash, &hash_len, EVP_sha256(), NULL) != 1) {
        ERR_clear_error();
        return fail(out, "internal", "webhook: SHA-256 failed");
    }
    memset(&ci, 0, sizeof ci);
    ci.body_hash = body_hash;
    ci.payload_hash = VN_HASH_MISSING;
    if (walk_document((const unsigned char *)out->claims_json, (size_t)payload_len,
                      claims_member, &ci) != 0)
        return fail(out, "invalid_claims", "webhook: the token payload is not a JSON object");
    if (ci.bad_number != NULL)
        return fail(out, "invalid_claims",
                    ci.bad_number[0] == 'i' ? "webhook: iat must be an integer"
                    : ci.bad_number[0] == 'e' ? "webhook: exp must be an integer"
                    : "webhook: nbf must be an integer");

    out->claims_len = (size_t)payload_len;
    out->payload_hash = ci.payload_hash;
    return 0;
}

/* ---------------------------------------------------------- Lua binding */

int vn_webhook_push_check(lua_State *L, int auth_idx, int body_idx,
                          const unsigned char *secret, size_t secret_len)
{
    static const char *const hash_states[] = { "missing", "mismatch", "ok" };
    size_t auth_len, body_len;
    const char *authorization = luaL_checklstring(L, auth_idx, &auth_len);
    const char *body = luaL_checklstring(L, body_idx, &body_len);
    vn_webhook_result result;
    if (vn_webhook_check(authorization, auth_len, secret, secret_len,
                         (const unsigned char *)body, body_len, &result) != 0)
        return vn_error_push(L, "webhook", result.code, 0, "%s", result.message);
    lua_pushlstring(L, result.claims_json, result.claims_len);
    lua_pushstring(L, hash_states[result.payload_hash]);
    return 2;
}

/* core.webhook_check(authorization, body, secret)
 *   -> claims_json, "ok"|"missing"|"mismatch" | nil, msg, err */
static int core_webhook_check(lua_State *L)
{
    size_t secret_len;
    const char *secret = luaL_checklstring(L, 3, &secret_len);
    return vn_webhook_push_check(L, 1, 2, (const unsigned char *)secret, secret_len);
}

static const luaL_Reg webhook_functions[] = {
    {"webhook_check", core_webhook_check},
    {NULL, NULL},
};

int vn_webhook_open(lua_State *L)
{
    vn_setfuncs(L, webhook_functions);
    return 0;
}
