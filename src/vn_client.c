/*
 * vonage.client: holds credentials where Lua cannot read them back, and the
 * application JWT cache. Non-secret settings live in the user value table,
 * readable as fields; the Lua layer adds the operations to the methods table.
 */
#include "vn_client.h"
#include "vn_compat.h"
#include "vn_error.h"
#include "vn_jwt.h"
#include "vn_util.h"
#include "vn_webhook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VN_MAX_KEY_BYTES (64 * 1024)
/* A shorter HMAC key is guessable; Vonage's signature secrets are longer. */
#define VN_MIN_SIGNATURE_SECRET 16
/* Re-mint once 80% of the token's life has passed, so a token handed to a
 * slow request still has a margin left when the server checks it. */
#define VN_JWT_REUSE_NUM 4
#define VN_JWT_REUSE_DEN 5

struct vn_client {
    char *application_id;
    unsigned char *private_key;
    size_t private_key_len;
    char *basic; /* the whole "Basic <base64>" header value */
    size_t basic_len;
    unsigned char *signature_secret; /* HS256 key of signed webhooks */
    size_t signature_secret_len;
    char *api_key; /* an identifier, shown by tostring */
    char *jwt_sub, *jwt_acl_json;
    long jwt_ttl;
    int jwt_nbf;
    char *jwt;
    size_t jwt_len;
    long jwt_iat;
    unsigned long jwt_mints;
};

vn_client *vn_client_check(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, VN_CLIENT_TNAME);
}

static void drop_jwt(vn_client *c)
{
    vn_free_secret(c->jwt, c->jwt_len);
    c->jwt = NULL;
    c->jwt_len = 0;
}

/* client:close() -- also __gc and __close: wipes and frees the credentials */
static int client_close(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    drop_jwt(c);
    vn_free_secret(c->private_key, c->private_key_len);
    vn_free_secret(c->basic, c->basic_len);
    vn_free_secret(c->signature_secret, c->signature_secret_len);
    free(c->application_id);
    free(c->api_key);
    free(c->jwt_sub);
    free(c->jwt_acl_json);
    memset(c, 0, sizeof *c);
    return 0;
}

static char *copy_field(lua_State *L, int idx, const char *field)
{
    size_t n;
    const char *s = vn_optfield_string(L, idx, field, &n);
    char *d;
    if (s == NULL)
        return NULL;
    if (n == 0 || memchr(s, '\0', n) != NULL)
        luaL_error(L, "vonage.client: '%s' must be a non-empty string without NUL", field);
    if ((d = vn_strdup_len(s, n)) == NULL)
        luaL_error(L, "vonage.client: out of memory");
    return d;
}

static void read_key_file(lua_State *L, vn_client *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (f == NULL)
        luaL_error(L, "vonage.client: private_key_path: cannot open '%s': %s", path,
                   strerror(errno));
    c->private_key = malloc(VN_MAX_KEY_BYTES + 1);
    if (c->private_key == NULL) {
        fclose(f);
        luaL_error(L, "vonage.client: out of memory");
    }
    n = fread(c->private_key, 1, VN_MAX_KEY_BYTES + 1, f);
    fclose(f);
    /* private_key_len covers the whole buffer so a raise below wipes it all. */
    c->private_key_len = VN_MAX_KEY_BYTES + 1;
    if (n > VN_MAX_KEY_BYTES)
        luaL_error(L, "vonage.client: private_key_path: '%s' is larger than %d bytes", path,
                   VN_MAX_KEY_BYTES);
    c->private_key[n] = '\0';
    c->private_key_len = n;
}

static void set_basic(lua_State *L, vn_client *c, const char *key, size_t kn,
                      const char *secret, size_t sn)
{
    size_t raw_len = kn + 1 + sn;
    unsigned char *raw = malloc(raw_len);
    if (raw == NULL)
        luaL_error(L, "vonage.client: out of memory");
    memcpy(raw, key, kn);
    raw[kn] = ':';
    memcpy(raw + kn + 1, secret, sn);
    c->basic_len = 6 + vn_base64_len(raw_len) + 1;
    c->basic = malloc(c->basic_len);
    if (c->basic != NULL) {
        memcpy(c->basic, "Basic ", 6);
        vn_base64_encode(raw, raw_len, c->basic + 6);
    }
    vn_free_secret(raw, raw_len);
    if (c->basic == NULL)
        luaL_error(L, "vonage.client: out of memory");
}

