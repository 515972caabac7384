/*
 * vonage.client: holds credentials where Lua cannot read them back, and the
 * application JWT cache. Non-secret settings live in the user value table,
 * readable as fields. Its methods are the ones lua/vonage/client.lua lists.
 */
#include "vn_client.h"
#include "vn_compat.h"
#include "vn_error.h"
#include "vn_http.h"
#include "vn_jwt.h"
#include "vn_limits.h"
#include "vn_multi.h"
#include "vn_util.h"
#include "vn_webhook.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VN_MAX_KEY_BYTES VN_MAX(private_key_bytes)
#define VN_LOAD_TOKEN_BYTES 16
/* A shorter HMAC key is guessable; Vonage's signature secrets are longer. */
#define VN_MIN_SIGNATURE_SECRET VN_MIN(signature_secret)
/* Re-mint once 80% of the token's life has passed, so a token handed to a
 * slow request still has a margin left when the server checks it. */
#define VN_JWT_REUSE_NUM 4
#define VN_JWT_REUSE_DEN 5
/* The clock's range for JWT times: iat, exp = iat + jwt_ttl (at most a day)
 * and the reuse test below then never overflow a long. */
#if LONG_MAX > 253402300799L
#define VN_MAX_JWT_TIME 253402300799L /* 9999-12-31T23:59:59Z */
#else
#define VN_MAX_JWT_TIME (LONG_MAX / VN_JWT_REUSE_DEN - (long)VN_MAX(jwt_ttl))
#endif

struct vn_client {
    char *application_id;
    unsigned char *private_key; /* the PEM text, only until it is parsed into key */
    size_t private_key_len;
    EVP_PKEY *key; /* the application key every JWT is signed with */
    char *basic; /* the whole "Basic <base64>" header value */
    size_t basic_len;
    unsigned char *signature_secret; /* HS256 key of signed webhooks */
    size_t signature_secret_len;
    vn_webhook_key webhook_key; /* its OpenSSL state, made by the first webhook check */
    char *api_key; /* an identifier, shown by tostring */
    char *jwt_sub, *jwt_grants_json;
    long jwt_ttl;
    int jwt_nbf;
    char *jwt;
    size_t jwt_len;
    long jwt_iat;
    int closed; /* set by close(): every later call answers "closed" */
    int busy, wipe_pending; /* a credential is being copied while Lua may run */
    struct vn_retired *retired; /* tokens re-minted away while busy: freed at 0 */
    /* The random token of the vonage.core load that made this client: only
     * that load's authorizer serves it (a reload gives a fresh authorizer). */
    unsigned char load[VN_LOAD_TOKEN_BYTES];
};

/* A JWT header value replaced while authorize copied it (a finalizer run in
 * the copy asked for a fresh one): it lives until busy returns to 0. */
struct vn_retired {
    char *jwt;
    size_t len;
    struct vn_retired *next;
};

vn_client *vn_client_check(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, VN_CLIENT_TNAME);
}

vn_client *vn_client_test(lua_State *L, int idx)
{
    return vn_testudata(L, idx, VN_CLIENT_TNAME);
}

static void drop_jwt(vn_client *c)
{
    vn_free_secret(c->jwt, c->jwt_len);
    c->jwt = NULL;
    c->jwt_len = 0;
}

static void free_retired(vn_client *c)
{
    while (c->retired != NULL) {
        struct vn_retired *r = c->retired;
        c->retired = r->next;
        vn_free_secret(r->jwt, r->len);
        free(r);
    }
}

static void wipe(vn_client *c)
{
    drop_jwt(c);
    free_retired(c);
    vn_free_secret(c->private_key, c->private_key_len);
    vn_jwt_free_key(c->key);
    vn_free_secret(c->basic, c->basic_len);
    vn_free_secret(c->signature_secret, c->signature_secret_len);
    vn_webhook_key_clear(&c->webhook_key);
    free(c->application_id);
    free(c->api_key);
    free(c->jwt_sub);
    free(c->jwt_grants_json);
    {
        unsigned char load[VN_LOAD_TOKEN_BYTES]; /* not a secret: kept, so a closed client says "closed" */
        memcpy(load, c->load, sizeof load);
        memset(c, 0, sizeof *c);
        memcpy(c->load, load, sizeof load);
    }
    c->closed = 1;
}

/* client:close(): wipes and frees the credentials and closes the client's own
 * transport (the curl one, or a multi transport, whose close resumes its
 * waiters), through that transport's close; safe twice.
 * (core.client_close: the close method lua/vonage/client.lua lists) */
