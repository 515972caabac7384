/*
 * vonage.template_page: one page of a paginated list (templates, or the
 * fragments of one template). C holds the counters, so they print and read
 * cheaply and cannot be reassigned; the items, the API's _links and the
 * client live in the user value. Its methods (next/prev/first/last, ipairs,
 * items) are the ones lua/vonage/template_page.lua lists.
 */
#include "vn_template_page.h"
#include "vn_compat.h"

#include <stdio.h>
#include <string.h>

/* Far above any real count; keeps every counter exact in a lua_Number. */
#define VN_PAGE_MAX_COUNT 1000000000L

typedef struct vn_template_page {
    long page, page_size, total_pages, total_items;
    long n_items;
    char kind[16]; /* "templates" or "fragments" */
} vn_template_page;

static vn_template_page *check_page(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, VN_TEMPLATE_PAGE_TNAME);
}

static long required_count(lua_State *L, int idx, const char *field)
{
    lua_pushstring(L, field);
    lua_rawget(L, idx); /* raw, as vn_optfield_integer reads it */
    if (lua_isnil(L, -1))
        luaL_error(L, "vonage.template_page: '%s' is required", field);
    lua_pop(L, 1);
    return vn_optfield_integer(L, idx, field, 0, 0, VN_PAGE_MAX_COUNT);
}

/*
 * core.template_page_new(client, kind, fields) -> vonage.template_page
 * kind: "templates" | "fragments"; fields: items (a list of tables), page,
 * page_size, total_pages, total_items, _links (table or nil), template_id
 * (string or nil). The Lua layer has validated the API's answer; this checks
 * only what C relies on.
 */
static int template_page_new(lua_State *L)
{
    vn_template_page *p;
    long page, page_size, total_pages, total_items, n, i;
    const char *kind = luaL_checkstring(L, 2);

    luaL_checkany(L, 1);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    luaL_argcheck(L, strcmp(kind, "templates") == 0 || strcmp(kind, "fragments") == 0, 2,
                  "\"templates\" or \"fragments\"");
    page = required_count(L, 3, "page");
    page_size = required_count(L, 3, "page_size");
    total_pages = required_count(L, 3, "total_pages");
    total_items = required_count(L, 3, "total_items");
    lua_getfield(L, 3, "items"); /* 4 */
    luaL_argcheck(L, lua_istable(L, 4), 3, "items must be a table");
    n = (long)vn_rawlen(L, 4);
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, 4, (int)i);
        if (!lua_istable(L, -1))
            return luaL_error(L, "vonage.template_page: items[%d] is not a table", (int)i);
        lua_pop(L, 1);
    }

    p = vn_newobject(L, sizeof *p, VN_TEMPLATE_PAGE_TNAME); /* 5 */
    p->page = page;
    p->page_size = page_size;
    p->total_pages = total_pages;
    p->total_items = total_items;
    p->n_items = n;
    strcpy(p->kind, kind); /* checked above: one of two short names */

    lua_createtable(L, 0, 4);
    lua_pushvalue(L, 4);
    lua_setfield(L, -2, "items");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "client");
    lua_getfield(L, 3, "_links");
    lua_setfield(L, -2, "_links");
    lua_getfield(L, 3, "template_id");
    lua_setfield(L, -2, "template_id");
    vn_setuservalue(L, 5);
    return 1;
}

/* page[i] -> item table | nil; page.page, page.page_size, page.total_pages,
 * page.total_items, page.kind, page.client, page.template_id, page._links,
 * or a method */
static int template_page_index(lua_State *L)
{
    vn_template_page *p = check_page(L, 1);
    const char *k;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Number i = lua_tonumber(L, 2);
        if (i >= 1 && i <= (lua_Number)p->n_items && i == (lua_Number)(long)i) {
            vn_getuservalue(L, 1);
            lua_getfield(L, -1, "items");
            lua_rawgeti(L, -1, (int)i);
        } else {
            lua_pushnil(L);
        }
        return 1;
    }
    if ((k = vn_index_field(L)) == NULL)
        return 1;
    if (strcmp(k, "page") == 0)
        lua_pushinteger(L, (lua_Integer)p->page);
    else if (strcmp(k, "page_size") == 0)
        lua_pushinteger(L, (lua_Integer)p->page_size);
    else if (strcmp(k, "total_pages") == 0)
        lua_pushinteger(L, (lua_Integer)p->total_pages);
    else if (strcmp(k, "total_items") == 0)
        lua_pushinteger(L, (lua_Integer)p->total_items);
    else if (strcmp(k, "kind") == 0)
        lua_pushstring(L, p->kind);
    else if (strcmp(k, "client") == 0 || strcmp(k, "template_id") == 0
             || strcmp(k, "_links") == 0) {
        vn_getuservalue(L, 1);
        lua_getfield(L, -1, k);
    } else
        lua_pushnil(L);
    return 1;
}

/* #page -> the number of items on this page */
static int template_page_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_page(L, 1)->n_items);
    return 1;
}

/* page.field = value -> raises: a page is a snapshot of the API's answer */
static int template_page_newindex(lua_State *L)
{
    return luaL_error(L, "vonage.template_page: fields are read-only");
}

/* tostring(page) -> "vonage.template_page 2/5 (10 of 47 templates)" */
static int template_page_tostring(lua_State *L)
{
    vn_template_page *p = check_page(L, 1);
    char buf[128];
    snprintf(buf, sizeof buf, "vonage.template_page %ld/%ld (%ld of %ld %s)", p->page,
             p->total_pages, p->n_items, p->total_items, p->kind);
    lua_pushstring(L, buf);
    return 1;
}

static const luaL_Reg template_page_metamethods[] = {
    {"__len", template_page_len},
    {"__tostring", template_page_tostring},
    {"__newindex", template_page_newindex},
    {NULL, NULL},
};

int vn_template_page_open(lua_State *L)
{
    vn_newclass_fields(L, VN_TEMPLATE_PAGE_TNAME, template_page_metamethods, template_page_index,
                       "template_page_class");
    lua_pushcfunction(L, template_page_new);
    lua_setfield(L, -2, "template_page_new");
    return 0;
}
