/*
 * oom_host SCRIPT.lua: an allocation-failure sweep of the module and its Lua
 * layer (`make oom`).
 *
 * SCRIPT returns a list of phases { name =, run =, before =, check =,
 * every = }. For each phase and each N the host makes a fresh lua_State,
 * runs the earlier phases and the phase's `before` with a healthy allocator,
 * then `run` with an allocator that fails every allocation from the Nth on
 * (Lua retries a failed one after an emergency GC, so a single failure would
 * be absorbed), heals it and calls `check` (a lost event shows there). A
 * point passes when `run` succeeds or raises a memory error, `check` passes
 * and lua_close gives back every byte; crashes, sanitizer reports and leaks
 * (LSan at exit) end the process. `every` phases try each N; the others
 * OOM_POINTS (default 400) evenly spaced ones. The sweep of a phase ends with
 * a run that completes before its failure point.
 *
 * To look into a failure: OOM_PHASE=name sweeps that phase only, and
 * OOM_TRACE=N prints the C and Lua stacks where allocation N fails.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <dlfcn.h>
#include <sanitizer/common_interface_defs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t in_use;          /* bytes held by the state */
    unsigned long count;    /* allocations (growths) since arming */
    unsigned long fail_at;  /* 0: never */
    int armed, hit;
} heap;

static heap H;
static lua_State *current;         /* the state being swept, for OOM_TRACE */
static unsigned long trace_at;     /* OOM_TRACE */
static char where[160]; /* the point being run, for a sanitizer's death report */
static int warnings;
static long runs; /* OOM_RUN: a number unique to each state, for the script */

/* The Lua stack where a point's first injected failure hit, for its FAIL
 * line; with OOM_TRACE=N also the C stack at allocation N. No allocation. */
static char hit_stack[512];

static void record_failure(unsigned long n)
{
    lua_Debug ar;
    size_t used = 0;
    hit_stack[0] = '\0';
    for (int level = 0; current && used < sizeof hit_stack - 1 && lua_getstack(current, level, &ar); level++) {
        int w;
        if (!lua_getinfo(current, "Sl", &ar) || ar.currentline < 0)
            continue;
        w = snprintf(hit_stack + used, sizeof hit_stack - used, " < %s:%d", ar.short_src, ar.currentline);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (used >= sizeof hit_stack)
        hit_stack[sizeof hit_stack - 1] = '\0';
    if (n == trace_at) {
        fprintf(stderr, "oom: allocation %lu fails here (Lua:%s):\n", n, hit_stack);
        __sanitizer_print_stack_trace();
    }
}

static void *oom_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    heap *h = ud;
    void *p;
    if (ptr == NULL)
        osize = 0; /* then osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        h->in_use -= osize;
        return NULL;
    }
    if (h->armed && nsize > osize && ++h->count >= h->fail_at && h->fail_at != 0) {
        if (!h->hit)
            record_failure(h->fail_at);
        h->hit = 1;
        return NULL;
    }
    p = realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    h->in_use = h->in_use - osize + nsize;
    return p;
}

/* A finalizer that raised: Lua 5.4 turns it into a warning. */
static void on_warning(void *ud, const char *msg, int tocont)
{
    static int continued;
    (void)ud;
    if (!continued && msg[0] == '@')
        return; /* a control message */
    if (!continued)
        warnings++;
    fprintf(stderr, "%s%s", continued ? "" : "oom: warning at ", continued ? "" : where);
    fprintf(stderr, "%s%s", continued ? "" : ": ", msg);
    continued = tocont;
    if (!tocont)
        fputc('\n', stderr);
}

static void on_death(void)
{
    fprintf(stderr, "oom: the process ended at %s\n", where);
}

/* A fresh state holding the script's phase list at index 1. */
static lua_State *fresh_state(const char *script)
{
    lua_State *L;
    H.armed = 0;
    H.hit = 0;
    L = lua_newstate(oom_alloc, &H);
    if (L == NULL) {
        fprintf(stderr, "oom: cannot create a state\n");
        exit(2);
    }
    current = L;
    lua_setwarnf(L, on_warning, NULL);
    lua_warning(L, "@on", 0);
    luaL_openlibs(L);
    if (luaL_loadfile(L, script) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        fprintf(stderr, "oom: %s: %s\n", script, lua_tostring(L, -1));
        exit(2);
    }
    return L;
}

/* Calls phases[i][field] if present; LUA_OK or the status, message on top. */
static int call_field(lua_State *L, int i, const char *field)
{
    int status;
    lua_rawgeti(L, 1, i);
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return LUA_OK;
    }
    status = lua_pcall(L, 0, 0, 0);
    if (status == LUA_OK)
        return LUA_OK;
    if (!lua_isstring(L, -1)) {
        luaL_tolstring(L, -1, NULL); /* a vonage.error says its message */
        lua_remove(L, -2);
    }
    return status;
}

static int phase_flag(lua_State *L, int i, const char *field)
{
    int v;
    lua_rawgeti(L, 1, i);
    lua_getfield(L, -1, field);
    v = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return v;
}

