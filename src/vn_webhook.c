/*
 * The signature checks of Vonage's signed webhooks, done with OpenSSL alone.
 *
 * libjwt 1.10 (Debian's) is not used here: with an empty key it accepts
 * unsigned tokens and it sizes stack buffers by the token's length. This file
 * parses the token itself, decides the algorithm itself (HS256, never what the
 * token asks for), and keeps every buffer a fixed size bounded by the 8 KiB
 * token limit. vn_webhook_verify() uses no Lua, so the fuzzer can drive it.
 */
#include "vn_webhook.h"
#include "vn_compat.h"
#include "vn_util.h"
#include "vn_error.h"
#include "vn_json.h"

#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#define SHA256_LEN 32
#define MAX_SECRET VN_MAX_SIGNATURE_SECRET
#define JSON_MAX_DEPTH 32

static int fail(vn_webhook_result *out, const char *code, const char *message)
{
    out->code = code;
    out->message = message;
    return -1;
}

/* ----------------------------------------------------------------- JSON */

/* The header, the claims and the body through the strict scanner (vn_json.c):
 * raw non-ASCII bytes taken as they are (as lua-cjson does), every value
 * deeper than JSON_MAX_DEPTH refused. */
static int walk_document(const unsigned char *text, size_t n, vn_json_member_fn member, void *ctx)
{
    return vn_json_document(text, n, JSON_MAX_DEPTH, VN_JSON_SCALAR_DEPTH, member, ctx);
}

static int key_is(const char *key, size_t key_len, const char *name)
{
    return key_len == strlen(name) && memcmp(key, name, key_len) == 0;
}

/* Reads a string value into buf; *ok says whether it was a string equal to
 * `want` (when want is given). Non-strings are skipped and leave *ok 0. */
static int string_equals(vn_json *c, const char *want, int *ok)
{
    char buf[16];
    size_t len;
    *ok = 0;
    if (c->p < c->end && *c->p == '"') {
        if (vn_json_string(c, buf, sizeof buf, &len) != 0)
            return -1;
        *ok = len == strlen(want) && memcmp(buf, want, len) == 0;
        return 0;
    }
    return vn_json_skip(c, 2);
}

/* ------------------------------------------------------ the JOSE header */

typedef struct {
    int alg_seen, alg_ok, typ_seen, typ_ok, crit_seen;
} header_info;

static int header_member(void *ctx, const char *key, size_t key_len, vn_json *c)
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
    return vn_json_skip(c, 2);
}

/* ------------------------------------------------------------ the claims */

/* A claim as the checks see it: absent, of the wanted type, or something else
 * (null included, as a decoder would give it). */
enum { CLAIM_ABSENT, CLAIM_OK, CLAIM_OTHER };

typedef struct {
    int state, seen;
    double value; /* an integer literal within +-(2^53 - 1) */
} time_claim;

typedef struct {
    int state;
    const char *text; /* decoded, in the result's strings[] */
    size_t len;
} string_claim;

typedef struct {
    const unsigned char *body_hash; /* SHA-256 of the body, 32 bytes */
    int hash_seen, iss_ok;
    enum vn_payload_hash payload_hash;
    const char *bad_number; /* the refusal of the first time claim that was a non-integer number */
    time_claim iat, exp, nbf;
    string_claim jti, api_key, application_id;
    char *strings; /* decoded strings go here: together never longer than the payload */
    size_t strings_used, strings_cap;
} claims_info;

/* Lower-case hex of the digest compared with the claim in constant time:
 * the length check leaks nothing, a hex digest's length is public. */
