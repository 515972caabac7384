/* The libcurl transport: one reusable easy handle per userdata. */
#ifndef VN_HTTP_H
#define VN_HTTP_H

#include <lua.h>

#define VN_HTTP_TNAME "vonage.http"

int vn_http_open(lua_State *L);

#endif
