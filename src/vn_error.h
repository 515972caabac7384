/* The one place that builds run-time failures: nil, message, err. */
#ifndef VN_ERROR_H
#define VN_ERROR_H

#include <lua.h>

#define VN_ERROR_TNAME "vonage.error"

/* Pushes nil, message, err where err = { kind=, code=, message=, status= }
 * with the vonage.error metatable; status <= 0 leaves it out. Returns 3. */
int vn_error_push(lua_State *L, const char *kind, const char *code, int status,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Drains OpenSSL's error queue into buf so a stale error never reaches the
 * next call; returns buf (empty string when the queue was empty). */
const char *vn_ssl_errors(char *buf, size_t n);

int vn_error_open(lua_State *L);

#endif