static int hash_member(claims_info *ci, vn_json *c)
{
    static const char digits[] = "0123456789abcdef";
    char claim[2 * SHA256_LEN], expected[2 * SHA256_LEN];
    size_t len;
    if (c->p >= c->end || *c->p != '"') {
        ci->payload_hash = VN_HASH_MISSING;
        return vn_json_skip(c, 2);
    }
    if (vn_json_string(c, claim, sizeof claim, &len) != 0)
        return -1;
    for (int i = 0; i < SHA256_LEN; i++) {
        expected[2 * i] = digits[ci->body_hash[i] >> 4];
        expected[2 * i + 1] = digits[ci->body_hash[i] & 15];
    }
    ci->payload_hash = len == sizeof claim && CRYPTO_memcmp(claim, expected, sizeof claim) == 0
                           ? VN_HASH_OK : VN_HASH_MISMATCH;
    return 0;
}

/* An integer literal's value when it is one a double holds exactly (what a
 * JSON decoder gives, and the Lua checks accept: |v| < 2^53); else -1. */
static int integer_value(const unsigned char *p, const unsigned char *end, double *value)
{
    const long long limit = (1LL << 53) - 1;
    long long v = 0;
    int negative = p < end && *p == '-';
    for (p += negative; p < end; p++) {
        if (v > (limit - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *value = negative ? (double)-v : (double)v;
    return 0;
}

/* The refusals of a time claim that is not an integer. */
static const char IAT_NOT_INTEGER[] = "webhook: iat must be an integer";
static const char EXP_NOT_INTEGER[] = "webhook: exp must be an integer";
static const char NBF_NOT_INTEGER[] = "webhook: nbf must be an integer";

/* not_integer: the claim's refusal, kept when it is a non-integer number */
static int time_member(claims_info *ci, const char *not_integer, time_claim *t, vn_json *c)
{
    int integer;
    if (t->seen++)
        return -1;
    if (c->p < c->end && (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))) {
        const unsigned char *start = c->p;
        if (vn_json_number(c, &integer) != 0)
            return -1;
        if (!integer) {
            if (ci->bad_number == NULL)
                ci->bad_number = not_integer;
            t->state = CLAIM_OTHER;
        } else {
            t->state = integer_value(start, c->p, &t->value) == 0 ? CLAIM_OK : CLAIM_OTHER;
        }
        return 0;
    }
    t->state = CLAIM_OTHER;
    return vn_json_skip(c, 2);
}

/* A string claim, decoded; a repeated one is the last (as a decoder reads it). */
static int string_member(claims_info *ci, string_claim *s, vn_json *c)
{
    size_t len;
    char *to = ci->strings + ci->strings_used;
    size_t cap = ci->strings_cap - ci->strings_used;
    if (c->p >= c->end || *c->p != '"') {
        s->state = CLAIM_OTHER;
        return vn_json_skip(c, 2);
    }
    if (vn_json_string(c, to, cap, &len) != 0 || len > cap)
        return -1;
    s->state = CLAIM_OK;
    s->text = to;
    s->len = len;
    ci->strings_used += len;
    return 0;
}

static int claims_member(void *ctx, const char *key, size_t key_len, vn_json *c)
{
    claims_info *ci = ctx;
    switch (key_len) {
    case 3:
        if (key_is(key, key_len, "iat"))
            return time_member(ci, IAT_NOT_INTEGER, &ci->iat, c);
        if (key_is(key, key_len, "exp"))
            return time_member(ci, EXP_NOT_INTEGER, &ci->exp, c);
        if (key_is(key, key_len, "nbf"))
            return time_member(ci, NBF_NOT_INTEGER, &ci->nbf, c);
        if (key_is(key, key_len, "jti"))
            return string_member(ci, &ci->jti, c);
        if (key_is(key, key_len, "iss"))
            return string_equals(c, "Vonage", &ci->iss_ok);
        break;
    case 7:
        if (key_is(key, key_len, "api_key"))
            return string_member(ci, &ci->api_key, c);
        break;
    case 12:
        if (key_is(key, key_len, "payload_hash")) {
            if (ci->hash_seen++)
                return -1;
            return hash_member(ci, c);
        }
        break;
    case 14:
        if (key_is(key, key_len, "application_id"))
            return string_member(ci, &ci->application_id, c);
        break;
    default:
        break;
    }
    return vn_json_skip(c, 2);
}

static int same(const string_claim *s, const char *want, size_t want_len)
{
    return s->state == CLAIM_OK && s->len == want_len && memcmp(s->text, want, want_len) == 0;
}

/* The claim checks, in the order their messages promise. */
static int check_claims(const claims_info *ci, const vn_webhook_policy *p, vn_webhook_result *out)
{
    if (!ci->iss_ok)
        return fail(out, "invalid_claims", "webhook: iss must be \"Vonage\"");
    if (ci->iat.state != CLAIM_OK)
        return fail(out, "invalid_claims", IAT_NOT_INTEGER);
    if (ci->iat.value < p->now - p->max_age)
        return fail(out, "expired", "webhook: iat is older than the accepted window");
    if (ci->iat.value > p->now + p->max_ahead)
        return fail(out, "not_yet_valid", "webhook: iat is in the future");
    if (ci->exp.state == CLAIM_OTHER)
        return fail(out, "invalid_claims", EXP_NOT_INTEGER);
    if (ci->exp.state == CLAIM_OK && ci->exp.value <= p->now)
        return fail(out, "expired", "webhook: the token has expired (exp)");
    if (ci->nbf.state == CLAIM_OTHER)
        return fail(out, "invalid_claims", NBF_NOT_INTEGER);
    if (ci->nbf.state == CLAIM_OK && ci->nbf.value > p->now + p->max_ahead)
        return fail(out, "not_yet_valid", "webhook: the token is not valid yet (nbf)");
    if (ci->jti.state != CLAIM_OK || ci->jti.len == 0 || ci->jti.len > 256)
        return fail(out, "invalid_claims", "webhook: jti must be a non-empty string");
    if (ci->api_key.state == CLAIM_OTHER)
        return fail(out, "invalid_claims", "webhook: api_key must be a string");
    if (ci->application_id.state == CLAIM_OTHER)
        return fail(out, "invalid_claims", "webhook: application_id must be a string");
    if (p->api_key != NULL && !same(&ci->api_key, p->api_key, p->api_key_len))
        return fail(out, "wrong_account", "webhook: api_key is not the configured one");
    if (p->application_id != NULL && !same(&ci->application_id, p->application_id, p->application_id_len))
        return fail(out, "wrong_account", "webhook: application_id is not the configured one");
    if (ci->payload_hash == VN_HASH_MISSING)
        return fail(out, "invalid_claims", "webhook: payload_hash must be a string");
    if (ci->payload_hash != VN_HASH_OK)
        return fail(out, "payload_hash_mismatch", "webhook: payload_hash does not match the body");
    return 0;
}

/* ----------------------------------------------------------- the key */

void vn_webhook_key_clear(vn_webhook_key *key)
{
    EVP_MAC_CTX_free(key->mac);
    EVP_MD_CTX_free(key->sha);
    EVP_MD_free(key->md);
    key->mac = NULL;
    key->sha = NULL;
    key->md = NULL;
}

static int key_init(vn_webhook_key *key, const unsigned char *secret, size_t secret_len)
{
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    key->mac = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    EVP_MAC_free(hmac); /* the context holds its own reference */
    key->sha = EVP_MD_CTX_new();
    key->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (key->mac == NULL || key->sha == NULL || key->md == NULL ||
        EVP_MAC_init(key->mac, secret, secret_len, params) != 1) {
        vn_webhook_key_clear(key);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- the checker */

int vn_webhook_verify(vn_webhook_key *key, const unsigned char *secret, size_t secret_len,
                      const char *authorization, size_t auth_len,
                      const unsigned char *body, size_t body_len,
                      const vn_webhook_policy *policy, vn_webhook_result *out)
{
    unsigned char header[VN_WEBHOOK_MAX_SEGMENT];
    unsigned char signature[SHA256_LEN + 1], mac[EVP_MAX_MD_SIZE], body_hash[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    int mac_ok;
    unsigned int hash_len = 0;
    const char *token, *dot1, *dot2, *end;
    long header_len, payload_len;
    header_info hi = { 0, 0, 0, 0, 0 };
    claims_info ci;

    out->code = out->message = NULL;
    out->jti = out->api_key = out->application_id = NULL;
    out->jti_len = out->api_key_len = out->application_id_len = out->payload_len = 0;
    out->iat = 0;

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
    header_len = vn_b64url_decode(token, (size_t)(dot1 - token), header, sizeof header);
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

    /* 4. The signature, in constant time, with the key made once */
    if (vn_b64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), signature, sizeof signature) != SHA256_LEN)
        return fail(out, "bad_signature", "webhook: the signature does not match");
    if ((key->mac == NULL && key_init(key, secret, secret_len) != 0) ||
        EVP_MAC_init(key->mac, NULL, 0, NULL) != 1 ||
        EVP_MAC_update(key->mac, (const unsigned char *)token, (size_t)(dot2 - token)) != 1 ||
        EVP_MAC_final(key->mac, mac, &mac_len, sizeof mac) != 1 || mac_len != SHA256_LEN) {
        OPENSSL_cleanse(mac, sizeof mac);
        ERR_clear_error();
        return fail(out, "internal", "webhook: HMAC-SHA256 failed");
    }
    /* the computed MAC is a valid signature over what was sent: not left on the stack */
    mac_ok = CRYPTO_memcmp(mac, signature, SHA256_LEN) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    if (!mac_ok)
        return fail(out, "bad_signature", "webhook: the signature does not match");

    /* 5. Signed claims: a strict JSON object; time claims integers */
    payload_len = vn_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1),
                                (unsigned char *)out->payload, sizeof out->payload);
    if (payload_len < 0)
        return fail(out, "invalid_claims", "webhook: the token payload is not base64url");
    if (EVP_DigestInit_ex2(key->sha, key->md, NULL) != 1 || EVP_DigestUpdate(key->sha, body, body_len) != 1 ||
        EVP_DigestFinal_ex(key->sha, body_hash, &hash_len) != 1 || hash_len != SHA256_LEN) {
        ERR_clear_error();
        return fail(out, "internal", "webhook: SHA-256 failed");
    }
    memset(&ci, 0, sizeof ci);
    ci.body_hash = body_hash;
    ci.payload_hash = VN_HASH_MISSING;
    ci.strings = out->strings;
    ci.strings_cap = sizeof out->strings;
    if (walk_document((const unsigned char *)out->payload, (size_t)payload_len,
                      claims_member, &ci) != 0)
        return fail(out, "invalid_claims", "webhook: the token payload is not a JSON object");
    if (ci.bad_number != NULL)
        return fail(out, "invalid_claims", ci.bad_number);
    out->payload_len = (size_t)payload_len;

    /* 6. The claims against the policy, payload_hash last */
    if (check_claims(&ci, policy, out) != 0)
        return -1;
    out->jti = ci.jti.text;
    out->jti_len = ci.jti.len;
    out->iat = ci.iat.value;
    if (ci.api_key.state == CLAIM_OK) {
        out->api_key = ci.api_key.text;
        out->api_key_len = ci.api_key.len;
    }
    if (ci.application_id.state == CLAIM_OK) {
        out->application_id = ci.application_id.text;
        out->application_id_len = ci.application_id.len;
    }
    return 0;
}

/* ------------------------------------------------------------ the body */

/* The common body, an event that is not action_pending, typed here as
 * webhook.lua's typed_event would type it; anything else (a summary, an
 * action, a field that is wrong, a repeated field, JSON this reader is
 * stricter about than lua-cjson) is left to the Lua typing, which also gives
 * every message. So this accepts a subset of what Lua accepts, the same way. */
#define EVENT_FIELDS 6
#define EVENT_FIELD_MAX 256
static const char *const event_names[EVENT_FIELDS] = {
    "request_id", "triggered_at", "channel", "status", "finalized_at", "client_ref"
};
enum { F_STATUS = 3, F_REQUIRED = 4 };

typedef struct {
    int count[EVENT_FIELDS], present[EVENT_FIELDS], type_seen, type_ok, plain;
    size_t len[EVENT_FIELDS];
    char text[EVENT_FIELDS][EVENT_FIELD_MAX];
} event_info;

static int event_member(void *ctx, const char *key, size_t key_len, vn_json *c)
{
    event_info *ev = ctx;
    if (key_is(key, key_len, "type")) {
        if (ev->type_seen++)
            ev->plain = 0;
        return string_equals(c, "event", &ev->type_ok);
    }
    for (int i = 0; i < EVENT_FIELDS; i++) {
        if (!key_is(key, key_len, event_names[i]))
            continue;
        if (ev->count[i]++)
            ev->plain = 0;
        if (c->p < c->end && *c->p == '"') {
            if (vn_json_string(c, ev->text[i], EVENT_FIELD_MAX, &ev->len[i]) != 0)
                return -1;
            if (ev->len[i] > EVENT_FIELD_MAX)
                ev->plain = 0;
            ev->present[i] = 1;
            return 0;
        }
        if (c->p < c->end && *c->p == 'n')
            return vn_json_literal(c, "null"); /* null reads as absent */
        ev->plain = 0;
        return vn_json_skip(c, 2);
    }
    return vn_json_skip(c, 2);
}

static int is_status_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'))
            return 0;
    }
    return 1;
}

