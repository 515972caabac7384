/*
 * core.sha256, core.hmac_sha256, core.hex, core.base64url_encode/decode:
 * the primitives the webhook verifier and the OAuth flow build on. OpenSSL
 * does the hashing; errors are drained so none leaks into a later call.
 */
#include "vn_crypto.h"
#include "vn_compat.h"
#include "vn_util.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* core.sha256(s) -> 32 raw bytes */
static int crypto_sha256(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(s, n, md, &md_len, EVP_sha256(), NULL) != 1) {
        ERR_clear_error();
        return luaL_error(L, "vonage: SHA-256 failed");
    }
    lua_pushlstring(L, (const char *)md, md_len);
    return 1;
}

/* core.hmac_sha256(key, data) -> 32 raw bytes */
static int crypto_hmac_sha256(lua_State *L)
{
    size_t kn, dn;
    const char *key = luaL_checklstring(L, 1, &kn);
    const char *data = luaL_checklstring(L, 2, &dn);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    luaL_argcheck(L, kn > 0, 1, "empty key");
    if (HMAC(EVP_sha256(), key, (int)kn, (const unsigned char *)data, dn, md, &md_len) == NULL) {
        ERR_clear_error();
        return luaL_error(L, "vonage: HMAC-SHA256 failed");
    }
    lua_pushlstring(L, (const char *)md, md_len);
    return 1;
}

/* core.hex(s) -> lower-case hex */
static int crypto_hex(lua_State *L)
{
    static const char digits[] = "0123456789abcdef";
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) {
        luaL_addchar(&b, digits[s[i] >> 4]);
        luaL_addchar(&b, digits[s[i] & 15]);
    }
    luaL_pushresult(&b);
    return 1;
}

/* core.base64url_encode(s) -> unpadded base64url */
static int crypto_b64url_encode(lua_State *L)
{
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    char *out;
    if (n > ((size_t)-1 - 2) / 4)
        return luaL_error(L, "vonage: base64url_encode: the string is too long");
    /* scratch the collector frees (Lua 5.1 has no luaL_buffinitsize) */
    out = lua_newuserdata(L, 4 * ((n + 2) / 3));
    lua_pushlstring(L, out, vn_b64url_encode(s, n, out));
    return 1;
}

/* core.base64url_decode(s) -> bytes | nil when s is not strict unpadded base64url */
static int crypto_b64url_decode(lua_State *L)
{
    size_t n, cap;
    const char *s = luaL_checklstring(L, 1, &n);
    unsigned char *out;
    long len;
    cap = n / 4 * 3 + 2;
    out = lua_newuserdata(L, cap); /* scratch the collector frees */
    len = vn_b64url_decode(s, n, out, cap);
    if (len < 0)
        lua_pushnil(L);
    else
        lua_pushlstring(L, (const char *)out, (size_t)len);
    return 1;
}

static const luaL_Reg crypto_functions[] = {
    {"sha256", crypto_sha256},
    {"hmac_sha256", crypto_hmac_sha256},
    {"hex", crypto_hex},
    {"base64url_encode", crypto_b64url_encode},
    {"base64url_decode", crypto_b64url_decode},
    {NULL, NULL},
};

int vn_crypto_open(lua_State *L)
{
    vn_setfuncs(L, crypto_functions);
    return 0;
}
