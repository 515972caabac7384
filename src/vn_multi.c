/*
 * vonage.multi: many libcurl transfers in flight on one CURLM, driven by
 * m:perform(). The Lua transport (lua/vonage/transport/multi.lua) yields the
 * calling coroutine on m:start and resumes it once m:next_finished names its
 * id. The finished transfers wait here, in C, until their result is taken
 * or they are cancelled: no memory error in Lua can lose one.
 *
 * The multi owns every transfer's C memory (one malloc'd slot each, so the
 * buffers libcurl writes to never move); Lua sees only integer ids. Nothing
 * points from one userdata into another, so __gc order cannot leave a
 * dangling pointer. The per-transfer setup and policy are vn_http.c's, shared
 * with the blocking transport; its callbacks never touch Lua. Connections are
 * pooled by the CURLM, so keep-alive spans transfers; over TLS they speak
 * HTTP/2 when offered (many transfers on one connection), share TLS sessions
 * and DNS answers (a CURLSH), and https transfers wait in a C queue so one
 * perform starts only a few handshakes (admit_queued).
 */
#include "vn_multi.h"
#include "vn_compat.h"
#include "vn_error.h"
#include "vn_http.h"
#include "vn_limits.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

/* The bounds that keep one perform inside a frame's budget: a TLS handshake
 * costs about a millisecond of CPU, and 100 at once stalled a 60 Hz loop.
 * Over HTTP/2 one connection carries them all (PIPEWAIT); over HTTP/1.1 the
 * host cap queues the rest inside libcurl. The numbers are rows of the
 * table of limits (src/vn_limits.h). */
#define VN_MULTI_CONNECTING_MAX VN_DEFAULT(multi_handshakes_per_poll)
#define VN_MULTI_MAX_HOST_CONNECTIONS ((long)VN_DEFAULT(multi_host_connections))
#define VN_MULTI_MAX_CACHED_CONNECTIONS ((long)VN_DEFAULT(multi_cached_connections))
#define VN_MULTI_MAX_STREAMS ((long)VN_DEFAULT(multi_streams))
/* https transfers handed to libcurl at once: one HTTP/2 connection's worth.
 * Given more than a full connection takes, libcurl 7.88 opens a connection
 * for each one over (up to the host cap: 1,000 logins made 32) instead of
 * waiting for streams to free up; held in the C queue, they share one. */
#define VN_MULTI_PACED_MAX ((size_t)VN_MULTI_MAX_STREAMS)
/* Transfers handed to libcurl per perform: setting up a stream (headers,
 * HPACK, the answer's processing later) costs CPU too, about 0.1 ms each. */
#define VN_MULTI_ADMIT_MAX VN_DEFAULT(multi_admit_per_poll)

/* QUEUED: an https transfer m:start took, not yet handed to libcurl (see
 * admit_queued). Plain http (loopback only, no handshake) goes at once. */
enum { SLOT_FREE, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

typedef struct vn_slot {
    vn_transfer t;
    lua_Integer id; /* 0 while free */
    int state;
    CURLcode rc; /* the outcome, once SLOT_DONE */
    int pushing; /* m:result is pushing its answer (Lua may run meanwhile) */
    long timeout_ms;  /* the spec's, counted from m:start, queue time included */
    long long queued_at; /* monotonic ms of m:start */
    int paced; /* https: went through the queue */
} vn_slot;

typedef struct vn_multi {
    CURLM *multi; /* NULL once closed */
    vn_http_config cfg;
    vn_slot **slots; /* free slots keep their easy handle for the next transfer */
    /* Finished transfers whose result was not taken, oldest first: exactly
     * the SLOT_DONE slots. Its capacity is the slots' (grown together), so
     * noting one never allocates. */
    vn_slot **done;
    vn_slot **queued; /* SLOT_QUEUED slots, oldest first; same capacity */
    size_t nslots, cap, in_flight, ndone, nqueued;
    CURLSH *share; /* TLS sessions and DNS answers, for every connection of this multi */
    unsigned long connections_opened; /* sockets libcurl made to connect, ever */
    lua_Integer next_id;
    int busy;          /* result is reading a slot while Lua may run (a finalizer) */
    int close_pending; /* close() came meanwhile: done when that call ends */
    vn_url_memo url_memo; /* the origin its URL checks last passed */
} vn_multi;

static int multi_is_closed(const vn_multi *m)
{
    return m->multi == NULL || m->close_pending;
}

static vn_multi *check_multi(lua_State *L, int idx)
{
    vn_multi *m = luaL_checkudata(L, idx, VN_MULTI_TNAME);
    if (multi_is_closed(m))
        luaL_error(L, "vonage.multi: the transport is closed");
    return m;
}

static vn_slot *find_slot(vn_multi *m, lua_Integer id)
{
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i]->state != SLOT_FREE && m->slots[i]->id == id)
            return m->slots[i];
    return NULL;
}