/*
 * core.client_new(credentials, settings) -> vonage.client
 * credentials: application_id, private_key | private_key_path, api_key,
 *   api_secret, jwt_ttl, jwt_sub, jwt_acl_json, jwt_nbf. The Lua layer has
 *   validated them; this checks only what C relies on. settings becomes the
 *   user value (non-secret fields readable from Lua).
 */
static int client_new(lua_State *L)
{
    vn_client *c;
    size_t kn = 0, sn = 0, pn = 0;
    const char *key, *secret, *pem, *path, *why;

    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    c = vn_newobject(L, sizeof *c, VN_CLIENT_TNAME);
    lua_pushvalue(L, 2);
    vn_setuservalue(L, -2);

    c->application_id = copy_field(L, 1, "application_id");
    c->api_key = copy_field(L, 1, "api_key");
    c->jwt_sub = copy_field(L, 1, "jwt_sub");
    c->jwt_acl_json = copy_field(L, 1, "jwt_acl_json");
    c->jwt_ttl = vn_optfield_integer(L, 1, "jwt_ttl", 900, 30, 86400);
    lua_getfield(L, 1, "jwt_nbf");
    c->jwt_nbf = lua_toboolean(L, -1);
    lua_pop(L, 1);

    pem = vn_optfield_string(L, 1, "private_key", &pn);
    path = vn_optfield_string(L, 1, "private_key_path", NULL);
    if (pem != NULL) {
        if (pn > VN_MAX_KEY_BYTES)
            return luaL_error(L, "vonage.client: private_key is larger than %d bytes",
                              VN_MAX_KEY_BYTES);
        if ((c->private_key = (unsigned char *)vn_strdup_len(pem, pn)) == NULL)
            return luaL_error(L, "vonage.client: out of memory");
        c->private_key_len = pn;
    } else if (path != NULL) {
        read_key_file(L, c, path);
    }
    if (c->private_key != NULL) {
        if ((why = vn_jwt_check_key(c->private_key, c->private_key_len)) != NULL)
            return luaL_error(L, "vonage.client: the private key %s", why);
        if (c->application_id == NULL)
            return luaL_error(L, "vonage.client: a private key needs an application_id");
    } else if (c->application_id != NULL) {
        return luaL_error(L, "vonage.client: application_id needs private_key or "
                             "private_key_path");
    }

    {
        size_t n;
        const char *secret_text = vn_optfield_string(L, 1, "signature_secret", &n);
        if (secret_text != NULL) {
            if (n < VN_MIN_SIGNATURE_SECRET)
                return luaL_error(L, "vonage.client: signature_secret must be at least %d bytes",
                                  VN_MIN_SIGNATURE_SECRET);
            if ((c->signature_secret = (unsigned char *)vn_strdup_len(secret_text, n)) == NULL)
                return luaL_error(L, "vonage.client: out of memory");
            c->signature_secret_len = n;
        }
    }

    key = vn_optfield_string(L, 1, "api_key", &kn);
    secret = vn_optfield_string(L, 1, "api_secret", &sn);
    if ((key == NULL) != (secret == NULL))
        return luaL_error(L, "vonage.client: api_key and api_secret go together");
    if (key != NULL) {
        if (memchr(key, ':', kn) != NULL)
            return luaL_error(L, "vonage.client: api_key must not contain ':'");
        set_basic(L, c, key, kn, secret, sn);
    }
    return 1;
}

static const char *auth_kinds(const vn_client *c)
{
    if (c->private_key && c->basic)
        return "jwt+basic";
    return c->private_key ? "jwt" : c->basic ? "basic" : "none";
}

/* client:_authorization(now [, "jwt"|"basic"]) -> header value | nil, msg, err
 * JWT when the client has a key (or when asked), else Basic. */
