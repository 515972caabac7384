/* Application JWTs (RS256), signed with OpenSSL by a key parsed once. */
#ifndef VN_JWT_H
#define VN_JWT_H

#include <stddef.h>
#include <openssl/evp.h>

typedef struct vn_jwt_claims {
    const char *application_id;
    const char *sub;      /* optional */
    const char *grants_json; /* optional: {"acl": ...}, checked by vn_jwt_check_grants */
    long iat, exp, nbf;   /* nbf < 0: left out */
} vn_jwt_claims;

/* Mints a token signed by key into *out (malloc'd, caller frees); returns
 * NULL on success or a reason (static text, never holding key material). */
const char *vn_jwt_mint(EVP_PKEY *key, const vn_jwt_claims *c, char **out);

/* Checks that grants_json is a JSON object whose only member is "acl" (a
 * valid JSON value; the name written plainly); NULL or a reason. */
const char *vn_jwt_check_grants(const char *grants_json);

/* Parses pem, an unencrypted RSA private key (never prompting for a pass
 * phrase), into *out; NULL or a reason (and *out NULL). */
const char *vn_jwt_load_key(const unsigned char *pem, size_t pem_len, EVP_PKEY **out);

/* Frees a key vn_jwt_load_key made (NULL is fine). */
void vn_jwt_free_key(EVP_PKEY *key);

#endif
