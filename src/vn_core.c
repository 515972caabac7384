/* vonage.core: the C half of lua-vonage. Users require "vonage", never this. */
#include "vn_compat.h"
#include "vn_client.h"
#include "vn_crypto.h"
#include "vn_error.h"
#include "vn_http.h"
#include "vn_limits.h"
#include "vn_multi.h"
#include "vn_request.h"
#include "vn_template_page.h"
#include "vn_url.h"
#include "vn_util.h"
#include "vn_webhook.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#ifndef VN_VERSION
#define VN_VERSION "scm"
#endif

void vn_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                 const luaL_Reg *metamethods)
{
    luaL_newmetatable(L, tname);
    vn_setfuncs(L, metamethods);
    lua_newtable(L);
    if (methods != NULL)
        vn_setfuncs(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* methods() -> a new list of the class's method names, sorted (upvalue 1:
 * the sorted list made at sealing; callers get a copy they may change). */
static int class_method_names(lua_State *L)
{
    size_t n = vn_rawlen(L, lua_upvalueindex(1));
    lua_createtable(L, (int)n, 0);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, lua_upvalueindex(1), (lua_Integer)i);
        lua_rawseti(L, -2, (lua_Integer)i);
    }
    return 1;
}

/* The sealed methods table (at idx) -> pushes class_method_names over its
 * sorted names. The names stay anchored by that table while they are sorted. */
static void push_method_names(lua_State *L, int idx)
{
    size_t n = 0, i = 0;
    idx = vn_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        n++;
        lua_pop(L, 1);
    }
    const char **names = lua_newuserdata(L, (n ? n : 1) * sizeof *names);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        names[i++] = lua_tostring(L, -2);
        lua_pop(L, 1);
    }
    qsort(names, n, sizeof *names, cmp_names);
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    lua_remove(L, -2); /* the scratch array */
    lua_pushcclosure(L, class_method_names, 1);
}

/* core.<type>_class(methods) -> methods(): called once, by the type's class
 * file, with every method the type has; copies them into the methods table C
 * reads, which no Lua code reaches (the metatable answers getmetatable with
 * the type name). A second call raises, so no code loaded later adds or swaps
 * one. Returns the function that lists their names. */
static int class_seal(lua_State *L)
{
    const char *tname = lua_tostring(L, lua_upvalueindex(1));
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_toboolean(L, lua_upvalueindex(2)))
        return luaL_error(L, "%s: the class is already complete", tname);
    luaL_getmetatable(L, tname);
    lua_getfield(L, -1, "__index_methods");
    lua_newtable(L); /* filled fully, then swapped in: a raise leaves none */
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isfunction(L, -1))
            return luaL_error(L, "%s: a class's methods are functions under string names", tname);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    push_method_names(L, -1);
    lua_insert(L, -2);
    lua_setfield(L, -4, "__index_methods");
    lua_pushboolean(L, 1);
    lua_replace(L, lua_upvalueindex(2));
    return 1;
}

void vn_newclass_fields(lua_State *L, const char *tname, const luaL_Reg *metamethods,
                        lua_CFunction index, const char *class_name)
{
    vn_newclass(L, tname, NULL, metamethods);
    luaL_getmetatable(L, tname);
    /* A reload of vonage.core in this state (busted's insulation does it per
     * file) keeps the methods the objects made so far still use, until the
     * class file of the new load seals its own. */
    lua_getfield(L, -1, "__index_methods");
    if (lua_isnil(L, -1)) {
        lua_newtable(L);
        lua_setfield(L, -3, "__index_methods");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, index);
    lua_setfield(L, -2, "__index");
    /* getmetatable(obj) answers the name: the methods are out of reach. */
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    lua_pushstring(L, tname);
    lua_pushboolean(L, 0);
    lua_pushcclosure(L, class_seal, 2);
    lua_setfield(L, -2, class_name);
}

void *vn_newobject(lua_State *L, size_t size, const char *tname)
{
    void *p = vn_newuserdata(L, size);
    memset(p, 0, size);
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
    return p;
}

