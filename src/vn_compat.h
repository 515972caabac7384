/* Lua 5.1 (LuaJIT) to 5.4 from one source: the few shims this module needs. */
#ifndef VN_COMPAT_H
#define VN_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
/* LuaJIT / 5.1: a userdata's environment table stands in for its user value. */
#define vn_setuservalue(L, idx) lua_setfenv((L), (idx))
#define vn_getuservalue(L, idx) lua_getfenv((L), (idx))
#define vn_rawlen(L, idx) lua_objlen((L), (idx))
#define vn_newuserdata(L, size) lua_newuserdata((L), (size))
static inline void vn_setfuncs(lua_State *L, const luaL_Reg *l)
{
    for (; l->name != NULL; l++) {
        lua_pushcfunction(L, l->func);
        lua_setfield(L, -2, l->name);
    }
}
#define vn_absindex(L, i) ((i) > 0 || (i) <= LUA_REGISTRYINDEX ? (i) : lua_gettop(L) + (i) + 1)
static inline void *vn_testudata(lua_State *L, int idx, const char *tname)
{
    void *p = lua_touserdata(L, idx);
    if (p == NULL || !lua_getmetatable(L, idx))
        return NULL;
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2))
        p = NULL;
    lua_pop(L, 2);
    return p;
}
#else
#define vn_setuservalue(L, idx) lua_setuservalue((L), (idx))
#define vn_getuservalue(L, idx) ((void)lua_getuservalue((L), (idx)))
#define vn_rawlen(L, idx) lua_rawlen((L), (idx))
#if LUA_VERSION_NUM >= 504
#define vn_newuserdata(L, size) lua_newuserdatauv((L), (size), 1)
#else
#define vn_newuserdata(L, size) lua_newuserdata((L), (size))
#endif
#define vn_setfuncs(L, l) luaL_setfuncs((L), (l), 0)
#define vn_absindex(L, i) lua_absindex((L), (i))
#define vn_testudata(L, idx, tname) luaL_testudata((L), (idx), (tname))
#endif

/* Visibility: only luaopen_vonage_core leaves the shared object. */
#define VN_EXPORT __attribute__((visibility("default")))

/* Defines a type's metatable: metamethods in it, methods (or NULL) in
 * __index, and __name for error messages and tostring. */
void vn_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                 const luaL_Reg *metamethods);

/* Like vn_newclass, for types with readable fields and methods from Lua:
 * __index becomes `index` (which looks in __index_methods first), and
 * core[class_name](methods), called once by the type's class file, sets the
 * methods. getmetatable(obj) answers tname. Module table on top. */
void vn_newclass_fields(lua_State *L, const char *tname, const luaL_Reg *metamethods,
                        lua_CFunction index, const char *class_name);

/* Pushes a zeroed userdata of `size` bytes with the metatable `tname`: made
 * before any resource it will own, so its __gc sees valid-or-NULL fields. */
void *vn_newobject(lua_State *L, size_t size, const char *tname);

/* The start of every __index made by vn_newclass_fields: for a method name it
 * pushes the method, for a key that is not a string it pushes nil, and both
 * return NULL (the __index returns 1); else it pushes nothing and returns the
 * key, for the type's own fields. */
const char *vn_index_field(lua_State *L);

/* Reads an optional string field of the table at idx; raises if not a string. */
const char *vn_optfield_string(lua_State *L, int idx, const char *field, size_t *len);
/* Reads an optional integer field in [lo, hi]; raises when out of range. */
long vn_optfield_integer(lua_State *L, int idx, const char *field, long dflt, long lo, long hi);

#endif