/* Pushes the typed event and returns 1, or pushes nothing and returns 0. */
static int push_event(lua_State *L, const unsigned char *body, size_t body_len)
{
    event_info ev;
    memset(ev.count, 0, sizeof ev.count);
    memset(ev.present, 0, sizeof ev.present);
    ev.type_seen = ev.type_ok = 0;
    ev.plain = 1;
    if (walk_document(body, body_len, event_member, &ev) != 0 || !ev.plain || !ev.type_ok)
        return 0;
    for (int i = 0; i < F_REQUIRED; i++)
        if (!ev.present[i])
            return 0;
    if (!is_status_name(ev.text[F_STATUS], ev.len[F_STATUS]) ||
        (ev.len[F_STATUS] == 14 && memcmp(ev.text[F_STATUS], "action_pending", 14) == 0))
        return 0;
    lua_createtable(L, 0, EVENT_FIELDS + 2);
    lua_pushliteral(L, "event");
    lua_setfield(L, -2, "type");
    for (int i = 0; i < EVENT_FIELDS; i++) {
        if (!ev.present[i])
            continue;
        lua_pushlstring(L, ev.text[i], ev.len[i]);
        lua_setfield(L, -2, event_names[i]);
    }
    return 1;
}

/* ---------------------------------------------------------- Lua binding */