static int client_close(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    if (c->busy) { /* a finalizer, while authorize copies a header: wipe after */
        c->closed = 1;
        c->wipe_pending = 1;
    } else {
        wipe(c);
    }
    lua_settop(L, 1);
    /* Key true is set only for the transports whose libcurl handle is the
     * client's own (see keep_own_transport); a user's object is theirs to close. */
    vn_getuservalue(L, 1);
    lua_pushboolean(L, 1);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1)) {
        lua_pushliteral(L, "transport");
        lua_rawget(L, 2);
        lua_getfield(L, -1, "close");
        lua_insert(L, -2);
        lua_call(L, 1, 0);
    }
    return 0;
}

/* __close and __gc: the whole close method (transport included), so
 * `local c <close> = vonage.client{...}` and a collected client end the same
 * way as client:close(). The credentials are wiped even if that raises. */
static int client_finish(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    int rc;
    lua_settop(L, 1);
    lua_pushcfunction(L, client_close);
    lua_pushvalue(L, 1);
    rc = lua_pcall(L, 1, 0, 0);
    wipe(c);
    if (rc != 0)
        return lua_error(L);
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

/* Records the client's own libcurl transport (a vonage.http, or the vonage.multi
 * inside a multi transport) under the key `true` of the user value, which no
 * string field reaches: a spec naming this client is honoured only there.
 * A resty transport is noted under the key `false`. */
static void keep_own_transport(lua_State *L, int settings)
{
    lua_pushliteral(L, "transport");
    lua_rawget(L, settings);
    if (lua_istable(L, -1)) { /* only the multi transport's own table, by its class name */
        int is_multi = 0, is_resty = 0;
        if (lua_getmetatable(L, -1)) {
            lua_pushliteral(L, "__name");
            lua_rawget(L, -2);
            if (lua_type(L, -1) == LUA_TSTRING) {
                is_multi = strcmp(lua_tostring(L, -1), "vonage.transport.multi") == 0;
                is_resty = strcmp(lua_tostring(L, -1), "vonage.transport.resty") == 0;
            }
            lua_pop(L, 2);
        }
        if (is_resty) { /* key false: api.lua calls the resty class's own send */
            lua_pushboolean(L, 0);
            lua_pushliteral(L, "resty");
            lua_rawset(L, settings);
        }
        if (is_multi) {
            lua_pushliteral(L, "multi");
            lua_rawget(L, -2);
        } else {
            lua_pushnil(L);
        }
        lua_remove(L, -2);
    }
    if (vn_testudata(L, -1, VN_HTTP_TNAME) == NULL && vn_testudata(L, -1, VN_MULTI_TNAME) == NULL) {
        lua_pop(L, 1);
        return;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -2);
    lua_rawset(L, settings);
}

/*
 * core.client_new(credentials, settings) -> vonage.client
 * credentials: application_id, private_key | private_key_path, api_key,
 *   api_secret, signature_secret, jwt_ttl, jwt_sub, jwt_grants_json, jwt_nbf.
 *   The Lua layer has validated them; this checks only what C relies on, and
 *   reads each field once, raw (no metamethod runs). settings becomes the user
 *   value (non-secret fields readable from Lua).
 */
static int client_new(lua_State *L)
{
    vn_client *c;
    size_t sn = 0, pn = 0;
    const char *secret, *pem, *path, *why;

    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    c = vn_newobject(L, sizeof *c, VN_CLIENT_TNAME);
    memcpy(c->load, lua_touserdata(L, lua_upvalueindex(1)), sizeof c->load);
    lua_pushvalue(L, 2);
    vn_setuservalue(L, -2);
    keep_own_transport(L, 2);

    c->application_id = copy_field(L, 1, "application_id");
    c->api_key = copy_field(L, 1, "api_key");
    c->jwt_sub = copy_field(L, 1, "jwt_sub");
    c->jwt_grants_json = copy_field(L, 1, "jwt_grants_json");
    if (c->jwt_grants_json != NULL && (why = vn_jwt_check_grants(c->jwt_grants_json)) != NULL)
        return luaL_error(L, "vonage.client: jwt_grants_json %s", why);
    c->jwt_ttl = vn_optfield_integer(L, 1, "jwt_ttl", VN_RANGE(jwt_ttl));
    lua_pushliteral(L, "jwt_nbf");
    lua_rawget(L, 1);
    c->jwt_nbf = lua_toboolean(L, -1);
    lua_pop(L, 1);

    pem = vn_optfield_string(L, 1, "private_key", &pn);
    if (pem != NULL) {
        if (pn > VN_MAX_KEY_BYTES)
            return luaL_error(L, "vonage.client: private_key is larger than %d bytes",
                              VN_MAX_KEY_BYTES);
        if ((c->private_key = (unsigned char *)vn_strdup_len(pem, pn)) == NULL)
            return luaL_error(L, "vonage.client: out of memory");
        c->private_key_len = pn;
    } else if ((path = vn_optfield_string(L, 1, "private_key_path", NULL)) != NULL) {
        read_key_file(L, c, path);
    }
    if (c->private_key != NULL) {
        /* Parsed once, here: every mint signs with the parsed key, and the
         * PEM text is wiped at once. */
        why = vn_jwt_load_key(c->private_key, c->private_key_len, &c->key);
        vn_free_secret(c->private_key, c->private_key_len);
        c->private_key = NULL;
        c->private_key_len = 0;
        if (why != NULL)
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
            /* Both bounds here, so a secret the webhook checker would refuse
             * is refused when the client is made, not at the first webhook. */
            if (n < VN_MIN_SIGNATURE_SECRET || n > VN_MAX_SIGNATURE_SECRET)
                return luaL_error(L, "vonage.client: signature_secret must be %d to %d bytes",
                                  VN_MIN_SIGNATURE_SECRET, VN_MAX_SIGNATURE_SECRET);
            if ((c->signature_secret = (unsigned char *)vn_strdup_len(secret_text, n)) == NULL)
                return luaL_error(L, "vonage.client: out of memory");
            c->signature_secret_len = n;
        }
    }

    /* api_key was read once above; the Basic header is built from that copy. */
    secret = vn_optfield_string(L, 1, "api_secret", &sn);
    if ((c->api_key == NULL) != (secret == NULL))
        return luaL_error(L, "vonage.client: api_key and api_secret go together");
    if (c->api_key != NULL) {
        if (strchr(c->api_key, ':') != NULL)
            return luaL_error(L, "vonage.client: api_key must not contain ':'");
        set_basic(L, c, c->api_key, strlen(c->api_key), secret, sn);
    }
    return 1;
}

