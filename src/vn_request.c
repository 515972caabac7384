/*
 * vonage.request: a handle on one verification. C holds the fields (so they
 * print and read cheaply and cannot be reassigned by accident); the Lua layer
 * adds check/cancel/next_workflow, which reach the client through the user value.
 */
#include "vn_request.h"
#include "vn_compat.h"

#include <stdlib.h>
#include <string.h>

typedef struct vn_request {
    char request_id[37];
    char channel[32];
    char status[32];
    char *check_url;
} vn_request;

static vn_request *check_request(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, VN_REQUEST_TNAME);
}

static void copy_bounded(lua_State *L, char *dst, size_t cap, int idx, const char *what)
{
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    if (n == 0 || n >= cap || memchr(s, '\0', n) != NULL)
        luaL_error(L, "vonage.request: bad %s", what);
    memcpy(dst, s, n + 1);
}

/* core.request_new(client, request_id, channel, status [, check_url]) -> vonage.request */
static int request_new(lua_State *L)
{
    vn_request *r;
    luaL_checkany(L, 1);
    lua_settop(L, 5);
    r = vn_newobject(L, sizeof *r, VN_REQUEST_TNAME);
    copy_bounded(L, r->request_id, sizeof r->request_id, 2, "request_id");
    copy_bounded(L, r->channel, sizeof r->channel, 3, "channel");
    copy_bounded(L, r->status, sizeof r->status, 4, "status");
    if (!lua_isnil(L, 5)) {
        size_t n;
        const char *url = luaL_checklstring(L, 5, &n);
        if ((r->check_url = malloc(n + 1)) == NULL)
            return luaL_error(L, "vonage.request: out of memory");
        memcpy(r->check_url, url, n + 1);
    }
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "client");
    vn_setuservalue(L, -2);
    return 1;
}

static int request_gc(lua_State *L)
{
    vn_request *r = check_request(L, 1);
    free(r->check_url);
    r->check_url = NULL;
    return 0;
}

/* req:_set(status [, channel]) -- the Lua layer records what the API said */
static int request_set(lua_State *L)
{
    vn_request *r = check_request(L, 1);
    copy_bounded(L, r->status, sizeof r->status, 2, "status");
    if (!lua_isnoneornil(L, 3))
        copy_bounded(L, r->channel, sizeof r->channel, 3, "channel");
    return 0;
}

/* req.request_id, req.channel, req.status, req.check_url, req.client, or a method */
static int request_index(lua_State *L)
{
    vn_request *r = check_request(L, 1);
    const char *k;
    if ((k = vn_index_field(L)) == NULL)
        return 1;
    if (strcmp(k, "request_id") == 0)
        lua_pushstring(L, r->request_id);
    else if (strcmp(k, "channel") == 0)
        lua_pushstring(L, r->channel);
    else if (strcmp(k, "status") == 0)
        lua_pushstring(L, r->status);
    else if (strcmp(k, "check_url") == 0)
        r->check_url ? lua_pushstring(L, r->check_url) : lua_pushnil(L);
    else if (strcmp(k, "client") == 0) {
        vn_getuservalue(L, 1);
        lua_getfield(L, -1, "client");
    } else
        lua_pushnil(L);
    return 1;
}

static int request_newindex(lua_State *L)
{
    return luaL_error(L, "vonage.request: fields are read-only");
}

/* tostring(req) -> "vonage.request <id> (sms, pending)" or "(silent_auth, check_url)" */
static int request_tostring(lua_State *L)
{
    vn_request *r = check_request(L, 1);
    lua_pushfstring(L, "vonage.request %s (%s, %s)", r->request_id, r->channel,
                    r->check_url && strcmp(r->status, "pending") == 0 ? "check_url" : r->status);
    return 1;
}

/* req == other: the same request_id; false for anything that is not a request
 * (Lua 5.4 calls __eq for any two userdata, io.stdout included). */
static int request_eq(lua_State *L)
{
    vn_request *a = vn_testudata(L, 1, VN_REQUEST_TNAME);
    vn_request *b = vn_testudata(L, 2, VN_REQUEST_TNAME);
    lua_pushboolean(L, a != NULL && b != NULL && strcmp(a->request_id, b->request_id) == 0);
    return 1;
}

static const luaL_Reg request_methods[] = {
    {"_set", request_set},
    {NULL, NULL},
};

static const luaL_Reg request_metamethods[] = {
    {"__gc", request_gc},
    {"__tostring", request_tostring},
    {"__newindex", request_newindex},
    {"__eq", request_eq},
    {NULL, NULL},
};

int vn_request_open(lua_State *L)
{
    vn_newclass_fields(L, VN_REQUEST_TNAME, request_methods, request_metamethods, request_index,
                       "request_methods");
    lua_pushcfunction(L, request_new);
    lua_setfield(L, -2, "request_new");
    return 0;
}
