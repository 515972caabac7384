/* vonage.client: configuration and credentials, and the JWT cache. */
#ifndef VN_CLIENT_H
#define VN_CLIENT_H

#include <lua.h>

#include "vn_error.h"

#define VN_CLIENT_TNAME "vonage.client"

typedef struct vn_client vn_client;

int vn_client_open(lua_State *L);
vn_client *vn_client_check(lua_State *L, int idx);
/* The client at idx, or NULL when it is not one. */
vn_client *vn_client_test(lua_State *L, int idx);

/* The Authorization header value ("Bearer <jwt>" or "Basic <base64>") for
 * want ("jwt", "basic", or NULL for the client's default) at Unix time now,
 * minting a JWT when the cached one is too old. The value is owned by the
 * client: valid until the next Lua call. NULL with f set on failure (closed,
 * no such credential, a clock out of range, a mint failure). Calls no Lua. */
const char *vn_client_header(vn_client *c, const char *want, double now, vn_failure *f);

/* NULL when a spec naming the client at client_idx may be sent by the
 * transport at transport_idx to url: that transport is the client's own, and
 * url is on its api_host or network_host. Else the reason (static text). */
const char *vn_client_may_send(lua_State *L, int client_idx, int transport_idx, const char *url);

#endif
