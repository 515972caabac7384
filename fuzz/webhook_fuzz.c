/*
 * libFuzzer target for signed webhooks: the C token and claim checks
 * (src/vn_webhook.c, vn_webhook_verify) and, for every token they accept, the
 * Lua body typing (lua/vonage/webhook.lua) in an embedded lua_State, against
 * the real module.
 *
 * Input layout: one mode byte, then
 *   mode % 4 == 0: the Authorization header, optionally 0xff and the body:
 *                  the token as sent, so base64url and the signature are
 *                  mutated too (almost all of these fail the signature);
 *   otherwise:     the JOSE header JSON, 0xfe, the claims JSON, optionally
 *                  0xff and the body. The harness base64url-encodes both and
 *                  signs them with the test secret (HS256, OpenSSL), so the
 *                  fuzzer's changes to the header, claims and body get past
 *                  the signature; "$HASH" in the claims becomes the body's hex
 *                  SHA-256, so payload_hash can match. mode % 4 == 3 then
 *                  flips one signature bit, to keep bad signatures coming.
 * Without 0xfe the whole part is the claims, under {"alg":"HS256","typ":"JWT"}.
 *
 * Both run with the clock fixed at FUZZ_NOW (the seeds' iat), so a crash
 * reproduces. Oracles: no sanitizer report; vn_webhook_verify always gives a
 * code, or claims within its result's bounds (a jti of 1 to 256 bytes, an
 * integer iat inside the window); one key reused for every input gives the
 * same outcome as a fresh key every 64th input; verify never raises and fails
 * exactly when and how the C check fails, else with one of the Lua side's
 * codes (invalid_body, replay); and every body core.webhook_event types
 * is typed the same by the Lua typing (webhook._typed_body).
 * WEBHOOK_FUZZ_STATS=1 prints how many inputs passed the signature at exit.
 */
#include "../src/vn_webhook.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SECRET "fuzz-signature-secret-0123456789"
#define FUZZ_NOW 1700000000
#define DEFAULT_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define MAX_PART 6144
/* "Bearer ", two encoded parts (claims grown by the hash), the signature */
#define MAX_AUTH (8 + 2 * (4 * (MAX_PART + 64) / 3 + 4) + 64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int luaopen_vonage_core(lua_State *L);

static lua_State *L;
static unsigned long inputs, signed_ok, bodies, typed, typed_in_c;

static const char *const lua_setup =
    "local now = ...\n"
    "os.time = function() return now end\n"
    "local webhook = require 'vonage.webhook'\n"
    /* a store that forgets, so a mutated body with a seed's jti is typed */
    "local opts = { signature_secret = '" FUZZ_SECRET "',\n"
    "  replay_store = { add = function() return true end, delete = function() end } }\n"
    "local core, typed_body = require 'vonage.core', webhook._typed_body\n"
    /* the C typing of a plain event must be the Lua typing's table, field for field */
    "local function same(a, b)\n"
    "  for k, v in pairs(a) do if b[k] ~= v then return false end end\n"
    "  for k, v in pairs(b) do if a[k] ~= v then return false end end\n"
    "  return true\n"
    "end\n"
    "local function body_check(body)\n"
    "  local c = core.webhook_event(body)\n"
    "  if c == nil then return 0 end\n"
    "  local l = typed_body(body)\n"
    "  return type(l) == 'table' and same(c, l) and 1 or -1\n"
    "end\n"
    "return function(body, auth) return webhook.verify(body, auth, opts) end, body_check\n";

static void print_stats(void)
{
    fprintf(stderr, "webhook_fuzz: %lu inputs, %lu passed the signature, %lu reached the body typing, "
            "%lu typed as events, %lu bodies typed in C as in Lua\n", inputs, signed_ok, bodies, typed, typed_in_c);
}

/* The functions from lua_setup, kept in the registry. */
static int verify_ref = LUA_NOREF, body_check_ref = LUA_NOREF;