static const char *auth_kinds(const vn_client *c)
{
    if (c->key && c->basic)
        return "jwt+basic";
    return c->key ? "jwt" : c->basic ? "basic" : "none";
}

const char *vn_client_header(vn_client *c, const char *want, double now, vn_failure *f)
{
    long t;
    if (c->closed) {
        vn_failure_set(f, "transport", "closed", "the client is closed");
        return NULL;
    }
    if (want == NULL)
        want = c->key ? "jwt" : "basic";
    if (strcmp(want, "basic") == 0) {
        if (c->basic == NULL) {
            vn_failure_set(f, "auth", "no_credentials", "this call needs api_key and api_secret");
            return NULL;
        }
        return c->basic;
    }
    if (strcmp(want, "jwt") != 0) {
        vn_failure_set(f, "auth", "bad_auth", "the auth kind must be \"jwt\" or \"basic\"");
        return NULL;
    }
    if (c->key == NULL) {
        vn_failure_set(f, "auth", "no_credentials", "%s",
                       c->basic ? "this call needs application_id and a private key"
                                : "the client has no credentials");
        return NULL;
    }
    /* The range on the double first (false for NaN): then the cast and every
     * sum below are defined. */
    if (!(now >= 0 && now <= (double)VN_MAX_JWT_TIME)) {
        vn_failure_set(f, "auth", "bad_clock",
                       "the clock gave %.17g, outside 0..%ld seconds since the epoch", now,
                       (long)VN_MAX_JWT_TIME);
        return NULL;
    }
    t = (long)now;
    if (c->jwt == NULL || t < c->jwt_iat ||
        (t - c->jwt_iat) * VN_JWT_REUSE_DEN >= c->jwt_ttl * VN_JWT_REUSE_NUM) {
        vn_jwt_claims claims;
        char *token = NULL;
        const char *why;
        claims.application_id = c->application_id;
        claims.sub = c->jwt_sub;
        claims.grants_json = c->jwt_grants_json;
        claims.iat = t;
        claims.exp = t + c->jwt_ttl;
        claims.nbf = c->jwt_nbf ? t : -1;
        if ((why = vn_jwt_mint(c->key, &claims, &token)) != NULL) {
            vn_failure_set(f, "auth", "jwt_mint_failed", "could not mint the application JWT: %s",
                           why);
            return NULL;
        }
        if (c->busy && c->jwt != NULL) { /* authorize is copying the old one */
            struct vn_retired *r = malloc(sizeof *r);
            if (r == NULL) {
                vn_free_secret(token, strlen(token));
                vn_failure_set(f, "auth", "out_of_memory", "out of memory");
                return NULL;
            }
            r->jwt = c->jwt;
            r->len = c->jwt_len;
            r->next = c->retired;
            c->retired = r;
            c->jwt = NULL;
            c->jwt_len = 0;
        }
        drop_jwt(c);
        c->jwt_len = strlen(token);
        c->jwt = malloc(c->jwt_len + 8);
        if (c->jwt != NULL) {
            memcpy(c->jwt, "Bearer ", 7);
            memcpy(c->jwt + 7, token, c->jwt_len + 1);
            c->jwt_len += 8;
        }
        vn_free_secret(token, strlen(token));
        if (c->jwt == NULL) {
            c->jwt_len = 0;
            vn_failure_set(f, "auth", "out_of_memory", "out of memory");
            return NULL;
        }
        c->jwt_iat = t;
    }
    return c->jwt;
}