/* Counts the sockets libcurl opens to connect: each is a new connection
 * (and, over TLS, a handshake). No Lua here. */
static int on_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    vn_multi *m = clientp;
    (void)fd;
    if (purpose == CURLSOCKTYPE_IPCXN)
        m->connections_opened++;
    return CURL_SOCKOPT_OK;
}

/* A free slot with an easy handle; raises only with nothing unanchored. */
static vn_slot *take_free_slot(lua_State *L, vn_multi *m)
{
    vn_slot *s;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i]->state == SLOT_FREE)
            return m->slots[i];
    if (m->nslots == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        vn_slot **grown = realloc(m->slots, cap * sizeof *grown);
        if (grown == NULL)
            luaL_error(L, "vonage.multi: out of memory");
        m->slots = grown;
        grown = realloc(m->done, cap * sizeof *grown);
        if (grown == NULL)
            luaL_error(L, "vonage.multi: out of memory");
        m->done = grown;
        grown = realloc(m->queued, cap * sizeof *grown);
        if (grown == NULL)
            luaL_error(L, "vonage.multi: out of memory");
        m->queued = grown;
        m->cap = cap;
    }
    if ((s = calloc(1, sizeof *s)) == NULL)
        luaL_error(L, "vonage.multi: out of memory");
    if ((s->t.easy = curl_easy_init()) == NULL) {
        free(s);
        luaL_error(L, "vonage.multi: curl_easy_init failed");
        return NULL; /* not reached: luaL_error raises */
    }
    /* What ties the handle to this multi and slot, set once: the handle is
     * kept (not reset) across the slot's transfers. */
    curl_easy_setopt(s->t.easy, CURLOPT_PRIVATE, (void *)s);
    curl_easy_setopt(s->t.easy, CURLOPT_SHARE, m->share);
    curl_easy_setopt(s->t.easy, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    curl_easy_setopt(s->t.easy, CURLOPT_SOCKOPTDATA, (void *)m);
    m->slots[m->nslots++] = s;
    return s;
}

static void release_slot(vn_multi *m, vn_slot *s)
{
    if (s->state == SLOT_RUNNING) {
        curl_multi_remove_handle(m->multi, s->t.easy);
        m->in_flight--;
    } else if (s->state == SLOT_QUEUED) {
        for (size_t i = 0; i < m->nqueued; i++)
            if (m->queued[i] == s) {
                memmove(m->queued + i, m->queued + i + 1,
                        (m->nqueued - i - 1) * sizeof *m->queued);
                m->nqueued--;
                break;
            }
        m->in_flight--;
    } else if (s->state == SLOT_DONE) {
        for (size_t i = 0; i < m->ndone; i++)
            if (m->done[i] == s) {
                memmove(m->done + i, m->done + i + 1, (m->ndone - i - 1) * sizeof *m->done);
                m->ndone--;
                break;
            }
    }
    vn_transfer_release(&s->t);
    s->state = SLOT_FREE;
    s->id = 0;
}

/* core.multi_new{ ca_file=, proxy=, user_agent=, interface= } -> vonage.multi */
static int multi_new(lua_State *L)
{
    vn_multi *m;
    luaL_checktype(L, 1, LUA_TTABLE);
    m = vn_newobject(L, sizeof *m, VN_MULTI_TNAME);
    vn_http_config_read(L, 1, &m->cfg, "vonage.multi");
    m->next_id = 1;
    if ((m->multi = curl_multi_init()) == NULL)
        return luaL_error(L, "vonage.multi: curl_multi_init failed");
    curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, VN_MULTI_MAX_HOST_CONNECTIONS);
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, VN_MULTI_MAX_CACHED_CONNECTIONS);
    /* libcurl's own cap is 100 streams per HTTP/2 connection; the server's
     * SETTINGS still bound it. 1,000 in flight then fit in 4 connections. */
    curl_multi_setopt(m->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, VN_MULTI_MAX_STREAMS);
    /* A new connection resumes an earlier TLS session (no full handshake).
     * One thread drives the multi, so the share needs no lock callbacks. */
    if ((m->share = curl_share_init()) == NULL)
        return luaL_error(L, "vonage.multi: curl_share_init failed");
    curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    return 1;
}

