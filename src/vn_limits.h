/*
 * Every limit and default of the library, written once. The C checks read
 * them through VN_DEFAULT/VN_MIN/VN_MAX; the Lua layer gets the same rows from
 * core.limits() (a fresh copy per call, so no caller can change what another
 * reads); doc/client.md lists them and spec/limits_spec.lua checks that it
 * says the same and that each option is refused one past either end.
 *
 * A row is VN_LIMIT_<name>: default, min, max, unit, what it bounds.
 * VN_NONE marks a column the limit does not have (no limit is negative).
 * The values are plain literals, so a message can be built with STR().
 * API field rules (code_length, channel_timeout ...) are the API's own and
 * stay with the operation that sends them.
 */
#ifndef VN_LIMITS_H
#define VN_LIMITS_H

#include <lua.h>

#define VN_NONE (-1)

/* Options of vonage.client (and of each request a transport sends). */
#define VN_LIMIT_timeout_ms         10000, 1, 600000, "ms", "one deadline for the whole call, attempts and waits together"
#define VN_LIMIT_connect_timeout_ms 3000, 1, 600000, "ms", "connecting and the TLS handshake, per attempt"
#define VN_LIMIT_retries            2, 0, 5, "attempts", "sent again when it provably never left, or after a 429/503 with Retry-After (not POST)"
#define VN_LIMIT_max_response_bytes 1048576, 1024, 1073741824, "bytes", "the response body, enforced while it streams"
#define VN_LIMIT_max_pages          100, 1, 100000, "pages", "client:templates() and template_fragments() stop there"
#define VN_LIMIT_jwt_ttl            900, 30, 86400, "s", "the application JWT's life (exp - iat)"
#define VN_LIMIT_signature_secret   VN_NONE, 16, 4096, "bytes", "signature_secret, in a client or given to webhook.verify"
/* vonage.check_silent_auth (timeout_ms and connect_timeout_ms as above, per hop). */
#define VN_LIMIT_max_redirects      10, 0, 50, "hops", "check_silent_auth: redirects followed"
#define VN_LIMIT_silent_auth_max_response_bytes 65536, 256, 1048576, "bytes", "check_silent_auth: the body of each hop"
/* vonage.webhook and vonage.store */
#define VN_LIMIT_max_age            300, 1, 86400, "s", "webhook.verify: how old an iat may be"
#define VN_LIMIT_max_ahead          60, 0, 3600, "s", "webhook.verify: how far ahead an iat or nbf may be"
#define VN_LIMIT_replay_max_entries 100000, 1, VN_NONE, "entries", "the webhooks' default replay store"
#define VN_LIMIT_webhook_body_bytes VN_NONE, VN_NONE, 1048576, "bytes", "the body webhook.ngx_handler reads"
#define VN_LIMIT_webhook_token_bytes VN_NONE, VN_NONE, 8192, "bytes", "the webhook's Bearer token"
#define VN_LIMIT_max_entries        10000, 1, VN_NONE, "entries", "store.memory{max_entries}"
#define VN_LIMIT_store_timeout_ms   1000, 1, 60000, "ms", "store.redis{timeout_ms}: connect, AUTH, SELECT and the command"
#define VN_LIMIT_store_pool_size    32, 1, 10000, "connections", "store.redis{pool_size}: the keepalive pool per nginx worker"
/* Number Verification */
#define VN_LIMIT_state_ttl          600, 30, 3600, "s", "the OAuth state's life"
#define VN_LIMIT_token_expires_in   VN_NONE, 1, 2592000, "s", "an access token's expires_in that is taken"
#define VN_LIMIT_access_token_bytes VN_NONE, VN_NONE, 8192, "bytes", "an access token that is taken"
#define VN_LIMIT_session_bytes      VN_NONE, 1, 4096, "bytes", "start{session}: the browser session the state is bound to"
/* Templates */
#define VN_LIMIT_page               VN_NONE, 1, 1000000, "pages", "template_page{page}"
#define VN_LIMIT_page_size          VN_NONE, 1, 100, "items", "template_page{page_size}, templates{page_size}"
#define VN_LIMIT_page_count         VN_NONE, 0, 1000000000, "items", "a page's total_items, total_pages, page_size as answered"
/* Transports */
#define VN_LIMIT_poll_timeout_ms    0, 0, 600000, "ms", "client:poll(timeout_ms) waits at most that"
#define VN_LIMIT_sleep_ms           VN_NONE, 0, 60000, "ms", "one backoff sleep of a blocking transport"
#define VN_LIMIT_header_bytes       VN_NONE, VN_NONE, 65536, "bytes", "the response headers (and trailers)"
#define VN_LIMIT_url_bytes          VN_NONE, VN_NONE, 4096, "bytes", "any URL sent, followed or taken as an option"
#define VN_LIMIT_private_key_bytes  VN_NONE, VN_NONE, 65536, "bytes", "private_key or the file at private_key_path"
/* The multi transport's bounds, which keep one perform inside a frame's budget. */
#define VN_LIMIT_multi_handshakes_per_poll 4, VN_NONE, VN_NONE, "connections", "multi: new connections (TLS handshakes) one poll starts"
#define VN_LIMIT_multi_host_connections 32, VN_NONE, VN_NONE, "connections", "multi: open connections per host"
#define VN_LIMIT_multi_cached_connections 32, VN_NONE, VN_NONE, "connections", "multi: idle connections kept for reuse"
#define VN_LIMIT_multi_streams      256, VN_NONE, VN_NONE, "streams", "multi: HTTP/2 streams per connection, and https transfers inside libcurl at once"
#define VN_LIMIT_multi_admit_per_poll 32, VN_NONE, VN_NONE, "requests", "multi: queued https requests one poll hands to libcurl"
/* Read by lua/vonage/transport/multi.lua: the one multi bound a client sets. */
#define VN_LIMIT_multi_resume_per_poll 32, 1, 100000, "coroutines", "multi: coroutines one poll resumes; the rest stay due for the next"

