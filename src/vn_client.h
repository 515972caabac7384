/* vonage.client: configuration and credentials, and the JWT cache. */
#ifndef VN_CLIENT_H
#define VN_CLIENT_H

#include <lua.h>

#define VN_CLIENT_TNAME "vonage.client"

typedef struct vn_client vn_client;

int vn_client_open(lua_State *L);
vn_client *vn_client_check(lua_State *L, int idx);

#endif