#define VN_WEBHOOK_KEY_TNAME "vonage.webhook_key"

/* A module-level key: the secret's copy (it stays in C) and its OpenSSL state. */
typedef struct {
    vn_webhook_key key;
    size_t secret_len;
    unsigned char *secret;
} webhook_key_ud;

void vn_webhook_read_args(lua_State *L, int first, vn_webhook_args *args)
{
    vn_webhook_policy *p = &args->policy;
    args->authorization = luaL_checklstring(L, first, &args->auth_len);
    args->body = luaL_checklstring(L, first + 1, &args->body_len);
    p->now = luaL_checknumber(L, first + 2);
    p->max_age = luaL_checknumber(L, first + 3);
    p->max_ahead = luaL_checknumber(L, first + 4);
    p->api_key = luaL_optlstring(L, first + 5, NULL, &p->api_key_len);
    p->application_id = luaL_optlstring(L, first + 6, NULL, &p->application_id_len);
}

int vn_webhook_push_verify(lua_State *L, vn_webhook_key *key, const unsigned char *secret,
                           size_t secret_len, const vn_webhook_args *args)
{
    vn_webhook_result result;
    if (vn_webhook_verify(key, secret, secret_len, args->authorization, args->auth_len,
                          (const unsigned char *)args->body, args->body_len, &args->policy, &result) != 0)
        return vn_error_push(L, "webhook", result.code, 0, "%s", result.message);
    lua_pushlstring(L, result.jti, result.jti_len);
    lua_pushinteger(L, (lua_Integer)result.iat);
    if (result.api_key != NULL)
        lua_pushlstring(L, result.api_key, result.api_key_len);
    else
        lua_pushnil(L);
    if (result.application_id != NULL)
        lua_pushlstring(L, result.application_id, result.application_id_len);
    else
        lua_pushnil(L);
    /* Only once every check on the token passed: the body comes after them. */
    if (!push_event(L, (const unsigned char *)args->body, args->body_len))
        lua_pushnil(L);
    return 5;
}

