/*
 * Application JWTs (RS256), built and signed here with OpenSSL: the key is
 * parsed once, when the client is made, and every mint signs with that
 * EVP_PKEY. (libjwt parsed the PEM again at each mint, and brought libjwt,
 * jansson and libb64 into every process that loads the module.)
 */
#include "vn_jwt.h"
#include "vn_json.h"
#include "vn_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

/* Nesting of arrays and objects allowed in the grants (the outer object is
 * depth 1): far more than any acl has, and a bound on the scanner's
 * recursion. */
#define VN_ACL_MAX_DEPTH 64

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

const char *vn_jwt_load_key(const unsigned char *pem, size_t pem_len, EVP_PKEY **out)
{
    BIO *bio;
    EVP_PKEY *key = NULL;
    const char *why = NULL;
    *out = NULL;
    /* "BEGIN ENCRYPTED PRIVATE KEY" (PKCS#8) and "Proc-Type: 4,ENCRYPTED"
     * (traditional): named as such, rather than as an unreadable key. */
    if (has_text(pem, pem_len, "ENCRYPTED"))
        return "is encrypted; give an unencrypted PEM";
    if ((bio = BIO_new_mem_buf(pem, (int)pem_len)) == NULL)
        return "out of memory";
    key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    if (key == NULL)
        why = "is not a PEM private key";
    else if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
        why = "is not an RSA key (RS256 needs one)";
    if (why == NULL)
        *out = key;
    else
        EVP_PKEY_free(key);
    BIO_free(bio);
    ERR_clear_error(); /* leave no stale error for the next OpenSSL user */
    return why;
}

void vn_jwt_free_key(EVP_PKEY *key)
{
    EVP_PKEY_free(key); /* OpenSSL clears the private numbers as it frees them */
}

/* ---- the caller's grants */

/* The acl value of grants_json ({"acl": <value>}, nothing else), checked by
 * the strict scanner (vn_json.c) as UTF-8: its text in [*start, *end), or a
 * reason. */
static const char *acl_value(const char *grants_json, const char **start, const char **end)
{
    vn_json j;
    size_t len;
    const unsigned char *v;
    vn_json_init(&j, grants_json, strlen(grants_json), VN_ACL_MAX_DEPTH, VN_JSON_UTF8);
    vn_json_ws(&j);
    if (j.p >= j.end || *j.p++ != '{')
        return "is not a JSON object";
    vn_json_ws(&j);
    if (j.p < j.end && *j.p == '}')
        return "has no acl";
    /* The name as the encoder writes it; an escaped spelling is refused. */
    if (j.end - j.p < 5 || memcmp(j.p, "\"acl\"", 5) != 0)
        return vn_json_string(&j, NULL, 0, &len) == 0 ? "holds a claim other than acl" : "is not a JSON object";
    j.p += 5;
    vn_json_ws(&j);
    if (j.p >= j.end || *j.p++ != ':')
        return "is not a JSON object";
    vn_json_ws(&j);
    v = j.p;
    if (vn_json_skip(&j, 2) != 0)
        return "is not a JSON object";
    *start = (const char *)v;
    *end = (const char *)j.p;
    vn_json_ws(&j);
    if (j.p < j.end && *j.p == ',')
        return "holds a claim other than acl";
    if (j.p >= j.end || *j.p++ != '}')
        return "is not a JSON object";
    vn_json_ws(&j);
    return j.p == j.end ? NULL : "is not a JSON object";
}

const char *vn_jwt_check_grants(const char *grants_json)
{
    const char *start, *end;
    return acl_value(grants_json, &start, &end);
}

/* ---- the token */

/* s as a JSON string with its quotes, into dst (when not NULL); returns the
 * length, or 0 when s is not UTF-8. */
static size_t quote(char *dst, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    size_t n = 0;
#define PUT_(ch) do { if (dst) dst[n] = (char)(ch); n++; } while (0)
    PUT_('"');
    while (p < end) {
        size_t len = vn_json_utf8_len(p, (size_t)(end - p));
        if (len == 0)
            return 0;
        if (*p == '"' || *p == '\\') {
            PUT_('\\');
            PUT_(*p);
        } else if (*p < 0x20) {
            PUT_('\\');
            PUT_('u');
            PUT_('0');
            PUT_('0');
            PUT_(hex[*p >> 4]);
            PUT_(hex[*p & 15]);
        } else {
            for (size_t i = 0; i < len; i++)
                PUT_(p[i]);
        }
        p += len;
    }
    PUT_('"');
#undef PUT_
    return n;
}