static void multi_free(vn_multi *m)
{
    /* libcurl's order: detach every easy handle, clean them, then the multi. */
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i]->state == SLOT_RUNNING)
            curl_multi_remove_handle(m->multi, m->slots[i]->t.easy);
    for (size_t i = 0; i < m->nslots; i++) {
        vn_transfer_free(&m->slots[i]->t);
        free(m->slots[i]);
    }
    free(m->slots);
    free(m->done);
    free(m->queued);
    m->slots = m->done = m->queued = NULL;
    m->nslots = m->cap = m->in_flight = m->ndone = m->nqueued = 0;
    if (m->multi != NULL)
        curl_multi_cleanup(m->multi);
    m->multi = NULL;
    if (m->share != NULL) /* after every easy handle that used it is gone */
        curl_share_cleanup(m->share);
    m->share = NULL;
    vn_http_config_free(&m->cfg);
    m->close_pending = 0;
}

/* m:close() -- also __close; transfers in flight are dropped; safe
 * twice. A close that a finalizer runs while result reads a slot waits for
 * that call's end. */
static int multi_close(lua_State *L)
{
    vn_multi *m = luaL_checkudata(L, 1, VN_MULTI_TNAME);
    if (m->busy)
        m->close_pending = 1;
    else
        multi_free(m);
    return 0;
}

/* __gc: no call can be inside an object being collected */
static int multi_gc(lua_State *L)
{
    multi_free(luaL_checkudata(L, 1, VN_MULTI_TNAME));
    return 0;
}

static int closed_error(lua_State *L)
{
    return vn_error_push(L, "transport", "closed", 0, "the transport is closed");
}

/* The one monotonic clock, in microseconds; never jumps back. */
static long long monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long monotonic_ms(void)
{
    return monotonic_us() / 1000;
}

/* m:start(spec) -> id | nil, msg, err   (spec as for http:send; nothing is
 * sent until m:perform) */
static int multi_start(lua_State *L)
{
    vn_multi *m = luaL_checkudata(L, 1, VN_MULTI_TNAME);
    vn_spec sp;
    vn_failure f;
    vn_slot *s;
    int n;
    if (multi_is_closed(m))
        return closed_error(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    /* The spec first: reading it may run Lua (a finalizer) that closes us,
     * and no slot is held yet. From the slot on, no Lua runs until it is
     * registered or released. */
    if ((n = vn_spec_read(L, 2, 1, &sp, &m->url_memo, "vonage.multi")) != 0)
        return n;
    if (multi_is_closed(m))
        return closed_error(L);
    s = take_free_slot(L, m);
    if (vn_transfer_prepare(L, &s->t, &m->cfg, &sp, &f) != 0) {
        vn_transfer_release(&s->t);
        return vn_failure_push(L, &f);
    }
    /* https transfers started together wait for the one connection being
     * set up, to multiplex on it over HTTP/2, instead of each opening its
     * own; should ALPN pick HTTP/1.1, libcurl frees the waiters one by one.
     * Plain http is HTTP/1.1 only, and libcurl would hold every waiter there
     * until a transfer ends. */
    curl_easy_setopt(s->t.easy, CURLOPT_PIPEWAIT, strcmp(sp.protocols, "https") == 0 ? 1L : 0L);
    s->id = m->next_id++;
    s->paced = strcmp(sp.protocols, "https") == 0;
    if (s->paced) {
        /* Queued, not added: m:perform hands https transfers to libcurl at a
         * pace that bounds the handshakes under way (admit_queued). */
        s->timeout_ms = sp.timeout_ms;
        s->queued_at = monotonic_ms();
        s->state = SLOT_QUEUED;
        m->queued[m->nqueued++] = s; /* nqueued < cap: one entry per slot */
    } else if (curl_multi_add_handle(m->multi, s->t.easy) != CURLM_OK) {
        s->id = 0;
        vn_transfer_release(&s->t);
        return vn_error_push(L, "transport", "network", 0, "could not start the transfer");
    } else {
        s->state = SLOT_RUNNING;
    }
    m->in_flight++;
    lua_pushinteger(L, s->id);
    return 1;
}

/* Moves every transfer libcurl reports done to SLOT_DONE and notes it in
 * m->done. No Lua call: nothing can interrupt it between taking a handle off
 * the multi and noting it. */
static void collect_finished(vn_multi *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *private_ptr = NULL;
        vn_slot *s;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &private_ptr);
        s = (vn_slot *)(void *)private_ptr;
        curl_multi_remove_handle(m->multi, easy); /* msg is invalid from here */
        s->rc = rc;
        s->state = SLOT_DONE;
        m->in_flight--;
        m->done[m->ndone++] = s; /* ndone < cap: each slot is noted at most once */
    }
}

