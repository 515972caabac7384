/*
 * libFuzzer target for the application JWT's grants check (src/vn_jwt.c,
 * vn_jwt_check_grants, over the strict JSON scanner of src/vn_json.c that the
 * webhook checks share), which admits a caller's {"acl": ...} into the signed
 * claims unchanged.
 *
 * Input: the grants JSON text (cut at the first NUL, as a Lua string reaching
 * C would be refused at its NUL anyway). Oracles: no sanitizer report; a
 * refusal is one of the reader's reasons; and every text it accepts is JSON
 * that lua-cjson decodes (in an embedded lua_State) to an object whose one
 * key is "acl", so nothing the check lets through can break the claims
 * around it. GRANTS_FUZZ_STATS=1 prints how many inputs were accepted.
 */
#include "../src/vn_jwt.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;
static int decode_ref;
static unsigned long inputs, accepted;

static const char *const lua_setup =
    "local cjson = require 'cjson'\n"
    "return function(text)\n"
    "  local ok, v = pcall(cjson.decode, text)\n"
    "  if not ok or type(v) ~= 'table' or v.acl == nil then return false end\n"
    "  for k in pairs(v) do if k ~= 'acl' then return false end end\n"
    "  return true\n"
    "end\n";

static const char *const reasons[] = {
    "is not a JSON object", "has no acl", "holds a claim other than acl", NULL
};

static void print_stats(void)
{
    fprintf(stderr, "grants_fuzz: %lu inputs, %lu accepted\n", inputs, accepted);
}

static void lua_init(void)
{
    L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_loadstring(L, lua_setup) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "grants_fuzz: %s (lua-cjson must be installed)\n", lua_tostring(L, -1));
        abort();
    }
    decode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (getenv("GRANTS_FUZZ_STATS"))
        atexit(print_stats);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    const char *why;
    size_t n = 0;

    if (L == NULL)
        lua_init();
    while (n < size && data[n] != 0)
        n++;
    text = malloc(n + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, n);
    text[n] = '\0';
    inputs++;
    why = vn_jwt_check_grants(text);
    if (why != NULL) {
        size_t i;
        for (i = 0; reasons[i] != NULL && strcmp(reasons[i], why) != 0; i++)
            ;
        if (reasons[i] == NULL) {
            fprintf(stderr, "grants_fuzz: an unknown reason: %s\n", why);
            abort();
        }
    } else {
        accepted++;
        lua_rawgeti(L, LUA_REGISTRYINDEX, decode_ref);
        lua_pushlstring(L, text, n);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_toboolean(L, -1)) {
            fprintf(stderr, "grants_fuzz: accepted what is not {\"acl\": ...} JSON: %s\n", text);
            abort();
        }
        lua_pop(L, 1);
    }
    free(text);
    return 0;
}
