/*
 * A Lua 5.4 host whose allocator can be told to fail: fail_allocation(n)
 * makes the n-th growing allocation from now fail, and the one after it (Lua
 * retries once after an emergency collection), so the n-th allocation raises
 * a memory error. injected() says whether that happened, and disarms.
 * usage: alloc_fail_host script.lua [args]
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

static long fail_at = -1, seen = 0;
static int hit = 0;

static void *alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        free(p);
        return NULL;
    }
    if (fail_at >= 0 && (p == NULL || nsize > osize)) {
        long i = seen++;
        if (i == fail_at || i == fail_at + 1) {
            hit = 1;
            if (i == fail_at + 1)
                fail_at = -1;
            return NULL;
        }
    }
    return realloc(p, nsize);
}

static int fail_allocation(lua_State *L)
{
    fail_at = (long)luaL_checkinteger(L, 1);
    seen = 0;
    hit = 0;
    return 0;
}

static int injected(lua_State *L)
{
    fail_at = -1;
    lua_pushboolean(L, hit);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L = lua_newstate(alloc, NULL);
    int rc;
    if (L == NULL || argc < 2)
        return 2;
    luaL_openlibs(L);
    lua_register(L, "fail_allocation", fail_allocation);
    lua_register(L, "injected", injected);
    lua_createtable(L, argc, 0);
    for (int i = 2; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    rc = luaL_dofile(L, argv[1]);
    if (rc != LUA_OK)
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc == LUA_OK ? 0 : 1;
}
