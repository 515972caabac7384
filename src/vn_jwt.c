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

/* The password callback of every PEM read: no password, so OpenSSL fails at
 * once on an encrypted key instead of prompting on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int has_text(const unsigned char *s, size_t n, const char *text)
{
    size_t tn = strlen(text);
    for (size_t i = 0; i + tn <= n; i++)
        if (memcmp(s + i, text, tn) == 0)
            return 1;
    return 0;
}

const char *vn_jwt_check_key(const unsigned char *pem, size_t pem_len)
{
    BIO *bio;
    EVP_PKEY *key = NULL;
    const char *why = NULL;
    /* "BEGIN ENCRYPTED PRIVATE KEY" (PKCS#8) and "Proc-Type: 4,ENCRYPTED"
     * (traditional): libjwt reads the key without a callback, so an encrypted
     * one must never reach it. */
    if (has_text(pem, pem_len, "ENCRYPTED"))
        return "is encrypted; give an unencrypted PEM";
    if ((bio = BIO_new_mem_buf(pem, (int)pem_len)) == NULL)
        return "out of memory";
    key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    if (key == NULL)
        why = "is not a PEM private key";
    else if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
        why = "is not an RSA key (RS256 needs one)";
    EVP_PKEY_free(key);
    BIO_free(bio);
    ERR_clear_error(); /* leave no stale error for the next OpenSSL user */
    return why;
}

const char *vn_jwt_check_grants(const char *grants_json)
{
    jwt_t *jwt = NULL;
    char *rest = NULL;
    const char *why = NULL;
    if (jwt_new(&jwt) != 0)
        return "out of memory";
    /* libjwt parses the object; anything in it but "acl" is refused, so no
     * caller can add or override a claim through it. */
    if (jwt_add_grants_json(jwt, grants_json) != 0)
        why = "is not a JSON object";
    if (why == NULL) {
        char *acl = jwt_get_grants_json(jwt, "acl");
        if (acl == NULL)
            why = "has no acl";
        free(acl);
    }
    if (why == NULL) {
        jwt_del_grants(jwt, "acl");
        rest = jwt_get_grants_json(jwt, NULL);
        if (rest == NULL || strcmp(rest, "{}") != 0)
            why = "holds a claim other than acl";
    }
    free(rest);
    jwt_free(jwt);
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
    /* The checked {"acl": ...} object goes in first: libjwt refuses to add a
     * grant that exists, so nothing in it could replace a claim below. */
    if (c->grants_json != NULL && jwt_add_grants_json(jwt, c->grants_json) != 0)
        why = "the acl claim is not valid JSON";
    else if (jwt_add_grant(jwt, "application_id", c->application_id) != 0 ||
             jwt_add_grant(jwt, "jti", jti) != 0 ||
             jwt_add_grant_int(jwt, "iat", c->iat) != 0 ||
             jwt_add_grant_int(jwt, "exp", c->exp) != 0 ||
             (c->nbf >= 0 && jwt_add_grant_int(jwt, "nbf", c->nbf) != 0) ||
             (c->sub != NULL && jwt_add_grant(jwt, "sub", c->sub) != 0))
        why = "could not add a claim";
    if (why == NULL && jwt_set_alg(jwt, JWT_ALG_RS256, pem, (int)pem_len) != 0)
        why = "could not use the private key";
    if (why == NULL && (*out = jwt_encode_str(jwt)) == NULL)
        why = "signing failed";
    jwt_free(jwt); /* libjwt cleanses its copy of the key */
    ERR_clear_error();
    return why;
}
