/* vonage.multi: many libcurl transfers in flight on one CURLM. */
#ifndef VN_MULTI_H
#define VN_MULTI_H

#include <lua.h>

#define VN_MULTI_TNAME "vonage.multi"

/* Adds core.multi_new and core.monotonic_ms to the module table on top. */
int vn_multi_open(lua_State *L);

#endif
