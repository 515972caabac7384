/* Hashes, MACs and base64url for the Lua layer (webhooks, OAuth, hashing). */
#ifndef VN_CRYPTO_H
#define VN_CRYPTO_H

#include <lua.h>

int vn_crypto_open(lua_State *L);

#endif