static void check_mcode(lua_State *L, CURLMcode mc)
{
    if (mc != CURLM_OK)
        luaL_error(L, "vonage.multi: %s", curl_multi_strerror(mc));
}

/* Ends a queued transfer without libcurl: it never left. */
static void finish_unsent(vn_multi *m, vn_slot *s, CURLcode rc, const char *why)
{
    snprintf(s->t.errbuf, sizeof s->t.errbuf, "%s", why);
    s->rc = rc;
    s->state = SLOT_DONE;
    m->in_flight--;
    m->done[m->ndone++] = s;
}

/* Queued https transfers handed to libcurl that have not connected yet
 * (resolving, connecting, in the TLS handshake, or waiting for a connection):
 * on_prereq marks a transfer started once it has a connection. */
static size_t unconnected(const vn_multi *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i]->state == SLOT_RUNNING && m->slots[i]->paced && !m->slots[i]->t.started)
            n++;
    return n;
}

static size_t paced_running(const vn_multi *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i]->state == SLOT_RUNNING && m->slots[i]->paced)
            n++;
    return n;
}

/* Ends every queued transfer whose timeout_ms has run out, whether or not
 * the connection bounds let the queue move now: one deadline per call. */
static void expire_queued(vn_multi *m)
{
    long long now = monotonic_ms();
    size_t keep = 0;
    for (size_t i = 0; i < m->nqueued; i++) {
        vn_slot *s = m->queued[i];
        if (s->timeout_ms - (now - s->queued_at) <= 0)
            finish_unsent(m, s, CURLE_OPERATION_TIMEDOUT, "the call's time ran out before it started");
        else
            m->queued[keep++] = s;
    }
    m->nqueued = keep;
}

/* The ms left until the first queued transfer's deadline; -1 when none waits. */
static long long queued_deadline_left(const vn_multi *m)
{
    long long now = monotonic_ms(), first = -1;
    for (size_t i = 0; i < m->nqueued; i++) {
        long long left = m->queued[i]->timeout_ms - (now - m->queued[i]->queued_at);
        if (first < 0 || left < first)
            first = left;
    }
    return first;
}

/* Hands queued transfers to libcurl, oldest first, so that one perform
 * starts at most VN_MULTI_CONNECTING_MAX connections (TLS handshakes): the
 * transfers still connecting from earlier performs, the connections opened
 * in this one and the new ones together stay within it. A batch that all
 * got a connection at once without opening one (multiplexed over HTTP/2, or
 * idle ones reused) cost no handshake, so the next batch doubles; then only
 * libcurl's own limits bound it, and VN_MULTI_PACED_MAX. The rest wait for
 * the next perform. Time spent queued counts
 * against the transfer's timeout_ms. Calls no Lua. */
