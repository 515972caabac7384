/* Application JWTs (RS256) minted with libjwt. */
#ifndef VN_JWT_H
#define VN_JWT_H

#include <stddef.h>

typedef struct vn_jwt_claims {
    const char *application_id;
    const char *sub;      /* optional */
    const char *grants_json; /* optional: {"acl": ...}, checked by vn_jwt_check_grants */
    long iat, exp, nbf;   /* nbf < 0: left out */
} vn_jwt_claims;

/* Mints a token into *out (malloc'd, caller frees); returns NULL on success
 * or a reason (static text, never holding key material). */
const char *vn_jwt_mint(const unsigned char *pem, size_t pem_len, const vn_jwt_claims *c,
                        char **out);

/* Checks that grants_json is a JSON object whose only member is "acl";
 * NULL or a reason. */
const char *vn_jwt_check_grants(const char *grants_json);

/* Checks that pem holds an unencrypted RSA private key OpenSSL can read (never
 * prompting for a pass phrase); NULL or a reason. */
const char *vn_jwt_check_key(const unsigned char *pem, size_t pem_len);

#endif