const char *vn_client_may_send(lua_State *L, int client_idx, int transport_idx, const char *url)
{
    static const char *const hosts[] = {"api_host", "network_host", NULL};
    const char *why = "the spec's url is not on the client's api_host or network_host";
    client_idx = vn_absindex(L, client_idx);
    transport_idx = vn_absindex(L, transport_idx);
    vn_getuservalue(L, client_idx);
    lua_pushboolean(L, 1);
    lua_rawget(L, -2);
    if (!lua_rawequal(L, -1, transport_idx)) {
        lua_pop(L, 2);
        return "spec.client is honoured only on that client's own transport";
    }
    lua_pop(L, 1);
    for (int i = 0; hosts[i] != NULL && why != NULL; i++) {
        size_t n;
        const char *h;
        lua_pushstring(L, hosts[i]);
        lua_rawget(L, -2);
        h = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
        /* The host, then the start of the path: "https://api.nexmo.com.evil" is not it. */
        if (h != NULL && n > 0 && strncmp(url, h, n) == 0 && url[n] == '/')
            why = NULL;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return why;
}

/* Copies the header value (a light userdata) into a Lua string: run under
 * lua_pcall, so a memory error in the copy still lets busy come back down. */
static int push_header_copy(lua_State *L)
{
    lua_pushstring(L, (const char *)lua_touserdata(L, 1));
    return 1;
}

/* authorize(client, now [, "jwt"|"basic"]) -> header value | nil, msg, err
 * Handed out once by core.take_authorizer (to lua/vonage/api.lua), for the
 * transports that need the header as a Lua string: resty and user transports.
 * JWT when the client has a key (or when asked), else Basic. */
static int client_authorize(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    double now = (double)luaL_checknumber(L, 2);
    const char *want = luaL_optstring(L, 3, NULL);
    vn_failure f;
    const char *value;
    if (memcmp(c->load, lua_touserdata(L, lua_upvalueindex(1)), sizeof c->load) != 0)
        return luaL_error(L, "vonage.core: this authorizer serves only the clients of its own "
                             "load of vonage.core");
    value = vn_client_header(c, want, now, &f);
    if (value == NULL)
        return vn_failure_push(L, &f);
    /* LuaJIT may collect (and run a finalizer that closes this client, or
     * asks for a fresh JWT) before it copies the string: the value stays
     * until the copy is made, a re-minted one retired, not freed. The copy
     * runs protected (the function is an upvalue: pushing it allocates
     * nothing), so busy always comes back down, and a close or the retired
     * tokens are dealt with, even when the copy fails for lack of memory. */
    c->busy++;
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushlightuserdata(L, (void *)value);
    int status = lua_pcall(L, 1, 1, 0);
    c->busy--;
    if (c->busy == 0) {
        free_retired(c);
        if (c->wipe_pending)
            wipe(c);
    }
    if (status != 0)
        return lua_error(L);
    return 1;
}

/* core.take_authorizer() -> authorize; a second take from the same load of
 * vonage.core raises, so nothing required after lua/vonage/api.lua gets it.
 * A reload of vonage.core (a test runner does it, and so can any code) gives
 * a fresh flag, so the authorizer is bound to its load's random token
 * (upvalue 2): it serves only the clients that load made, never the ones an
 * earlier api.lua holds. */
static int core_take_authorizer(lua_State *L)
{
    if (lua_toboolean(L, lua_upvalueindex(1)))
        return luaL_error(L, "vonage.core: the authorizer was already taken");
    lua_pushboolean(L, 1);
    lua_replace(L, lua_upvalueindex(1));
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushcfunction(L, push_header_copy);
    lua_pushcclosure(L, client_authorize, 2);
    return 1;
}

/* core.transport_kind(client) -> "c" when the client's own transport adds the
 * Authorization header in C (spec.client: it never becomes a Lua string),
 * "resty" for the resty transport, else "other" */
static int core_transport_kind(lua_State *L)
{
    vn_client_check(L, 1);
    vn_getuservalue(L, 1);
    lua_pushboolean(L, 1);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1)) {
        lua_pushliteral(L, "c");
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_rawget(L, -3);
    lua_pushstring(L, lua_isnil(L, -1) ? "other" : "resty");
    return 1;
}