static CURLMcode admit_queued(vn_multi *m, int *running)
{
    unsigned long opened_at_start = m->connections_opened;
    size_t batch = 0, admitted = 0;
    CURLMcode mc = CURLM_OK;
    expire_queued(m);
    while (m->nqueued > 0) {
        unsigned long opened = m->connections_opened;
        size_t busy = unconnected(m) + (size_t)(opened - opened_at_start), n = 0, added = 0;
        size_t in_curl = paced_running(m);
        long long now = monotonic_ms();
        if (busy >= VN_MULTI_CONNECTING_MAX || in_curl >= VN_MULTI_PACED_MAX ||
            admitted >= VN_MULTI_ADMIT_MAX)
            break;
        if (batch < VN_MULTI_CONNECTING_MAX - busy)
            batch = VN_MULTI_CONNECTING_MAX - busy;
        while (added < batch && n < m->nqueued && in_curl + added < VN_MULTI_PACED_MAX &&
               admitted + added < VN_MULTI_ADMIT_MAX) {
            vn_slot *s = m->queued[n++];
            long long left = s->timeout_ms - (now - s->queued_at);
            if (left <= 0) {
                finish_unsent(m, s, CURLE_OPERATION_TIMEDOUT,
                              "the call's time ran out before it started");
                continue;
            }
            curl_easy_setopt(s->t.easy, CURLOPT_TIMEOUT_MS, (long)left);
            if (curl_multi_add_handle(m->multi, s->t.easy) != CURLM_OK) {
                finish_unsent(m, s, CURLE_FAILED_INIT, "could not start the transfer");
                continue;
            }
            s->state = SLOT_RUNNING;
            added++;
        }
        memmove(m->queued, m->queued + n, (m->nqueued - n) * sizeof *m->queued);
        m->nqueued -= n;
        admitted += added;
        if ((mc = curl_multi_perform(m->multi, running)) != CURLM_OK)
            break;
        if (m->connections_opened == opened &&
            unconnected(m) + (size_t)(opened - opened_at_start) == busy)
            batch *= 2; /* every one of them got a connection without a handshake */
        else
            batch = 0;
    }
    return mc;
}

/* m:perform([timeout_ms]) -> number of transfers that finished in this call
 * Drives every transfer; when none finished, waits at most timeout_ms for
 * network activity (or just sleeps that long when nothing is in flight) and
 * drives them again. Allocates nothing from Lua: the finished ones are
 * noted in m->done, for m:next_finished. */
static int multi_perform(lua_State *L)
{
    vn_multi *m = check_multi(L, 1);
    lua_Integer timeout_ms = luaL_optinteger(L, 2, VN_DEFAULT(poll_timeout_ms));
    size_t before = m->ndone;
    int running = 0;
    luaL_argcheck(L, timeout_ms >= VN_MIN(poll_timeout_ms) && timeout_ms <= VN_MAX(poll_timeout_ms), 2,
                  "timeout must be " VN_STR(VN_MIN(poll_timeout_ms)) ".." VN_STR(VN_MAX(poll_timeout_ms)) " ms");
    check_mcode(L, admit_queued(m, &running));
    check_mcode(L, curl_multi_perform(m->multi, &running));
    collect_finished(m);
    if (m->ndone == before && timeout_ms > 0) {
        /* A queued call's deadline ends the wait too: it is answered then. */
        long long wait = timeout_ms, first = queued_deadline_left(m);
        if (first >= 0 && first < wait)
            wait = first > 0 ? first : 1;
        check_mcode(L, curl_multi_poll(m->multi, NULL, 0, (int)wait, NULL));
        check_mcode(L, curl_multi_perform(m->multi, &running));
        collect_finished(m);
        expire_queued(m);
    }
    lua_pushinteger(L, (lua_Integer)(m->ndone - before));
    return 1;
}

/* m:next_finished() -> the id of the oldest finished transfer whose result
 * was not taken, or nil. It stays there until m:result or m:cancel takes it,
 * so a caller that fails before handing it over can ask again. */
static int multi_next_finished(lua_State *L)
{
    vn_multi *m = check_multi(L, 1);
    if (m->ndone == 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, m->done[0]->id);
    return 1;
}

/* m:is_finished(id) -> true once the transfer finished, false while in flight */
static int multi_is_finished(lua_State *L)
{
    vn_multi *m = check_multi(L, 1);
    vn_slot *s = find_slot(m, luaL_checkinteger(L, 2));
    if (s == NULL)
        return luaL_error(L, "vonage.multi: no transfer with id %s", lua_tostring(L, 2));
    lua_pushboolean(L, s->state == SLOT_DONE);
    return 1;
}

/* m:result(id) -> status, headers, body | nil, msg, err
 * Frees the transfer (and takes it off m:next_finished) only once its answer
 * was pushed: after a raise it can be asked for again. A result or cancel of
 * that transfer from Lua code (a finalizer) run meanwhile gets err.code
 * "busy": its buffers are in use. */
