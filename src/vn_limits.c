/*
 * The limits table (vn_limits.h) as Lua sees it. core.limits() builds a new
 * table on each call: every module takes its own copy when it loads, so no
 * code can change a bound that another module or the C checks rely on.
 */
#include "vn_limits.h"
#include "vn_compat.h"

#include <string.h>

int vn_method_idempotent(const char *method)
{
#define VN_IS_(m) if (strcmp(method, #m) == 0) return 1;
    VN_IDEMPOTENT_METHODS(VN_IS_)
#undef VN_IS_
    return 0;
}

static void set_bound(lua_State *L, const char *key, long v)
{
    if (v == VN_NONE)
        return;
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, key);
}

/* core.limits() -> { name = { default =, min =, max =, unit =, what = } }
 * (a field is absent when the limit has no such bound) */
static int core_limits(lua_State *L)
{
    lua_newtable(L);
#define VN_ROW_(name)                                  \
    lua_createtable(L, 0, 5);                          \
    set_bound(L, "default", (long)VN_DEFAULT(name));   \
    set_bound(L, "min", (long)VN_MIN(name));           \
    set_bound(L, "max", (long)VN_MAX(name));           \
    lua_pushstring(L, VN_UNIT(name));                  \
    lua_setfield(L, -2, "unit");                       \
    lua_pushstring(L, VN_WHAT(name));                  \
    lua_setfield(L, -2, "what");                       \
    lua_setfield(L, -2, #name);
    VN_LIMITS(VN_ROW_)
#undef VN_ROW_
    return 1;
}

/* core.idempotent_methods() -> { GET = true, ... } (a new table each call) */
static int core_idempotent_methods(lua_State *L)
{
    lua_newtable(L);
#define VN_SET_(m)          \
    lua_pushboolean(L, 1);  \
    lua_setfield(L, -2, #m);
    VN_IDEMPOTENT_METHODS(VN_SET_)
#undef VN_SET_
    return 1;
}

static const luaL_Reg limits_functions[] = {
    {"limits", core_limits},
    {"idempotent_methods", core_idempotent_methods},
    {NULL, NULL},
};

int vn_limits_open(lua_State *L)
{
    vn_setfuncs(L, limits_functions);
    return 0;
}
