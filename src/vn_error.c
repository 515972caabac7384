#include "vn_error.h"
#include "vn_compat.h"

#include <stdarg.h>
#include <stdio.h>

int vn_error_push(lua_State *L, const char *kind, const char *code, int status,
                  const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    lua_pushnil(L);
    lua_pushstring(L, msg);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    if (status > 0) {
        lua_pushinteger(L, status);
        lua_setfield(L, -2, "status");
    }
    luaL_getmetatable(L, VN_ERROR_TNAME);
    lua_setmetatable(L, -2);
    return 3;
}

void vn_failure_set(vn_failure *f, const char *kind, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    f->kind = kind;
    f->code = code;
}

int vn_failure_push(lua_State *L, const vn_failure *f)
{
    return vn_error_push(L, f->kind, f->code, 0, "%s", f->message);
}

/* tostring(err) -> "vonage.error kind/code: message" */
static int error_tostring(lua_State *L)
{
    lua_getfield(L, 1, "kind");
    lua_getfield(L, 1, "code");
    lua_getfield(L, 1, "message");
    lua_pushfstring(L, "vonage.error %s/%s: %s",
                    luaL_optstring(L, -3, "?"), luaL_optstring(L, -2, "?"),
                    luaL_optstring(L, -1, ""));
    return 1;
}

int vn_error_open(lua_State *L)
{
    luaL_newmetatable(L, VN_ERROR_TNAME);
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushstring(L, VN_ERROR_TNAME);
    lua_setfield(L, -2, "__name");
    lua_setfield(L, -2, "error_metatable");
    return 0;
}