/* core.client_webhook_verify(client, authorization, body, now, max_age, max_ahead[, api_key[, application_id]])
 *   -> jti, iat, api_key, application_id | nil, msg, err -- with the secret held here
 * (for lua/vonage/webhook.lua; not a method: it is no part of the client API) */
static int client_webhook_verify(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    vn_webhook_args args;
    /* Converted first: a conversion allocates, and a finalizer it runs may
     * close the client, freeing the secret the check is about to read. */
    vn_webhook_read_args(L, 2, &args);
    if (c->closed)
        return vn_error_push(L, "transport", "closed", 0, "the client is closed");
    if (c->signature_secret == NULL)
        return vn_error_push(L, "webhook", "no_secret", 0,
                             "the client has no signature_secret to verify webhooks with");
    return vn_webhook_push_verify(L, &c->webhook_key, c->signature_secret, c->signature_secret_len, &args);
}

/* client.<field>: methods first, then the non-secret settings, then `auth`. */
static int client_index(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    const char *k = vn_index_field(L);
    if (k == NULL)
        return 1;
    if (strcmp(k, "auth") == 0) {
        lua_pushstring(L, c->closed ? "none" : auth_kinds(c));
        return 1;
    }
    if (strcmp(k, "closed") == 0) {
        lua_pushboolean(L, c->closed);
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

/* tostring(client) -> "vonage.client (jwt: application <id>, basic: api_key <key>, <api_host>,
 *                      network <network_host>, oidc <oidc_host>)": every host it talks to
 * The client's strings are copied before any Lua call: an allocation may run a
 * finalizer that closes the client. */
static int client_tostring(lua_State *L)
{
    vn_client *c = vn_client_check(L, 1);
    char who[320];
    if (c->closed)
        snprintf(who, sizeof who, "closed");
    else if (c->key && c->basic)
        snprintf(who, sizeof who, "jwt: application %.100s, basic: api_key %.100s",
                 c->application_id, c->api_key);
    else if (c->key)
        snprintf(who, sizeof who, "jwt: application %.100s", c->application_id);
    else if (c->basic)
        snprintf(who, sizeof who, "basic: api_key %.100s", c->api_key);
    else
        snprintf(who, sizeof who, "no credentials");
    vn_getuservalue(L, 1);
    lua_pushfstring(L, "vonage.client (%s", who);
    {
        static const char *const hosts[] = { "api_host", "network_host", "oidc_host" };
        static const char *const labels[] = { "", "network ", "oidc " };
        int i, uv = lua_gettop(L) - 1;
        for (i = 0; i < 3; i++) {
            lua_getfield(L, uv, hosts[i]);
            if (lua_type(L, -1) == LUA_TSTRING)
                lua_pushfstring(L, ", %s%s", labels[i], lua_tostring(L, -1));
            else
                lua_pushliteral(L, "");
            lua_remove(L, -2);
        }
    }
    lua_pushliteral(L, ")");
    lua_concat(L, 5);
    return 1;
}

static const luaL_Reg client_metamethods[] = {
    {"__gc", client_finish},
    {"__close", client_finish},
    {"__tostring", client_tostring},
    {"__newindex", client_newindex},
    {NULL, NULL},
};

int vn_client_open(lua_State *L)
{
    vn_newclass_fields(L, VN_CLIENT_TNAME, client_metamethods, client_index, "client_class");
    lua_pushcfunction(L, client_close);
    lua_setfield(L, -2, "client_close");
    lua_pushcfunction(L, client_webhook_verify);
    lua_setfield(L, -2, "client_webhook_verify");
    /* This load's token: a full userdata no Lua code reads, random so that no
     * other load (even at the same address, after this one is collected)
     * has it. */
    if (vn_random_bytes(vn_newuserdata(L, VN_LOAD_TOKEN_BYTES), VN_LOAD_TOKEN_BYTES) != 0)
        return luaL_error(L, "vonage.core: no random bytes for the load token");
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, client_new, 1);
    lua_setfield(L, -3, "client_new");
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    lua_pushcclosure(L, core_take_authorizer, 2);
    lua_setfield(L, -2, "take_authorizer");
    lua_pushcfunction(L, core_transport_kind);
    lua_setfield(L, -2, "transport_kind");
    return 0;
}