/* The list core.limits() exports: every row above, once. */
#define VN_LIMITS(X) \
    X(timeout_ms) X(connect_timeout_ms) X(retries) X(max_response_bytes) X(max_pages) \
    X(jwt_ttl) X(signature_secret) X(max_redirects) X(silent_auth_max_response_bytes) \
    X(max_age) X(max_ahead) X(replay_max_entries) X(webhook_body_bytes) \
    X(webhook_token_bytes) X(max_entries) X(store_timeout_ms) X(store_pool_size) X(state_ttl) X(token_expires_in) \
    X(access_token_bytes) X(session_bytes) X(page) \
    X(page_size) X(page_count) X(poll_timeout_ms) X(sleep_ms) X(header_bytes) \
    X(url_bytes) X(private_key_bytes) X(multi_handshakes_per_poll) X(multi_host_connections) \
    X(multi_cached_connections) X(multi_streams) X(multi_admit_per_poll) X(multi_resume_per_poll)

#define VN_LIMIT_APPLY_(f, ...) f(__VA_ARGS__)
#define VN_LIMIT_1_(d, lo, hi, unit, what) d
#define VN_LIMIT_2_(d, lo, hi, unit, what) lo
#define VN_LIMIT_3_(d, lo, hi, unit, what) hi
#define VN_LIMIT_4_(d, lo, hi, unit, what) unit
#define VN_LIMIT_5_(d, lo, hi, unit, what) what
#define VN_DEFAULT(name) VN_LIMIT_APPLY_(VN_LIMIT_1_, VN_LIMIT_##name)
#define VN_MIN(name) VN_LIMIT_APPLY_(VN_LIMIT_2_, VN_LIMIT_##name)
#define VN_MAX(name) VN_LIMIT_APPLY_(VN_LIMIT_3_, VN_LIMIT_##name)
#define VN_UNIT(name) VN_LIMIT_APPLY_(VN_LIMIT_4_, VN_LIMIT_##name)
#define VN_WHAT(name) VN_LIMIT_APPLY_(VN_LIMIT_5_, VN_LIMIT_##name)
#define VN_STR_(x) #x
#define VN_STR(x) VN_STR_(x)
/* The default, min and max of a limit, for vn_optfield_integer. */
#define VN_RANGE(name) VN_DEFAULT(name), VN_MIN(name), VN_MAX(name)

/* Methods that may be sent twice (RFC 9110 9.2.2): retried after a 429/503,
 * or sent again when a kept-alive connection closed without an answer.
 * Every POST (and PATCH) goes on the wire at most once. */
#define VN_IDEMPOTENT_METHODS(X) X(GET) X(DELETE) X(PUT)

/* 1 when method (a NUL-terminated name) is in VN_IDEMPOTENT_METHODS. */
int vn_method_idempotent(const char *method);

/* core.limits() and core.idempotent_methods() */
int vn_limits_open(lua_State *L);

#endif