static int client_authorization(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    lua_Integer now = luaL_checkinteger(L, 2);
    const char *want = luaL_optstring(L, 3, c->private_key ? "jwt" : "basic");

    if (strcmp(want, "basic") == 0) {
        if (c->basic == NULL)
            return vn_error_push(L, "auth", "no_credentials", 0,
                                 "this call needs api_key and api_secret");
        lua_pushstring(L, c->basic);
        return 1;
    }
    luaL_argcheck(L, strcmp(want, "jwt") == 0, 3, "expected \"jwt\" or \"basic\"");
    if (c->private_key == NULL)
        return vn_error_push(L, "auth", "no_credentials", 0,
                             c->basic ? "this call needs application_id and a private key"
                                      : "the client has no credentials");
    if (c->jwt == NULL || now < c->jwt_iat ||
        (now - c->jwt_iat) * VN_JWT_REUSE_DEN >= c->jwt_ttl * VN_JWT_REUSE_NUM) {
        vn_jwt_claims claims;
        char *token = NULL;
        const char *why;
        claims.application_id = c->application_id;
        claims.sub = c->jwt_sub;
        claims.acl_json = c->jwt_acl_json;
        claims.iat = (long)now;
        claims.exp = (long)now + c->jwt_ttl;
        claims.nbf = c->jwt_nbf ? (long)now : -1;
        if ((why = vn_jwt_mint(c->private_key, c->private_key_len, &claims, &token)) != NULL)
            return vn_error_push(L, "auth", "jwt_mint_failed", 0,
                                 "could not mint the application JWT: %s", why);
        drop_jwt(c);
        c->jwt_len = strlen(token);
        c->jwt = malloc(c->jwt_len + 8);
        if (c->jwt != NULL) {
            memcpy(c->jwt, "Bearer ", 7);
            memcpy(c->jwt + 7, token, c->jwt_len + 1);
            c->jwt_len += 8;
        }
        vn_free_secret(token, strlen(token));
        if (c->jwt == NULL)
            return vn_error_push(L, "auth", "out_of_memory", 0, "out of memory");
        c->jwt_iat = (long)now;
        c->jwt_mints++;
    }
    lua_pushstring(L, c->jwt);
    return 1;
}

/* client:_webhook_check(authorization, raw_body)
 *   -> claims_json, hash state | nil, msg, err -- with the secret held here */
static int client_webhook_check(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    if (c->signature_secret == NULL)
        return vn_error_push(L, "webhook", "no_secret", 0,
                             "the client has no signature_secret to verify webhooks with");
    return vn_webhook_push_check(L, 2, 3, c->signature_secret, c->signature_secret_len);
}

/* client:_jwt_mints() -> how many JWTs this client has signed */
static int client_jwt_mints(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)vn_client_check(L, 1)->jwt_mints);
    return 1;
}

/* client.<field>: methods first, then the non-secret settings, then `auth`. */
static int client_index(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    const char *k = vn_index_field(L);
    if (k == NULL)
        return 1;
    if (strcmp(k, "auth") == 0) {
        lua_pushstring(L, auth_kinds(c));
        return 1;
    }
    vn_getuservalue(L, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int client_newindex(lua_State *L)
{
    return luaL_error(L, "vonage.client: fields are read-only (make a new client to change '%s')",
                      lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

static int client_tostring(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "vonage.client (");
    if (c->private_key) {
        luaL_addstring(&b, "jwt: application ");
        luaL_addstring(&b, c->application_id);
    }
    if (c->basic) {
        luaL_addstring(&b, c->private_key ? ", basic: api_key " : "basic: api_key ");
        luaL_addstring(&b, c->api_key);
    }
    if (!c->private_key && !c->basic)
        luaL_addstring(&b, "no credentials");
    vn_getuservalue(L, 1);
    lua_getfield(L, -1, "api_host");
    if (lua_type(L, -1) == LUA_TSTRING) {
        lua_pushfstring(L, ", %s", lua_tostring(L, -1));
        lua_remove(L, -2);
        lua_remove(L, -2);
        luaL_addvalue(&b);
    } else {
        lua_pop(L, 2);
    }
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    return 1;
}

static const luaL_Reg client_methods[] = {
    {"_authorization", client_authorization},
    {"_jwt_mints", client_jwt_mints},
    {"_webhook_check", client_webhook_check},
    {"close", client_close},
    {NULL, NULL},
};

static const luaL_Reg client_metamethods[] = {
    {"__gc", client_close},
    {"__close", client_close},
    {"__tostring", client_tostring},
    {"__newindex", client_newindex},
    {NULL, NULL},
};

int vn_client_open(lua_State *L)
{
    vn_newclass_fields(L, VN_CLIENT_TNAME, client_methods, client_metamethods, client_index,
                       "client_methods");
    lua_pushcfunction(L, client_new);
    lua_setfield(L, -2, "client_new");
    return 0;
}
