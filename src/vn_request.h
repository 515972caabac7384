/* vonage.request: one verification request (its id, channel, status). */
#ifndef VN_REQUEST_H
#define VN_REQUEST_H

#include <lua.h>

#define VN_REQUEST_TNAME "vonage.request"

int vn_request_open(lua_State *L);

#endif
