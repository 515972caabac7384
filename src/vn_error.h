/* The one place that builds run-time failures: nil, message, err. */
#ifndef VN_ERROR_H
#define VN_ERROR_H

#include <lua.h>

#define VN_ERROR_TNAME "vonage.error"

/* Pushes nil, message, err where err = { kind=, code=, message=, status= }
 * with the vonage.error metatable; status <= 0 leaves it out. Returns 3. */
int vn_error_push(lua_State *L, const char *kind, const char *code, int status,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A failure found where no Lua call may run (a libcurl handle or a credential
 * is held): recorded in C, pushed as nil, msg, err once that is safe. */
typedef struct vn_failure {
    const char *kind, *code; /* static strings; code NULL: no failure */
    char message[256];
} vn_failure;

void vn_failure_set(vn_failure *f, const char *kind, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int vn_failure_push(lua_State *L, const vn_failure *f);

int vn_error_open(lua_State *L);

#endif
