/*
 * The libcurl transports' shared half: one transfer's setup (spec checks, URL
 * and header policy, limits, TLS) and its outcome (response or vonage.error),
 * used by the blocking vonage.http and by vonage.multi alike.
 */
#ifndef VN_HTTP_H
#define VN_HTTP_H

#include <stddef.h>
#include <lua.h>
#include <curl/curl.h>

#include "vn_error.h"
#include "vn_url.h"

#define VN_HTTP_TNAME "vonage.http"

typedef struct vn_buf {
    char *data;
    size_t len, cap, limit;
    int overflow;
} vn_buf;

/* Options fixed when a transport is made; owned C strings or NULL. */
typedef struct vn_http_config {
    char *ca_file, *proxy, *user_agent, *interface_name;
} vn_http_config;

/* One easy handle and what a transfer writes to. Its callbacks point into
 * this struct, so it must not move while a transfer runs. */
typedef struct vn_transfer {
    CURL *easy;
    struct curl_slist *req_headers; /* hnodes once built, else NULL */
    /* The request's header lines and their list nodes, kept across
     * transfers (wiped after each: they hold the Authorization). */
    char *hbuf;
    size_t hlen, hcap;
    struct curl_slist *hnodes;
    size_t hn, hncap;
    vn_buf body, headers;
    char errbuf[CURL_ERROR_SIZE];
    /* What vn_http.c's callbacks learn of the request's way out (see on_prereq). */
    int once_only;      /* POST, PATCH: never on the wire twice */
    int started;        /* libcurl was about to send it at least once */
    int left;           /* an earlier attempt may have sent some of it */
    int resend_refused; /* a re-send was stopped */
    int headers_done;   /* the blank line ending the last header block arrived */
    long request_mark;  /* CURLINFO_REQUEST_SIZE when the last attempt began */
    int few_headers;    /* the library's own call (spec.client): only the headers it reads */
    int configured;     /* the handle's constant options are set (vn_http.c) */
    const char *protocols; /* the protocol limit (and proxy rule) set last */
} vn_transfer;

/* Reads ca_file, proxy, user_agent, interface from the table at idx into cfg
 * (zeroed by the caller and anchored in a userdata: this raises on misuse). */
void vn_http_config_read(lua_State *L, int idx, vn_http_config *cfg, const char *who);
void vn_http_config_free(vn_http_config *cfg);

/* A request spec as read from Lua by vn_spec_read: the strings stay on the
 * Lua stack (anchored) until the calling C function returns. */
typedef struct vn_spec {
    const char *method, *url, *body, *protocols, *auth;
    size_t url_len, body_len;
    long timeout_ms, connect_ms, max_body;
    int headers_idx;   /* absolute stack index of spec.headers, 0 when absent */
    struct vn_client *client; /* spec.client: its Authorization header is added in C */
    double auth_time;
} vn_spec;

/*
 * Phase one of a transfer: reads and checks every field of the spec table
 * at spec_idx (absolute; raw reads, so no metamethod runs) for the transport
 * at transport_idx. Returns 0, or 3 after pushing nil, msg, err for a policy
 * refusal (nothing sent). Raises on misuse (wrong types, unknown method).
 * It may run Lua (an allocation can run a finalizer), so it touches no
 * transfer: the caller re-checks its object afterwards. memo (the
 * transport's own) spares libcurl's parse of an origin already checked
 * (vn_url_check_memo).
 */
int vn_spec_read(lua_State *L, int spec_idx, int transport_idx, vn_spec *sp, vn_url_memo *memo,
                 const char *who);

/*
 * Phase two: sets t->easy up for sp (its constant options once), the Authorization header
 * of sp->client included. Runs no Lua code and cannot raise; returns 0, or
 * -1 with f set (the caller releases t, then pushes f).
 */
int vn_transfer_prepare(lua_State *L, vn_transfer *t, const vn_http_config *cfg,
                        const vn_spec *sp, vn_failure *f);

/* After the transfer ended with rc: pushes status, headers, body or
 * nil, msg, err. Returns 3. */
int vn_transfer_push_result(lua_State *L, vn_transfer *t, CURLcode rc);

/* vn_transfer_push_result in a protected call with *busy raised meanwhile,
 * so a close() that a finalizer runs during the pushes can be deferred. fn is
 * the index of vn_transfer_push_protected, pushed without allocating (an
 * upvalue: see vn_set_guarded_method). Returns the lua_pcall status (the
 * error on top) and sets *nresults. */
int vn_transfer_push_protected(lua_State *L);
int vn_transfer_push_guarded(lua_State *L, int fn, vn_transfer *t, CURLcode rc, int *busy,
                             int *nresults);
/* Sets the method `name` of class tname to f with vn_transfer_push_protected
 * as its upvalue 1. */
void vn_set_guarded_method(lua_State *L, const char *tname, const char *name, lua_CFunction f);
/* nil, msg, err with err.code "busy": a transport re-entered while in use. */
int vn_busy_error(lua_State *L);

/* Drops what the last transfer left (request headers, large buffers); the
 * easy handle stays for the next one. */
void vn_transfer_release(vn_transfer *t);
/* Frees everything, the easy handle included; safe twice. */
void vn_transfer_free(vn_transfer *t);

int vn_http_open(lua_State *L);

#endif