/* core.webhook_event(body) -> the typed event | nil when the Lua typing must
 * decide (the body alone; for the specs and the fuzzer) */
static int core_webhook_event(lua_State *L)
{
    size_t n;
    const char *body = luaL_checklstring(L, 1, &n);
    if (!push_event(L, (const unsigned char *)body, n))
        lua_pushnil(L);
    return 1;
}

/* core.webhook_key(secret) -> a vonage.webhook_key holding a copy of secret
 * and, after its first check, the keyed HMAC state; it never hands either back */
static int core_webhook_key(lua_State *L)
{
    size_t n;
    const char *secret = luaL_checklstring(L, 1, &n);
    webhook_key_ud *k = vn_newobject(L, sizeof *k, VN_WEBHOOK_KEY_TNAME);
    if ((k->secret = (unsigned char *)vn_strdup_len(secret, n)) == NULL)
        return luaL_error(L, "not enough memory");
    k->secret_len = n;
    return 1;
}

/* __gc: the keyed state and the secret's copy wiped and freed */
static int webhook_key_gc(lua_State *L)
{
    webhook_key_ud *k = luaL_checkudata(L, 1, VN_WEBHOOK_KEY_TNAME);
    vn_webhook_key_clear(&k->key);
    vn_free_secret(k->secret, k->secret_len);
    k->secret = NULL;
    k->secret_len = 0;
    return 0;
}