static void setup_or_die(lua_State *L, int phase, const char *script)
{
    for (int q = 1; q < phase; q++)
        if (call_field(L, q, "before") != LUA_OK || call_field(L, q, "run") != LUA_OK ||
            call_field(L, q, "check") != LUA_OK) {
            fprintf(stderr, "oom: %s: phase %d fails without injection: %s\n", script, q,
                    lua_tostring(L, -1));
            exit(2);
        }
    if (call_field(L, phase, "before") != LUA_OK) {
        fprintf(stderr, "oom: %s: phase %d's before fails: %s\n", script, phase, lua_tostring(L, -1));
        exit(2);
    }
}

/* One point: returns 1 when run completed before fail_at, -1 on a failure. */
static int run_point(const char *script, int phase, const char *name, unsigned long fail_at,
                     unsigned long *allocations)
{
    lua_State *L = fresh_state(script);
    int status, done, failed = 0;
    snprintf(where, sizeof where, "phase %s, allocation %lu", name, fail_at);
    lua_pushinteger(L, ++runs);
    lua_setglobal(L, "OOM_RUN");
    setup_or_die(L, phase, script);
    H.count = 0;
    H.fail_at = fail_at;
    H.hit = 0;
    H.armed = 1;
    status = call_field(L, phase, "run");
    H.armed = 0;
    done = !H.hit;
    if (allocations)
        *allocations = H.count;
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (!H.hit || strstr(msg, "not enough memory") == NULL) {
            fprintf(stderr, "oom: FAIL %s: %s\n", where,
                    H.hit ? msg : lua_pushfstring(L, "(no injected failure) %s", msg));
            failed = 1;
        }
        lua_pop(L, 1);
    }
    if (call_field(L, phase, "check") != LUA_OK) {
        fprintf(stderr, "oom: FAIL %s: after healing: %s\n", where, lua_tostring(L, -1));
        failed = 1;
    }
    if (failed && H.hit)
        fprintf(stderr, "oom:   the failed allocation was at%s\n", hit_stack);
    lua_close(L);
    if (H.in_use != 0) {
        fprintf(stderr, "oom: FAIL %s: %zu bytes still held after lua_close\n", where, H.in_use);
        failed = 1;
        H.in_use = 0;
    }
    return failed ? -1 : done;
}

/* Keeps the C modules loaded across lua_close, so LSan names their frames. */
static void pin_modules(void)
{
    static const char *const modules[] = { "vonage.core", "cjson" };
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    for (size_t i = 0; i < sizeof modules / sizeof *modules; i++) {
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "searchpath");
        lua_pushstring(L, modules[i]);
        lua_getfield(L, -3, "cpath");
        lua_call(L, 2, 1);
        if (lua_isstring(L, -1) && dlopen(lua_tostring(L, -1), RTLD_NOW | RTLD_NODELETE) == NULL)
            fprintf(stderr, "oom: dlopen %s: %s\n", lua_tostring(L, -1), dlerror());
        lua_pop(L, 2);
    }
    lua_close(L);
}

int main(int argc, char **argv)
{
    const char *script = argc > 1 ? argv[1] : NULL;
    const char *env = getenv("OOM_POINTS");
    const char *only = getenv("OOM_PHASE");
    unsigned long budget = env ? strtoul(env, NULL, 10) : 400;
    unsigned long points = 0;
    int failures = 0, phases;
    lua_State *L;

    if (script == NULL) {
        fprintf(stderr, "usage: oom_host SCRIPT.lua\n");
        return 2;
    }
    if (budget == 0)
        budget = 1;
    if (getenv("OOM_TRACE"))
        trace_at = strtoul(getenv("OOM_TRACE"), NULL, 10);
    __sanitizer_set_death_callback(on_death);
    pin_modules();
    L = fresh_state(script);
    phases = (int)luaL_len(L, 1);
    lua_close(L);

    for (int phase = 1; phase <= phases; phase++) {
        unsigned long total, stride, n, swept = 0;
        int every, rc;
        char name[64];
        L = fresh_state(script);
        lua_rawgeti(L, 1, phase);
        lua_getfield(L, -1, "name");
        snprintf(name, sizeof name, "%s", luaL_optstring(L, -1, "?"));
        lua_pop(L, 2);
        every = phase_flag(L, phase, "every");
        lua_close(L);
        H.in_use = 0;
        if (only && strcmp(only, name) != 0)
            continue;

        /* A run without injection counts the phase's allocations. */
        if (run_point(script, phase, name, 0, &total) != 1) {
            fprintf(stderr, "oom: phase %s fails without injection\n", name);
            return 1;
        }
        stride = every || total <= budget ? 1 : (total + budget - 1) / budget;
        for (n = 1;; n += stride) {
            rc = run_point(script, phase, name, n, NULL);
            swept++;
            if (rc < 0)
                failures++;
            if (rc == 1)
                break;
            if (n > 4 * total + 1000) {
                fprintf(stderr, "oom: FAIL phase %s never completes (past %lu allocations)\n", name, n);
                failures++;
                break;
            }
        }
        printf("oom: phase %-10s %6lu allocations, %5lu points (every %lu)\n", name, total, swept, stride);
        fflush(stdout);
        points += swept;
    }
    if (warnings) {
        fprintf(stderr, "oom: %d finalizer warnings\n", warnings);
        failures += warnings;
    }
    snprintf(where, sizeof where, "exit, after the sweep");
    printf("oom: %lu points swept, %d failures\n", points, failures);
    return failures == 0 ? 0 : 1;
}
