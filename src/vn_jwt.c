#include "vn_jwt.h"
#include "vn_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

const char *vn_jwt_check_key(const unsigned char *pem, size_t pem_len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    EVP_PKEY *key = NULL;
    const char *why = NULL;
    if (bio == NULL)
        return "out of memory";
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (key == NULL)
        why = "is not a PEM private key (an encrypted key is not supported)";
    else if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
        why = "is not an RSA key (RS256 needs one)";
    EVP_PKEY_free(key);
    BIO_free(bio);
    ERR_clear_error(); /* leave no stale error for the next OpenSSL user */
    return why;
}

const char *vn_jwt_mint(const unsigned char *pem, size_t pem_len, const vn_jwt_claims *c,
                        char **out)
{
    jwt_t *jwt = NULL;
    char jti[37];
    const char *why = NULL;
    *out = NULL;
    if (vn_uuid4(jti) != 0)
        return "the CSPRNG failed";
    if (jwt_new(&jwt) != 0)
        return "out of memory";
    if (jwt_add_grant(jwt, "application_id", c->application_id) != 0 ||
        jwt_add_grant(jwt, "jti", jti) != 0 ||
        jwt_add_grant_int(jwt, "iat", c->iat) != 0 ||
        jwt_add_grant_int(jwt, "exp", c->exp) != 0 ||
        (c->nbf >= 0 && jwt_add_grant_int(jwt, "nbf", c->nbf) != 0) ||
        (c->sub != NULL && jwt_add_grant(jwt, "sub", c->sub) != 0)) {
        why = "could not add a claim";
    } else if (c->acl_json != NULL) {
        /* libjwt merges an object of grants; wrap the value as {"acl": ...}. */
        size_t n = strlen(c->acl_json) + 16;
        char *wrapped = malloc(n);
        if (wrapped == NULL)
            why = "out of memory";
        else {
            snprintf(wrapped, n, "{\"acl\":%s}", c->acl_json);
            if (jwt_add_grants_json(jwt, wrapped) != 0)
                why = "the acl claim is not valid JSON";
            free(wrapped);
        }
    }
    if (why == NULL && jwt_set_alg(jwt, JWT_ALG_RS256, pem, (int)pem_len) != 0)
        why = "could not use the private key";
    if (why == NULL && (*out = jwt_encode_str(jwt)) == NULL)
        why = "signing failed";
    jwt_free(jwt); /* libjwt cleanses its copy of the key */
    ERR_clear_error();
    return why;
}
