/*
 * threads SCRIPT.lua [N]: the game-server shape under ThreadSanitizer
 * (`make tsan`). N threads (default 8) each make their own lua_State and run
 * SCRIPT with their index; a barrier lets them all load the module at once.
 * Passes when every script returns true and TSan reports nothing (it is run
 * with halt_on_error=1, so a report ends the process).
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_THREADS 64

static pthread_barrier_t start;
static const char *script;

typedef struct {
    int index, ok;
    pthread_t thread;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    lua_State *L = luaL_newstate();
    if (L == NULL)
        return NULL;
    luaL_openlibs(L);
    if (luaL_loadfile(L, script) != LUA_OK) {
        fprintf(stderr, "tsan: thread %d: %s\n", w->index, lua_tostring(L, -1));
        lua_close(L);
        return NULL;
    }
    lua_pushinteger(L, w->index);
    pthread_barrier_wait(&start);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        fprintf(stderr, "tsan: thread %d: %s\n", w->index, lua_tostring(L, -1));
    else
        w->ok = lua_toboolean(L, -1);
    lua_close(L);
    return NULL;
}

int main(int argc, char **argv)
{
    worker workers[MAX_THREADS];
    int n = argc > 2 ? atoi(argv[2]) : 8, passed = 0;
    if (argc < 2 || n < 1 || n > MAX_THREADS) {
        fprintf(stderr, "usage: threads SCRIPT.lua [1..%d]\n", MAX_THREADS);
        return 2;
    }
    script = argv[1];
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        workers[i].index = i + 1;
        workers[i].ok = 0;
        if (pthread_create(&workers[i].thread, NULL, run, &workers[i]) != 0) {
            fprintf(stderr, "tsan: cannot start thread %d\n", i + 1);
            return 2;
        }
    }
    for (int i = 0; i < n; i++) {
        pthread_join(workers[i].thread, NULL);
        passed += workers[i].ok;
    }
    pthread_barrier_destroy(&start);
    printf("tsan: %d of %d threads passed\n", passed, n);
    return passed == n ? 0 : 1;
}
