#include "vn_util.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t vn_base64_len(size_t n)
{
    return 4 * ((n + 2) / 3);
}

void vn_base64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0;
    while (i + 2 < n) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *out++ = b64chars[v >> 18 & 63];
        *out++ = b64chars[v >> 12 & 63];
        *out++ = b64chars[v >> 6 & 63];
        *out++ = b64chars[v & 63];
        i += 3;
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        *out++ = b64chars[v >> 18 & 63];
        *out++ = b64chars[v >> 12 & 63];
        *out++ = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

/* The 6-bit value of each base64url character, -1 for any other byte. */
static const signed char digits[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* Strict unpadded base64url into out (cap bytes); -1 unless s is the one
 * canonical encoding of some byte string that fits. */
long vn_b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    const unsigned char *in = (const unsigned char *)s;
    size_t rem = n % 4, used = 0, i;
    size_t total = n / 4 * 3 + (rem == 3 ? 2 : rem == 2 ? 1 : 0);
    if (rem == 1 || total > cap)
        return -1;
    /* four characters, three bytes at a time */
    for (i = 0; i + 4 <= n; i += 4) {
        int a = digits[in[i]], b = digits[in[i + 1]], c = digits[in[i + 2]], d = digits[in[i + 3]];
        unsigned v;
        if ((a | b | c | d) < 0)
            return -1;
        v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
        out[used++] = (unsigned char)(v >> 16);
        out[used++] = (unsigned char)(v >> 8 & 0xff);
        out[used++] = (unsigned char)(v & 0xff);
    }
    /* the tail: its unused low bits must be zero (the one canonical form) */
    if (rem >= 2) {
        int a = digits[in[i]], b = digits[in[i + 1]], c = rem == 3 ? digits[in[i + 2]] : 0;
        unsigned v;
        if ((a | b | c) < 0)
            return -1;
        v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6;
        if ((rem == 2 && (v & 0xffff)) || (rem == 3 && (v & 0xff)))
            return -1;
        out[used++] = (unsigned char)(v >> 16);
        if (rem == 3)
            out[used++] = (unsigned char)(v >> 8 & 0xff);
    }
    return (long)used;
}

size_t vn_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    if (i < n) {
        unsigned long v = (unsigned long)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned long)in[i + 1] << 8;
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = abc[(v >> 6) & 63];
    }
    return o;
}

int vn_random_bytes(unsigned char *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int vn_uuid4(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    char *p = out;
    if (vn_random_bytes(b, sizeof b) != 0)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
    return 0;
}

int vn_const_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    /* Length is not secret here (hashes and ids of fixed length); the
     * contents are, so they are compared with OpenSSL's constant-time memcmp. */
    if (alen != blen)
        return 0;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

void vn_free_secret(void *p, size_t n)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, n);
    free(p);
}

char *vn_strdup_len(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}