const char *vn_index_field(lua_State *L)
{
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "__index_methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1) || lua_type(L, 2) != LUA_TSTRING) {
        lua_replace(L, -3); /* the method, or nil */
        lua_pop(L, 1);
        return NULL;
    }
    lua_pop(L, 3);
    return lua_tostring(L, 2);
}

/* Both readers use rawget: an option or spec table's metamethods never run,
 * so each field is read exactly once and no Lua code runs behind the caller. */
const char *vn_optfield_string(lua_State *L, int idx, const char *field, size_t *len)
{
    const char *s = NULL;
    idx = vn_absindex(L, idx);
    lua_pushstring(L, field);
    lua_rawget(L, idx);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "vonage: field '%s' must be a string", field);
        s = lua_tolstring(L, -1, len);
    }
    /* The string stays anchored by the table it came from. */
    lua_pop(L, 1);
    return s;
}

long vn_optfield_integer(lua_State *L, int idx, const char *field, long dflt, long lo, long hi)
{
    long v = dflt;
    idx = vn_absindex(L, idx);
    lua_pushstring(L, field);
    lua_rawget(L, idx);
    if (!lua_isnil(L, -1)) {
        lua_Number n;
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "vonage: field '%s' must be an integer", field);
        n = lua_tonumber(L, -1);
        /* The range first (false for NaN): only then is the cast defined. */
        if (!(n >= (lua_Number)lo && n <= (lua_Number)hi) || n != (lua_Number)(long)n) {
            char range[64];
            snprintf(range, sizeof range, "%ld..%ld", lo, hi);
            luaL_error(L, "vonage: field '%s' must be an integer in %s", field, range);
        }
        v = (long)n;
    }
    lua_pop(L, 1);
    return v;
}

/* core.uuid4() -> a random UUID string (CSPRNG) */
static int core_uuid4(lua_State *L)
{
    char id[37];
    if (vn_uuid4(id) != 0)
        return luaL_error(L, "vonage: the CSPRNG failed");
    lua_pushstring(L, id);
    return 1;
}

/* core.random_bytes(n) -> n bytes from the CSPRNG */
static int core_random_bytes(lua_State *L)
{
    unsigned char buf[256];
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n > 0 && n <= (lua_Integer)sizeof buf, 1, "1..256 bytes");
    if (vn_random_bytes(buf, (size_t)n) != 0)
        return luaL_error(L, "vonage: the CSPRNG failed");
    lua_pushlstring(L, (const char *)buf, (size_t)n);
    return 1;
}

/* core.const_equal(a, b) -> boolean, without an early exit on a difference */
static int core_const_equal(lua_State *L)
{
    size_t an, bn;
    const char *a = luaL_checklstring(L, 1, &an), *b = luaL_checklstring(L, 2, &bn);
    lua_pushboolean(L, vn_const_equal(a, an, b, bn));
    return 1;
}

static const luaL_Reg core_functions[] = {
    {"uuid4", core_uuid4},
    {"random_bytes", core_random_bytes},
    {"const_equal", core_const_equal},
    {NULL, NULL},
};

VN_EXPORT int luaopen_vonage_core(lua_State *L);

/* curl_global_init is not thread-safe, and threads with a lua_State each
 * may load the module at once: the first runs it, the others wait for it. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

VN_EXPORT int luaopen_vonage_core(lua_State *L)
{
    if (pthread_once(&curl_once, curl_init_once) != 0 || curl_init_rc != CURLE_OK)
        return luaL_error(L, "vonage: curl_global_init failed");
    lua_newtable(L);
    vn_setfuncs(L, core_functions);
    lua_pushstring(L, VN_VERSION);
    lua_setfield(L, -2, "version");
    /* The Lua API the module was compiled against: vonage checks it against
     * the interpreter that loaded it (a 5.3 build may link into 5.4). */
    lua_pushinteger(L, LUA_VERSION_NUM);
    lua_setfield(L, -2, "lua_version_num");
    vn_error_open(L);
    vn_crypto_open(L);
    vn_webhook_open(L);
    vn_url_open(L);
    vn_limits_open(L);
    vn_http_open(L);
    vn_multi_open(L);
    vn_client_open(L);
    vn_request_open(L);
    vn_template_page_open(L);
    return 1;
}