/* tostring(key) -> "vonage.webhook_key": never the secret */
static int webhook_key_tostring(lua_State *L)
{
    lua_pushliteral(L, VN_WEBHOOK_KEY_TNAME);
    return 1;
}

/* core.webhook_verify(key, authorization, body, now, max_age, max_ahead[, api_key[, application_id]])
 *   -> jti, iat, api_key|nil, application_id|nil, event|nil | nil, msg, err */
static int core_webhook_verify(lua_State *L)
{
    webhook_key_ud *k = luaL_checkudata(L, 1, VN_WEBHOOK_KEY_TNAME);
    vn_webhook_args args;
    vn_webhook_read_args(L, 2, &args);
    return vn_webhook_push_verify(L, &k->key, k->secret, k->secret_len, &args);
}

static const luaL_Reg webhook_key_metamethods[] = {
    {"__gc", webhook_key_gc},
    {"__tostring", webhook_key_tostring},
    {NULL, NULL},
};

static const luaL_Reg webhook_functions[] = {
    {"webhook_key", core_webhook_key},
    {"webhook_verify", core_webhook_verify},
    {"webhook_event", core_webhook_event},
    {NULL, NULL},
};

int vn_webhook_open(lua_State *L)
{
    vn_newclass(L, VN_WEBHOOK_KEY_TNAME, NULL, webhook_key_metamethods);
    luaL_getmetatable(L, VN_WEBHOOK_KEY_TNAME);
    lua_pushliteral(L, VN_WEBHOOK_KEY_TNAME); /* getmetatable(key) hides __gc */
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    vn_setfuncs(L, webhook_functions);
    return 0;
}
