/*
 * vonage.request: a handle on one verification. Its whole state is here: C
 * holds the fields (so they print and read cheaply and cannot be reassigned),
 * the user value holds the client. Its methods (check/cancel/next_workflow)
 * are the ones lua/vonage/request.lua lists; only the setter that
 * lua/vonage/verify.lua takes once changes a field.
 */
#include "vn_request.h"
#include "vn_compat.h"

#include <stdlib.h>
#include <string.h>

/* The API's workflows have at most 3 channels. */
#define VN_REQUEST_MAX_STEPS 3

typedef struct vn_request {
    char request_id[37];
    char channel[32];
    char status[32];
    char *check_url;
    char *brand; /* NULL for a handle made from a stored request_id */
    char workflow[VN_REQUEST_MAX_STEPS][32]; /* the channels, in order */
    int n_steps, at; /* at: the index (from 0) of `channel` in workflow */
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

static char *copy_string(lua_State *L, int idx)
{
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    char *d = malloc(n + 1);
    if (d == NULL)
        luaL_error(L, "vonage.request: out of memory");
    else
        memcpy(d, s, n + 1);
    return d;
}

/* core.request_new(client, request_id, status [, check_url, brand, workflow [, at]])
 *   -> vonage.request
 * workflow: the list of channel names (1 to 3), at: the index of the channel
 * in use (1 unless given: a resumed flow's); without a workflow the handle is
 * for a stored request_id, channel "unknown". */
static int request_new(lua_State *L)
{
    vn_request *r;
    luaL_checkany(L, 1);
    lua_settop(L, 7);
    if (!lua_isnil(L, 6))
        luaL_checktype(L, 6, LUA_TTABLE);
    r = vn_newobject(L, sizeof *r, VN_REQUEST_TNAME); /* 7: owns what is copied below */
    copy_bounded(L, r->request_id, sizeof r->request_id, 2, "request_id");
    copy_bounded(L, r->status, sizeof r->status, 3, "status");
    if (!lua_isnil(L, 4))
        r->check_url = copy_string(L, 4);
    if (!lua_isnil(L, 5))
        r->brand = copy_string(L, 5);
    if (lua_isnil(L, 6)) {
        strcpy(r->channel, "unknown");
    } else {
        int n = (int)vn_rawlen(L, 6);
        if (n < 1 || n > VN_REQUEST_MAX_STEPS)
            return luaL_error(L, "vonage.request: a workflow has 1 to %d channels",
                              VN_REQUEST_MAX_STEPS);
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, 6, i + 1);
            copy_bounded(L, r->workflow[i], sizeof r->workflow[i], -1, "workflow channel");
            lua_pop(L, 1);
        }
        r->n_steps = n;
        lua_Integer at = luaL_optinteger(L, 7, 1);
        if (at < 1 || at > n) /* checked before the cast */
            return luaL_error(L, "vonage.request: at must point into the workflow");
        r->at = (int)at - 1;
        memcpy(r->channel, r->workflow[r->at], sizeof r->channel);
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
    free(r->brand);
    r->check_url = r->brand = NULL;
    return 0;
}

/* set(req, status [, true]) -- records what the API said: the new status,
 * and with true a move to the workflow's next channel (none past the last).
 * Not a method: core.take_request_setter hands it to lua/vonage/verify.lua. */
static int request_set(lua_State *L)
{
    vn_request *r = check_request(L, 1);
    char status[sizeof r->status];
    copy_bounded(L, status, sizeof status, 2, "status"); /* may raise: nothing changed yet */
    memcpy(r->status, status, sizeof status);
    if (lua_toboolean(L, 3) && r->at + 1 < r->n_steps) {
        r->at++;
        memcpy(r->channel, r->workflow[r->at], sizeof r->channel);
    }
    return 0;
}

/* core.take_request_setter() -> set; a second take from the same load of
 * vonage.core raises, so no code required after lua/vonage/verify.lua gets
 * it (the pattern of core.take_authorizer). */
static int core_take_request_setter(lua_State *L)
{
    if (lua_toboolean(L, lua_upvalueindex(1)))
        return luaL_error(L, "vonage.core: the request setter was already taken");
    lua_pushboolean(L, 1);
    lua_replace(L, lua_upvalueindex(1));
    lua_pushcfunction(L, request_set);
    return 1;
}

/* req.request_id, req.channel, req.status, req.check_url, req.brand,
 * req.workflow (a new list of the channel names, or nil), req.channel_index
 * (channel's place in it, or nil), req.client, or a method */
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
    else if (strcmp(k, "channel_index") == 0)
        r->n_steps ? lua_pushinteger(L, (lua_Integer)r->at + 1) : lua_pushnil(L);
    else if (strcmp(k, "brand") == 0)
        r->brand ? lua_pushstring(L, r->brand) : lua_pushnil(L);
    else if (strcmp(k, "workflow") == 0) {
        /* Copied out first: an allocation below may run a finalizer, whose
         * Lua code could move this request on. */
        char steps[VN_REQUEST_MAX_STEPS][32];
        int n = r->n_steps;
        memcpy(steps, r->workflow, sizeof steps);
        if (n == 0) {
            lua_pushnil(L);
        } else {
            lua_createtable(L, n, 0);
            for (int i = 0; i < n; i++) {
                lua_pushstring(L, steps[i]);
                lua_rawseti(L, -2, i + 1);
            }
        }
    }
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

static const luaL_Reg request_metamethods[] = {
    {"__gc", request_gc},
    {"__tostring", request_tostring},
    {"__newindex", request_newindex},
    {"__eq", request_eq},
    {NULL, NULL},
};

int vn_request_open(lua_State *L)
{
    vn_newclass_fields(L, VN_REQUEST_TNAME, request_metamethods, request_index, "request_class");
    lua_pushcfunction(L, request_new);
    lua_setfield(L, -2, "request_new");
    lua_pushboolean(L, 0);
    lua_pushcclosure(L, core_take_request_setter, 1);
    lua_setfield(L, -2, "take_request_setter");
    return 0;
}