static int multi_result(lua_State *L)
{
    vn_multi *m = check_multi(L, 1);
    vn_slot *s = find_slot(m, luaL_checkinteger(L, 2));
    int n, status;
    if (s == NULL)
        return luaL_error(L, "vonage.multi: no transfer with id %s", lua_tostring(L, 2));
    if (s->state != SLOT_DONE)
        return luaL_error(L, "vonage.multi: transfer %s is still in flight", lua_tostring(L, 2));
    if (s->pushing)
        return vn_busy_error(L);
    s->pushing = 1;
    status = vn_transfer_push_guarded(L, lua_upvalueindex(1), &s->t, s->rc, &m->busy, &n);
    s->pushing = 0;
    if (status == 0) /* after a raise the slot stays done and queued */
        release_slot(m, s);
    if (m->close_pending && !m->busy)
        multi_free(m);
    if (status != 0)
        return lua_error(L);
    return n;
}

/* m:cancel(id) -> true if there was such a transfer (in flight or finished)
 * | nil, msg, err ("busy": m:result is pushing its answer) */
static int multi_cancel(lua_State *L)
{
    vn_multi *m = check_multi(L, 1);
    vn_slot *s = find_slot(m, luaL_checkinteger(L, 2));
    if (s != NULL && s->pushing)
        return vn_busy_error(L);
    if (s != NULL)
        release_slot(m, s);
    lua_pushboolean(L, s != NULL);
    return 1;
}

/* m:connections_opened() -> how many connections libcurl began (sockets it
 * made to connect) on this multi so far: what the handshake bound counts */
static int multi_connections_opened(lua_State *L)
{
    vn_multi *m = luaL_checkudata(L, 1, VN_MULTI_TNAME);
    lua_pushinteger(L, (lua_Integer)m->connections_opened);
    return 1;
}

/* m:pending() -> transfers in flight plus finished ones whose result was not taken */
static int multi_pending(lua_State *L)
{
    vn_multi *m = luaL_checkudata(L, 1, VN_MULTI_TNAME);
    lua_pushinteger(L, (lua_Integer)(m->in_flight + m->ndone));
    return 1;
}

static int multi_tostring(lua_State *L)
{
    vn_multi *m = luaL_checkudata(L, 1, VN_MULTI_TNAME);
    if (multi_is_closed(m))
        lua_pushliteral(L, "vonage.multi (curl, closed)");
    else
        lua_pushfstring(L, "vonage.multi (curl, %d in flight%s)", (int)m->in_flight,
                        m->cfg.proxy ? ", via proxy" : "");
    return 1;
}

/* core.monotonic_ms() -> milliseconds from an arbitrary start */
static int core_monotonic_ms(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)monotonic_ms());
    return 1;
}

/* core.monotonic_us() -> microseconds on the same clock: for durations, where
 * whole milliseconds would count a call on loopback as taking 0 ms */
static int core_monotonic_us(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)monotonic_us());
    return 1;
}

/* result is set in vn_multi_open with its upvalue (vn_set_guarded_method). */
static const luaL_Reg multi_methods[] = {
    {"start", multi_start},
    {"perform", multi_perform},
    {"next_finished", multi_next_finished},
    {"is_finished", multi_is_finished},
    {"cancel", multi_cancel},
    {"pending", multi_pending},
    {"connections_opened", multi_connections_opened},
    {"close", multi_close},
    {NULL, NULL},
};

static const luaL_Reg multi_metamethods[] = {
    {"__gc", multi_gc},
    {"__close", multi_close},
    {"__tostring", multi_tostring},
    {NULL, NULL},
};

int vn_multi_open(lua_State *L)
{
    vn_newclass(L, VN_MULTI_TNAME, multi_methods, multi_metamethods);
    vn_set_guarded_method(L, VN_MULTI_TNAME, "result", multi_result);
    lua_pushcfunction(L, multi_new);
    lua_setfield(L, -2, "multi_new");
    lua_pushcfunction(L, core_monotonic_ms);
    lua_setfield(L, -2, "monotonic_ms");
    lua_pushcfunction(L, core_monotonic_us);
    lua_setfield(L, -2, "monotonic_us");
    return 0;
}