#define B64_ROOM(n) (4 * (((n) + 2) / 3) + 1)

/* The claims object; NULL (and *why) when a string is not UTF-8 or memory
 * runs out. */
static char *claims_json(const vn_jwt_claims *c, const char *jti, size_t *len, const char **why)
{
    const char *acl = NULL, *acl_end = NULL;
    size_t an = quote(NULL, c->application_id), sn = c->sub ? quote(NULL, c->sub) : 0, n, room;
    char *out, *p;
    if (an == 0 || (c->sub != NULL && sn == 0)) {
        *why = "could not add a claim";
        return NULL;
    }
    if (c->grants_json != NULL && acl_value(c->grants_json, &acl, &acl_end) != NULL) {
        *why = "the acl claim is not valid JSON";
        return NULL;
    }
    /* the fixed text, three numbers of at most 20 characters, and the strings */
    room = 128 + 3 * 21 + an + sn + (acl ? (size_t)(acl_end - acl) : 0);
    if ((out = malloc(room)) == NULL) {
        *why = "out of memory";
        return NULL;
    }
    p = out;
    *p++ = '{';
    if (acl != NULL) {
        memcpy(p, "\"acl\":", 6);
        p += 6;
        memcpy(p, acl, (size_t)(acl_end - acl));
        p += acl_end - acl;
        *p++ = ',';
    }
    memcpy(p, "\"application_id\":", 17);
    p += 17;
    p += quote(p, c->application_id);
    n = (size_t)(p - out);
    n += (size_t)snprintf(p, room - n, ",\"jti\":\"%s\",\"iat\":%ld,\"exp\":%ld", jti, c->iat, c->exp);
    if (c->nbf >= 0)
        n += (size_t)snprintf(out + n, room - n, ",\"nbf\":%ld", c->nbf);
    p = out + n;
    if (c->sub != NULL) {
        memcpy(p, ",\"sub\":", 7);
        p += 7;
        p += quote(p, c->sub);
    }
    *p++ = '}';
    *len = (size_t)(p - out);
    return out;
}

const char *vn_jwt_mint(EVP_PKEY *key, const vn_jwt_claims *c, char **out)
{
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    char jti[37], *claims, *token = NULL;
    unsigned char *sig = NULL;
    size_t claims_len = 0, sig_len = 0, n, room;
    const char *why = NULL;
    EVP_MD_CTX *md = NULL;
    *out = NULL;
    if (vn_uuid4(jti) != 0)
        return "the CSPRNG failed";
    if ((claims = claims_json(c, jti, &claims_len, &why)) == NULL)
        return why;
    room = B64_ROOM(sizeof header - 1) + B64_ROOM(claims_len) + B64_ROOM((size_t)EVP_PKEY_get_size(key)) + 2;
    if ((token = malloc(room)) == NULL || (sig = malloc((size_t)EVP_PKEY_get_size(key))) == NULL ||
        (md = EVP_MD_CTX_new()) == NULL) {
        why = "out of memory";
        goto done;
    }
    n = vn_b64url_encode((const unsigned char *)header, sizeof header - 1, token);
    token[n++] = '.';
    n += vn_b64url_encode((const unsigned char *)claims, claims_len, token + n);
    sig_len = (size_t)EVP_PKEY_get_size(key);
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)token, n) != 1) {
        why = "signing failed";
        goto done;
    }
    token[n++] = '.';
    n += vn_b64url_encode(sig, sig_len, token + n);
    token[n] = '\0';
    *out = token;
    token = NULL;
done:
    EVP_MD_CTX_free(md);
    if (sig != NULL) {
        OPENSSL_cleanse(sig, (size_t)EVP_PKEY_get_size(key));
        free(sig);
    }
    if (token != NULL)
        vn_free_secret(token, room);
    free(claims);
    ERR_clear_error();
    return why;
}