static void lua_init(void)
{
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "vonage.core", luaopen_vonage_core, 0);
    lua_pop(L, 1);
    if (luaL_loadstring(L, lua_setup) != LUA_OK) {
        fprintf(stderr, "webhook_fuzz: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_pushinteger(L, FUZZ_NOW);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
        fprintf(stderr, "webhook_fuzz: %s (LUA_PATH must reach lua/)\n", lua_tostring(L, -1));
        abort();
    }
    body_check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    verify_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (getenv("WEBHOOK_FUZZ_STATS"))
        atexit(print_stats);
}

static size_t b64url(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
    }
    return o;
}

/* "Bearer b64(header).b64(claims).b64(HS256)" into auth; its length. */
static size_t resign(const uint8_t *header, size_t header_len, const uint8_t *claims, size_t claims_len,
                     const uint8_t *body, size_t body_len, int flip, char *auth)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char with_hash[MAX_PART + 64], digest[32], mac[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0, mac_len = 0;
    const uint8_t *mark = NULL;
    size_t n = 7, signed_len;

    /* "$HASH" -> the hex SHA-256 of the body */
    for (size_t i = 0; i + 5 <= claims_len && mark == NULL; i++)
        if (memcmp(claims + i, "$HASH", 5) == 0)
            mark = claims + i;
    if (mark != NULL) {
        size_t before = (size_t)(mark - claims);
        if (EVP_Digest(body, body_len, digest, &digest_len, EVP_sha256(), NULL) != 1)
            abort();
        memcpy(with_hash, claims, before);
        for (int i = 0; i < 32; i++) {
            with_hash[before + 2 * i] = (unsigned char)digits[digest[i] >> 4];
            with_hash[before + 2 * i + 1] = (unsigned char)digits[digest[i] & 15];
        }
        memcpy(with_hash + before + 64, mark + 5, claims_len - before - 5);
        claims = with_hash;
        claims_len += 59;
    }
    memcpy(auth, "Bearer ", 7);
    n += b64url(header, header_len, auth + n);
    auth[n++] = '.';
    n += b64url(claims, claims_len, auth + n);
    signed_len = n - 7;
    if (HMAC(EVP_sha256(), FUZZ_SECRET, (int)sizeof FUZZ_SECRET - 1, (const unsigned char *)auth + 7,
             signed_len, mac, &mac_len) == NULL || mac_len != 32)
        abort();
    if (flip)
        mac[header_len % 32] ^= (unsigned char)(1u << (claims_len % 8));
    auth[n++] = '.';
    n += b64url(mac, 32, auth + n);
    return n;
}

static int is_signature_failure(const char *code)
{
    return strcmp(code, "malformed") == 0 || strcmp(code, "unsupported_alg") == 0 ||
           strcmp(code, "unsupported_header") == 0 || strcmp(code, "no_secret") == 0 ||
           strcmp(code, "bad_signature") == 0 || strcmp(code, "internal") == 0;
}

/* Every body, signed or not: when C types it, Lua types it the same. */
static void check_body(const uint8_t *body, size_t body_len)
{
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, body_check_ref);
    lua_pushlstring(L, (const char *)body, body_len);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "webhook_fuzz: the body check raised: %s\n", lua_tostring(L, -1));
        abort();
    }
    if (lua_tointeger(L, -1) < 0)
        abort(); /* the C typing differs from the Lua typing */
    if (lua_tointeger(L, -1) > 0)
        typed_in_c++;
    lua_settop(L, top);
}

