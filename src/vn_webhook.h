/* Signed webhooks: the checks on Vonage's HS256 callback JWT that must not
 * depend on Lua (the libFuzzer target in fuzz/ drives vn_webhook_verify). */
#ifndef VN_WEBHOOK_H
#define VN_WEBHOOK_H

#include <lua.h>
#include <stddef.h>
#include <openssl/types.h>

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

/* The OpenSSL state of one signature secret: an HMAC-SHA256 context keyed
 * once (each token re-initialises it, never re-keys it: OpenSSL's one-shot
 * HMAC() fetches the digest and hashes the key every call) and a reused
 * SHA-256 context for the body. All NULL until the first check made them. */
typedef struct {
    EVP_MAC_CTX *mac;
    EVP_MD_CTX *sha;
    EVP_MD *md;
} vn_webhook_key;

/* Frees what a key holds (OpenSSL cleanses the keyed state); safe twice. */
void vn_webhook_key_clear(vn_webhook_key *key);

/* What the claims must satisfy besides the signature: the caller's clock
 * (whole seconds), the iat/nbf window, and the account (NULL: any). */
typedef struct {
    double now, max_age, max_ahead;
    const char *api_key, *application_id;
    size_t api_key_len, application_id_len;
} vn_webhook_policy;

typedef struct {
    /* On success: the claims the event carries (api_key, application_id
     * NULL when absent), pointing into strings[]. iat is an integer within
     * +-(2^53 - 1). Held inline, so nothing needs freeing (the Lua binding
     * may raise after the call). */
    const char *jti, *api_key, *application_id;
    size_t jti_len, api_key_len, application_id_len;
    double iat;
    /* On failure: a stable err.code and a one-line message that never holds
     * the token, the secret or the body (both static strings). */
    const char *code;
    const char *message;
    /* The decoded payload, and the decoded claim strings. */
    char payload[VN_WEBHOOK_MAX_SEGMENT];
    size_t payload_len;
    char strings[VN_WEBHOOK_MAX_SEGMENT];
} vn_webhook_result;

/* Checks, in this order: `Bearer <token>` with the token at most 8 KiB, three
 * non-empty base64url segments and no NUL; the JOSE header (alg exactly HS256,
 * typ absent or JWT, no crit); a secret of 1 to VN_MAX_SIGNATURE_SECRET bytes;
 * the HMAC-SHA256 signature (constant time); a strict JSON object as payload
 * whose iat/exp/nbf, when numbers, are integers. Then the claims against
 * policy: iss "Vonage"; iat an integer inside [now - max_age, now + max_ahead];
 * exp, when present, an integer > now; nbf, when present, an integer <= now +
 * max_ahead; jti a string of 1 to 256 bytes; api_key and application_id, when
 * present, strings, equal to the policy's when it names them; and last
 * payload_hash, the hex SHA-256 of the body compared in constant time.
 * key (made from secret on first use, and kept) may be reused across calls
 * with the same secret. Returns 0 on success, -1 with out->code set. */
int vn_webhook_verify(vn_webhook_key *key, const unsigned char *secret, size_t secret_len,
                      const char *authorization, size_t auth_len,
                      const unsigned char *body, size_t body_len,
                      const vn_webhook_policy *policy, vn_webhook_result *out);

/* The Lua arguments of a check, converted (so a conversion's allocation,
 * which may run a finalizer, happens before the secret is read). */
typedef struct {
    const char *authorization, *body;
    size_t auth_len, body_len;
    vn_webhook_policy policy;
} vn_webhook_args;

/* Reads authorization, body, now, max_age, max_ahead[, api_key[,
 * application_id]] from stack index first on; raises on a wrong type. */
void vn_webhook_read_args(lua_State *L, int first, vn_webhook_args *args);

/* Runs vn_webhook_verify and pushes jti, iat, api_key, application_id, and
 * the body typed when it is a plain event (returns 5; the last three may be
 * nil: the Lua side then types the body) or nil, msg, err (returns 3). */
int vn_webhook_push_verify(lua_State *L, vn_webhook_key *key, const unsigned char *secret,
                           size_t secret_len, const vn_webhook_args *args);

int vn_webhook_open(lua_State *L);

#endif
