/* Signed webhooks: the checks on Vonage's HS256 callback JWT that must not
 * depend on Lua (the libFuzzer target in fuzz/ drives vn_webhook_check). */
#ifndef VN_WEBHOOK_H
#define VN_WEBHOOK_H

#include <lua.h>
#include <stddef.h>

#include "vn_limits.h"

#define VN_WEBHOOK_MAX_TOKEN VN_MAX(webhook_token_bytes)
/* The longest signature secret the checker takes; vonage.client refuses a
 * longer one when it is made, not at the first webhook. */
#define VN_MAX_SIGNATURE_SECRET VN_MAX(signature_secret)
/* Bound of any decoded token segment (4 base64url characters -> 3 bytes). */
#define VN_WEBHOOK_MAX_SEGMENT (VN_WEBHOOK_MAX_TOKEN / 4 * 3)

/* What the token says about the body's payload_hash claim. */
enum vn_payload_hash {
    VN_HASH_MISSING,   /* absent, or not a string */
    VN_HASH_MISMATCH,  /* present, but not the hex SHA-256 of the body */
    VN_HASH_OK
};

typedef struct {
    /* On success: the decoded payload, a strict JSON object. Held inline, so
     * nothing needs freeing (the Lua binding may raise after the call). */
    char claims_json[VN_WEBHOOK_MAX_SEGMENT];
    size_t claims_len;
    enum vn_payload_hash payload_hash;
    /* On failure: a stable err.code and a one-line message that never holds
     * the token, the secret or the body (both static strings). */
    const char *code;
    const char *message;
} vn_webhook_result;

/* Checks, in this order: `Bearer <token>` with the token at most 8 KiB, three
 * non-empty base64url segments and no NUL; the JOSE header (alg exactly HS256,
 * typ absent or JWT, no crit); a non-empty secret; the HMAC-SHA256 signature
 * (constant time); a strict JSON object as payload whose iat/exp/nbf, when
 * numbers, are integers. Then compares payload_hash with SHA-256(body) in
 * constant time and reports it in out->payload_hash, for the caller to act on
 * after its own claim checks. Returns 0 on success, -1 with out->code set. */
int vn_webhook_check(const char *authorization, size_t auth_len,
                     const unsigned char *secret, size_t secret_len,
                     const unsigned char *body, size_t body_len,
                     vn_webhook_result *out);

/* Runs vn_webhook_check on the strings at auth_idx and body_idx and pushes
 * claims_json, "ok"|"missing"|"mismatch" (returns 2) or nil, msg, err (3). */
int vn_webhook_push_check(lua_State *L, int auth_idx, int body_idx,
                          const unsigned char *secret, size_t secret_len);

int vn_webhook_open(lua_State *L);

#endif