/* Runs verify(body, auth) in Lua and checks it against the C outcome. */
static void check_lua(const char *auth, size_t auth_len, const uint8_t *body, size_t body_len,
                      int rc, const vn_webhook_result *result)
{
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, verify_ref);
    lua_pushlstring(L, (const char *)body, body_len);
    lua_pushlstring(L, auth, auth_len);
    if (lua_pcall(L, 2, 3, 0) != LUA_OK) {
        fprintf(stderr, "webhook_fuzz: verify raised: %s\n", lua_tostring(L, -1));
        abort();
    }
    if (lua_istable(L, top + 1)) {
        if (rc != 0)
            abort(); /* Lua accepted what C refused */
        typed++;
        bodies++;
    } else {
        const char *code;
        if (!lua_isstring(L, top + 2) || !lua_istable(L, top + 3))
            abort(); /* not nil, msg, err */
        lua_getfield(L, top + 3, "code");
        code = lua_tostring(L, -1);
        if (code == NULL)
            abort();
        if (rc != 0 && strcmp(code, result->code) != 0)
            abort(); /* the C refusal must come through unchanged */
        if (rc == 0 && strcmp(code, "invalid_body") != 0 && strcmp(code, "replay") != 0)
            abort(); /* only the body and the replay record are Lua's to refuse */
        if (strcmp(code, "invalid_body") == 0)
            bodies++;
    }
    lua_settop(L, top);
    /* Keep the state small whatever the inputs allocate. */
    lua_gc(L, LUA_GCSTEP, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vn_webhook_result result;
    static vn_webhook_key key; /* kept across inputs, as a plan keeps it */
    static const vn_webhook_policy policy = { FUZZ_NOW, 300, 60, NULL, NULL, 0, 0 };
    static char auth_buf[MAX_AUTH];
    const char *auth;
    const uint8_t *rest, *split, *body;
    size_t auth_len, rest_len, body_len;
    int mode, rc;

    if (L == NULL)
        lua_init();
    if (size < 1)
        return 0;
    inputs++;
    mode = data[0] % 4;
    rest = data + 1;
    rest_len = size - 1;
    split = memchr(rest, 0xff, rest_len);
    body = split ? split + 1 : rest + rest_len;
    body_len = split ? rest_len - (size_t)(split - rest) - 1 : 0;
    if (split)
        rest_len = (size_t)(split - rest);

    if (mode == 0) {
        auth = (const char *)rest;
        auth_len = rest_len;
    } else {
        const uint8_t *sep = memchr(rest, 0xfe, rest_len);
        const uint8_t *header = sep ? rest : (const uint8_t *)DEFAULT_HEADER;
        size_t header_len = sep ? (size_t)(sep - rest) : sizeof DEFAULT_HEADER - 1;
        const uint8_t *claims = sep ? sep + 1 : rest;
        size_t claims_len = sep ? rest_len - header_len - 1 : rest_len;
        if (header_len > MAX_PART || claims_len > MAX_PART)
            return 0;
        auth_len = resign(header, header_len, claims, claims_len, body, body_len, mode == 3, auth_buf);
        auth = auth_buf;
    }

    rc = vn_webhook_verify(&key, (const unsigned char *)FUZZ_SECRET, sizeof FUZZ_SECRET - 1,
                           auth, auth_len, body, body_len, &policy, &result);
    /* Every outcome is complete: a code on failure, claims within bounds on success. */
    if (rc != 0 && (result.code == NULL || result.message == NULL))
        __builtin_trap();
    if (rc == 0 && (result.payload_len > sizeof result.payload || result.jti == NULL || result.jti_len == 0 ||
                    result.jti_len > 256 || result.jti < result.strings ||
                    result.jti + result.jti_len > result.strings + sizeof result.strings ||
                    result.iat < FUZZ_NOW - 300 || result.iat > FUZZ_NOW + 60))
        __builtin_trap();
    /* The kept key answers as a fresh one would. */
    if (inputs % 64 == 0) {
        static vn_webhook_result fresh_result;
        vn_webhook_key fresh = { NULL, NULL, NULL };
        int fresh_rc = vn_webhook_verify(&fresh, (const unsigned char *)FUZZ_SECRET, sizeof FUZZ_SECRET - 1,
                                         auth, auth_len, body, body_len, &policy, &fresh_result);
        vn_webhook_key_clear(&fresh);
        if (fresh_rc != rc || (rc != 0 && strcmp(fresh_result.code, result.code) != 0) ||
            (rc == 0 && (fresh_result.jti_len != result.jti_len ||
                         memcmp(fresh_result.jti, result.jti, result.jti_len) != 0)))
            __builtin_trap();
    }
    if (rc == 0 || !is_signature_failure(result.code))
        signed_ok++;
    check_lua(auth, auth_len, body, body_len, rc, &result);
    check_body(body, body_len);
    return 0;
}
